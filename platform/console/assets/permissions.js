// Permissions: the organisation tree, the principals and their roles, and
// the status of the policy that decides.
//
// With admin.orgs.write the tree can be changed (add, move, remove a node);
// with admin.principals.write principals can be added (their token is shown
// once) and edited. Every change goes through the public admin API. A
// refused change leaves its form exactly as typed, with the server's message
// at the field it is about and in the form's error summary; a change that
// went through reloads the tree and the table and is announced in #status.
import { ApiError, describe, get, query, request, seg } from './api.js';
import { Safe, html, render, fmtTime, idPart, list } from './html.js';
import { clearFieldErrors, hideSummary, setFieldError, showSummary } from './forms.js';

const PAGE = 100;

// ROLES are the roles a principal may hold (docs/permissions.md), with
// what each may do in short.
export const ROLES = [
  { name: 'buyer', doc: 'places, pays and follows its own orders.' },
  { name: 'agent', doc: 'as a buyer, and follows the orders owned anywhere under its organisation node.' },
  { name: 'operator', doc: 'works on the orders and the configuration of the business identities granted to it.' },
  { name: 'admin', doc: 'every admin action (principals, organisation tree, bizpacks, …); places no orders.' },
];

// Patterns of the server's checks (platform/api): an organisation node id,
// a principal id, a business identity code.
const ORG_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;
const PRINCIPAL_RE = /^[A-Za-z0-9._@:-]{1,128}$/;
const IDENTITY_RE = /^[A-Za-z0-9._-]{1,128}$/;

export async function permissionsPage(view, ctx) {
  ctx.title('Permissions');
  const readOrgs = ctx.can('admin.orgs.read');
  const writeOrgs = ctx.can('admin.orgs.write');
  const readPrincipals = ctx.can('admin.principals.read');
  const writePrincipals = ctx.can('admin.principals.write');
  render(view, html`<h1>Permissions</h1>
    <p>Subjects sit in an organisation tree; a subject may act on the orders of its own subtree. The policy decides
      every request, the console's included.</p>
    <datalist id="known-org-ids"></datalist>
    ${readOrgs || writeOrgs ? html`<section aria-labelledby="orgs-title"><h2 id="orgs-title">Organisation tree</h2>
      ${readOrgs ? html`<div id="org-tree-body"><p>Loading…</p></div>` : ''}
      ${writeOrgs ? orgForms() : ''}</section>` : ''}
    ${readPrincipals || writePrincipals ? html`<section aria-labelledby="principals-title"><h2 id="principals-title">Principals</h2>
      ${readPrincipals ? html`<div id="principals-body"><p>Loading…</p></div>` : ''}
      ${writePrincipals ? html`<div id="edit-principal"></div>${newPrincipalForm()}` : ''}</section>` : ''}
    ${ctx.can('admin.policies.read') ? html`<section aria-labelledby="policy-title"><h2 id="policy-title">Policy</h2>
      <div id="policy-body"><p>Loading…</p></div></section>` : ''}`);
  const byId = (id) => view.querySelector(`[id="${id}"]`);
  const datalist = byId('known-org-ids');
  const tree = readOrgs ? orgTree(byId('org-tree-body'), ctx, datalist) : null;
  const principals = readPrincipals
    ? principalTable(byId('principals-body'), ctx, writePrincipals ? (id) => editPrincipal(byId('edit-principal'), id, ctx, principals) : null)
    : null;
  if (writeOrgs) wireOrgForms(view, ctx, tree, principals);
  if (writePrincipals) wireNewPrincipal(view, ctx, principals);
  const jobs = [];
  if (tree) jobs.push(tree.load());
  if (principals) jobs.push(principals.load());
  if (ctx.can('admin.policies.read')) jobs.push(policy(byId('policy-body')));
  await Promise.all(jobs);
}

/** buildTree nests orgs by parent; orgs whose parent is not loaded are roots. */
export function buildTree(items) {
  const byId = new Map(items.map((o) => [o.id, { ...o, children: [] }]));
  const roots = [];
  for (const o of byId.values()) {
    const p = o.parent && byId.get(o.parent);
    if (p) p.children.push(o);
    else roots.push(o);
  }
  const sort = (xs) => {
    xs.sort((a, b) => (a.path || a.id).localeCompare(b.path || b.id));
    xs.forEach((x) => sort(x.children));
  };
  sort(roots);
  return roots;
}

/**
 * pagedList holds the items of a paged list endpoint loaded so far. more()
 * appends the next page; reload() loads again from the start, at least as
 * many items as were shown, so that a change does not shrink the list.
 */
function pagedList(path) {
  const st = { items: [], cursor: '' };
  const page = async (cursor) => get(`${path}${query({ limit: PAGE, cursor })}`);
  st.more = async () => {
    const p = await page(st.cursor);
    st.items.push(...(p.items || []));
    st.cursor = p.nextCursor || '';
  };
  st.reload = async () => {
    const want = Math.max(st.items.length, 1);
    const items = [];
    let cursor = '';
    do {
      const p = await page(cursor);
      items.push(...(p.items || []));
      cursor = p.nextCursor || '';
    } while (cursor && items.length < want);
    st.items = items;
    st.cursor = cursor;
  };
  return st;
}

/**
 * orgTree shows the tree in box and keeps datalist offering the loaded node
 * ids. Its reload(reveal) loads the tree again after a change and opens the
 * branches down to the node reveal, so the change can be seen.
 */
function orgTree(box, ctx, datalist) {
  const data = pagedList('/v1/admin/orgs');
  const open = new Map(); // node id → open, as the user or a change left it
  const isOpen = (o, depth) => (open.has(o.id) ? open.get(o.id) : depth < 2);
  const node = (o, depth) => {
    const label = html`<span class="org-name">${o.name || o.id}</span> <code>${o.id}</code>${o.kind ? html` <span class="tag">${o.kind}</span>` : ''}`;
    if (!o.children.length) return html`<li id="org-${o.id}" data-org="${o.id}">${label}</li>`;
    return html`<li id="org-${o.id}" data-org="${o.id}"><details ${isOpen(o, depth) ? html`open` : ''}><summary>${label}
      <span class="muted">(${o.children.length})</span></summary>
      <ul>${o.children.map((c) => node(c, depth + 1))}</ul></details></li>`;
  };
  const draw = () => {
    render(box, html`<ul id="org-tree" class="tree">${buildTree(data.items).map((o) => node(o, 0))}</ul>
      <p class="muted">${data.items.length} organisations shown.${data.cursor ? ' More exist.' : ''}</p>
      ${data.cursor ? html`<p><button type="button" id="orgs-more">Load more organisations</button></p>` : ''}`);
    render(datalist, html`${[...data.items].sort((a, b) => a.id.localeCompare(b.id))
      .map((o) => html`<option value="${o.id}">${o.name || o.id} (${o.path || o.id})</option>`)}`);
    box.querySelector('#orgs-more')?.addEventListener('click', async () => {
      await run(data.more);
      box.querySelector('#orgs-more')?.focus();
      ctx.status(`${data.items.length} organisations shown.`);
    });
  };
  // Remember what the user opened or closed across redraws.
  box.addEventListener('toggle', (ev) => {
    const li = ev.target.closest && ev.target.closest('li[data-org]');
    if (li && ev.target.tagName === 'DETAILS') open.set(li.dataset.org, ev.target.open);
  }, true);
  const run = latestOnly(box, () => draw(), 'organisations');
  return {
    load: () => run(data.more),
    reload: (reveal) => run(async () => {
      await data.reload();
      const parents = new Map(data.items.map((o) => [o.id, o.parent || '']));
      for (let id = reveal; id; id = parents.get(id)) {
        open.set(id, true);
        if (!parents.has(id)) break;
      }
    }),
  };
}

/**
 * latestOnly returns run(fn): it awaits fn (a load) and then redraws box,
 * unless a later run started meanwhile or box left the page; a failed load
 * replaces box's content with the reason.
 */
function latestOnly(box, draw, what) {
  let seq = 0;
  return async (fn) => {
    const mine = ++seq;
    try {
      await fn();
      if (mine === seq && box.isConnected) draw();
    } catch (e) {
      if (mine !== seq || !box.isConnected) return;
      render(box, html`<p class="error-text" role="alert">Could not load the ${what}: ${describe(e)}</p>`);
    }
  };
}

/**
 * principalTable shows the principals in box; onEdit(id), when given, is
 * called by each row's Edit button. reload() loads the table again.
 */
function principalTable(box, ctx, onEdit) {
  const data = pagedList('/v1/admin/principals');
  const draw = () => {
    render(box, data.items.length ? html`<div class="table-scroll"><table id="principals-table">
      <caption class="visually-hidden">Principals</caption>
      <thead><tr><th scope="col">Principal</th><th scope="col">Roles</th><th scope="col">Organisation</th>
        <th scope="col">Identities</th>${onEdit ? html`<th scope="col">Change</th>` : ''}</tr></thead>
      <tbody>${data.items.map((p) => html`<tr id="principal-row-${idPart(p.id)}" data-principal="${p.id}">
        <th scope="row"><code>${p.id}</code></th><td>${list(p.roles)}</td>
        <td>${p.org || '—'}${p.orgPath ? html` <span class="muted">${p.orgPath}</span>` : ''}</td>
        <td>${list(p.identities)}</td>
        ${onEdit ? html`<td><button type="button" class="principal-edit" id="principal-edit-${idPart(p.id)}"
          data-principal="${p.id}">Edit<span class="visually-hidden"> principal ${p.id}</span></button></td>` : ''}</tr>`)}</tbody>
      </table></div>
      ${data.cursor ? html`<p><button type="button" id="principals-more">Load more principals</button></p>` : ''}`
      : html`<p>No principal.</p>`);
    box.querySelector('#principals-more')?.addEventListener('click', async () => {
      await run(data.more);
      box.querySelector('#principals-more')?.focus();
      ctx.status(`${data.items.length} principals shown.`);
    });
  };
  if (onEdit) {
    box.addEventListener('click', (ev) => {
      const b = ev.target.closest && ev.target.closest('button.principal-edit');
      if (b) onEdit(b.dataset.principal);
    });
  }
  const run = latestOnly(box, () => draw(), 'principals');
  return {
    load: () => run(data.more),
    reload: () => run(data.reload),
    /** editButton is the Edit button of principal id, if shown. */
    editButton: (id) => [...box.querySelectorAll('button.principal-edit')].find((b) => b.dataset.principal === id),
  };
}

// ---- changing things ----------------------------------------------------

/**
 * wireChange makes form send one change through the API.
 * check() reads the form: {body, errors:[{field, message}]}; nothing is sent
 * while there are errors. send(body) makes the call. refusal(err, body) says
 * what a refused call is about: [{field?, atField?, message}], shown in the
 * form's summary (problemsId) and, as atField (or message), at the field.
 * done(answer, body) runs after success. A refusal changes nothing typed.
 */
function wireChange(form, { problemsId, refusedTitle, check, send, refusal, done }) {
  const box = form.querySelector(`[id="${problemsId}"]`);
  const submit = form.querySelector('button[type="submit"]');
  let busy = false;
  const show = (title, entries) => {
    for (const e of entries) if (e.field) setFieldError(e.field, e.atField || e.message);
    showSummary(box, title, entries.map((e) => ({ field: e.field && document.getElementById(e.field) ? e.field : undefined,
      message: e.message })), { focus: true, level: 4 });
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (busy) return;
    clearFieldErrors(form);
    const { body, errors } = check();
    if (errors.length) {
      show(`There ${errors.length === 1 ? 'is a problem' : `are ${errors.length} problems`} with the form`, errors);
      return;
    }
    busy = true;
    submit.disabled = true;
    let answer;
    try {
      answer = await send(body);
    } catch (e) {
      if (form.isConnected) show(refusedTitle, refusal(e, body));
      return;
    } finally {
      busy = false;
      if (form.isConnected) submit.disabled = false;
    }
    hideSummary(box);
    await done(answer, body);
  });
}

/** fieldOf maps the `field` of a 400 invalid_request ("roles[1]",
 * "attrs.agentLevel", "parent") to a form field id through fields. */
export function fieldOf(field, fields) {
  if (!field) return undefined;
  return fields[String(field).split(/[[.]/)[0]];
}

/** refusedAt explains a refused call: a 400 with `field` (or a code listed
 * in codes, code → field id) at its field, anything else in the summary. */
function refusedAt(e, fields, codes = {}) {
  if (e instanceof ApiError) {
    const f = e.status === 400 ? fieldOf(e.body.field, fields) : codes[e.code];
    if (f) return [{ field: f, atField: e.detail || describe(e), message: describe(e) }];
  }
  return [{ message: describe(e) }];
}

const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;

function joinAnd(parts) {
  return parts.length < 2 ? parts.join('') : `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1]}`;
}

/** inUseMessage says what keeps node id from being removed, from the counts
 * of a 409 org_in_use; the server's own words when it sends none. */
export function inUseMessage(id, body, fallback) {
  const parts = [];
  const count = (k) => Number((body && body[k]) || 0);
  if (count('children')) parts.push(plural(count('children'), 'child node', 'child nodes'));
  if (count('principals')) parts.push(plural(count('principals'), 'principal', 'principals'));
  if (count('orders')) parts.push(plural(count('orders'), 'order', 'orders'));
  if (!parts.length) return fallback;
  return `${id} is still in use: it has ${joinAnd(parts)}. Move or remove them first; only an empty node can be removed.`;
}

function orgForms() {
  return html`<div class="subforms">
    <form id="new-org-form" class="subform" novalidate aria-labelledby="new-org-title">
      <h3 id="new-org-title" class="subform-title">Add a node</h3>
      <div id="new-org-problems" hidden></div>
      <div class="field"><label for="new-org-id">Id</label>
        <p class="hint" id="new-org-id-hint">Required. 1 to 64 of lowercase letters, digits and <code>-</code>, e.g.
          <code>pudong</code>. It cannot be changed later.</p>
        <input id="new-org-id" required autocomplete="off" spellcheck="false" class="short"
          aria-describedby="new-org-id-hint"></div>
      <div class="field"><label for="new-org-parent">Parent</label>
        <p class="hint" id="new-org-parent-hint">Optional. The id of an existing node, e.g. <code>shanghai</code>;
          empty makes a new root.</p>
        <input id="new-org-parent" list="known-org-ids" autocomplete="off" spellcheck="false" class="short"
          aria-describedby="new-org-parent-hint"></div>
      <div class="field"><label for="new-org-name">Name</label>
        <p class="hint" id="new-org-name-hint">Optional, e.g. "Pudong store".</p>
        <input id="new-org-name" autocomplete="off" aria-describedby="new-org-name-hint"></div>
      <div class="field"><label for="new-org-kind">Kind</label>
        <p class="hint" id="new-org-kind-hint">Optional free text, e.g. <code>region</code>, <code>agent1</code>,
          <code>store</code>.</p>
        <input id="new-org-kind" autocomplete="off" class="short" aria-describedby="new-org-kind-hint"></div>
      <div class="actions"><button type="submit" id="new-org-submit" class="primary">Add node</button></div>
    </form>
    <form id="move-org-form" class="subform" novalidate aria-labelledby="move-org-title">
      <h3 id="move-org-title" class="subform-title">Move a node</h3>
      <p class="hint">The node moves with its whole subtree, and access follows at once: principals above its old
        place stop seeing its orders, those above its new place start.</p>
      <div id="move-org-problems" hidden></div>
      <div class="field"><label for="move-org-id">Node to move</label>
        <p class="hint" id="move-org-id-hint">Required. The id of the node, e.g. <code>pudong</code>.</p>
        <input id="move-org-id" required list="known-org-ids" autocomplete="off" spellcheck="false"
          class="short" aria-describedby="move-org-id-hint"></div>
      <div class="field"><label for="move-org-parent">New parent</label>
        <p class="hint" id="move-org-parent-hint">Required unless the node becomes a root. Not the node itself nor
          a node inside its subtree.</p>
        <input id="move-org-parent" list="known-org-ids" autocomplete="off" spellcheck="false"
          class="short" aria-describedby="move-org-parent-hint"></div>
      <div class="field checkbox"><input type="checkbox" id="move-org-root">
        <label for="move-org-root">Make it a root (no parent)</label></div>
      <div class="actions"><button type="submit" id="move-org-submit" class="primary">Move node</button></div>
    </form>
    <form id="remove-org-form" class="subform" novalidate aria-labelledby="remove-org-title">
      <h3 id="remove-org-title" class="subform-title">Remove a node</h3>
      <div id="remove-org-problems" hidden></div>
      <div class="field"><label for="remove-org-id">Node to remove</label>
        <p class="hint" id="remove-org-id-hint">Required. Only a node without child nodes, principals and orders can
          be removed.</p>
        <input id="remove-org-id" required list="known-org-ids" autocomplete="off" spellcheck="false"
          class="short" aria-describedby="remove-org-id-hint"></div>
      <div class="actions"><button type="submit" id="remove-org-submit">Remove node</button></div>
    </form>
  </div>`;
}

/** checkOrgId is the error of an organisation id field, or none. */
function checkOrgId(field, value, what, required) {
  if (!value) return required ? [{ field, message: `Enter ${what}.` }] : [];
  if (!ORG_RE.test(value)) {
    return [{ field, message: `${what[0].toUpperCase()}${what.slice(1)} is 1 to 64 of lowercase letters, digits and -, starting with a letter or digit ("${value}" is not).` }];
  }
  return [];
}

function wireOrgForms(view, ctx, tree, principals) {
  const byId = (id) => view.querySelector(`[id="${id}"]`);
  const val = (id) => byId(id).value.trim();
  const after = async (form, reveal, message, alsoPrincipals) => {
    form.reset();
    clearFieldErrors(form);
    byId('move-org-parent').disabled = byId('move-org-root').checked;
    await Promise.all([tree && tree.reload(reveal), alsoPrincipals && principals && principals.reload()]);
    if (!view.isConnected) return;
    ctx.status(message);
    form.querySelector('input').focus();
  };

  wireChange(byId('new-org-form'), {
    problemsId: 'new-org-problems',
    refusedTitle: 'The node was not added',
    check: () => {
      const body = { id: val('new-org-id'), parent: val('new-org-parent'), name: val('new-org-name'), kind: val('new-org-kind') };
      const errors = [...checkOrgId('new-org-id', body.id, 'an id for the node', true),
        ...checkOrgId('new-org-parent', body.parent, 'the parent\'s id', false)];
      for (const k of ['parent', 'name', 'kind']) if (!body[k]) delete body[k];
      return { body, errors };
    },
    send: async (body) => (await request('POST', '/v1/admin/orgs', { body })).data,
    refusal: (e) => refusedAt(e, { id: 'new-org-id', parent: 'new-org-parent', name: 'new-org-name', kind: 'new-org-kind' },
      { org_exists: 'new-org-id' }),
    done: (o, body) => after(byId('new-org-form'), o.id,
      `Added node ${o.id}${body.parent ? ` under ${body.parent}` : ' as a root'}: its path is ${o.path}.`, false),
  });

  byId('move-org-root').addEventListener('change', (ev) => {
    byId('move-org-parent').disabled = ev.target.checked;
  });
  wireChange(byId('move-org-form'), {
    problemsId: 'move-org-problems',
    refusedTitle: 'The node was not moved',
    check: () => {
      const id = val('move-org-id');
      const root = byId('move-org-root').checked;
      const parent = root ? '' : val('move-org-parent');
      const errors = checkOrgId('move-org-id', id, 'the id of the node to move', true);
      if (!root) {
        errors.push(...(parent ? checkOrgId('move-org-parent', parent, 'the new parent\'s id', true)
          : [{ field: 'move-org-parent', message: 'Enter the id of the new parent, or choose "Make it a root".' }]));
      }
      return { body: { id, parent }, errors };
    },
    send: async ({ id, parent }) => (await request('POST', `/v1/admin/orgs/${seg(id)}/move`, { body: { parent } })).data,
    // org_cycle: the new parent is inside the node's subtree; the server
    // names both.
    refusal: (e) => refusedAt(e, { parent: 'move-org-parent', id: 'move-org-id' },
      { org_cycle: 'move-org-parent', org_not_found: 'move-org-id' }),
    done: (o, body) => after(byId('move-org-form'), o.id,
      `Moved ${o.id} ${body.parent ? `under ${body.parent}` : 'to the top: it is a root now'}; its path is ${o.path}.`, true),
  });

  wireChange(byId('remove-org-form'), {
    problemsId: 'remove-org-problems',
    refusedTitle: 'The node was not removed',
    check: () => {
      const id = val('remove-org-id');
      return { body: { id }, errors: checkOrgId('remove-org-id', id, 'the id of the node to remove', true) };
    },
    send: ({ id }) => request('DELETE', `/v1/admin/orgs/${seg(id)}`),
    refusal: (e, { id }) => {
      if (e instanceof ApiError && e.code === 'org_in_use') {
        return [{ field: 'remove-org-id', atField: inUseMessage(id, e.body, e.detail), message: describe(e) }];
      }
      return refusedAt(e, {}, { org_not_found: 'remove-org-id' });
    },
    done: (_, { id }) => after(byId('remove-org-form'), '', `Removed node ${id}.`, false),
  });
}

// ---- principals ----------------------------------------------------------

/** principalFields renders the fields a principal is given, ids prefixed
 * with prefix, filled from p ({roles, org, identities, attrs}). Roles the
 * console does not know but p holds are offered too (nothing is dropped
 * unseen). */
function principalFields(prefix, p) {
  const roles = [...ROLES, ...(p.roles || []).filter((r) => !ROLES.some((x) => x.name === r))
    .map((r) => ({ name: r, doc: 'not a role this console knows.' }))];
  return html`<fieldset id="${prefix}-roles" tabindex="-1" aria-describedby="${prefix}-roles-hint">
      <legend>Roles</legend>
      <p class="hint" id="${prefix}-roles-hint">At least one. What each may do is what the policy in force says; in short:</p>
      ${roles.map((r) => {
        const id = `${prefix}-role-${idPart(r.name)}`;
        return html`<div class="field checkbox">
          <input type="checkbox" id="${id}" value="${r.name}" ${(p.roles || []).includes(r.name) ? new Safe('checked') : ''}
            aria-describedby="${id}-hint">
          <label for="${id}">${r.name}</label>
          <p class="hint" id="${id}-hint">${r.doc}</p></div>`;
      })}
    </fieldset>
    <div class="field"><label for="${prefix}-org">Organisation node</label>
      <p class="hint" id="${prefix}-org-hint">Optional. The id of its node, e.g. <code>east</code>: an agent follows the
        orders owned anywhere under it, and the principal's own orders are owned by it.</p>
      <input id="${prefix}-org" list="known-org-ids" autocomplete="off" spellcheck="false" class="short"
        value="${p.org || ''}" aria-describedby="${prefix}-org-hint"></div>
    <div class="field"><label for="${prefix}-identities">Business identities</label>
      <p class="hint" id="${prefix}-identities-hint">Optional; what an operator is granted. Codes separated by commas,
        e.g. <code>retail, virtual.topup</code>; <code>*</code> grants all.</p>
      <input id="${prefix}-identities" autocomplete="off" spellcheck="false" value="${(p.identities || []).join(', ')}"
        aria-describedby="${prefix}-identities-hint"></div>
    <div class="field"><label for="${prefix}-attrs">Attributes</label>
      <p class="hint" id="${prefix}-attrs-hint">Optional. One <code>name=value</code> per line, e.g.
        <code>agentLevel=1</code>; identity rules and extension points read them.</p>
      <textarea id="${prefix}-attrs" rows="3" class="code" spellcheck="false"
        aria-describedby="${prefix}-attrs-hint">${Object.entries(p.attrs || {}).map(([k, v]) => `${k}=${v}`).join('\n')}</textarea></div>`;
}

/** splitList reads "a, b,c" as ["a", "b", "c"]. */
export function splitList(text) {
  return String(text).split(',').map((s) => s.trim()).filter(Boolean);
}

/** parseAttrs reads one name=value per line: {attrs, errors: [message]}. */
export function parseAttrs(text) {
  const attrs = {};
  const errors = [];
  String(text).split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const eq = line.indexOf('=');
    const name = eq > 0 ? line.slice(0, eq).trim() : '';
    if (!name) {
      errors.push(`Line ${i + 1}: an attribute is written name=value ("${line.trim()}" is not).`);
      return;
    }
    if (Object.hasOwn(attrs, name)) {
      errors.push(`Line ${i + 1}: attribute ${name} is given twice.`);
      return;
    }
    attrs[name] = line.slice(eq + 1).trim();
  });
  return { attrs, errors };
}

/** readPrincipal reads the fields of principalFields(prefix) inside root:
 * {body: {roles, org?, identities?, attrs?}, errors: [{field, message}]}. */
function readPrincipal(root, prefix) {
  const byId = (id) => root.querySelector(`[id="${id}"]`);
  const errors = [];
  const roles = [...byId(`${prefix}-roles`).querySelectorAll('input[type="checkbox"]')].filter((c) => c.checked).map((c) => c.value);
  if (!roles.length) errors.push({ field: `${prefix}-roles`, message: 'Choose at least one role.' });
  const body = { roles };
  const org = byId(`${prefix}-org`).value.trim();
  if (org) {
    body.org = org;
    errors.push(...checkOrgId(`${prefix}-org`, org, 'the organisation node\'s id', false));
  }
  const identities = splitList(byId(`${prefix}-identities`).value);
  const bad = identities.filter((c) => c !== '*' && !IDENTITY_RE.test(c));
  if (bad.length) {
    errors.push({ field: `${prefix}-identities`, message: `Business identities are codes of letters, digits, ., _ and -, or * for all (${bad.map((c) => `"${c}"`).join(', ')} ${bad.length === 1 ? 'is' : 'are'} not).` });
  }
  if (identities.length) body.identities = identities;
  const { attrs, errors: attrErrors } = parseAttrs(byId(`${prefix}-attrs`).value);
  if (attrErrors.length) errors.push({ field: `${prefix}-attrs`, message: attrErrors.join(' ') });
  if (Object.keys(attrs).length) body.attrs = attrs;
  return { body, errors };
}

const principalFieldIds = (prefix) => ({ id: `${prefix}-id`, roles: `${prefix}-roles`, org: `${prefix}-org`,
  identities: `${prefix}-identities`, attrs: `${prefix}-attrs` });

function newPrincipalForm() {
  return html`<form id="new-principal-form" class="subform" novalidate aria-labelledby="new-principal-title">
      <h3 id="new-principal-title" class="subform-title">Add a principal</h3>
      <div id="new-principal-problems" hidden></div>
      <div class="field"><label for="new-principal-id">Id</label>
        <p class="hint" id="new-principal-id-hint">Required. 1 to 128 of letters, digits and <code>. _ @ : -</code>,
          e.g. <code>agent-pd</code>. It cannot be changed later.</p>
        <input id="new-principal-id" required autocomplete="off" spellcheck="false" class="short"
          aria-describedby="new-principal-id-hint"></div>
      ${principalFields('new-principal', {})}
      <div class="actions"><button type="submit" id="new-principal-submit" class="primary">Add principal</button></div>
    </form>
    <section id="new-principal-token-box" class="token-box" tabindex="-1" hidden></section>`;
}

function wireNewPrincipal(view, ctx, principals) {
  const byId = (id) => view.querySelector(`[id="${id}"]`);
  const form = byId('new-principal-form');
  const tokenBox = byId('new-principal-token-box');
  wireChange(form, {
    problemsId: 'new-principal-problems',
    refusedTitle: 'The principal was not added',
    check: () => {
      const id = byId('new-principal-id').value.trim();
      const { body, errors } = readPrincipal(form, 'new-principal');
      if (!id) errors.unshift({ field: 'new-principal-id', message: 'Enter an id for the principal.' });
      else if (!PRINCIPAL_RE.test(id)) {
        errors.unshift({ field: 'new-principal-id', message: `A principal id is 1 to 128 of letters, digits and . _ @ : - ("${id}" is not).` });
      }
      return { body: { id, ...body }, errors };
    },
    send: async (body) => (await request('POST', '/v1/admin/principals', { body })).data,
    refusal: (e) => refusedAt(e, principalFieldIds('new-principal'), { principal_exists: 'new-principal-id' }),
    done: async (out) => {
      form.reset();
      showToken(tokenBox, out.id, out.token, ctx);
      if (principals) await principals.reload();
      if (!view.isConnected) return;
      ctx.status(`Added principal ${out.id}. Copy its token now: it is shown only once.`);
    },
  });
}

/** showToken shows a new principal's token, this once, and focuses it. */
function showToken(box, id, token, ctx) {
  render(box, html`<h3 id="new-principal-token-title">Token of <code>${id}</code>: copy it now</h3>
    <p class="token-warning"><strong>This token will not be shown again.</strong> The server keeps only a hash of it,
      so a lost token cannot be recovered. Give it to whoever signs in as ${id}; it is sent as
      <code>Authorization: Bearer …</code>.</p>
    <div class="field"><label for="new-principal-token">Bearer token of ${id}</label>
      <input id="new-principal-token" class="code" readonly autocomplete="off" spellcheck="false" value="${token}"></div>
    <div class="actions"><button type="button" id="new-principal-token-copy">Copy the token</button>
      <button type="button" id="new-principal-token-hide">I have copied it: hide the token</button></div>`);
  // Named by its title only while shown: a hidden box names nothing.
  box.setAttribute('aria-labelledby', 'new-principal-token-title');
  box.hidden = false;
  box.focus();
  const input = box.querySelector('#new-principal-token');
  input.addEventListener('focus', () => input.select());
  box.querySelector('#new-principal-token-copy').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(token);
      ctx.status(`The token of ${id} is in the clipboard.`);
    } catch {
      input.focus();
      input.select();
      ctx.status('The browser did not allow copying: the token is selected, press Ctrl+C (⌘C) to copy it.');
    }
  });
  box.querySelector('#new-principal-token-hide').addEventListener('click', () => {
    box.hidden = true;
    box.removeAttribute('aria-labelledby');
    box.replaceChildren(); // the token leaves the page
    document.getElementById('new-principal-id')?.focus();
    ctx.status(`The token of ${id} is hidden; it cannot be shown again.`);
  });
}

/** editPrincipal opens the editor of principal id in box (one at a time). */
async function editPrincipal(box, id, ctx, principals) {
  render(box, html`<p>Loading principal ${id}…</p>`);
  let p;
  try {
    p = await get(`/v1/admin/principals/${seg(id)}`);
  } catch (e) {
    if (!box.isConnected) return;
    render(box, html`<p class="error-text" role="alert" id="edit-principal-error">Could not load principal ${id}: ${describe(e)}</p>`);
    return;
  }
  if (!box.isConnected) return;
  render(box, html`<form id="edit-principal-form" class="subform editing" novalidate aria-labelledby="edit-principal-title">
    <h3 id="edit-principal-title" class="subform-title" tabindex="-1">Edit principal <code>${p.id}</code></h3>
    <div id="edit-principal-problems" hidden></div>
    ${ctx.me && ctx.me.id === p.id ? html`<p class="notice" id="edit-principal-self">This is the principal you are signed in
      as: without the admin role you can no longer change permissions, in this tab or any other.</p>` : ''}
    ${principalFields('edit-principal', p)}
    <p class="hint">Its token stays as it is. Its next request is decided with the new values.</p>
    <div class="actions"><button type="submit" id="edit-principal-save" class="primary">Save principal ${p.id}</button>
      <button type="button" id="edit-principal-cancel">Cancel</button></div>
  </form>`);
  const form = box.querySelector('#edit-principal-form');
  box.querySelector('#edit-principal-title').focus();
  const close = (message) => {
    box.replaceChildren();
    principals.editButton(p.id)?.focus();
    if (message) ctx.status(message);
  };
  box.querySelector('#edit-principal-cancel').addEventListener('click', () => close(`Editing ${p.id} cancelled; nothing changed.`));
  wireChange(form, {
    problemsId: 'edit-principal-problems',
    refusedTitle: `Principal ${p.id} was not saved`,
    check: () => readPrincipal(form, 'edit-principal'),
    send: async (body) => (await request('PUT', `/v1/admin/principals/${seg(p.id)}`, { body })).data,
    refusal: (e) => refusedAt(e, principalFieldIds('edit-principal')),
    done: async (saved) => {
      await principals.reload();
      if (!box.isConnected) return;
      const ids = saved.identities && saved.identities.length ? `; identities ${list(saved.identities)}` : '';
      close(`Saved principal ${saved.id}: roles ${list(saved.roles)}; organisation ${saved.org || 'none'}${ids}.`);
    },
  });
}

async function policy(box) {
  try {
    const p = await get('/v1/admin/policies');
    render(box, html`<dl class="facts" id="policy-status">
      <dt>Source</dt><dd>${p.source}</dd>
      <dt>Revision</dt><dd>${p.revision}</dd>
      <dt>Digest</dt><dd><code>${p.digest}</code></dd>
      <dt>Loaded</dt><dd>${fmtTime(p.loadedAt)}</dd>
      <dt>Last failed load</dt><dd>${p.lastError ? html`<span class="error-text">${p.lastError}</span> (${fmtTime(p.lastErrorAt)});
        the policy in force stayed` : 'none'}</dd>
    </dl>`);
  } catch (e) {
    render(box, html`<p class="error-text" role="alert">Could not load the policy status: ${describe(e)}</p>`);
  }
}
