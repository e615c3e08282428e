// Orders: find an order by id or by filters, and inspect one with its
// lines, history and the trace of the extension calls that shaped it.
import { ApiError, describe, get, query, seg } from './api.js';
import { Safe, html, render, fmtMoney, fmtTime, list } from './html.js';
import { orderActions } from './order-actions.js';
import { clearFieldErrors, setFieldError } from './forms.js';
import { identityHash } from './identities.js';

const orderHash = (id) => `#/orders/${encodeURIComponent(id)}`;

// orderStatuses are the states the status list offers: the default
// lifecycle's, supplier fulfilment's and a parent's "paid". A state of an
// identity's own lifecycle is typed in "Other statuses".
export const orderStatuses = ['created', 'pending_payment', 'pending_review', 'pending_outbound', 'pending_inbound', 'completed',
  'paid', 'fulfilling', 'fulfilled', 'payment_failed', 'rejected', 'outbound_failed', 'inbound_failed', 'fulfil_failed', 'cancelled'];

// orderFilters are the order list's filters (GET /v1/orders), one entry
// each: the query parameter, the field's id, label and hint. kind
// "statuses" is the multi-select (one status goes as status=, which the
// order store also serves; several as statuses=, a read model filter);
// "attrs" reads "name=value, name=value" into attr.<name>=<value>
// parameters; "time" is a UTC time field sent as RFC 3339. Adding a filter
// the API offers is adding an entry here. readModel marks the filters
// only the order read model serves.
export const orderFilters = [
  { param: 'statuses', id: 'order-filter-statuses', label: 'Statuses', kind: 'statuses',
    hint: 'Optional: any of the selected (Ctrl or Shift to select several).' },
  { param: 'otherStatuses', id: 'order-filter-other-statuses', label: 'Other statuses', kind: 'statuses-text',
    hint: 'Optional: states of an identity\'s own lifecycle, comma-separated.' },
  { param: 'bizCode', id: 'order-filter-bizcode', label: 'Business identity', hint: 'Optional code, e.g. retail.' },
  { param: 'buyerId', id: 'order-filter-buyer', label: 'Buyer id', hint: 'Optional.' },
  { param: 'org', id: 'order-filter-org', label: 'Organisation', readModel: true,
    hint: 'Optional: an organisation node id; its whole subtree.' },
  { param: 'createdFrom', id: 'order-filter-from', label: 'Created from (UTC)', kind: 'time', readModel: true, hint: 'Optional.' },
  { param: 'createdTo', id: 'order-filter-to', label: 'Created before (UTC)', kind: 'time', readModel: true, hint: 'Optional.' },
  { param: 'minTotal', id: 'order-filter-min-total', label: 'Total at least', kind: 'number', readModel: true,
    hint: 'Optional: minor units (1999 = 19.99 CNY).' },
  { param: 'maxTotal', id: 'order-filter-max-total', label: 'Total at most', kind: 'number', readModel: true,
    hint: 'Optional: minor units.' },
  { param: 'sku', id: 'order-filter-sku', label: 'SKU', readModel: true, hint: 'Optional: orders with a line of this SKU.' },
  { param: 'recipient', id: 'order-filter-recipient', label: 'Recipient', readModel: true,
    hint: 'Optional: 3 to 100 characters of the recipient\'s name or phone.' },
  { param: 'attr', id: 'order-filter-attrs', label: 'Attributes', kind: 'attrs',
    hint: 'Optional: name=value of searchable order attributes, comma-separated (e.g. giftWrap=true).' },
  { param: 'limit', id: 'order-filter-limit', label: 'Page size', kind: 'number', hint: 'Optional: orders per page.' },
];

/** filterValues reads the filters of the URL's query into field values
 * (the status list as an array). */
function filterValues(q) {
  const out = {};
  const statuses = [...(q.get('status') ? [q.get('status')] : []), ...(q.get('statuses') || '').split(',')]
    .map((x) => x.trim()).filter(Boolean);
  for (const f of orderFilters) {
    if (f.kind === 'attrs') {
      out[f.param] = [...q.keys()].filter((k) => k.startsWith('attr.')).map((k) => `${k.slice(5)}=${q.get(k)}`).join(', ');
    } else if (f.kind === 'statuses') out[f.param] = statuses.filter((x) => orderStatuses.includes(x));
    else if (f.kind === 'statuses-text') out[f.param] = statuses.filter((x) => !orderStatuses.includes(x)).join(', ');
    else if (f.kind === 'time') out[f.param] = (q.get(f.param) || '').replace(/(:\d\d)?(\.\d+)?Z$/, '');
    else out[f.param] = q.get(f.param) || '';
  }
  return out;
}

/** filterParams turns field values into the API's query parameters. */
function filterParams(values) {
  const out = {};
  const statuses = [...(values.statuses || []), ...String(values.otherStatuses || '').split(',')]
    .map((x) => x.trim()).filter((x, i, all) => x && all.indexOf(x) === i);
  if (statuses.length === 1) out.status = statuses[0];
  else if (statuses.length > 1) out.statuses = statuses.join(',');
  for (const f of orderFilters) {
    if (f.kind === 'statuses' || f.kind === 'statuses-text') continue;
    const v = String(values[f.param] || '').trim();
    if (!v) continue;
    if (f.kind === 'attrs') {
      for (const pair of v.split(',')) {
        const i = pair.indexOf('=');
        if (i > 0) out[`attr.${pair.slice(0, i).trim()}`] = pair.slice(i + 1).trim();
      }
    } else if (f.kind === 'time') out[f.param] = `${v.length === 16 ? `${v}:00` : v}Z`;
    else out[f.param] = v;
  }
  return out;
}

// hashOf is the search page's URL: the filters, list=1, the cursor of the
// page shown and the cursors of the pages before it (prev, oldest first),
// so that Previous works after a reload too.
function hashOf(filters, cursor, prev) {
  const q = new URLSearchParams(query({ ...filters, list: '1', cursor }).slice(1));
  for (const p of prev) q.append('prev', p);
  return `#/orders?${q}`;
}

function filterField(f, values) {
  let input;
  if (f.kind === 'statuses') {
    input = html`<select id="${f.id}" multiple size="6" aria-describedby="${f.id}-hint">${orderStatuses.map((st) =>
      html`<option value="${st}"${values[f.param].includes(st) ? new Safe(' selected') : ''}>${st}</option>`)}</select>`;
  } else {
    const type = f.kind === 'time' ? 'datetime-local' : 'text';
    input = html`<input id="${f.id}" type="${type}" value="${values[f.param]}" autocomplete="off"
      class="${f.kind === 'time' ? '' : 'short'}"${f.kind === 'number' ? new Safe(' inputmode="numeric"') : ''}
      aria-describedby="${f.id}-hint">`;
  }
  return html`<div class="field"><label for="${f.id}">${f.label}</label>${input}
    <p class="hint" id="${f.id}-hint">${f.hint}${f.readModel ? ' Served by the order read model.' : ''}</p></div>`;
}

export async function searchPage(view, ctx) {
  ctx.title('Orders');
  const q = ctx.query;
  const values = filterValues(q);
  const filters = filterParams(values);
  const cursor = q.get('cursor') || '';
  const prev = q.getAll('prev');
  const listed = q.has('list');
  render(view, html`<h1>Orders</h1>
    <form id="order-open-form" class="filters" novalidate>
      <div class="field"><label for="order-search-id">Order id</label>
        <p class="hint" id="order-search-id-hint">Open one order by its id.</p>
        <input id="order-search-id" autocomplete="off" spellcheck="false" aria-describedby="order-search-id-hint"></div>
      <div class="actions"><button type="submit" id="order-open">Open order</button></div>
    </form>
    <form id="order-filter-form" class="filters" novalidate>
      ${orderFilters.map((f) => filterField(f, values))}
      <div class="actions"><button type="submit" id="order-search">List orders</button>
        <a id="order-filter-clear" href="#/orders">Clear the filters</a></div>
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
    const typed = {};
    for (const f of orderFilters) {
      const el = view.querySelector(`#${f.id}`);
      typed[f.param] = f.kind === 'statuses' ? [...el.selectedOptions].map((o) => o.value) : el.value;
    }
    ctx.navigate(hashOf(filterParams(typed), '', []));
  });
  if (!listed) return;
  const body = view.querySelector('#orders-body');
  let page;
  try {
    page = await get(`/v1/orders${query({ ...filters, cursor })}`);
  } catch (e) {
    render(body, html`<p class="error-text" role="alert" id="orders-error">Could not list orders: ${describe(e)}</p>`);
    const field = e instanceof ApiError && e.body && String(e.body.field || '');
    const f = field && orderFilters.find((x) => x.param === field || (x.kind === 'attrs' && field.startsWith('attr.'))
      || (x.kind === 'statuses' && field === 'status'));
    if (f) setFieldError(f.id, describe(e));
    if (e instanceof ApiError && e.code === 'search_not_configured') {
      // Every filter set that only the read model serves is named.
      for (const x of orderFilters) {
        const set = x.kind === 'statuses' ? !!filters.statuses : x.readModel && filters[x.param];
        if (set) setFieldError(x.id, `${x.label}: needs the order read model, which this server does not have.`);
      }
    }
    return;
  }
  const orders = page.orders || [];
  const described = Object.entries(filters).filter(([k]) => k !== 'limit').map(([k, v]) => `${k} ${v}`).join(', ');
  render(body, orders.length ? html`<p id="orders-summary" class="hint">${orders.length} order${orders.length === 1 ? '' : 's'}
      on ${prev.length || cursor ? `page ${prev.length + (cursor ? 2 : 1)}` : 'the first page'}${described ? `, where ${described}` : ''}.</p>
    <div class="table-scroll"><table id="orders-table">
      <caption class="visually-hidden">Orders${cursor ? ' (later page)' : ''}</caption>
      <thead><tr><th scope="col">Order</th><th scope="col">Identity</th><th scope="col">Buyer</th>
        <th scope="col">Status</th><th scope="col" class="num">Total</th><th scope="col">Created</th></tr></thead>
      <tbody>${orders.map((o) => html`<tr><th scope="row"><a href="${orderHash(o.id)}"><code>${o.id}</code></a></th>
        <td>${o.bizCode}</td><td>${o.buyerId}</td><td><span class="tag">${o.status}</span></td>
        <td class="num">${fmtMoney(o.amounts && o.amounts.total, o.amounts && o.amounts.currency)}</td>
        <td>${fmtTime(o.createdAt)}</td></tr>`)}</tbody></table></div>`
    : html`<p id="orders-none">No order matches ${described ? `these filters (${described})` : 'the search'}${cursor ? ' on this page' : ''}.
      ${described ? html`<a href="#/orders">Clear the filters</a>` : ''}</p>`);
  // Keyset paging: Next carries the server's cursor; Previous goes back
  // to the cursor before this one, kept in the URL.
  const back = cursor ? hashOf(filters, prev.length ? prev[prev.length - 1] : '', prev.slice(0, -1)) : '';
  const next = page.nextCursor ? hashOf(filters, page.nextCursor, cursor ? [...prev, cursor] : prev) : '';
  body.insertAdjacentHTML('beforeend', html`<p class="pager">
    ${cursor ? html`<a id="orders-first" href="${hashOf(filters, '', [])}">First page</a>` : ''}
    ${back ? html`<a id="orders-prev" href="${back}" rel="prev">Previous page</a>` : ''}
    ${next ? html`<a id="orders-next" href="${next}" rel="next">Next page</a>` : ''}</p>`.s);
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
    <div id="order-actions"></div>
    ${familySection(o)}
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
  orderActions(body.querySelector('#order-actions'), ctx, id);
  // Reconciliation's flag (admins only; anyone else sees nothing).
  get(`/v1/admin/orders/${seg(id)}/flag`).then((f) => {
    if (f && f.flagged && f.flag) {
      render(body.querySelector('#order-flag-body'), html`<p class="error-text" role="alert" id="order-flag">Flagged by
        reconciliation: <code>${f.flag.reason}</code>; see
        <a href="#/reconciliation/mismatches/${encodeURIComponent(f.flag.mismatchId)}">mismatch ${f.flag.mismatchId}</a>.</p>`);
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

// familySection shows where an order sits among parent and sub-orders: a
// parent's sub-orders with links, or a sub-order's parent; nothing for an
// order that did not split.
function familySection(o) {
  if (o.parentId) {
    return html`<section aria-labelledby="order-family-title"><h2 id="order-family-title">Parent order</h2>
      <p id="order-parent">A sub-order of <a href="${orderHash(o.parentId)}"><code>${o.parentId}</code></a>: paid,
        and before payment cancelled, with its parent; after payment it ships, is cancelled and returned on its own.</p></section>`;
  }
  const subs = o.subOrders || [];
  if (!subs.length) return '';
  const cur = (o.amounts || {}).currency;
  return html`<section aria-labelledby="order-family-title"><h2 id="order-family-title">Sub-orders</h2>
    <p class="hint">This order was split by shipping location or by its identity's order.split rule. It is paid once;
      its status follows its sub-orders.</p>
    <div class="table-scroll"><table id="order-suborders">
    <caption class="visually-hidden">Sub-orders of ${o.id}</caption>
    <thead><tr><th scope="col">Sub-order</th><th scope="col">Status</th><th scope="col">Ships from</th>
      <th scope="col">Lines</th><th scope="col" class="num">Total</th></tr></thead>
    <tbody>${subs.map((k) => html`<tr><th scope="row"><a href="${orderHash(k.id)}"><code>${k.id}</code></a></th>
      <td><span class="tag">${k.status}</span></td><td>${k.location || '—'}</td>
      <td>${(k.items || []).map((l) => `${l.sku} × ${l.quantity}`).join(', ')}</td>
      <td class="num">${fmtMoney((k.amounts || {}).total, cur)}</td></tr>`)}</tbody></table></div></section>`;
}
