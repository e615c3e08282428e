// Orders: find an order by id or by filters, and inspect one with its
// lines, history and the trace of the extension calls that shaped it.
import { ApiError, describe, get, query, seg } from './api.js';
import { html, render, fmtMoney, fmtTime, list } from './html.js';
import { clearFieldErrors, setFieldError } from './forms.js';
import { identityHash } from './identities.js';

const orderHash = (id) => `#/orders/${encodeURIComponent(id)}`;

export async function searchPage(view, ctx) {
  ctx.title('Orders');
  const q = ctx.query;
  const filters = { status: q.get('status') || '', bizCode: q.get('bizCode') || '', buyerId: q.get('buyerId') || '' };
  const cursor = q.get('cursor') || '';
  const listed = q.has('list');
  render(view, html`<h1>Orders</h1>
    <form id="order-open-form" class="filters" novalidate>
      <div class="field"><label for="order-search-id">Order id</label>
        <p class="hint" id="order-search-id-hint">Open one order by its id.</p>
        <input id="order-search-id" autocomplete="off" spellcheck="false" aria-describedby="order-search-id-hint"></div>
      <div class="actions"><button type="submit" id="order-open">Open order</button></div>
    </form>
    <form id="order-filter-form" class="filters" novalidate>
      <div class="field"><label for="order-filter-status">Status</label>
        <input id="order-filter-status" value="${filters.status}" autocomplete="off" class="short"
          aria-describedby="order-filter-status-hint">
        <p class="hint" id="order-filter-status-hint">Optional, e.g. pending_payment.</p></div>
      <div class="field"><label for="order-filter-bizcode">Business identity</label>
        <input id="order-filter-bizcode" value="${filters.bizCode}" autocomplete="off" class="short"
          aria-describedby="order-filter-bizcode-hint">
        <p class="hint" id="order-filter-bizcode-hint">Optional code, e.g. retail.</p></div>
      <div class="field"><label for="order-filter-buyer">Buyer id</label>
        <input id="order-filter-buyer" value="${filters.buyerId}" autocomplete="off" class="short"
          aria-describedby="order-filter-buyer-hint">
        <p class="hint" id="order-filter-buyer-hint">Optional.</p></div>
      <div class="actions"><button type="submit" id="order-search">List orders</button></div>
    </form>
    <section aria-labelledby="orders-results-title"><h2 id="orders-results-title">Results</h2>
      <div id="orders-body">${listed ? html`<p>Loading…</p>` : html`<p class="muted">Set filters (or none) and press List orders.</p>`}</div>
    </section>`);
  view.querySelector('#order-open-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    clearFieldErrors(form);
    const id = view.querySelector('#order-search-id').value.trim();
    if (!id) {
      setFieldError('order-search-id', 'Enter an order id.');
      view.querySelector('#order-search-id').focus();
      return;
    }
    ctx.navigate(orderHash(id));
  });
  view.querySelector('#order-filter-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = { status: view.querySelector('#order-filter-status').value.trim(),
      bizCode: view.querySelector('#order-filter-bizcode').value.trim(),
      buyerId: view.querySelector('#order-filter-buyer').value.trim() };
    ctx.navigate(`#/orders${query({ ...f, list: '1' })}`);
  });
  if (!listed) return;
  const body = view.querySelector('#orders-body');
  let page;
  try {
    page = await get(`/v1/orders${query({ ...filters, cursor })}`);
  } catch (e) {
    render(body, html`<p class="error-text" role="alert">Could not list orders: ${describe(e)}</p>`);
    return;
  }
  const orders = page.orders || [];
  const nextHash = page.nextCursor ? `#/orders${query({ ...filters, cursor: page.nextCursor, list: '1' })}` : '';
  render(body, orders.length ? html`<div class="table-scroll"><table id="orders-table">
      <caption class="visually-hidden">Orders${cursor ? ' (later page)' : ''}</caption>
      <thead><tr><th scope="col">Order</th><th scope="col">Identity</th><th scope="col">Buyer</th>
        <th scope="col">Status</th><th scope="col" class="num">Total</th><th scope="col">Created</th></tr></thead>
      <tbody>${orders.map((o) => html`<tr><th scope="row"><a href="${orderHash(o.id)}"><code>${o.id}</code></a></th>
        <td>${o.bizCode}</td><td>${o.buyerId}</td><td><span class="tag">${o.status}</span></td>
        <td class="num">${fmtMoney(o.amounts && o.amounts.total, o.amounts && o.amounts.currency)}</td>
        <td>${fmtTime(o.createdAt)}</td></tr>`)}</tbody></table></div>`
    : html`<p id="orders-none">No order matches${cursor ? ' on this page' : ''}.</p>`);
  body.insertAdjacentHTML('beforeend', html`<p class="pager">
    ${cursor ? html`<a id="orders-first" href="#/orders${query({ ...filters, list: '1' })}">First page</a>` : ''}
    ${nextHash ? html`<a id="orders-next" href="${nextHash}">Next page</a>` : ''}</p>`.s);
}

export async function orderPage(view, ctx, params) {
  const id = params.id;
  ctx.title(`Order ${id}`);
  render(view, html`<h1>Order <code>${id}</code></h1>
    <p><a href="#/orders">Back to order search</a></p>
    <div id="order-body"><p>Loading…</p></div>`);
  const body = view.querySelector('#order-body');
  let o;
  try {
    o = await get(`/v1/orders/${seg(id)}`);
  } catch (e) {
    const msg = e instanceof ApiError && (e.status === 404 || e.status === 403)
      ? `No order ${id} is visible to you.` : `Could not load the order: ${describe(e)}`;
    render(body, html`<p class="error-text" role="alert" id="order-error">${msg}</p>`);
    return;
  }
  const a = o.amounts || {};
  const lines = o.items || o.lines || [];
  render(body, html`<section aria-labelledby="order-summary-title"><h2 id="order-summary-title">Summary</h2>
    <dl class="facts" id="order-summary">
      <dt>Status</dt><dd id="order-status"><span class="tag">${o.status}</span></dd>
      <dt>Business identity</dt><dd id="order-bizcode"><a href="${identityHash(o.bizCode)}"><code>${o.bizCode}</code></a></dd>
      <dt>Buyer</dt><dd>${o.buyerId}${o.ownerOrg ? ` (organisation ${o.ownerOrg})` : ''}</dd>
      ${o.channel ? html`<dt>Channel</dt><dd>${o.channel}</dd>` : ''}
      <dt>Total</dt><dd id="order-total">${fmtMoney(a.total, a.currency)}</dd>
      <dt>Amounts</dt><dd>subtotal ${fmtMoney(a.subtotal, a.currency)}, discount ${fmtMoney(a.discount, a.currency)},
        freight ${fmtMoney(a.freight, a.currency)}</dd>
      ${o.paymentMethod ? html`<dt>Payment method</dt><dd>${o.paymentMethod}</dd>` : ''}
      ${o.paymentDeadline ? html`<dt>Pay before</dt><dd>${fmtTime(o.paymentDeadline)}</dd>` : ''}
      ${o.location ? html`<dt>Ships from</dt><dd>${o.location}</dd>` : ''}
      <dt>Next events</dt><dd>${list(o.availableEvents)}</dd>
      <dt>Created</dt><dd>${fmtTime(o.createdAt)}</dd>
      <dt>Updated</dt><dd>${fmtTime(o.updatedAt)} (version ${o.version})</dd>
    </dl></section>
    <div id="order-flag-body"></div>
    <section aria-labelledby="order-lines-title"><h2 id="order-lines-title">Lines</h2>
      <div class="table-scroll"><table id="order-lines">
      <caption class="visually-hidden">Order lines</caption>
      <thead><tr><th scope="col">SKU</th><th scope="col" class="num">Quantity</th><th scope="col" class="num">Unit price</th>
        <th scope="col" class="num">Discount</th><th scope="col" class="num">Line total</th></tr></thead>
      <tbody>${lines.map((l) => html`<tr><th scope="row"><code>${l.sku}</code></th><td class="num">${l.quantity}</td>
        <td class="num">${fmtMoney(l.unitPrice, a.currency)}</td><td class="num">${fmtMoney(l.discount || 0, a.currency)}</td>
        <td class="num">${fmtMoney(l.lineTotal, a.currency)}</td></tr>`)}</tbody></table></div></section>
    <section aria-labelledby="order-history-title"><h2 id="order-history-title">History</h2>
      <div id="order-history-body"><p>Loading…</p></div></section>
    <section aria-labelledby="order-trace-title"><h2 id="order-trace-title">Extension trace</h2>
      <p class="hint">Every extension call that shaped this order, in order: which implementation answered, from
        where, how long it took and how it ended.</p>
      <div id="order-trace-body"><p>Loading…</p></div></section>`);
  // Reconciliation's flag (admins only; anyone else sees nothing).
  get(`/v1/admin/orders/${seg(id)}/flag`).then((f) => {
    if (f && f.flagged && f.flag) {
      render(body.querySelector('#order-flag-body'), html`<p class="error-text" role="alert" id="order-flag">Flagged by
        reconciliation: <code>${f.flag.reason}</code> (mismatch ${f.flag.mismatchId}); see
        <code>GET /v1/admin/reconciliation/mismatches?orderId=${id}</code>.</p>`);
    }
  }).catch(() => {});
  const historyBody = body.querySelector('#order-history-body');
  try {
    const h = await get(`/v1/orders/${seg(id)}/history`);
    render(historyBody, historyTable(h.items));
  } catch (e) {
    render(historyBody, html`<p class="error-text" id="order-history">Could not load the history: ${describe(e)}</p>`);
  }
  const traceBody = body.querySelector('#order-trace-body');
  try {
    const t = await get(`/v1/orders/${seg(id)}/trace`);
    const calls = t.calls || [];
    // The OpenTelemetry traces of the requests that made these calls (when tracing is on).
    const traceIds = [...new Set(calls.map((c) => c.traceId).filter(Boolean))];
    render(traceBody, calls.length ? html`${traceIds.length ? html`<p id="order-trace-ids">OpenTelemetry trace${traceIds.length > 1 ? 's' : ''}:
      ${traceIds.map((tid) => html` <code>${tid}</code>`)}</p>` : ''}<div class="table-scroll"><table id="order-trace">
      <caption class="visually-hidden">Extension calls of order ${id}</caption>
      <thead><tr><th scope="col" class="num">#</th><th scope="col">Point</th><th scope="col">Implementation</th>
        <th scope="col">Layer</th><th scope="col">Source</th><th scope="col">Version</th><th scope="col">Origin</th>
        <th scope="col" class="num">Duration (µs)</th><th scope="col">Outcome</th></tr></thead>
      <tbody>${calls.map((c) => html`<tr class="outcome-${c.outcome}"><td class="num">${c.seq}</td>
        <th scope="row"><code>${c.point}</code></th><td><code>${c.impl}</code></td>
        <td><span class="tag layer-${c.layer}">${c.layer}</span></td><td>${c.source}</td><td>${c.version || ''}</td>
        <td>${c.origin || 'platform'}</td><td class="num">${c.durationMicros}</td>
        <td><span class="tag outcome-${c.outcome}">${c.outcome}</span>${c.error ? html`<br><span class="error-text">${c.error}</span>` : ''}</td>
      </tr>`)}</tbody></table></div>` : html`<p id="order-trace" class="muted">No extension call was recorded for this order.</p>`);
  } catch (e) {
    render(traceBody, html`<p class="error-text" id="order-trace">Could not load the trace: ${describe(e)}</p>`);
  }
}

// historyTable shows the order's state changes (GET /v1/orders/{id}/history),
// oldest first.
function historyTable(history) {
  if (!Array.isArray(history)) return html`<p class="muted" id="order-history">The server did not send this order's history.</p>`;
  if (!history.length) return html`<p class="muted" id="order-history">No state change yet.</p>`;
  return html`<div class="table-scroll"><table id="order-history">
    <caption class="visually-hidden">State changes, oldest first</caption>
    <thead><tr><th scope="col">At</th><th scope="col" class="num">Version</th><th scope="col">Event</th><th scope="col">From</th>
      <th scope="col">To</th><th scope="col">Actor</th><th scope="col">Reason</th></tr></thead>
    <tbody>${history.map((h) => html`<tr><td>${fmtTime(h.at)}</td><td class="num">${h.version}</td>
      <th scope="row"><code>${h.event || ''}</code></th><td>${h.from || '—'}</td>
      <td>${h.to || '—'}</td><td>${h.actor || '—'}</td><td>${h.reason || ''}</td></tr>`)}</tbody></table></div>`;
}
