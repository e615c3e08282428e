// Purchase limits: every identity's limits in one table (read from
// GET /v1/admin/identities, which carries each identity's purchaseLimits),
// and an editor of one identity's limits (#/limits/<code>) that saves them
// with the identity (PUT /v1/admin/identities/{code}, over the revision it
// read): a new configuration revision, or a refusal naming every problem.
import { ApiError, describe, get, request, seg } from './api.js';
import { Safe, html, idPart, render, fmtMoney, fmtTime, list } from './html.js';
import { clearFieldErrors, hideSummary, setFieldError, showSummary } from './forms.js';
import { identityHash } from './identities.js';

function windowText(l) {
  if (l.window === 'period') return html`${fmtTime(l.from)} to ${fmtTime(l.to)}`;
  return { order: 'per order', day: 'per UTC day', lifetime: 'lifetime' }[l.window] || l.window;
}

/** limitsPage lists the purchase limits of the identities the caller reads. */
export async function limitsPage(view, ctx) {
  ctx.title('Purchase limits');
  render(view, html`<h1>Purchase limits</h1>
    <p>How much one buyer may buy, per identity: enforced in the order's own transaction (an order over a limit is
      <code>409 purchase_limit_exceeded</code>). An identity inherits no limit from its parent; they are set with the identity
      (<code>purchaseLimits</code> of <code>PUT /v1/admin/identities/{code}</code>, see docs/domains.md).</p>
    <div id="limits-body"><p>Loading…</p></div>`);
  const body = view.querySelector('#limits-body');
  let ids;
  try {
    ids = (await get('/v1/admin/identities')).items || [];
  } catch (e) {
    render(body, html`<p class="error-text" role="alert" id="limits-error">Could not list identities: ${describe(e)}</p>`);
    return;
  }
  const rows = ids.flatMap((it) => (it.purchaseLimits || []).map((l) => ({ code: it.code, l })));
  if (ctx.can('identity.create')) {
    body.insertAdjacentHTML('beforebegin', html`<form id="limits-edit-form" class="filters" novalidate>
      <div class="field"><label for="limits-edit-identity">Identity</label>
        <select id="limits-edit-identity">${ids.map((it) => html`<option value="${it.code}">${it.code}</option>`)}</select></div>
      <div class="actions"><button type="submit" id="limits-edit">Edit its limits</button></div></form>`.s);
    view.querySelector('#limits-edit-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      ctx.navigate(limitsHash(view.querySelector('#limits-edit-identity').value));
    });
  }
  render(body, rows.length ? html`<div class="table-scroll"><table id="limits-table">
    <caption class="visually-hidden">Purchase limits by identity</caption>
    <thead><tr><th scope="col">Identity</th><th scope="col">Limit</th><th scope="col">Counted per</th><th scope="col">Applies to</th>
      <th scope="col">Window</th><th scope="col" class="num">At most</th><th scope="col">Change</th></tr></thead>
    <tbody>${rows.map(({ code, l }) => html`<tr id="limit-row-${idPart(code)}-${idPart(l.name)}">
      <td><a href="${identityHash(code)}"><code>${code}</code></a></td><th scope="row"><code>${l.name}</code></th><td>${l.scope}</td>
      <td>${l.skus && l.skus.length ? html`SKUs ${list(l.skus)}` : ''}${l.categories && l.categories.length ? html`categories ${list(l.categories)}` : ''}${!(l.skus && l.skus.length) && !(l.categories && l.categories.length) ? 'every line' : ''}</td>
      <td>${windowText(l)}</td>
      <td class="num">${l.measure === 'amount' ? fmtMoney(l.max, l.currency) : `${l.max} units`}</td>
      <td><a href="${limitsHash(code)}">Edit<span class="visually-hidden"> the limits of ${code}</span></a></td></tr>`)}</tbody></table></div>`
    : html`<p id="limits-none">No identity has a purchase limit.</p>`);
}

const limitsHash = (code) => `#/limits/${encodeURIComponent(code)}`;
const draftKey = (code) => `tmf.draft.limits.${code}`;
const INT_RE = /^\d+$/;

// The choices of a limit's fields (kernel.PurchaseLimit).
const scopes = [['identity', 'every line of the identity together'], ['sku', 'each SKU on its own'], ['category', 'each category on its own']];
const windows = [['day', 'per UTC day'], ['order', 'per order'], ['lifetime', 'lifetime'], ['period', 'a period (from, to)']];
const measures = [['quantity', 'units'], ['amount', 'amount (minor units of a currency)']];

/** rowFrom makes the typed form of a limit (every field a string). */
function rowFrom(l) {
  const t = (v) => (v ? String(v).replace(/(:\d\d)?(\.\d+)?Z$/, '') : '');
  return { name: l.name || '', scope: l.scope || 'identity', per: l.per || '', measure: l.measure || 'quantity',
    currency: l.currency || '', window: l.window || 'day', from: t(l.from), to: t(l.to),
    max: l.max ? String(l.max) : '', skus: (l.skus || []).join(', '), categories: (l.categories || []).join(', ') };
}

/** limitOf turns a typed row into a kernel.PurchaseLimit, with the errors
 * a person must fix before the server is asked. */
function limitOf(r, i) {
  const errors = [];
  const at = `Limit ${i + 1}`;
  if (!r.name.trim()) errors.push({ field: `limit-${i}-name`, message: `${at}: enter a name, e.g. two-a-day.` });
  if (!INT_RE.test(r.max.trim()) || Number(r.max) < 1) errors.push({ field: `limit-${i}-max`, message: `${at}: at most is a whole number, 1 or more.` });
  const split = (v) => v.split(',').map((x) => x.trim()).filter(Boolean);
  const utc = (v) => (v.trim() ? `${v.trim().length === 16 ? `${v.trim()}:00` : v.trim()}Z` : undefined);
  const l = { name: r.name.trim(), scope: r.scope, window: r.window, max: Number(r.max.trim()) };
  if (r.per.trim()) l.per = r.per.trim();
  if (r.measure === 'amount') {
    l.measure = 'amount';
    l.currency = r.currency.trim().toUpperCase();
  }
  if (r.window === 'period') {
    l.from = utc(r.from);
    l.to = utc(r.to);
  }
  if (split(r.skus).length) l.skus = split(r.skus);
  if (split(r.categories).length) l.categories = split(r.categories);
  return { l, errors };
}

/** inputOf is the PUT body that keeps everything of the identity but its
 * limits, which become limits. */
function inputOf(it, limits) {
  return { name: it.name, disabled: !!it.disabled, products: it.products || [], bizpacks: it.bizpacks || [],
    paymentTimeout: it.paymentTimeout || '', returnWindow: it.returnWindow || '', lifecyclePatch: it.lifecyclePatch || null,
    fulfilment: it.fulfilment || null, rules: it.rules || [], purchaseLimits: limits };
}

function options(pairs, current) {
  return pairs.map(([v, label]) => html`<option value="${v}"${v === current ? new Safe(' selected') : ''}>${label}</option>`);
}

function rowFields(r, i) {
  const f = (key, label, hint, input) => html`<div class="field"><label for="limit-${i}-${key}">${label}</label>${input}
    ${hint ? html`<p class="hint" id="limit-${i}-${key}-hint">${hint}</p>` : ''}</div>`;
  const text = (key, cls) => html`<input id="limit-${i}-${key}" data-key="${key}" value="${r[key]}" autocomplete="off" class="${cls || 'short'}"
    aria-describedby="limit-${i}-${key}-hint">`;
  const sel = (key, pairs) => html`<select id="limit-${i}-${key}" data-key="${key}">${options(pairs, r[key])}</select>`;
  const time = (key) => html`<input id="limit-${i}-${key}" data-key="${key}" type="datetime-local" value="${r[key]}"
    aria-describedby="limit-${i}-${key}-hint">`;
  return html`<fieldset class="limit-row" id="limit-${i}"><legend>Limit ${i + 1}${r.name ? html`: <code>${r.name}</code>` : ''}</legend>
    ${f('name', 'Name', 'a-z 0-9 _ -: the buyers\' counters are kept by name (renaming starts afresh).', text('name'))}
    ${f('scope', 'Counted over', '', sel('scope', scopes))}
    ${f('per', 'Counted per', 'Empty or buyer, org, or attr:<attribute> (e.g. attr:phone).', text('per'))}
    ${f('measure', 'Measure', '', sel('measure', measures))}
    ${f('currency', 'Currency', 'For the amount measure: an ISO 4217 code.', text('currency'))}
    ${f('max', 'At most', 'Units, or minor units of the currency.', text('max'))}
    ${f('window', 'Window', '', sel('window', windows))}
    ${f('from', 'From (UTC)', 'For a period.', time('from'))}
    ${f('to', 'To (UTC)', 'For a period.', time('to'))}
    ${f('skus', 'Only SKUs', 'Optional, comma-separated; empty counts every line.', text('skus', ''))}
    ${f('categories', 'Only categories', 'Optional, comma-separated.', text('categories', ''))}
    <div class="actions"><button type="button" id="limit-${i}-remove" data-remove="${i}">Remove limit ${i + 1}</button></div>
  </fieldset>`;
}

/** limitsEditorPage edits one identity's purchase limits. Everything typed
 * is kept as a draft in sessionStorage until it is saved or discarded,
 * so a refused save (422 naming each problem, 412 when someone saved
 * first) or a reload loses nothing. */
export async function limitsEditorPage(view, ctx, params) {
  const code = params.code;
  ctx.title(`Purchase limits of ${code}`);
  render(view, html`<h1>Purchase limits of <code>${code}</code></h1>
    <p><a href="#/limits">Back to purchase limits</a> · <a href="${identityHash(code)}">The identity</a></p>
    <div id="limits-editor-body"><p>Loading…</p></div>`);
  const body = view.querySelector('#limits-editor-body');
  let it;
  let revision;
  const load = async () => {
    const r = await request('GET', `/v1/admin/identities/${seg(code)}`);
    it = r.data;
    revision = r.etag ? r.etag.replace(/^W\//, '').replace(/"/g, '') : String(it.revision ?? '');
  };
  try {
    await load();
  } catch (e) {
    render(body, html`<p class="error-text" role="alert" id="limits-editor-error">${e instanceof ApiError && e.status === 404
      ? `There is no identity ${code}.` : `Could not load the identity: ${describe(e)}`}</p>`);
    return;
  }
  const key = draftKey(code);
  let draft = null;
  try {
    draft = JSON.parse(sessionStorage.getItem(key) || 'null');
  } catch { /* a broken draft is dropped */ }
  let rows = draft ? draft.rows : (it.purchaseLimits || []).map(rowFrom);
  if (draft && draft.revision) revision = draft.revision;
  const save = () => sessionStorage.setItem(key, JSON.stringify({ rows, revision }));

  const draw = () => {
    render(body, html`${draft ? html`<p class="notice" id="limits-draft">Your unsaved changes are shown.
        <button type="button" id="limits-discard">Discard them</button></p>` : ''}
      <div id="limits-problems" class="error-summary" tabindex="-1" hidden></div>
      <form id="limits-form" novalidate>
        <p class="hint">Limits are checked in the order's own transaction (409 purchase_limit_exceeded); the identity inherits
          none from its parent. Saving makes a new configuration revision over revision <span id="limits-revision">${revision}</span>.</p>
        <div id="limits-rows">${rows.length ? rows.map(rowFields) : html`<p id="limits-editor-none">No limit: add one.</p>`}</div>
        <div class="actions"><button type="button" id="limits-add">Add a limit</button>
          <button type="submit" id="limits-save" class="primary">Save the limits</button></div>
      </form>`);
    const form = body.querySelector('#limits-form');
    form.addEventListener('input', (ev) => {
      const m = ev.target.id.match(/^limit-(\d+)-/);
      if (!m || !ev.target.dataset.key) return;
      rows[Number(m[1])][ev.target.dataset.key] = ev.target.value;
      draft = draft || { rows, revision };
      save();
    });
    for (const b of form.querySelectorAll('button[data-remove]')) {
      b.addEventListener('click', () => {
        rows.splice(Number(b.dataset.remove), 1);
        draft = { rows, revision };
        save();
        draw();
        ctx.status(`Limit ${Number(b.dataset.remove) + 1} removed from the form; save to make it so.`);
      });
    }
    body.querySelector('#limits-add').addEventListener('click', () => {
      rows.push(rowFrom({}));
      draft = { rows, revision };
      save();
      draw();
      body.querySelector(`#limit-${rows.length - 1}-name`).focus();
    });
    const discard = body.querySelector('#limits-discard');
    if (discard) {
      discard.addEventListener('click', () => {
        sessionStorage.removeItem(key);
        ctx.status('Your changes were discarded.');
        ctx.navigate(location.hash, { keepStatus: true });
      });
    }
    form.addEventListener('submit', (ev) => submit(ev, form));
  };

  const submit = async (ev, form) => {
    ev.preventDefault();
    const problems = body.querySelector('#limits-problems');
    clearFieldErrors(form);
    const built = rows.map(limitOf);
    const errors = built.flatMap((b) => b.errors);
    if (errors.length) {
      for (const e of errors) setFieldError(e.field, e.message);
      showSummary(problems, `There ${errors.length === 1 ? 'is a problem' : `are ${errors.length} problems`} with the form`, errors, { focus: true });
      return;
    }
    const btn = body.querySelector('#limits-save');
    btn.disabled = true;
    try {
      const out = (await request('PUT', `/v1/admin/identities/${seg(code)}`,
        { body: inputOf(it, built.map((b) => b.l)), headers: { 'If-Match': `"${revision}"` } })).data;
      sessionStorage.removeItem(key);
      ctx.status(`Saved revision ${out.revision}: ${code} has ${built.length} purchase limit${built.length === 1 ? '' : 's'}.`);
      ctx.navigate(location.hash, { keepStatus: true });
    } catch (e) {
      if (!view.isConnected) return;
      btn.disabled = false;
      if (e instanceof ApiError && e.status === 422 && e.problems.length) {
        showSummary(problems, `Not saved: ${e.problems.length} ${e.problems.length === 1 ? 'problem' : 'problems'} to fix`,
          e.problems.map((p) => ({ field: fieldOfProblem(p.message), message: `${p.identity ? `${p.identity}: ` : ''}${p.message}${p.kind ? ` [${p.kind}]` : ''}` })),
          { focus: true, extra: html`<p>Your limits are still in the form.</p>` });
        return;
      }
      if (e instanceof ApiError && e.status === 412) {
        showSummary(problems, 'Not saved: someone else saved first', [{
          message: `The configuration changed since you started (now revision ${e.body.currentRevision ?? 'newer'}). Your limits are still in the form.` }],
        { focus: true, extra: html`<p><button type="button" id="limits-rebase">Load the latest revision and keep my limits</button></p>` });
        body.querySelector('#limits-rebase').addEventListener('click', async () => {
          try {
            await load();
            draft = { rows, revision };
            save();
            hideSummary(problems);
            body.querySelector('#limits-revision').textContent = revision;
            ctx.status(`Your limits now apply over revision ${revision}; save again.`);
          } catch (err) {
            showSummary(problems, 'Could not load the latest revision', [{ message: describe(err) }], { focus: true });
          }
        });
        return;
      }
      showSummary(problems, 'Not saved', [{ message: describe(e) }], { focus: true });
    }
  };

  // fieldOfProblem finds the limit a server problem names by its name.
  const fieldOfProblem = (message) => {
    const m = /purchase limit "([^"]+)"/.exec(message || '');
    const i = m ? rows.findIndex((r) => r.name.trim() === m[1]) : -1;
    return i >= 0 ? `limit-${i}-name` : undefined;
  };
  draw();
}
