// The audit log: who changed what, when, with the before and after of each
// change. Used as a page and inside an identity's detail.
import { describe, get, query } from './api.js';
import { html, json, render, fmtTime } from './html.js';

/** changedKeys lists the top-level keys whose values differ. */
export function changedKeys(before, after) {
  const a = before && typeof before === 'object' ? before : {};
  const b = after && typeof after === 'object' ? after : {};
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k])).sort();
}

let counter = 0; // numbers rows; older pages continue the count

function rows(items) {
  return items.map((it) => {
    const n = counter++;
    const changed = it.before && it.after ? changedKeys(it.before, it.after) : [];
    return html`<tr id="audit-row-${n}" data-audit-id="${it.id}">
        <td>${fmtTime(it.at)}</td><td>${it.actor}</td><td>${it.verb} <span class="muted">(<code>${it.action}</code>)</span></td>
        <td>${it.targetType}${it.targetId ? html` <code>${it.targetId}</code>` : ''}</td>
        <td><button type="button" class="audit-toggle" id="audit-toggle-${n}" aria-expanded="false"
          aria-controls="audit-detail-${n}">Show changes<span class="visually-hidden"> of entry ${it.id}</span></button></td>
      </tr>
      <tr id="audit-detail-${n}" class="audit-detail" hidden><td colspan="5">
        ${changed.length ? html`<p>Changed: ${changed.join(', ')}.</p>` : ''}
        ${it.traceId ? html`<p class="muted">Trace id <code>${it.traceId}</code></p>` : ''}
        <div class="diff">
          <figure><figcaption>Before</figcaption><pre class="code">${it.before === null || it.before === undefined ? '(nothing: created)' : json(it.before)}</pre></figure>
          <figure><figcaption>After</figcaption><pre class="code">${it.after === null || it.after === undefined ? '(nothing: removed)' : json(it.after)}</pre></figure>
        </div>
      </td></tr>`;
  });
}

/**
 * auditTable renders the entries matching filter {targetType?, targetId?}
 * into container, newest first, with a button that appends older pages.
 */
export async function auditTable(container, ctx, filter = {}) {
  render(container, html`<p>Loading…</p>`);
  // filter.path: another endpoint of the same shape (an identity's own
  // audit, which its operators may read); the filters are then implied.
  const path = filter.path || '/v1/admin/audit';
  const params = filter.path ? {} : { targetType: filter.targetType, targetId: filter.targetId };
  let page;
  try {
    page = await get(`${path}${query(params)}`);
  } catch (e) {
    render(container, html`<p class="error-text" role="alert">Could not load the audit log: ${describe(e)}</p>`);
    return;
  }
  if (!(page.items || []).length) {
    render(container, html`<p id="audit-empty">No audited change${filter.targetId ? html` of ${filter.targetType} <code>${filter.targetId}</code>` : ''} yet.</p>`);
    return;
  }
  counter = 0; // one audit table per page: row 0 is the newest entry
  render(container, html`<div class="table-scroll"><table id="audit-table">
      <caption class="visually-hidden">Audited changes, newest first</caption>
      <thead><tr><th scope="col">At</th><th scope="col">Actor</th><th scope="col">Action</th>
        <th scope="col">Target</th><th scope="col">Details</th></tr></thead>
      <tbody>${rows(page.items)}</tbody>
    </table></div>
    <p><button type="button" id="audit-next" ${page.nextCursor ? '' : html`hidden`}>Show older entries</button></p>`);
  const tbody = container.querySelector('#audit-table tbody');
  const next = container.querySelector('#audit-next');
  let cursor = page.nextCursor;
  tbody.addEventListener('click', (ev) => {
    const b = ev.target.closest('.audit-toggle');
    if (!b) return;
    const open = b.getAttribute('aria-expanded') !== 'true';
    b.setAttribute('aria-expanded', String(open));
    b.firstChild.textContent = open ? 'Hide changes' : 'Show changes';
    document.getElementById(b.getAttribute('aria-controls')).hidden = !open;
  });
  next.addEventListener('click', async () => {
    next.disabled = true;
    try {
      const more = await get(`${path}${query({ ...params, cursor })}`);
      const firstNew = counter;
      tbody.insertAdjacentHTML('beforeend', html`${rows(more.items || [])}`.s);
      cursor = more.nextCursor;
      next.hidden = !cursor;
      ctx.status(`${(more.items || []).length} older entries shown.`);
      const t = document.getElementById(`audit-toggle-${firstNew}`);
      if (t && next.hidden) t.focus();
    } catch (e) {
      ctx.status(`Could not load older entries: ${describe(e)}`, 'error');
    } finally {
      next.disabled = false;
    }
  });
}

export async function auditPage(view, ctx) {
  ctx.title('Audit log');
  const targetType = ctx.query.get('targetType') || '';
  const targetId = ctx.query.get('targetId') || '';
  render(view, html`<h1>Audit log</h1>
    <form id="audit-filter" class="filters" novalidate>
      <div class="field"><label for="audit-target-type">Target type</label>
        <input id="audit-target-type" list="audit-types" value="${targetType}" class="short" autocomplete="off"
          aria-describedby="audit-target-type-hint">
        <p class="hint" id="audit-target-type-hint">Optional, e.g. identity, bizpack, org, principal, policy.</p>
        <datalist id="audit-types"><option value="identity"><option value="bizpack"><option value="org">
          <option value="principal"><option value="policy"></datalist></div>
      <div class="field"><label for="audit-target-id">Target id</label>
        <input id="audit-target-id" value="${targetId}" class="short" autocomplete="off" aria-describedby="audit-target-id-hint">
        <p class="hint" id="audit-target-id-hint">Optional, e.g. an identity code.</p></div>
      <div class="actions"><button type="submit" id="audit-search">Show</button></div>
    </form>
    <section aria-labelledby="audit-results-title"><h2 id="audit-results-title">Changes, newest first</h2>
      <div id="audit-body"></div></section>`);
  view.querySelector('#audit-filter').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const q = query({ targetType: view.querySelector('#audit-target-type').value.trim(),
      targetId: view.querySelector('#audit-target-id').value.trim() });
    ctx.navigate(`#/audit${q}`);
  });
  await auditTable(view.querySelector('#audit-body'), ctx, { targetType, targetId });
}
