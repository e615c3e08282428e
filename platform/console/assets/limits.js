// Purchase limits: every identity's limits in one table (read from
// GET /v1/admin/identities, which carries each identity's purchaseLimits).
// They are changed with the identity (PUT /v1/admin/identities/{code});
// the identity editor keeps them as they are.
import { describe, get } from './api.js';
import { html, idPart, render, fmtMoney, fmtTime, list } from './html.js';
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
  render(body, rows.length ? html`<div class="table-scroll"><table id="limits-table">
    <caption class="visually-hidden">Purchase limits by identity</caption>
    <thead><tr><th scope="col">Identity</th><th scope="col">Limit</th><th scope="col">Counted per</th><th scope="col">Applies to</th>
      <th scope="col">Window</th><th scope="col" class="num">At most</th></tr></thead>
    <tbody>${rows.map(({ code, l }) => html`<tr id="limit-row-${idPart(code)}-${idPart(l.name)}">
      <td><a href="${identityHash(code)}"><code>${code}</code></a></td><th scope="row"><code>${l.name}</code></th><td>${l.scope}</td>
      <td>${l.skus && l.skus.length ? html`SKUs ${list(l.skus)}` : ''}${l.categories && l.categories.length ? html`categories ${list(l.categories)}` : ''}${!(l.skus && l.skus.length) && !(l.categories && l.categories.length) ? 'every line' : ''}</td>
      <td>${windowText(l)}</td>
      <td class="num">${l.measure === 'amount' ? fmtMoney(l.max, l.currency) : `${l.max} units`}</td></tr>`)}</tbody></table></div>`
    : html`<p id="limits-none">No identity has a purchase limit.</p>`);
}
