// Supplier fulfilment failures: orders still fulfilling (waiting to be
// handed to their supplier or for its answer), orders the supplier refused
// or that passed their deadline (refunded), and late successes, the
// supplier's deliveries after the refund, which an operator settles with
// the supplier and marks resolved. API: GET /v1/admin/fulfilment?state=,
// GET /v1/admin/fulfilment/late, POST /v1/admin/fulfilment/late/{id}/resolve.
import { ApiError, describe, get, query, request, seg } from './api.js';
import { html, idPart, render, fmtTime } from './html.js';
import { confirmAction } from './confirm.js';

const orderLink = (id) => html`<a href="#/orders/${seg(id)}"><code>${id}</code></a>`;

// sections of the page: each lists its own rows and pages with its own
// URL parameter, so that paging one keeps the others where they are.
const sections = [
  { id: 'fulfilling', title: 'Still fulfilling', param: 'fulfillingAfter', path: '/v1/admin/fulfilment', state: 'dispatch,waiting',
    intro: 'Paid orders the supplier has not delivered yet: waiting to be handed over (dispatch) or for the supplier\'s answer '
      + '(waiting). The worker keeps trying; past the identity\'s deadline the order is failed and refunded.',
    none: 'No order is waiting for its supplier.' },
  { id: 'failed', title: 'Failed', param: 'failedAfter', path: '/v1/admin/fulfilment', state: 'failed',
    intro: 'Orders the supplier refused or that passed their deadline: they are fulfil_failed and were refunded in full.',
    none: 'No fulfilment failed.' },
  { id: 'late', title: 'Late successes', param: 'lateAfter', path: '/v1/admin/fulfilment/late', late: true,
    intro: 'The supplier delivered after the order was refunded: the buyer has the goods and the money. Settle it with the '
      + 'supplier, then mark it resolved; the platform never charges again.',
    none: 'No unresolved late success.' },
];

function stateCell(r) {
  if (r.lateAt && r.lateResolvedAt) return html`<span class="tag state-resolved">resolved</span>`;
  if (r.lateAt) return html`<span class="tag state-open">late</span>`;
  return html`<span class="tag state-${r.state}">${r.state}</span>`;
}

function rowsTable(s, items, canResolve) {
  return html`<div class="table-scroll"><table id="fulfilment-${s.id}-table">
    <caption class="visually-hidden">${s.title}, by order id</caption>
    <thead><tr><th scope="col">Order</th><th scope="col">Identity</th><th scope="col">State</th><th scope="col">Supplier</th>
      <th scope="col">Reference</th><th scope="col" class="num">Attempts</th><th scope="col">${s.late ? 'Late answer' : 'Why'}</th>
      <th scope="col">Updated</th>${s.late && canResolve ? html`<th scope="col">Action</th>` : ''}</tr></thead>
    <tbody>${items.map((r) => html`<tr id="fulfilment-${s.id}-row-${idPart(r.orderId)}"><th scope="row">${orderLink(r.orderId)}</th>
      <td>${r.bizCode}</td><td>${stateCell(r)}</td><td>${r.supplier || '—'}</td><td>${r.reference || '—'}</td>
      <td class="num">${r.attempts}</td>
      <td>${s.late ? html`${r.lateReference || '—'} by ${r.lateSource || '?'}, ${fmtTime(r.lateAt)}${r.lateResolvedBy
        ? html`<br>resolved by ${r.lateResolvedBy}, ${fmtTime(r.lateResolvedAt)}` : ''}`
        : html`${r.reason || ''}${r.reason && r.lastError ? html`<br>` : ''}${r.lastError ? html`<span class="error-text">${r.lastError}</span>` : ''}${!r.reason && !r.lastError ? '—' : ''}`}</td>
      <td>${fmtTime(r.updatedAt)}</td>
      ${s.late && canResolve ? html`<td>${r.lateResolvedAt ? '' : html`<button type="button" id="fulfilment-resolve-${idPart(r.orderId)}"
        data-id="${r.orderId}">Mark resolved<span class="visually-hidden"> (order ${r.orderId})</span></button>`}</td>` : ''}</tr>`)}</tbody>
  </table></div>`;
}

/** fulfilmentPage lists the three kinds of supplier fulfilment trouble. */
export async function fulfilmentPage(view, ctx) {
  ctx.title('Supplier fulfilment');
  const q = ctx.query;
  const canResolve = ctx.can('admin.fulfilment.resolve');
  const here = (changes) => {
    const keep = {};
    for (const s of sections) keep[s.param] = q.get(s.param) || '';
    return `#/fulfilment${query({ ...keep, ...changes })}`;
  };
  render(view, html`<h1>Supplier fulfilment</h1>
    <p>Orders of identities fulfilled by a supplier (docs/products.md, "Fulfilment by a supplier") that need a look.</p>
    <div id="fulfilment-problem" class="error-summary" tabindex="-1" hidden></div>
    ${sections.map((s) => html`<section aria-labelledby="fulfilment-${s.id}-title"><h2 id="fulfilment-${s.id}-title">${s.title}</h2>
      <p class="hint">${s.intro}</p><div id="fulfilment-${s.id}-body"><p>Loading…</p></div></section>`)}`);
  await Promise.all(sections.map(async (s) => {
    const body = view.querySelector(`#fulfilment-${s.id}-body`);
    const after = q.get(s.param) || '';
    let page;
    try {
      page = await get(`${s.path}${query({ state: s.state, after, limit: 50 })}`);
    } catch (e) {
      render(body, html`<p class="error-text" role="alert" id="fulfilment-${s.id}-error">Could not list them: ${describe(e)}</p>`);
      return;
    }
    const items = page.items || [];
    render(body, html`${items.length ? rowsTable(s, items, canResolve)
      : html`<p id="fulfilment-${s.id}-none">${after ? 'Nothing more on this page.' : s.none}</p>`}
      <p class="pager">${after ? html`<a id="fulfilment-${s.id}-first" href="${here({ [s.param]: '' })}">First page</a>` : ''}
        ${page.nextCursor ? html`<a id="fulfilment-${s.id}-next" href="${here({ [s.param]: page.nextCursor })}">Next page</a>` : ''}</p>`);
  }));
  for (const btn of view.querySelectorAll('#fulfilment-late-body button[data-id]')) {
    btn.addEventListener('click', () => resolve(view, ctx, btn));
  }
}

// resolve asks, then marks one late success resolved and shows the result;
// a refusal (someone resolved it meanwhile: 409) is shown with a reload.
async function resolve(view, ctx, btn) {
  const id = btn.dataset.id;
  const ok = await confirmAction({ title: `Mark the late success of order ${id} resolved?`,
    text: `Do this once the supplier's delivery after the refund is settled with the supplier. It is recorded with your name
      and in the audit log, and cannot be undone.`, yes: 'Mark resolved', no: 'Not yet' });
  if (!ok) return;
  btn.disabled = true;
  const box = view.querySelector('#fulfilment-problem');
  try {
    const r = await request('POST', `/v1/admin/fulfilment/late/${seg(id)}/resolve`);
    ctx.status(`The late success of order ${id} is resolved by ${r.data.lateResolvedBy}.`);
    ctx.navigate(location.hash, { keepStatus: true });
  } catch (e) {
    btn.disabled = false;
    const stale = e instanceof ApiError && (e.status === 409 || e.status === 412 || e.status === 404);
    render(box, html`<h2 id="fulfilment-problem-title">Not resolved</h2><p>${describe(e)}</p>
      ${stale ? html`<p>The list is out of date: someone resolved it meanwhile, or the order changed.
        <button type="button" id="fulfilment-reload">Reload the list</button></p>` : ''}`);
    box.hidden = false;
    box.setAttribute('role', 'alert');
    box.setAttribute('aria-labelledby', 'fulfilment-problem-title');
    const again = box.querySelector('#fulfilment-reload');
    if (again) again.addEventListener('click', () => ctx.navigate(location.hash));
    box.focus();
  }
}
