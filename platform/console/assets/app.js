// The console shell: sign-in, the section navigation and the hash router.
//
// Routes are URL fragments ("#/identities/retail/plan") so the server only
// ever serves real files. Each page module exports a function
// (view, ctx, params) that renders into view, a fresh element that is
// detached as soon as the user navigates away (late answers land nowhere).
import { ApiError, describe, get, setToken, token } from './api.js';
import { html, render } from './html.js';
import { clearFieldErrors, setFieldError } from './forms.js';
import * as identities from './identities.js';
import * as editor from './identity-editor.js';
import * as detail from './identity-detail.js';
import * as points from './points.js';
import * as bizpacks from './bizpacks.js';
import * as orders from './orders.js';
import * as permissions from './permissions.js';
import * as audit from './audit.js';
import * as webhooks from './webhooks.js';
import * as money from './money.js';
import * as eventStream from './events.js';
import * as limits from './limits.js';
import * as dashboard from './dashboard.js';
import * as fulfilment from './fulfilment.js';

// sections of the navigation, in order; `can` lists the /v1/me actions of
// which any one shows the section.
const sections = [
  { id: 'identities', label: 'Identities', hash: '#/identities', can: ['identity.list'] },
  { id: 'points', label: 'Extension points', hash: '#/points', can: ['extensions.read'] },
  { id: 'bizpacks', label: 'Bizpacks', hash: '#/bizpacks', can: ['admin.bizpacks.read'] },
  { id: 'orders', label: 'Orders', hash: '#/orders', can: ['order.list'] },
  { id: 'permissions', label: 'Permissions', hash: '#/permissions',
    can: ['admin.orgs.read', 'admin.principals.read', 'admin.policies.read'] },
  { id: 'audit', label: 'Audit log', hash: '#/audit', can: ['admin.audit.read'] },
  { id: 'webhooks', label: 'Webhooks', hash: '#/webhooks', can: ['admin.webhooks.read'] },
  // Money and events (money.js, events.js, limits.js).
  { id: 'events', label: 'Event stream', hash: '#/events', can: ['admin.events.read'] },
  { id: 'reconciliation', label: 'Reconciliation', hash: '#/reconciliation', can: ['admin.reconciliation.read'] },
  { id: 'refunds', label: 'Failed refunds', hash: '#/refunds', can: ['admin.payments.read'] },
  { id: 'fulfilment', label: 'Supplier fulfilment', hash: '#/fulfilment', can: ['admin.fulfilment.read'] },
  { id: 'limits', label: 'Purchase limits', hash: '#/limits', can: ['identity.list'] },
  { id: 'dashboard', label: 'Dashboard', hash: '#/dashboard', can: ['admin.dashboard.read'] },
];

// routes: pattern on the fragment's path → section and page.
const routes = [
  { re: /^\/identities$/, section: 'identities', page: identities.listPage },
  { re: /^\/identities\/new$/, section: 'identities', page: (v, c) => editor.editorPage(v, c, { code: '' }) },
  { re: /^\/identities\/([^/]+)\/edit$/, section: 'identities', page: (v, c, m) => editor.editorPage(v, c, { code: m[1] }) },
  { re: /^\/identities\/([^/]+)(?:\/(plan|lifecycle|audit))?$/, section: 'identities',
    page: (v, c, m) => detail.detailPage(v, c, { code: m[1], tab: m[2] || 'plan' }) },
  { re: /^\/points$/, section: 'points', page: points.pointsPage },
  { re: /^\/bizpacks$/, section: 'bizpacks', page: bizpacks.bizpacksPage },
  { re: /^\/orders$/, section: 'orders', page: orders.searchPage },
  { re: /^\/orders\/([^/]+)$/, section: 'orders', page: (v, c, m) => orders.orderPage(v, c, { id: m[1] }) },
  { re: /^\/permissions$/, section: 'permissions', page: permissions.permissionsPage },
  { re: /^\/audit$/, section: 'audit', page: audit.auditPage },
  { re: /^\/webhooks$/, section: 'webhooks', page: webhooks.webhooksPage },
  { re: /^\/webhooks\/([^/]+)$/, section: 'webhooks', page: (v, c, m) => webhooks.webhookPage(v, c, { id: m[1] }) },
  { re: /^\/events$/, section: 'events', page: eventStream.eventsPage },
  { re: /^\/reconciliation$/, section: 'reconciliation', page: money.reconciliationPage },
  { re: /^\/reconciliation\/mismatches\/([^/]+)$/, section: 'reconciliation', page: (v, c, m) => money.mismatchPage(v, c, { id: m[1] }) },
  { re: /^\/refunds$/, section: 'refunds', page: money.refundsPage },
  { re: /^\/fulfilment$/, section: 'fulfilment', page: fulfilment.fulfilmentPage },
  { re: /^\/limits$/, section: 'limits', page: limits.limitsPage },
  { re: /^\/limits\/([^/]+)$/, section: 'limits', page: (v, c, m) => limits.limitsEditorPage(v, c, { code: m[1] }) },
  { re: /^\/dashboard$/, section: 'dashboard', page: dashboard.dashboardPage },
];

const el = (id) => document.getElementById(id);
let me = null; // the /v1/me answer while signed in
let leaving = []; // clean-ups of the current page
let keepStatus = false;

function can(action) {
  return !!(me && me.can && me.can[action]);
}

function allowed(section) {
  const s = sections.find((x) => x.id === section);
  return !!s && s.can.some(can);
}

/** status writes to the polite live region; kind "error" styles it. */
function status(message, kind = 'info') {
  const box = el('status');
  // The region stays in the page (only looks empty) so that screen readers
  // keep watching it.
  box.textContent = message;
  box.dataset.kind = kind;
}

/** navigate changes the route; opts.keepStatus leaves the status message. */
function navigate(hash, opts = {}) {
  keepStatus = !!opts.keepStatus;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function parseHash() {
  const h = location.hash.replace(/^#/, '');
  const [path, q] = h.split('?');
  return { path: path || '/', query: new URLSearchParams(q || '') };
}

function newView() {
  for (const fn of leaving) fn();
  leaving = [];
  const view = document.createElement('div');
  view.id = 'view';
  el('view').replaceWith(view);
  return view;
}

async function route() {
  if (location.hash && !location.hash.startsWith('#/')) return; // in-page anchors are not routes
  if (!keepStatus) status('');
  keepStatus = false;
  const view = newView();
  if (!me) {
    loginPage(view);
    return;
  }
  const { path, query } = parseHash();
  if (path === '/' || path === '/login') {
    const first = sections.find((s) => allowed(s.id));
    if (first) {
      location.replace(first.hash);
      return;
    }
    render(view, html`<h1 tabindex="-1">Nothing to show</h1>
      <p>You are signed in, but your roles allow none of the console's sections.</p>`);
    markNav('');
    return;
  }
  const r = routes.find((x) => x.re.test(path));
  markNav(r ? r.section : '');
  if (!r) {
    document.title = 'Not found · TMF admin console';
    render(view, html`<h1 tabindex="-1">Page not found</h1><p>There is no page at ${path}. Choose a section.</p>`);
    focusHeading(view);
    return;
  }
  if (!allowed(r.section)) {
    render(view, html`<h1 tabindex="-1">Not allowed</h1><p>Your roles do not allow this section.</p>`);
    focusHeading(view);
    return;
  }
  const m = path.match(r.re).map((x, i) => (i ? decodeURIComponent(x || '') : x));
  const ctx = {
    me, can, status, navigate, query,
    onLeave: (fn) => leaving.push(fn),
    title: (t) => { document.title = `${t} · TMF admin console`; },
  };
  try {
    const p = r.page(view, ctx, m);
    focusHeading(view);
    await p;
    // A page that re-rendered its heading once loaded took the focus with it.
    if (!document.activeElement || document.activeElement === document.body) focusHeading(view);
  } catch (e) {
    if (!view.isConnected) return;
    render(view, html`<h1 tabindex="-1">Something went wrong</h1><p class="error-text">${describe(e)}</p>`);
    focusHeading(view);
  }
}

function focusHeading(view) {
  const h = view.querySelector('h1');
  if (h && view.isConnected) {
    h.tabIndex = -1;
    h.focus({ preventScroll: true });
  }
}

function markNav(section) {
  for (const a of el('nav').querySelectorAll('a')) {
    if (a.dataset.section === section) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

function showSession() {
  const signedIn = !!me;
  el('session').hidden = !signedIn;
  el('nav').hidden = !signedIn;
  if (!signedIn) {
    el('nav').replaceChildren();
    return;
  }
  el('signed-in').textContent = `Signed in as ${me.id} (${(me.roles || []).join(', ') || 'no roles'})`;
  render(el('nav'), html`<ul>${sections.filter((s) => allowed(s.id)).map((s) =>
    html`<li><a id="nav-${s.id}" data-section="${s.id}" href="${s.hash}">${s.label}</a></li>`)}</ul>`);
}

function loginPage(view, message) {
  document.title = 'Sign in · TMF admin console';
  markNav('');
  render(view, html`<h1 tabindex="-1">Sign in</h1>
    ${message ? html`<p id="login-message" class="notice" role="alert">${message}</p>` : ''}
    <form id="login-form" class="narrow" novalidate>
      <div class="field">
        <label for="login-token">Access token</label>
        <p class="hint" id="login-token-hint">Required. Paste an opaque token or a JWT. It stays in this browser
          tab only (session storage) and is sent to the API as a bearer token.</p>
        <input id="login-token" name="token" type="password" autocomplete="off" spellcheck="false"
          required aria-describedby="login-token-hint">
      </div>
      <button id="login-submit" type="submit" class="primary">Sign in</button>
    </form>`);
  const form = el('login-form');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    const t = el('login-token').value.trim();
    if (!t) {
      setFieldError('login-token', 'Enter your access token.');
      el('login-token').focus();
      return;
    }
    el('login-submit').disabled = true;
    try {
      me = await get('/v1/me', { token: t, quiet401: true });
      setToken(t);
      showSession();
      status(`Signed in as ${me.id}.`);
      keepStatus = true;
      route();
    } catch (e) {
      const msg = e instanceof ApiError && e.status === 401
        ? 'This token was not accepted: it is unknown, expired or revoked. Check it and try again.'
        : describe(e);
      setFieldError('login-token', msg);
      el('login-token').focus();
    } finally {
      if (el('login-submit')) el('login-submit').disabled = false;
    }
  });
  focusHeading(view);
}

function signOut(message) {
  setToken('');
  me = null;
  showSession();
  const view = newView();
  loginPage(view, message);
}

async function start() {
  el('signout').addEventListener('click', () => {
    signOut('');
    status('Signed out.');
  });
  el('skip-link').addEventListener('click', (ev) => {
    ev.preventDefault();
    el('main').focus();
  });
  window.addEventListener('tmf:unauthenticated', () => {
    if (me) signOut('Your session ended: the token is no longer accepted. Sign in again to continue.');
  });
  window.addEventListener('hashchange', route);
  if (token()) {
    try {
      me = await get('/v1/me', { quiet401: true });
    } catch (e) {
      me = null;
      if (e instanceof ApiError && e.status === 401) setToken('');
      else status(describe(e), 'error');
    }
  }
  showSession();
  route();
}

start();
