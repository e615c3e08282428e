// Webhooks: the endpoints that receive the platform's events, their
// secrets (shown once, after creation and after a rotation) and their
// delivery log with redelivery. API: /v1/admin/webhooks…,
// /v1/admin/events/types; actions admin.webhooks.read / .write.
import { ApiError, describe, get, query, request, seg } from './api.js';
import { html, idPart, list, render, fmtTime, yesNo } from './html.js';
import { clearFieldErrors, setFieldError, showSummary, hideSummary } from './forms.js';

/** secretPanel shows a secret once, with a copy button and the warning
 * that it will not be shown again. */
function secretPanel(box, title, secret, note) {
  render(box, html`<h2 id="webhook-secret-title">${title}</h2>
    <p><strong>Copy it now: it will not be shown again.</strong> ${note}</p>
    <div class="field"><label for="webhook-secret-value">Signing secret</label>
      <input id="webhook-secret-value" class="secret" readonly value="${secret}" spellcheck="false" autocomplete="off"></div>
    <p><button type="button" id="webhook-secret-copy">Copy secret</button>
      <button type="button" id="webhook-secret-done">I have stored it</button></p>`);
  box.hidden = false;
  box.classList.add('notice');
  box.setAttribute('aria-labelledby', 'webhook-secret-title');
  box.tabIndex = -1;
  box.querySelector('#webhook-secret-copy').addEventListener('click', async () => {
    const input = box.querySelector('#webhook-secret-value');
    input.select();
    let ok = false;
    try {
      await navigator.clipboard.writeText(input.value);
      ok = true;
    } catch {
      try { ok = document.execCommand('copy'); } catch { ok = false; }
    }
    box.querySelector('#webhook-secret-copy').textContent = ok ? 'Copied' : 'Copy secret';
    if (!ok) input.focus(); // selected: the user copies it by hand
  });
  box.querySelector('#webhook-secret-done').addEventListener('click', () => {
    box.hidden = true;
    box.replaceChildren(); // the secret leaves the page
  });
  box.focus();
}

/** fieldFor maps a problem's `field` ("url", "eventTypes[2]", …) to the id
 * of the form element that shows its message. */
function fieldFor(field) {
  const f = String(field || '').replace(/\[\d+\]$/, '');
  return { url: 'webhook-url', description: 'webhook-description', eventTypes: 'webhook-types',
    identities: 'webhook-identities', secret: 'webhook-url' }[f] || '';
}

function endpointRows(items, canWrite) {
  return items.map((w) => html`<tr id="webhook-row-${idPart(w.id)}" data-webhook-id="${w.id}">
      <td><a href="#/webhooks/${seg(w.id)}" id="webhook-link-${idPart(w.id)}">${w.url}</a>
        ${w.description ? html`<br><span class="muted">${w.description}</span>` : ''}</td>
      <td>${list(w.eventTypes)}</td>
      <td>${w.identities && w.identities.length ? list(w.identities) : 'all'}</td>
      <td>${yesNo(w.enabled)}</td>
      <td>${w.disabledReason || html`<span class="muted">—</span>`}</td>
      ${canWrite ? html`<td><button type="button" class="webhook-toggle" id="webhook-toggle-${idPart(w.id)}"
        data-id="${w.id}">${w.enabled ? 'Disable' : 'Enable'}<span class="visually-hidden"> ${w.url}</span></button></td>` : ''}
    </tr>`);
}

/** toggle enables or disables endpoint w (PUT takes the whole endpoint). */
async function toggle(w) {
  const body = { url: w.url, description: w.description || '', eventTypes: w.eventTypes, identities: w.identities || [],
    enabled: !w.enabled };
  return (await request('PUT', `/v1/admin/webhooks/${seg(w.id)}`, { body })).data;
}

/** webhooksPage lists the endpoints and registers new ones. */
export async function webhooksPage(view, ctx) {
  ctx.title('Webhooks');
  const canWrite = ctx.can('admin.webhooks.write');
  render(view, html`<h1>Webhooks</h1>
    <p>Endpoints that receive the platform's events as signed HTTP requests
      (<a href="https://www.standardwebhooks.com/">Standard Webhooks</a>). Open one for its delivery log.</p>
    <section id="webhook-secret" hidden></section>
    <section aria-labelledby="webhook-list-title"><h2 id="webhook-list-title">Endpoints</h2>
      <div id="webhook-list"><p>Loading…</p></div></section>
    ${canWrite ? html`<section aria-labelledby="webhook-new-title"><h2 id="webhook-new-title">Register an endpoint</h2>
      <div id="webhook-form-summary" hidden></div>
      <form id="webhook-form" novalidate><p>Loading the event catalogue…</p></form></section>` : ''}`);
  let items = [];
  const listBox = view.querySelector('#webhook-list');
  async function load() {
    try {
      items = (await get('/v1/admin/webhooks')).items || [];
    } catch (e) {
      render(listBox, html`<p class="error-text" role="alert">Could not load the endpoints: ${describe(e)}</p>`);
      return;
    }
    if (!view.isConnected) return;
    if (!items.length) {
      render(listBox, html`<p id="webhook-empty">No endpoint is registered.</p>`);
      return;
    }
    render(listBox, html`<div class="table-scroll"><table id="webhook-table">
        <caption class="visually-hidden">Webhook endpoints</caption>
        <thead><tr><th scope="col">URL</th><th scope="col">Event types</th><th scope="col">Identities</th>
          <th scope="col">Enabled</th><th scope="col">Disabled because</th>${canWrite ? html`<th scope="col">Actions</th>` : ''}</tr></thead>
        <tbody>${endpointRows(items, canWrite)}</tbody></table></div>`);
  }
  listBox.addEventListener('click', async (ev) => {
    const b = ev.target.closest('.webhook-toggle');
    if (!b) return;
    const w = items.find((x) => x.id === b.dataset.id);
    if (!w) return;
    b.disabled = true;
    try {
      const after = await toggle(w);
      ctx.status(`${after.url} is ${after.enabled ? 'enabled' : 'disabled'}.`);
      await load();
      const again = document.getElementById(`webhook-toggle-${idPart(w.id)}`);
      if (again) again.focus();
    } catch (e) {
      ctx.status(`Could not change ${w.url}: ${describe(e)}`, 'error');
      b.disabled = false;
    }
  });
  const loading = load();
  if (canWrite) await createForm(view, ctx, load);
  await loading;
}

async function createForm(view, ctx, reload) {
  const form = view.querySelector('#webhook-form');
  let types = [];
  let identities = null; // null: the identities could not be listed
  try {
    types = ((await get('/v1/admin/events/types')).items || []).filter((t) => t.webhooks).map((t) => t.name);
  } catch (e) {
    render(form, html`<p class="error-text" role="alert">Could not load the event catalogue: ${describe(e)}</p>`);
    return;
  }
  if (ctx.can('identity.list')) {
    try {
      identities = ((await get('/v1/admin/identities')).items || []).map((i) => i.code);
    } catch { identities = null; }
  }
  if (!view.isConnected) return;
  render(form, html`<div class="field"><label for="webhook-url">URL</label>
      <p class="hint" id="webhook-url-hint">Required. An https:// address the platform can reach.</p>
      <input id="webhook-url" name="url" type="url" required spellcheck="false" autocomplete="off" aria-describedby="webhook-url-hint"></div>
    <div class="field"><label for="webhook-description">Description</label>
      <input id="webhook-description" name="description" autocomplete="off" aria-describedby="webhook-description-hint">
      <p class="hint" id="webhook-description-hint">Optional: who runs the receiver and why.</p></div>
    <fieldset id="webhook-types" tabindex="-1"><legend>Event types (at least one)</legend>
      <div class="checks"><label><input type="checkbox" name="type" value="*" id="webhook-type-all"> every type (*)</label>
      ${types.map((t) => html`<label><input type="checkbox" name="type" value="${t}" id="webhook-type-${idPart(t)}"> ${t}</label>`)}</div>
    </fieldset>
    <fieldset id="webhook-identities" tabindex="-1"><legend>Business identities (none: all)</legend>
      ${identities === null
    ? html`<div class="field"><label for="webhook-identities-text">Identity codes, comma-separated</label>
          <input id="webhook-identities-text" autocomplete="off"></div>`
    : html`<div class="checks">${identities.map((c) => html`<label><input type="checkbox" name="identity" value="${c}"
          id="webhook-identity-${idPart(c)}"> ${c}</label>`)}</div>`}
    </fieldset>
    <div class="field"><label><input type="checkbox" id="webhook-enabled" checked> Enabled: deliver events from now on</label></div>
    <div class="actions"><button type="submit" id="webhook-create" class="primary">Register endpoint</button></div>`);
  const summary = view.querySelector('#webhook-form-summary');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    hideSummary(summary);
    const checked = (name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((i) => i.value);
    const idText = form.querySelector('#webhook-identities-text');
    const body = {
      url: form.querySelector('#webhook-url').value.trim(),
      description: form.querySelector('#webhook-description').value.trim(),
      eventTypes: checked('type').includes('*') ? ['*'] : checked('type'),
      identities: idText ? idText.value.split(',').map((s) => s.trim()).filter(Boolean) : checked('identity'),
      enabled: form.querySelector('#webhook-enabled').checked,
    };
    const errs = [];
    if (!body.url) errs.push({ field: 'webhook-url', message: 'Enter the receiver\'s URL.' });
    if (!body.eventTypes.length) errs.push({ field: 'webhook-types', message: 'Choose at least one event type.' });
    if (errs.length) {
      for (const e of errs) setFieldError(e.field, e.message);
      showSummary(summary, 'The endpoint was not registered', errs, { focus: true, level: 3 });
      return;
    }
    const button = form.querySelector('#webhook-create');
    button.disabled = true;
    try {
      const created = (await request('POST', '/v1/admin/webhooks', { body })).data;
      form.reset(); // only once it is registered: a refusal keeps what was typed
      ctx.status(`Endpoint ${created.url} registered.`);
      await reload();
      secretPanel(view.querySelector('#webhook-secret'), 'Endpoint registered: its signing secret', created.secret,
        'Receivers check each delivery\'s signature with it (docs/events.md, "Webhooks").');
    } catch (e) {
      const field = e instanceof ApiError ? fieldFor(e.body.field) : '';
      const message = describe(e);
      if (field) setFieldError(field, message);
      showSummary(summary, 'The endpoint was not registered', [{ field, message }], { focus: true, level: 3 });
    } finally {
      button.disabled = false;
    }
  });
}

const stateLabel = { pending: 'pending', succeeded: 'succeeded', failed: 'failed' };

function deliveryRows(items, canWrite) {
  return items.map((d) => html`<tr id="delivery-row-${idPart(d.id)}" data-delivery-id="${d.id}" data-state="${d.state}">
      <td>${fmtTime(d.createdAt)}</td><td><code>${d.eventType}</code><br><span class="muted">${d.eventId}</span></td>
      <td class="state-${d.state}">${stateLabel[d.state] || d.state}</td><td>${d.attempts}</td>
      <td>${d.lastStatus || html`<span class="muted">—</span>`}</td><td>${d.lastError || html`<span class="muted">—</span>`}</td>
      <td>${d.state === 'pending' ? fmtTime(d.nextAttemptAt) : html`<span class="muted">—</span>`}</td>
      <td><button type="button" class="delivery-attempts" data-id="${d.id}" id="delivery-attempts-${idPart(d.id)}">Attempts<span
          class="visually-hidden"> of ${d.eventType} ${d.eventId}</span></button>
        ${canWrite ? html`<button type="button" class="delivery-redeliver" data-id="${d.id}" id="delivery-redeliver-${idPart(d.id)}">Redeliver<span
          class="visually-hidden"> ${d.eventType} ${d.eventId}</span></button>` : ''}</td></tr>`);
}

function attemptRows(items) {
  return items.map((a) => html`<tr data-attempt-id="${a.id}">
      <td>${fmtTime(a.at)}</td><td>${a.statusCode || html`<span class="muted">no answer</span>`}</td><td>${a.latencyMs} ms</td>
      <td><pre class="code excerpt">${a.response || ''}</pre></td><td>${a.error || html`<span class="muted">—</span>`}</td>
      <td>${a.manual ? 'redelivery' : 'scheduled'}</td></tr>`);
}

/** webhookPage shows one endpoint: its settings, the actions on it and its
 * delivery log. */
export async function webhookPage(view, ctx, { id }) {
  ctx.title('Webhook endpoint');
  const canWrite = ctx.can('admin.webhooks.write');
  const base = `/v1/admin/webhooks/${seg(id)}`;
  let w;
  try {
    w = await get(base);
  } catch (e) {
    render(view, html`<h1>Webhook endpoint</h1><p class="error-text" role="alert">${describe(e)}</p>
      <p><a href="#/webhooks">All endpoints</a></p>`);
    return;
  }
  if (!view.isConnected) return;
  function head() {
    return html`<dl class="facts" id="webhook-facts"><dt>Id</dt><dd><code>${w.id}</code></dd>
      <dt>Event types</dt><dd>${list(w.eventTypes)}</dd>
      <dt>Identities</dt><dd>${w.identities && w.identities.length ? list(w.identities) : 'all'}</dd>
      <dt>Enabled</dt><dd id="webhook-enabled-value">${yesNo(w.enabled)}${w.disabledReason ? html` (${w.disabledReason})` : ''}</dd>
      ${w.failingSince ? html`<dt>Failing since</dt><dd>${fmtTime(w.failingSince)}</dd>` : ''}
      ${w.previousSecretUntil ? html`<dt>Previous secret signs until</dt><dd>${fmtTime(w.previousSecretUntil)}</dd>` : ''}</dl>`;
  }
  render(view, html`<p><a href="#/webhooks">All endpoints</a></p>
    <h1>Webhook endpoint <span class="muted">${w.url}</span></h1>
    <section id="webhook-secret" hidden></section>
    <div id="webhook-head">${head()}</div>
    ${canWrite ? html`<div class="actions" id="webhook-actions">
      <button type="button" id="webhook-toggle">${w.enabled ? 'Disable' : 'Enable'}</button>
      <button type="button" id="webhook-rotate">Rotate secret</button>
      <button type="button" id="webhook-delete" class="danger">Delete…</button></div>
      <div id="webhook-delete-confirm" class="notice" hidden role="group" aria-labelledby="webhook-delete-q">
        <p id="webhook-delete-q">Delete this endpoint? Its deliveries and their log go with it; this cannot be undone.</p>
        <button type="button" id="webhook-delete-yes" class="danger">Yes, delete it</button>
        <button type="button" id="webhook-delete-no">Keep it</button></div>` : ''}
    <section aria-labelledby="delivery-title"><h2 id="delivery-title">Deliveries, newest first</h2>
      <div id="delivery-list"><p>Loading…</p></div></section>
    <section aria-labelledby="attempt-title" id="attempt-section" hidden><h2 id="attempt-title" tabindex="-1">Attempts</h2>
      <div id="attempt-list"></div></section>`);
  if (canWrite) {
    const $ = (sel) => view.querySelector(sel);
    $('#webhook-toggle').addEventListener('click', async () => {
      $('#webhook-toggle').disabled = true;
      try {
        w = await toggle(w);
        render($('#webhook-head'), head());
        $('#webhook-toggle').textContent = w.enabled ? 'Disable' : 'Enable';
        ctx.status(`The endpoint is ${w.enabled ? 'enabled' : 'disabled'}.`);
      } catch (e) {
        ctx.status(`Could not change the endpoint: ${describe(e)}`, 'error');
      } finally {
        $('#webhook-toggle').disabled = false;
      }
    });
    $('#webhook-rotate').addEventListener('click', async () => {
      $('#webhook-rotate').disabled = true;
      try {
        const r = (await request('POST', `${base}/rotate-secret`)).data;
        w.previousSecretUntil = r.previousSecretUntil;
        render($('#webhook-head'), head());
        secretPanel($('#webhook-secret'), 'Secret rotated: the new signing secret', r.secret,
          html`Until ${fmtTime(r.previousSecretUntil)} deliveries carry two signatures, the new secret's and the old one's.`);
      } catch (e) {
        ctx.status(`Could not rotate the secret: ${describe(e)}`, 'error');
      } finally {
        $('#webhook-rotate').disabled = false;
      }
    });
    $('#webhook-delete').addEventListener('click', () => {
      $('#webhook-delete-confirm').hidden = false;
      $('#webhook-delete-no').focus();
    });
    $('#webhook-delete-no').addEventListener('click', () => {
      $('#webhook-delete-confirm').hidden = true;
      $('#webhook-delete').focus();
    });
    $('#webhook-delete-yes').addEventListener('click', async () => {
      $('#webhook-delete-yes').disabled = true;
      try {
        await request('DELETE', base);
        ctx.status(`Endpoint ${w.url} deleted.`);
        ctx.navigate('#/webhooks', { keepStatus: true });
      } catch (e) {
        ctx.status(`Could not delete the endpoint: ${describe(e)}`, 'error');
        $('#webhook-delete-yes').disabled = false;
      }
    });
  }
  await deliveryLog(view, ctx, base, canWrite);
}

async function deliveryLog(view, ctx, base, canWrite) {
  const box = view.querySelector('#delivery-list');
  let page;
  const loadPage = async (cursor) => get(`${base}/deliveries${query({ cursor, limit: 20 })}`);
  try {
    page = await loadPage('');
  } catch (e) {
    render(box, html`<p class="error-text" role="alert">Could not load the deliveries: ${describe(e)}</p>`);
    return;
  }
  if (!view.isConnected) return;
  render(box, html`<p><button type="button" id="delivery-refresh">Refresh</button></p>
    ${(page.items || []).length ? '' : html`<p id="delivery-empty">No delivery yet.</p>`}
    <div class="table-scroll"><table id="delivery-table" ${(page.items || []).length ? '' : html`hidden`}>
      <caption class="visually-hidden">Deliveries, newest first</caption>
      <thead><tr><th scope="col">Created</th><th scope="col">Event</th><th scope="col">State</th><th scope="col">Attempts</th>
        <th scope="col">Last status</th><th scope="col">Last error</th><th scope="col">Next attempt</th><th scope="col">Actions</th></tr></thead>
      <tbody>${deliveryRows(page.items || [], canWrite)}</tbody></table></div>
    <p><button type="button" id="delivery-next" ${page.nextCursor ? '' : html`hidden`}>Show older deliveries</button></p>`);
  let cursor = page.nextCursor;
  const next = box.querySelector('#delivery-next');
  box.querySelector('#delivery-refresh').addEventListener('click', async () => {
    await deliveryLog(view, ctx, base, canWrite);
    const r = view.querySelector('#delivery-refresh');
    if (r) r.focus();
    ctx.status('Deliveries refreshed.');
  });
  next.addEventListener('click', async () => {
    next.disabled = true;
    try {
      const more = await loadPage(cursor);
      box.querySelector('#delivery-table tbody').insertAdjacentHTML('beforeend', html`${deliveryRows(more.items || [], canWrite)}`.s);
      cursor = more.nextCursor;
      next.hidden = !cursor;
      ctx.status(`${(more.items || []).length} older deliveries shown.`);
    } catch (e) {
      ctx.status(`Could not load older deliveries: ${describe(e)}`, 'error');
    } finally {
      next.disabled = false;
    }
  });
  box.querySelector('#delivery-table').addEventListener('click', async (ev) => {
    const a = ev.target.closest('.delivery-attempts');
    if (a) {
      await attemptLog(view, ctx, base, a.dataset.id);
      return;
    }
    const r = ev.target.closest('.delivery-redeliver');
    if (!r) return;
    r.disabled = true;
    try {
      const d = (await request('POST', `${base}/deliveries/${seg(r.dataset.id)}/redeliver`)).data;
      ctx.status(`Delivery of ${d.eventType} queued again: a worker attempts it at once. Refresh to see the outcome.`);
    } catch (e) {
      ctx.status(`Could not redeliver: ${describe(e)}`, 'error');
    } finally {
      r.disabled = false;
    }
  });
}

async function attemptLog(view, ctx, base, deliveryId) {
  const section = view.querySelector('#attempt-section');
  const box = view.querySelector('#attempt-list');
  const loadPage = async (cursor) => get(`${base}/attempts${query({ deliveryId, cursor, limit: 20 })}`);
  let page;
  try {
    page = await loadPage('');
  } catch (e) {
    ctx.status(`Could not load the attempts: ${describe(e)}`, 'error');
    return;
  }
  if (!view.isConnected) return;
  section.hidden = false;
  view.querySelector('#attempt-title').textContent = `Attempts of delivery ${deliveryId}`;
  render(box, html`${(page.items || []).length ? '' : html`<p id="attempt-empty">No attempt yet.</p>`}
    <div class="table-scroll"><table id="attempt-table">
      <caption class="visually-hidden">Attempts, newest first</caption>
      <thead><tr><th scope="col">At</th><th scope="col">Status code</th><th scope="col">Latency</th>
        <th scope="col">Response (first 1 KiB)</th><th scope="col">Error</th><th scope="col">Kind</th></tr></thead>
      <tbody>${attemptRows(page.items || [])}</tbody></table></div>
    <p><button type="button" id="attempt-next" ${page.nextCursor ? '' : html`hidden`}>Show older attempts</button></p>`);
  let cursor = page.nextCursor;
  const next = box.querySelector('#attempt-next');
  next.addEventListener('click', async () => {
    next.disabled = true;
    try {
      const more = await loadPage(cursor);
      box.querySelector('#attempt-table tbody').insertAdjacentHTML('beforeend', html`${attemptRows(more.items || [])}`.s);
      cursor = more.nextCursor;
      next.hidden = !cursor;
    } catch (e) {
      ctx.status(`Could not load older attempts: ${describe(e)}`, 'error');
    } finally {
      next.disabled = false;
    }
  });
  view.querySelector('#attempt-title').focus();
}
