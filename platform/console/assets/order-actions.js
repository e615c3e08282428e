// Acting on an order from its page: fire the lifecycle events the API
// offers the caller (availableEvents, already narrowed by the policy),
// approve, reject and receive return requests, see the order's payments
// and retry a failed refund. Every call goes through the public API with
// the operator's token; the server decides.
//
// Safety: an event is sent with If-Match (the order's ETag, its version):
// an order that changed since the page was read is 412 order_stale and
// nothing happens. Every action that moves money asks first (confirm.js).
// A refusal (409, 412, …) keeps what was typed (reasons are kept per order
// in this module while the tab lives) and offers to reload the order.
import { ApiError, describe, get, request, seg } from './api.js';
import { html, idPart, render, fmtMoney, fmtTime } from './html.js';
import { clearFieldErrors, setFieldError } from './forms.js';
import { confirmAction } from './confirm.js';

// What the operator typed, by order id: {reason, returns: {returnId: reason}}.
// Kept across a reload of the page after a refusal; dropped after a success.
const drafts = new Map();

function draftOf(id) {
  if (!drafts.has(id)) drafts.set(id, { reason: '', returns: {} });
  return drafts.get(id);
}

const eventLabels = {
  ship: 'Ship', cancel: 'Cancel the order', approve: 'Approve (review)', reject: 'Reject (review)',
  outbound_fail: 'Outbound failed', receive: 'Mark received by the buyer', inbound_fail: 'Inbound failed', pay: 'Mark paid',
};

// Events that need a reason in the console (the history keeps it).
const reasonRequired = new Set(['cancel', 'reject', 'outbound_fail', 'inbound_fail']);

// Events that refund a paid order that has not shipped: the platform
// refunds when an order leaves a paid, unshipped state for an end state.
const refundingEvents = new Set(['cancel', 'reject', 'outbound_fail']);

/** orderActions fills box with the actions, payments and returns of order
 * id. ctx is the page context (status, navigate, can). */
export async function orderActions(box, ctx, id) {
  render(box, html`<p>Loading actions…</p>`);
  let res;
  let payments = null;
  let returns = null;
  try {
    res = await request('GET', `/v1/orders/${seg(id)}`);
  } catch (e) {
    render(box, html`<p class="error-text">Could not load the order's actions: ${describe(e)}</p>`);
    return;
  }
  const o = res.data;
  const etag = res.etag;
  // A sub-order's money is its parent's: the parent's charge, and the
  // refunds of this sub-order (their keys start with its id).
  const payer = o.parentId || id;
  const [pays, rets] = await Promise.allSettled([get(`/v1/orders/${seg(payer)}/payments`), get(`/v1/orders/${seg(id)}/returns`)]);
  if (pays.status === 'fulfilled') {
    payments = pays.value.payments || [];
    if (o.parentId) payments = payments.filter((p) => p.kind !== 'refund' || String(p.key || '').startsWith(`${id}/`));
  }
  if (rets.status === 'fulfilled') returns = rets.value.returns || [];
  if (!box.isConnected) return;
  const draft = draftOf(id);
  const currency = (o.amounts && o.amounts.currency) || '';
  let charged = (payments || []).filter((p) => p.kind === 'charge' && p.state === 'succeeded').reduce((n, p) => n + p.amount, 0);
  if (o.parentId) charged = Math.min(charged, (o.amounts && o.amounts.total) || 0);
  const refunded = (payments || []).filter((p) => p.kind === 'refund' && p.state !== 'failed').reduce((n, p) => n + p.amount, 0);
  const events = o.availableEvents || [];
  const reload = () => ctx.navigate(location.hash, { keepStatus: true });

  render(box, html`<section aria-labelledby="order-actions-title"><h2 id="order-actions-title">Act on this order</h2>
      <div id="order-actions-error" class="error-summary" tabindex="-1" hidden></div>
      ${events.length ? html`<form id="order-event-form" class="narrow" novalidate>
        <p class="hint">The order is <span class="tag" id="order-actions-status">${o.status}</span> at version
          <span id="order-actions-version">${o.version}</span>. These are the events you may fire now; the order moves only if
          it is still at this version.</p>
        <div class="field"><label for="order-event-reason">Reason</label>
          <p class="hint" id="order-event-reason-hint">Recorded in the order's history. Required to cancel, reject or
            report a failed outbound or inbound.</p>
          <textarea id="order-event-reason" rows="2" maxlength="256" aria-describedby="order-event-reason-hint">${draft.reason}</textarea></div>
        <div class="actions">${events.map((e) => html`<button type="button" id="order-event-${idPart(e)}" data-event="${e}"
          class="${e === 'cancel' || e === 'reject' ? 'danger' : ''}">${eventLabels[e] || e}</button>`)}</div>
      </form>` : html`<p id="order-events-none" class="muted">No event can be fired on this order by you now (it is
        <span class="tag">${o.status}</span>).</p>`}
    </section>
    <section aria-labelledby="order-payments-title"><h2 id="order-payments-title">Payments</h2>
      <p class="hint" id="order-payments-hint">${o.parentId
        ? html`This sub-order is paid with its parent <code>${o.parentId}</code>: the parent's payments and this
          sub-order's refunds. Its share ${fmtMoney(charged, currency)}, refunded or owed back ${fmtMoney(refunded, currency)}.`
        : html`Payment attempts, charges and refunds of this order. Charged ${fmtMoney(charged, currency)},
          refunded or owed back ${fmtMoney(refunded, currency)}.`}</p>
      ${paymentsTable(payments, pays, ctx)}</section>
    <section aria-labelledby="order-returns-title"><h2 id="order-returns-title">Returns</h2>
      ${returnsTable(returns, rets, draft, currency)}</section>`);

  const errBox = box.querySelector('#order-actions-error');
  const refused = (what, e) => {
    const stale = e instanceof ApiError && (e.status === 409 || e.status === 412);
    render(errBox, html`<h3 id="order-actions-error-title">${what} was refused</h3>
      <p>${describe(e)}</p>
      ${stale ? html`<p>The order or its return changed since this page was loaded, or its state does not allow this
        now. What you typed is kept.</p>` : ''}
      <div class="actions"><button type="button" id="order-actions-reload">Reload the order (keeps what you typed)</button></div>`);
    errBox.hidden = false;
    errBox.setAttribute('role', 'alert');
    errBox.setAttribute('aria-labelledby', 'order-actions-error-title');
    errBox.querySelector('#order-actions-reload').addEventListener('click', reload);
    errBox.focus();
  };
  const busy = (on) => {
    for (const b of box.querySelectorAll('button')) b.disabled = on;
  };

  const form = box.querySelector('#order-event-form');
  if (form) {
    const reasonField = form.querySelector('#order-event-reason');
    reasonField.addEventListener('input', () => { draft.reason = reasonField.value; });
    form.addEventListener('submit', (ev) => ev.preventDefault());
    for (const btn of form.querySelectorAll('button[data-event]')) {
      btn.addEventListener('click', async () => {
        const event = btn.dataset.event;
        clearFieldErrors(form);
        const reason = reasonField.value.trim();
        if (reasonRequired.has(event) && !reason) {
          setFieldError('order-event-reason', `Give a reason to ${eventLabels[event] ? eventLabels[event].toLowerCase() : event}.`);
          reasonField.focus();
          return;
        }
        if (refundingEvents.has(event) && charged > refunded) {
          const ok = await confirmAction({ title: `${eventLabels[event] || event}: refund ${fmtMoney(charged - refunded, currency)}?`,
            text: `Order ${id} is paid and has not shipped: "${event}" ends it and refunds ${fmtMoney(charged - refunded, currency)}
              to the buyer. This cannot be undone.`, yes: `${eventLabels[event] || event} and refund`, no: 'Keep the order' });
          if (!ok) return;
        }
        busy(true);
        try {
          const r = await request('POST', `/v1/orders/${seg(id)}/events`, {
            body: reason ? { event, data: { reason } } : { event }, headers: etag ? { 'If-Match': etag } : {} });
          drafts.delete(id);
          ctx.status(`Fired ${event}: order ${id} is now ${r.data.status} (version ${r.data.version}).`);
          reload();
        } catch (e) {
          busy(false);
          refused(`${eventLabels[event] || event}`, e);
        }
      });
    }
  }

  for (const btn of box.querySelectorAll('button[data-retry]')) {
    btn.addEventListener('click', async () => {
      const p = (payments || []).find((x) => x.id === btn.dataset.retry);
      const ok = await confirmAction({ title: `Retry the refund of ${fmtMoney(p.amount, p.currency)}?`,
        text: `The processor refused refund ${p.id} (${p.failureCode || 'failed'}). Retrying owes it again: payment recovery
          pays a new refund of ${fmtMoney(p.amount, p.currency)} to the same card.`, yes: 'Retry the refund', no: 'Not now' });
      if (!ok) return;
      busy(true);
      try {
        const r = await request('POST', `/v1/admin/payments/${seg(p.id)}/retry`);
        ctx.status(`Refund retried: ${r.data.id} (${fmtMoney(r.data.amount, r.data.currency)}) is ${r.data.state}; payment recovery pays it.`);
        reload();
      } catch (e) {
        busy(false);
        refused('Retrying the refund', e);
      }
    });
  }

  for (const field of box.querySelectorAll('textarea[data-return]')) {
    field.addEventListener('input', () => { draft.returns[field.dataset.return] = field.value; });
  }
  for (const btn of box.querySelectorAll('button[data-step]')) {
    btn.addEventListener('click', async () => {
      const rid = btn.dataset.returnId;
      const step = btn.dataset.step;
      const ret = returns.find((x) => x.returnId === rid);
      const reasonId = `return-reason-${idPart(rid)}`;
      const reasonField = box.querySelector(`#${CSS.escape(reasonId)}`);
      const reason = reasonField ? reasonField.value.trim() : '';
      clearFieldErrors(box);
      if (step === 'reject' && !reason) {
        setFieldError(reasonId, 'Give a reason to reject the return.');
        reasonField.focus();
        return;
      }
      if (step === 'receive') {
        const units = ret.lines.map((l) => `${l.quantity} × ${l.sku}`).join(', ');
        const ok = await confirmAction({ title: `Confirm the goods of return ${rid} came back?`,
          text: `Confirming receipt of ${units} puts them back in stock and refunds what they cost after the order's
            discount (freight is not refunded) to the buyer. This cannot be undone.`, yes: 'Goods received: refund', no: 'Not yet' });
        if (!ok) return;
      }
      busy(true);
      try {
        const r = await request('POST', `/v1/orders/${seg(id)}/returns/${seg(rid)}/${step}`, { body: reason ? { reason } : {} });
        delete draft.returns[rid];
        ctx.status(`Return ${rid} is ${r.data.state}${step === 'receive' ? `: ${fmtMoney(r.data.refund, r.data.currency)} refunded` : ''}.`);
        reload();
      } catch (e) {
        busy(false);
        refused(`The return's ${step}`, e);
      }
    });
  }
}

function paymentsTable(payments, settled, ctx) {
  if (payments === null) return html`<p class="error-text" id="order-payments">Could not load the payments: ${describe(settled.reason)}</p>`;
  if (!payments.length) return html`<p class="muted" id="order-payments">No payment yet.</p>`;
  const canRetry = ctx.can('admin.payments.retry');
  return html`<div class="table-scroll"><table id="order-payments">
    <caption class="visually-hidden">Payments of the order, oldest first</caption>
    <thead><tr><th scope="col">Payment</th><th scope="col">Kind</th><th scope="col">Method</th><th scope="col" class="num">Amount</th>
      <th scope="col">State</th><th scope="col" class="num">Attempts</th><th scope="col">Of charge</th><th scope="col">Created</th>
      ${canRetry ? html`<th scope="col">Action</th>` : ''}</tr></thead>
    <tbody>${payments.map((p) => html`<tr id="payment-row-${idPart(p.id)}" class="payment-${p.state}">
      <th scope="row"><code>${p.id}</code></th><td>${p.kind}</td>
      <td>${p.method}${p.cardLast4 ? ` (${p.cardBrand || 'card'} …${p.cardLast4})` : ''}</td>
      <td class="num">${fmtMoney(p.amount, p.currency)}</td>
      <td><span class="tag state-${p.state}">${p.state}</span>${p.failureCode ? html`<br><span class="error-text">${p.failureCode}${p.failureMessage ? `: ${p.failureMessage}` : ''}</span>` : ''}
        ${p.reason ? html`<br><span class="muted">${p.reason}</span>` : ''}</td>
      <td class="num">${p.attempts}</td><td>${p.chargeId ? html`<code>${p.chargeId}</code>` : '—'}</td><td>${fmtTime(p.createdAt)}</td>
      ${canRetry ? html`<td>${p.kind === 'refund' && p.state === 'failed' && p.method === 'card'
        ? html`<button type="button" id="payment-retry-${idPart(p.id)}" data-retry="${p.id}">Retry refund<span class="visually-hidden"> ${p.id}</span></button>` : ''}</td>` : ''}
    </tr>`)}</tbody></table></div>`;
}

function returnsTable(returns, settled, draft, currency) {
  if (returns === null) return html`<p class="error-text" id="order-returns">Could not load the returns: ${describe(settled.reason)}</p>`;
  if (!returns.length) return html`<p class="muted" id="order-returns">No return was requested.</p>`;
  return html`<div class="table-scroll"><table id="order-returns">
    <caption class="visually-hidden">Return requests of the order</caption>
    <thead><tr><th scope="col">Return</th><th scope="col">State</th><th scope="col">Items</th><th scope="col" class="num">Refund</th>
      <th scope="col">Requested</th><th scope="col">Steps</th><th scope="col">Action</th></tr></thead>
    <tbody>${returns.map((r) => {
      const p = idPart(r.returnId);
      return html`<tr id="return-row-${p}">
      <th scope="row"><code>${r.returnId}</code></th><td><span class="tag state-${r.state}" id="return-state-${p}">${r.state}</span></td>
      <td>${(r.lines || []).map((l) => html`${l.quantity} × <code>${l.sku}</code><br>`)}</td>
      <td class="num">${fmtMoney(r.refund, r.currency || currency)}</td>
      <td>${r.requestedBy || '—'}<br>${fmtTime(r.createdAt)}</td>
      <td><ul class="plain">${(r.history || []).map((h) => html`<li>${h.from ? `${h.from} → ` : ''}${h.to} by ${h.actor || '—'}${h.reason ? ` (${h.reason})` : ''}</li>`)}</ul></td>
      <td>${r.state === 'requested' ? html`<div class="field"><label for="return-reason-${p}">Reason<span class="visually-hidden"> for return ${r.returnId}</span></label>
          <textarea id="return-reason-${p}" data-return="${r.returnId}" rows="2" maxlength="1024">${draft.returns[r.returnId] || ''}</textarea></div>
          <div class="actions"><button type="button" id="return-approve-${p}" data-step="approve" data-return-id="${r.returnId}">Approve<span class="visually-hidden"> return ${r.returnId}</span></button>
          <button type="button" class="danger" id="return-reject-${p}" data-step="reject" data-return-id="${r.returnId}">Reject<span class="visually-hidden"> return ${r.returnId}</span></button></div>`
        : r.state === 'approved' ? html`<button type="button" class="primary" id="return-receive-${p}" data-step="receive" data-return-id="${r.returnId}">Confirm goods received<span class="visually-hidden"> for return ${r.returnId}</span></button>`
          : html`<span class="muted">—</span>`}</td></tr>`;
    })}</tbody></table></div>`;
}
