// Money checks: reconciliation runs and their mismatches (with evidence,
// marked resolved with a note) and the card refunds the processor refused
// for good (retried after confirmation). API: /v1/admin/reconciliation/…,
// /v1/admin/payments/refunds/failed, /v1/admin/payments/{id}/retry.
import { ApiError, describe, get, query, request, seg } from './api.js';
import { html, idPart, json, render, fmtMoney, fmtTime } from './html.js';
import { clearFieldErrors, setFieldError } from './forms.js';
import { confirmAction } from './confirm.js';

const orderLink = (id) => (id ? html`<a href="#/orders/${seg(id)}"><code>${id}</code></a>` : html`<span class="muted">—</span>`);
const mismatchHash = (id) => `#/reconciliation/mismatches/${encodeURIComponent(id)}`;

/** reconciliationPage lists the runs and the mismatches (filtered, paged). */
export async function reconciliationPage(view, ctx) {
  ctx.title('Reconciliation');
  const q = ctx.query;
  const f = { status: q.has('status') ? q.get('status') : 'open', check: q.get('check') || '', orderId: q.get('orderId') || '' };
  const cursor = q.get('cursor') || '';
  const canRun = ctx.can('admin.reconciliation.run');
  render(view, html`<h1>Reconciliation</h1>
    <p>Reconciliation compares stock, money, coupons and budgets and the outbox with the orders, and keeps every mismatch
      with its evidence until an operator resolves it.</p>
    <section aria-labelledby="recon-mismatches-title"><h2 id="recon-mismatches-title">Mismatches</h2>
      <form id="recon-filter-form" class="filters" novalidate>
        <div class="field"><label for="recon-filter-status">Status</label>
          <select id="recon-filter-status">${['open', 'resolved', ''].map((s) => html`<option value="${s}"${s === (f.status === 'any' ? '' : f.status) ? html` selected` : ''}>${s || 'any'}</option>`)}</select></div>
        <div class="field"><label for="recon-filter-check">Check</label>
          <input id="recon-filter-check" class="short" value="${f.check}" autocomplete="off" aria-describedby="recon-filter-check-hint">
          <p class="hint" id="recon-filter-check-hint">Optional: stock, money, coupons, budgets, outbox.</p></div>
        <div class="field"><label for="recon-filter-order">Order id</label>
          <input id="recon-filter-order" class="short" value="${f.orderId}" autocomplete="off" aria-describedby="recon-filter-order-hint">
          <p class="hint" id="recon-filter-order-hint">Optional.</p></div>
        <div class="actions"><button type="submit" id="recon-search">List mismatches</button></div>
      </form>
      <div id="recon-mismatches-body"><p>Loading…</p></div></section>
    <section aria-labelledby="recon-runs-title"><h2 id="recon-runs-title">Runs</h2>
      ${canRun ? html`<div class="actions"><button type="button" id="recon-run">Run an incremental check now</button>
        <span id="recon-run-result" class="result" role="status"></span></div>` : ''}
      <div id="recon-runs-body"><p>Loading…</p></div></section>`);
  view.querySelector('#recon-filter-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    ctx.navigate(`#/reconciliation${query({ status: view.querySelector('#recon-filter-status').value || 'any',
      check: view.querySelector('#recon-filter-check').value.trim(), orderId: view.querySelector('#recon-filter-order').value.trim() })}`);
  });
  if (canRun) {
    view.querySelector('#recon-run').addEventListener('click', async () => {
      const out = view.querySelector('#recon-run-result');
      try {
        const r = await request('POST', '/v1/admin/reconciliation/runs', { body: { kind: 'incremental' } });
        out.dataset.kind = '';
        out.textContent = `Run ${r.data.id} started.`;
        loadRuns();
      } catch (e) {
        out.dataset.kind = 'error';
        out.textContent = describe(e);
      }
    });
  }
  const runsBody = view.querySelector('#recon-runs-body');
  const loadRuns = async () => {
    try {
      const r = await get('/v1/admin/reconciliation/runs?limit=20');
      const runs = r.runs || [];
      render(runsBody, runs.length ? html`<div class="table-scroll"><table id="recon-runs">
        <caption class="visually-hidden">Reconciliation runs, newest first</caption>
        <thead><tr><th scope="col">Run</th><th scope="col">Kind</th><th scope="col">Trigger</th><th scope="col">Node</th>
          <th scope="col">Status</th><th scope="col" class="num">Orders</th><th scope="col" class="num">Found</th>
          <th scope="col" class="num">New</th><th scope="col">Started</th><th scope="col">Finished</th></tr></thead>
        <tbody>${runs.map((x) => html`<tr id="recon-run-${idPart(x.id)}"><th scope="row"><a href="#/reconciliation${query({ status: 'any', runId: x.id })}"><code>${x.id.slice(0, 12)}</code></a></th>
          <td>${x.kind}</td><td>${x.trigger}</td><td>${x.node}</td>
          <td><span class="tag state-${x.status}">${x.status}</span>${x.error ? html`<br><span class="error-text">${x.error}</span>` : ''}</td>
          <td class="num">${x.orders}</td><td class="num">${x.found}</td><td class="num">${x.new}</td>
          <td>${fmtTime(x.startedAt)}</td><td>${fmtTime(x.finishedAt)}</td></tr>`)}</tbody></table></div>`
        : html`<p id="recon-runs-none" class="muted">No run yet.</p>`);
    } catch (e) {
      render(runsBody, html`<p class="error-text" id="recon-runs-none">Could not list the runs: ${describe(e)}</p>`);
    }
  };
  const body = view.querySelector('#recon-mismatches-body');
  const params = { status: f.status === 'any' ? '' : f.status, check: f.check, orderId: f.orderId, runId: q.get('runId') || '' };
  try {
    const r = await get(`/v1/admin/reconciliation/mismatches${query({ ...params, cursor, limit: 50 })}`);
    const ms = r.mismatches || [];
    render(body, html`${ms.length ? html`<div class="table-scroll"><table id="recon-mismatches">
      <caption class="visually-hidden">Mismatches, oldest first</caption>
      <thead><tr><th scope="col">Mismatch</th><th scope="col">Check</th><th scope="col">Issue</th><th scope="col">Subject</th>
        <th scope="col">Order</th><th scope="col">Detail</th><th scope="col">Status</th><th scope="col">Seen</th></tr></thead>
      <tbody>${ms.map((m) => html`<tr id="mismatch-row-${m.id}"><th scope="row"><a id="mismatch-link-${m.id}" href="${mismatchHash(m.id)}">#${m.id}</a></th>
        <td>${m.check}</td><td><code>${m.issue}</code></td><td><code>${m.subject}</code></td><td>${orderLink(m.orderId)}</td>
        <td>${m.detail}</td><td><span class="tag state-${m.status}">${m.status}</span></td><td>${fmtTime(m.updatedAt)}</td></tr>`)}</tbody></table></div>`
      : html`<p id="recon-mismatches-none">No ${f.status === 'any' ? '' : f.status} mismatch${cursor ? ' on this page' : ''}.</p>`}
      <p class="pager">${cursor ? html`<a id="recon-first" href="#/reconciliation${query({ ...f })}">First page</a>` : ''}
        ${r.nextCursor ? html`<a id="recon-next" href="#/reconciliation${query({ ...f, runId: params.runId, cursor: r.nextCursor })}">Next page</a>` : ''}</p>`);
  } catch (e) {
    render(body, html`<p class="error-text" role="alert" id="recon-mismatches-none">Could not list mismatches: ${describe(e)}</p>`);
  }
  await loadRuns();
}

/** mismatchPage shows one mismatch with its evidence and resolves it. */
export async function mismatchPage(view, ctx, params) {
  const id = params.id;
  ctx.title(`Mismatch ${id}`);
  render(view, html`<h1>Mismatch #${id}</h1><p><a href="#/reconciliation">Back to reconciliation</a></p>
    <div id="mismatch-body"><p>Loading…</p></div>`);
  const body = view.querySelector('#mismatch-body');
  let m;
  try {
    m = await get(`/v1/admin/reconciliation/mismatches/${seg(id)}`);
  } catch (e) {
    render(body, html`<p class="error-text" role="alert" id="mismatch-error">${e instanceof ApiError && e.status === 404
      ? `There is no mismatch #${id}.` : `Could not load the mismatch: ${describe(e)}`}</p>`);
    return;
  }
  const canResolve = ctx.can('admin.reconciliation.resolve');
  const typed = sessionStorage.getItem(`tmf.mismatch-note.${id}`) || '';
  render(body, html`<dl class="facts" id="mismatch-facts">
      <dt>Status</dt><dd id="mismatch-status"><span class="tag state-${m.status}">${m.status}</span></dd>
      <dt>Check</dt><dd>${m.check}</dd><dt>Issue</dt><dd><code>${m.issue}</code></dd>
      <dt>Subject</dt><dd><code>${m.subject}</code></dd><dt>Order</dt><dd>${orderLink(m.orderId)}</dd>
      <dt>Detail</dt><dd id="mismatch-detail">${m.detail}</dd>
      <dt>First seen</dt><dd>${fmtTime(m.createdAt)} (run <code>${m.firstRunId}</code>)</dd>
      <dt>Last seen</dt><dd>${fmtTime(m.updatedAt)} (run <code>${m.lastRunId}</code>)</dd>
      ${m.resolvedBy ? html`<dt>Resolved</dt><dd id="mismatch-resolved">by ${m.resolvedBy}, ${fmtTime(m.resolvedAt)}: ${m.note}</dd>` : ''}
    </dl>
    <section aria-labelledby="mismatch-evidence-title"><h2 id="mismatch-evidence-title">Evidence</h2>
      <p class="hint">What the check read when it found the mismatch, as the server recorded it.</p>
      <pre class="code" id="mismatch-evidence" tabindex="0" aria-labelledby="mismatch-evidence-title">${json(m.evidence)}</pre></section>
    ${m.status === 'open' && canResolve ? html`<section aria-labelledby="mismatch-resolve-title"><h2 id="mismatch-resolve-title">Mark resolved</h2>
      <div id="mismatch-resolve-problem" class="error-summary" tabindex="-1" hidden></div>
      <form id="mismatch-resolve-form" class="narrow" novalidate>
        <div class="field"><label for="mismatch-note">Note</label>
          <p class="hint" id="mismatch-note-hint">Required: what was found and done (1 to 1000 characters). Kept with the mismatch and in the audit log.</p>
          <textarea id="mismatch-note" rows="3" maxlength="1000" aria-describedby="mismatch-note-hint">${typed}</textarea></div>
        <button type="submit" id="mismatch-resolve" class="primary">Mark resolved</button>
      </form></section>` : ''}`);
  const form = body.querySelector('#mismatch-resolve-form');
  if (!form) return;
  const note = form.querySelector('#mismatch-note');
  note.addEventListener('input', () => sessionStorage.setItem(`tmf.mismatch-note.${id}`, note.value));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearFieldErrors(form);
    const text = note.value.trim();
    if (!text) {
      setFieldError('mismatch-note', 'Write what was found and done.');
      note.focus();
      return;
    }
    const btn = form.querySelector('#mismatch-resolve');
    btn.disabled = true;
    try {
      await request('POST', `/v1/admin/reconciliation/mismatches/${seg(id)}/resolve`, { body: { note: text } });
      sessionStorage.removeItem(`tmf.mismatch-note.${id}`);
      ctx.status(`Mismatch #${id} is resolved.`);
      ctx.navigate(location.hash, { keepStatus: true });
    } catch (e) {
      btn.disabled = false;
      const box = body.querySelector('#mismatch-resolve-problem');
      render(box, html`<h3 id="mismatch-resolve-problem-title">Not resolved</h3><p>${describe(e)}</p>
        ${e instanceof ApiError && e.status === 409 ? html`<p>Someone resolved it meanwhile. Your note is kept.
          <button type="button" id="mismatch-reload">Reload the mismatch</button></p>` : ''}`);
      box.hidden = false;
      box.setAttribute('role', 'alert');
      box.setAttribute('aria-labelledby', 'mismatch-resolve-problem-title');
      const again = box.querySelector('#mismatch-reload');
      if (again) again.addEventListener('click', () => ctx.navigate(location.hash));
      if (e instanceof ApiError && e.body && e.body.field === 'note') setFieldError('mismatch-note', describe(e));
      box.focus();
    }
  });
}

/** refundsPage lists the failed refunds and retries one after confirmation. */
export async function refundsPage(view, ctx) {
  ctx.title('Failed refunds');
  const after = ctx.query.get('after') || '';
  const canRetry = ctx.can('admin.payments.retry');
  render(view, html`<h1>Failed refunds</h1>
    <p>Card refunds the processor refused for good and that no retry replaced. Each one is money the platform owes a
      buyer: retrying owes it again, and payment recovery pays the new refund.</p>
    <div id="refunds-body"><p>Loading…</p></div>`);
  const body = view.querySelector('#refunds-body');
  let page;
  try {
    page = await get(`/v1/admin/payments/refunds/failed${query({ after, limit: 50 })}`);
  } catch (e) {
    render(body, html`<p class="error-text" role="alert" id="refunds-error">Could not list failed refunds: ${describe(e)}</p>`);
    return;
  }
  const items = page.refunds || [];
  render(body, html`${items.length ? html`<div class="table-scroll"><table id="refunds-table">
    <caption class="visually-hidden">Failed refunds, oldest first</caption>
    <thead><tr><th scope="col">Refund</th><th scope="col">Order</th><th scope="col" class="num">Amount</th><th scope="col">Why</th>
      <th scope="col">Failure</th><th scope="col" class="num">Attempts</th><th scope="col">Created</th>${canRetry ? html`<th scope="col">Action</th>` : ''}</tr></thead>
    <tbody>${items.map((p) => html`<tr id="refund-row-${idPart(p.id)}"><th scope="row"><code>${p.id}</code></th>
      <td>${orderLink(p.orderId)}</td><td class="num">${fmtMoney(p.amount, p.currency)}</td><td>${p.reason || '—'}</td>
      <td class="error-text">${p.failureCode || ''}${p.failureMessage ? `: ${p.failureMessage}` : ''}</td>
      <td class="num">${p.attempts}</td><td>${fmtTime(p.createdAt)}</td>
      ${canRetry ? html`<td><button type="button" id="refund-retry-${idPart(p.id)}" data-id="${p.id}">Retry<span class="visually-hidden"> refund ${p.id}</span></button></td>` : ''}</tr>`)}</tbody></table></div>`
    : html`<p id="refunds-none">No failed refund${after ? ' on this page' : ''}: every refund was paid or is on its way.</p>`}
    <p class="pager">${after ? html`<a id="refunds-first" href="#/refunds">First page</a>` : ''}
      ${page.next ? html`<a id="refunds-next" href="#/refunds${query({ after: page.next })}">Next page</a>` : ''}</p>`);
  for (const btn of body.querySelectorAll('button[data-id]')) {
    btn.addEventListener('click', async () => {
      const p = items.find((x) => x.id === btn.dataset.id);
      const ok = await confirmAction({ title: `Retry the refund of ${fmtMoney(p.amount, p.currency)}?`,
        text: `Refund ${p.id} of order ${p.orderId} was refused (${p.failureCode || 'failed'}). Retrying owes it again: payment
          recovery pays a new refund of ${fmtMoney(p.amount, p.currency)} to the same card.`, yes: 'Retry the refund', no: 'Not now' });
      if (!ok) return;
      btn.disabled = true;
      try {
        const r = await request('POST', `/v1/admin/payments/${seg(p.id)}/retry`);
        ctx.status(`Refund retried: ${r.data.id} (${fmtMoney(r.data.amount, r.data.currency)}) for order ${p.orderId} is ${r.data.state}; payment recovery pays it.`);
        ctx.navigate(location.hash, { keepStatus: true });
      } catch (e) {
        btn.disabled = false;
        ctx.status(`Retrying refund ${p.id} was refused: ${describe(e)}`, 'error');
      }
    });
  }
}
