// The identity editor: create or change one business identity.
//
// The form's content lives in a "model" of strings exactly as typed; it is
// kept as a draft in sessionStorage on every change, so neither a refused
// save (422/412) nor a page reload loses anything. toInput() turns the model
// into the API's IdentityInput, collecting the errors a person must fix
// before the server is asked. "Check" (and a debounce after each change)
// asks POST …/preview, which compiles the configuration without saving it.
import { ApiError, describe, get, request, seg } from './api.js';
import { Safe, html, idPart, render } from './html.js';
import { clearFieldErrors, hideSummary, setFieldError, showSummary } from './forms.js';
import { planTable } from './plan.js';
import { lifecycleSection } from './lifecycle.js';
import { identityHash } from './identities.js';

const CODE_RE = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$/;
const DURATION_RE = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/;
const INT_RE = /^-?\d+$/;
const DEBOUNCE_MS = 700;

const draftKey = (code) => `tmf.draft.identity.${code || 'new'}`;

/** modelFrom makes a form model from an Identity (or a blank one). */
function modelFrom(it, baseRevision) {
  const m = { code: it ? it.code : '', name: it ? it.name || '' : '', disabled: !!(it && it.disabled),
    paymentTimeout: (it && it.paymentTimeout) || '', products: {}, bizpacks: {}, rules: [],
    lifecyclePatch: (it && it.lifecyclePatch) || null, baseRevision,
    // Settings this form does not edit are kept as they are: a PUT replaces
    // the whole identity, so leaving them out would remove them.
    returnWindow: (it && it.returnWindow) || '', purchaseLimits: (it && it.purchaseLimits) || null,
    fulfilment: (it && it.fulfilment) || null };
  for (const p of (it && it.products) || []) {
    const args = {};
    for (const [point, v] of Object.entries(p.args || {})) args[point] = JSON.stringify(v, null, 2);
    m.products[p.name] = { on: true, priority: p.priority === undefined || p.priority === null ? '' : String(p.priority), args };
  }
  for (const b of (it && it.bizpacks) || []) {
    m.bizpacks[b.name] = { on: true, priority: b.priority ? String(b.priority) : '' };
  }
  for (const r of (it && it.rules) || []) {
    m.rules.push({ channel: r.channel || '', category: r.category || '',
      buyer: Object.entries(r.buyer || {}).map(([k, v]) => `${k}=${v}`).join(', ') });
  }
  return m;
}

/** toInput validates the model: {input, code, errors:[{field, message}]}. */
export function toInput(m, isNew) {
  const errors = [];
  const code = m.code.trim();
  if (isNew) {
    if (!code) errors.push({ field: 'identity-code', message: 'Enter a code, for example retail.vip.' });
    else if (!CODE_RE.test(code) || code.length > 128 || code.split('.').length > 8) {
      errors.push({ field: 'identity-code', message: 'A code is lowercase letters, digits, - and _, in dot-separated parts that each start with a letter (at most 8 parts, 128 characters).' });
    }
  }
  const products = [];
  for (const [name, p] of Object.entries(m.products)) {
    if (!p.on) continue;
    const ref = { name };
    const pr = (p.priority || '').trim();
    if (pr) {
      if (INT_RE.test(pr)) ref.priority = Number(pr);
      else errors.push({ field: `product-${idPart(name)}-priority`, message: `Priority of ${name} must be a whole number, or empty for the product's default.` });
    }
    for (const [point, text] of Object.entries(p.args || {})) {
      if (!text || !text.trim()) continue;
      try {
        ref.args = ref.args || {};
        ref.args[point] = JSON.parse(text);
      } catch (e) {
        errors.push({ field: argsId(name, point), message: `Arguments of ${name} at ${point} are not valid JSON (${e.message}).` });
      }
    }
    products.push(ref);
  }
  const bizpacks = [];
  for (const [name, b] of Object.entries(m.bizpacks)) {
    if (!b.on) continue;
    const ref = { name };
    const pr = (b.priority || '').trim();
    if (pr) {
      if (INT_RE.test(pr)) ref.priority = Number(pr);
      else errors.push({ field: `bizpack-${idPart(name)}-priority`, message: `Priority of bizpack ${name} must be a whole number, or empty for 0.` });
    }
    bizpacks.push(ref);
  }
  const timeout = m.paymentTimeout.trim();
  if (timeout && !DURATION_RE.test(timeout)) {
    errors.push({ field: 'identity-payment-timeout', message: 'Payment timeout must be a duration such as 15m, 1h or 1h30m, or empty to inherit.' });
  }
  const rules = m.rules.map((r, i) => {
    const rule = {};
    if (r.channel.trim()) rule.channel = r.channel.trim();
    if (r.category.trim()) rule.category = r.category.trim();
    const pairs = r.buyer.split(',').map((s) => s.trim()).filter(Boolean);
    for (const pair of pairs) {
      const eq = pair.indexOf('=');
      if (eq <= 0) {
        errors.push({ field: `rule-${i}-buyer`, message: `Rule ${i + 1}: buyer attributes are written attr=value, separated by commas ("${pair}" is not).` });
        continue;
      }
      rule.buyer = rule.buyer || {};
      rule.buyer[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
    }
    return rule;
  });
  const input = { name: m.name.trim(), disabled: !!m.disabled, products, bizpacks, paymentTimeout: timeout, rules };
  if (m.lifecyclePatch) input.lifecyclePatch = m.lifecyclePatch;
  if (m.returnWindow) input.returnWindow = m.returnWindow;
  if (m.purchaseLimits) input.purchaseLimits = m.purchaseLimits;
  if (m.fulfilment) input.fulfilment = m.fulfilment;
  return { input, code, errors };
}

const argsId = (product, point) => `product-${idPart(product)}-args-${idPart(point)}`;

// fieldFor names the form field a server problem is about.
function fieldFor(p, model) {
  switch (p.kind) {
    case 'bad_args': {
      for (const [name, pr] of Object.entries(model.products)) {
        if (pr.on && p.point && pr.args && pr.args[p.point] && pr.args[p.point].trim()) return argsId(name, p.point);
      }
      return 'identity-products';
    }
    case 'unknown_bizpack': case 'bizpack_identity': return 'identity-bizpacks';
    case 'rules': return 'identity-rules';
    case 'identity': case 'duplicate': return model.isNew ? 'identity-code' : 'identity-name';
    default: return 'identity-products';
  }
}

function problemEntries(problems, model) {
  return problems.map((p) => ({
    field: fieldFor(p, model),
    // The server's message names both sides of a conflict and the point.
    message: `${p.identity ? `${p.identity}: ` : ''}${p.message}${p.kind ? ` [${p.kind}]` : ''}`,
  }));
}

/** editorPage renders the editor for params.code ("" = a new identity). */
export async function editorPage(view, ctx, params) {
  const isNew = !params.code;
  ctx.title(isNew ? 'New identity' : `Edit ${params.code}`);
  render(view, html`<h1>${isNew ? 'New business identity' : html`Edit identity <code>${params.code}</code>`}</h1>
    <p id="editor-loading">Loading…</p>`);
  // Everything the form offers: products and bizpacks known to the server.
  let products = [];
  let packs = [];
  let identity = null;
  let baseRevision = '';
  let existing = new Set(); // codes in use (new identity only): PUT would replace one
  let packsForbidden = false; // the caller may not list bizpacks
  try {
    const [prods, bps, cur] = await Promise.all([
      get('/v1/admin/products'),
      !ctx.can('admin.bizpacks.read') ? { items: [], forbidden: true } : get('/v1/admin/bizpacks').catch((e) => {
        if (e instanceof ApiError && e.status === 403) return { items: [], forbidden: true }; // offers the bound ones only
        throw e;
      }),
      isNew ? get('/v1/admin/identities') : request('GET', `/v1/admin/identities/${seg(params.code)}`),
    ]);
    products = prods.items || [];
    packs = (bps.items || []).map((b) => b.name);
    packsForbidden = !!bps.forbidden;
    if (isNew) {
      baseRevision = String(cur.revision ?? '');
      existing = new Set((cur.items || []).map((it) => it.code));
    }
    else {
      identity = cur.data;
      baseRevision = cur.etag ? cur.etag.replace(/^W\//, '').replace(/"/g, '') : String(identity.revision ?? '');
    }
  } catch (e) {
    render(view, html`<h1>${isNew ? 'New business identity' : html`Edit identity <code>${params.code}</code>`}</h1>
      <p class="error-text" role="alert">Could not load the editor: ${describe(e)}</p>`);
    return;
  }

  const key = draftKey(params.code);
  let model = modelFrom(identity, baseRevision);
  let restored = false;
  try {
    const d = JSON.parse(sessionStorage.getItem(key) || 'null');
    if (d && d.model) {
      model = d.model;
      restored = true;
    }
  } catch { /* a broken draft is ignored */ }
  model.isNew = isNew;

  // Offer every product and bizpack the server knows, plus those the
  // identity names that it does not (so nothing is silently dropped).
  const productNames = [...new Set([...products.map((p) => p.name), ...Object.keys(model.products)])];
  const packNames = [...new Set([...packs, ...Object.keys(model.bizpacks)])].sort();
  const productInfo = new Map(products.map((p) => [p.name, p]));

  const inherited = identity && identity.effective ? identity.effective : null;
  const inheritedProducts = inherited ? (inherited.products || []).filter((n) => !(identity.products || []).some((p) => p.name === n)) : [];

  render(view, html`<h1>${isNew ? 'New business identity' : html`Edit identity <code>${params.code}</code>`}</h1>
    ${isNew ? '' : html`<p><a id="identity-view" href="${identityHash(params.code)}">View plan, lifecycle and audit of ${params.code}</a></p>`}
    <div id="problems" hidden></div>
    <div id="draft-notice" class="notice" ${restored ? '' : new Safe('hidden')}>
      <p>Restored your unsaved changes to this form (edited from revision <span id="draft-revision">${model.baseRevision}</span>).</p>
      <button type="button" id="draft-discard">Discard my changes</button>
    </div>
    <form id="identity-form" novalidate>
      ${isNew ? html`<div class="field">
        <label for="identity-code">Code</label>
        <p class="hint" id="identity-code-hint">Required. Lowercase letters, digits, - and _ in dot-separated parts,
          for example <code>retail.vip</code>. The part before the last dot is the parent it inherits from.</p>
        <input id="identity-code" name="code" autocomplete="off" spellcheck="false" required
          aria-describedby="identity-code-hint" value="${model.code}">
      </div>` : html`<p>Code <code>${model.code}</code>${identity && identity.parent
        ? html`, inherits from <a href="${identityHash(identity.parent)}"><code>${identity.parent}</code></a>` : ', top level'}.
        Editing from revision <span id="identity-base-revision">${model.baseRevision}</span>.</p>`}
      <div class="field">
        <label for="identity-name">Name</label>
        <p class="hint" id="identity-name-hint">Optional. Shown in lists, e.g. "Retail VIP customers".</p>
        <input id="identity-name" name="name" autocomplete="off" aria-describedby="identity-name-hint" value="${model.name}">
      </div>
      <div class="field checkbox">
        <input type="checkbox" id="identity-disabled" name="disabled" ${model.disabled ? new Safe('checked') : ''}
          aria-describedby="identity-disabled-hint">
        <label for="identity-disabled">Disabled</label>
        <p class="hint" id="identity-disabled-hint">A disabled identity takes no new orders; its existing orders go on.</p>
      </div>
      <fieldset id="identity-products" tabindex="-1" aria-describedby="identity-products-hint">
        <legend>Products</legend>
        <p class="hint" id="identity-products-hint">Optional. Enabled products bring their capability settings and
          extension implementations. With several, the higher priority wins a conflict.
          ${inheritedProducts.length ? html`Inherited from the parent without choosing them here: ${inheritedProducts.join(', ')}.` : ''}</p>
        ${productNames.length ? productNames.map((n) => productField(n, productInfo.get(n), model.products[n]))
          : html`<p class="muted">The server offers no products.</p>`}
      </fieldset>
      <fieldset id="identity-bizpacks" tabindex="-1" aria-describedby="identity-bizpacks-hint">
        <legend>Bizpacks</legend>
        <p class="hint" id="identity-bizpacks-hint">Optional. A bound bizpack's implementations run above the products'.
          Between two bizpacks the higher priority runs first.</p>
        ${packsForbidden ? html`<p class="muted" id="bizpacks-forbidden">Your roles do not allow listing the bizpacks:
          only those already bound are shown.</p>` : ''}
        ${packNames.length ? packNames.map((n) => bizpackField(n, model.bizpacks[n]))
          : packsForbidden ? '' : html`<p class="muted">No bizpack is running on the server.</p>`}
      </fieldset>
      <div class="field">
        <label for="identity-payment-timeout">Payment timeout</label>
        <p class="hint" id="identity-payment-timeout-hint">Optional. A duration such as <code>15m</code> or <code>1h30m</code>;
          unpaid orders are cancelled after it. Empty inherits${inherited && inherited.paymentTimeout
            ? html` (now ${inherited.paymentTimeout})` : ''}.</p>
        <input id="identity-payment-timeout" name="paymentTimeout" autocomplete="off" spellcheck="false"
          aria-describedby="identity-payment-timeout-hint" value="${model.paymentTimeout}" class="short">
      </div>
      <fieldset id="identity-rules" tabindex="-1" aria-describedby="identity-rules-hint">
        <legend>Resolution rules</legend>
        <p class="hint" id="identity-rules-hint">Optional. An order without an explicit bizCode resolves to this identity
          when it matches a rule: every field set must match. A rule with no field matches every order that no more
          specific rule takes.</p>
        <div id="rules-rows"></div>
        <button type="button" id="rule-add">Add a rule</button>
      </fieldset>
      ${model.lifecyclePatch ? html`<p class="muted">This identity has a lifecycle patch; it is kept as it is.</p>` : ''}
      ${model.purchaseLimits && model.purchaseLimits.length ? html`<p class="muted" data-testid="identity-limits-kept">This identity has ${model.purchaseLimits.length} purchase limit(s) (${model.purchaseLimits.map((l) => l.name).join(', ')}); they are kept as they are.</p>` : ''}
      <div class="actions">
        <button type="button" id="identity-check">Check</button>
        <button type="submit" id="identity-save" class="primary">Save</button>
        <a href="${isNew ? '#/identities' : identityHash(params.code)}" id="identity-cancel">Cancel</a>
      </div>
    </form>
    <section id="preview" aria-labelledby="preview-title">
      <h2 id="preview-title">Plan preview</h2>
      <p id="preview-status" class="muted">Change the form or press Check to compile the plan without saving.</p>
      <div id="preview-plan"></div>
      <details id="preview-lifecycle-box" hidden><summary>Lifecycle preview</summary><div id="preview-lifecycle"></div></details>
    </section>`);

  const form = view.querySelector('#identity-form');
  const byId = (id) => view.querySelector(`[id="${id}"]`);
  const problemsBox = byId('problems');
  renderRules();
  syncDisabled();

  // readForm copies the DOM into the model (the model is the truth for drafts).
  function readForm() {
    if (isNew) model.code = byId('identity-code').value;
    model.name = byId('identity-name').value;
    model.disabled = byId('identity-disabled').checked;
    model.paymentTimeout = byId('identity-payment-timeout').value;
    for (const n of productNames) {
      const p = model.products[n] || (model.products[n] = { on: false, priority: '', args: {} });
      p.on = byId(`product-${idPart(n)}`).checked;
      p.priority = byId(`product-${idPart(n)}-priority`).value;
      for (const ta of view.querySelectorAll(`textarea[data-product="${CSS.escape(n)}"]`)) p.args[ta.dataset.point] = ta.value;
    }
    for (const n of packNames) {
      const b = model.bizpacks[n] || (model.bizpacks[n] = { on: false, priority: '' });
      b.on = byId(`bizpack-${idPart(n)}`).checked;
      b.priority = byId(`bizpack-${idPart(n)}-priority`).value;
    }
    model.rules = model.rules.map((_, i) => ({ channel: byId(`rule-${i}-channel`).value,
      category: byId(`rule-${i}-category`).value, buyer: byId(`rule-${i}-buyer`).value }));
  }

  function saveDraft() {
    sessionStorage.setItem(key, JSON.stringify({ model, at: new Date().toISOString() }));
  }

  function renderRules() {
    const box = byId('rules-rows');
    if (!model.rules.length) {
      render(box, html`<p class="muted" id="rules-none">No rules: orders reach this identity only by naming it.</p>`);
      return;
    }
    render(box, html`${model.rules.map((r, i) => html`<div class="rule-row" id="rule-${i}" role="group" aria-labelledby="rule-${i}-title">
      <p class="rule-title" id="rule-${i}-title">Rule ${i + 1}</p>
      <div class="field"><label for="rule-${i}-channel">Channel</label>
        <input id="rule-${i}-channel" value="${r.channel}" autocomplete="off" class="short"></div>
      <div class="field"><label for="rule-${i}-category">Category</label>
        <input id="rule-${i}-category" value="${r.category}" autocomplete="off" class="short"></div>
      <div class="field"><label for="rule-${i}-buyer">Buyer attributes</label>
        <p class="hint" id="rule-${i}-buyer-hint">attr=value, separated by commas, e.g. <code>role=agent, agentLevel=1</code></p>
        <input id="rule-${i}-buyer" value="${r.buyer}" autocomplete="off" aria-describedby="rule-${i}-buyer-hint"></div>
      <button type="button" class="rule-remove" id="rule-${i}-remove" data-index="${i}">Remove rule ${i + 1}</button>
    </div>`)}`);
  }

  // Priority and arguments of an unchecked product or bizpack are kept but not sent.
  function syncDisabled() {
    for (const n of productNames) {
      const on = byId(`product-${idPart(n)}`).checked;
      byId(`product-${idPart(n)}-priority`).disabled = !on;
      for (const ta of view.querySelectorAll(`textarea[data-product="${CSS.escape(n)}"]`)) ta.disabled = !on;
    }
    for (const n of packNames) byId(`bizpack-${idPart(n)}-priority`).disabled = !byId(`bizpack-${idPart(n)}`).checked;
  }

  // Validation of the model; shows field errors (and a summary when focus is wanted).
  function validate(focus) {
    clearFieldErrors(form);
    const res = toInput(model, isNew);
    if (isNew && existing.has(res.code)) {
      res.errors.unshift({ field: 'identity-code', message: `An identity ${res.code} exists already: choose another code, or edit ${res.code} instead.` });
    }
    for (const e of res.errors) setFieldError(e.field, e.message);
    if (res.errors.length) {
      showSummary(problemsBox, `There ${res.errors.length === 1 ? 'is a problem' : `are ${res.errors.length} problems`} with the form`,
        res.errors, { focus });
    }
    return res;
  }

  let seq = 0; // only the latest preview answer is shown
  let timer = 0;
  ctx.onLeave(() => clearTimeout(timer));

  async function preview(explicit) {
    clearTimeout(timer);
    const res = validate(explicit);
    const status = byId('preview-status');
    if (res.errors.length) {
      status.textContent = 'Fix the form to see the plan.';
      return;
    }
    const mine = ++seq;
    status.textContent = 'Checking…';
    let out;
    try {
      out = (await request('POST', `/v1/admin/identities/${seg(res.code)}/preview`, { body: res.input })).data;
    } catch (e) {
      if (mine !== seq || !view.isConnected) return;
      status.textContent = '';
      showSummary(problemsBox, 'The check failed', [{ message: describe(e) }], { focus: explicit });
      return;
    }
    if (mine !== seq || !view.isConnected) return;
    const problems = out.problems || [];
    if (problems.length || !out.valid) {
      showSummary(problemsBox, `This configuration cannot be saved: ${problems.length} ${problems.length === 1 ? 'problem' : 'problems'}`,
        problemEntries(problems, model), { focus: explicit });
      status.textContent = 'Not valid: fix the problems listed at the top.';
    } else {
      hideSummary(problemsBox);
      status.textContent = 'Valid: this is the plan the identity would run with.';
    }
    render(byId('preview-plan'), out.plan ? planTable(out.plan) : html`<p class="muted" id="plan-table">No plan: the configuration does not compile.</p>`);
    const lcBox = byId('preview-lifecycle-box');
    if (out.lifecycle) {
      lcBox.hidden = false;
      lifecycleSection(byId('preview-lifecycle'), out.lifecycle, { idSuffix: '-preview', headingLevel: 3 });
    } else lcBox.hidden = true;
    if (explicit && !problems.length) ctx.status(status.textContent);
  }

  function changed() {
    readForm();
    saveDraft();
    byId('draft-notice').hidden = true;
    clearTimeout(timer);
    timer = setTimeout(() => preview(false), DEBOUNCE_MS);
  }

  form.addEventListener('input', changed);
  form.addEventListener('change', (ev) => {
    if (ev.target.type === 'checkbox') syncDisabled();
    changed();
  });
  byId('rule-add').addEventListener('click', () => {
    readForm();
    model.rules.push({ channel: '', category: '', buyer: '' });
    renderRules();
    changed();
    byId(`rule-${model.rules.length - 1}-channel`).focus();
  });
  byId('rules-rows').addEventListener('click', (ev) => {
    const b = ev.target.closest('.rule-remove');
    if (!b) return;
    readForm();
    model.rules.splice(Number(b.dataset.index), 1);
    renderRules();
    changed();
    byId('rule-add').focus();
    ctx.status('Rule removed.');
  });
  byId('identity-check').addEventListener('click', () => {
    readForm();
    preview(true);
  });
  byId('draft-discard').addEventListener('click', () => {
    sessionStorage.removeItem(key);
    ctx.status('Your unsaved changes were discarded.');
    ctx.navigate(location.hash, { keepStatus: true });
  });

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    readForm();
    saveDraft();
    clearTimeout(timer);
    seq++; // a pending automatic check must not overwrite what the save shows
    const res = validate(true);
    if (res.errors.length) return;
    const save = byId('identity-save');
    save.disabled = true;
    try {
      // Saved only over the configuration revision the form was filled
      // from (for a new identity: the revision of the list), else 412.
      const headers = model.baseRevision ? { 'If-Match': `"${model.baseRevision}"` } : {};
      const out = (await request('PUT', `/v1/admin/identities/${seg(res.code)}`, { body: res.input, headers })).data;
      sessionStorage.removeItem(key);
      hideSummary(problemsBox);
      ctx.status(`Saved revision ${out.revision}.`);
      ctx.navigate(identityHash(res.code, 'edit'), { keepStatus: true });
    } catch (e) {
      if (!view.isConnected) return;
      saveRefused(e, res);
    } finally {
      if (view.isConnected) save.disabled = false;
    }
  });

  // saveRefused explains a refused save; the form keeps everything typed.
  function saveRefused(e, res) {
    const code = res.code;
    if (e instanceof ApiError && e.status === 422 && e.problems.length) {
      showSummary(problemsBox, `Not saved: ${e.problems.length} ${e.problems.length === 1 ? 'problem' : 'problems'} to fix`,
        problemEntries(e.problems, model), { focus: true });
      render(byId('preview-plan'), html``);
      byId('preview-status').textContent = 'Not saved. Your changes are still in the form.';
      return;
    }
    if (e instanceof ApiError && e.status === 412) {
      const cur = e.body.currentRevision;
      showSummary(problemsBox, 'Not saved: someone else saved first', [{
        message: `The configuration changed since you started (now revision ${cur ?? 'newer'}). Your changes are still in the form.`,
      }], { focus: true, extra: html`<p><button type="button" id="identity-reload">Load the latest revision and keep my changes</button>
        <button type="button" id="identity-discard-reload">Discard my changes and reload</button></p>` });
      byId('identity-reload').addEventListener('click', () => rebase(code));
      byId('identity-discard-reload').addEventListener('click', () => {
        sessionStorage.removeItem(key);
        ctx.status('Your changes were discarded; the form shows the latest revision.');
        ctx.navigate(location.hash, { keepStatus: true });
      });
      return;
    }
    if (e instanceof ApiError && e.status === 400 && e.body.field) {
      const f = fieldOf400(e.body.field, res.input);
      if (f && byId(f)) setFieldError(f, e.detail);
      showSummary(problemsBox, 'Not saved', [{ field: f && byId(f) ? f : undefined, message: describe(e) }], { focus: true });
      return;
    }
    showSummary(problemsBox, 'Not saved', [{ message: describe(e) }], { focus: true });
  }

  // rebase takes the revision now in force as the base of the typed changes
  // ("reload and reapply"): the next save is checked against it.
  async function rebase(code) {
    try {
      let rev;
      if (isNew) rev = String((await get('/v1/admin/identities')).revision ?? '');
      else {
        const r = await request('GET', `/v1/admin/identities/${seg(code)}`);
        rev = r.etag ? r.etag.replace(/^W\//, '').replace(/"/g, '') : String(r.data.revision ?? '');
      }
      model.baseRevision = rev;
      saveDraft();
      const base = byId('identity-base-revision');
      if (base) base.textContent = rev;
      hideSummary(problemsBox);
      ctx.status(`Now editing from revision ${rev} with your changes kept. Check and save again.`);
      preview(false);
      byId('identity-save').focus();
    } catch (e) {
      showSummary(problemsBox, 'Could not load the latest revision', [{ message: describe(e) }], { focus: true });
    }
  }

  if (restored) preview(false);
}

// fieldOf400 maps the "field" of a 400 invalid_identity ("name",
// "products[1].args.delivery.freight", ...) to the form field's id.
function fieldOf400(field, input) {
  const simple = { name: 'identity-name', paymentTimeout: 'identity-payment-timeout', code: 'identity-code' }[field];
  if (simple) return simple;
  const m = field.match(/^(products|bizpacks)\[(\d+)\](?:\.args\.(.+))?/);
  if (!m) return field.startsWith('rules') ? 'identity-rules' : undefined;
  const ref = input[m[1]][Number(m[2])];
  if (!ref) return `identity-${m[1]}`;
  if (m[3]) return argsId(ref.name, m[3]);
  return `${m[1] === 'products' ? 'product' : 'bizpack'}-${idPart(ref.name)}`;
}

function productField(name, info, state) {
  const s = state || { on: false, priority: '', args: {} };
  const id = `product-${idPart(name)}`;
  const points = info ? info.points || [] : Object.keys(s.args || {});
  return html`<div class="choice" id="${id}-group">
    <div class="field checkbox">
      <input type="checkbox" id="${id}" data-name="${name}" ${s.on ? new Safe('checked') : ''} aria-describedby="${id}-doc">
      <label for="${id}"><strong>${name}</strong>${info && info.version ? html` <span class="muted">v${info.version}</span>` : ''}</label>
      <p class="hint" id="${id}-doc">${info ? info.doc || '' : 'Not offered by the server any more.'}
        ${info && info.paymentTimeout ? html` Payment timeout ${info.paymentTimeout}.` : ''}
        ${info && info.lifecycle ? ' Brings its own lifecycle.' : ''}</p>
    </div>
    <div class="field inline">
      <label for="${id}-priority">Priority of ${name}</label>
      <input id="${id}-priority" inputmode="numeric" class="tiny" value="${s.priority}" aria-describedby="${id}-priority-hint">
      <span class="hint" id="${id}-priority-hint">optional whole number${info && info.priority !== undefined ? `; default ${info.priority}` : ''}</span>
    </div>
    ${points.length ? html`<details class="args" ${Object.values(s.args || {}).some((v) => v && v.trim()) ? new Safe('open') : ''}>
      <summary>Arguments per extension point of ${name} (optional JSON)</summary>
      <p class="hint">Replace the arguments of this product's implementation at a point for this identity, e.g. a
        freight template at <code>delivery.freight</code>. Leave empty to keep the product's own.</p>
      ${points.map((pt) => html`<div class="field">
        <label for="${argsId(name, pt)}">Arguments at ${pt}</label>
        <textarea id="${argsId(name, pt)}" data-product="${name}" data-point="${pt}" rows="3" spellcheck="false"
          class="code">${(s.args || {})[pt] || ''}</textarea>
      </div>`)}
    </details>` : ''}
  </div>`;
}

function bizpackField(name, state) {
  const s = state || { on: false, priority: '' };
  const id = `bizpack-${idPart(name)}`;
  return html`<div class="choice">
    <div class="field checkbox">
      <input type="checkbox" id="${id}" data-name="${name}" ${s.on ? new Safe('checked') : ''}>
      <label for="${id}"><strong>${name}</strong></label>
    </div>
    <div class="field inline">
      <label for="${id}-priority">Priority of ${name}</label>
      <input id="${id}-priority" inputmode="numeric" class="tiny" value="${s.priority}" aria-describedby="${id}-priority-hint">
      <span class="hint" id="${id}-priority-hint">optional whole number; default 0</span>
    </div>
  </div>`;
}
