// The compiled execution plan of an identity as a table: one row group per
// extension point, one row per implementation in precedence order.
import { html } from './html.js';

/** originText names where a binding comes from ("" is the platform). */
export function originText(origin) {
  return origin ? origin : 'platform';
}

/** planTable renders Plan.points; id is the table's element id. */
export function planTable(plan, id = 'plan-table') {
  const points = (plan && plan.points) || [];
  if (!points.length) return html`<p id="${id}" class="muted">The plan has no extension points.</p>`;
  return html`<div class="table-scroll"><table id="${id}" class="plan">
    <caption>Execution plan${plan.identity ? html` of <code>${plan.identity}</code>` : ''}${plan.revision
      ? html` at revision ${plan.revision}` : ''}: for each extension point, the implementations that run, highest precedence first.</caption>
    <thead><tr>
      <th scope="col">Extension point</th><th scope="col">Reducer</th><th scope="col">Failure policy</th>
      <th scope="col">#</th><th scope="col">Implementation</th><th scope="col">Layer</th><th scope="col">Source</th>
      <th scope="col">Origin</th><th scope="col">Priority</th><th scope="col">Version</th>
    </tr></thead>
    ${points.map((p) => pointRows(p))}
  </table></div>`;
}

function pointRows(p) {
  const impls = p.impls || [];
  const n = Math.max(impls.length, 1);
  const head = html`<th scope="rowgroup" rowspan="${n}"><code>${p.point}</code></th>
    <td rowspan="${n}">${p.reducer}</td><td rowspan="${n}">${p.policy}</td>`;
  if (!impls.length) {
    return html`<tbody data-point="${p.point}"><tr>${head}<td colspan="7" class="muted">no implementation</td></tr></tbody>`;
  }
  return html`<tbody data-point="${p.point}">${impls.map((im, i) => html`<tr>
    ${i === 0 ? head : ''}
    <td>${i + 1}</td><td><code>${im.impl}</code>${im.isolated ? html` <span class="tag">isolated</span>` : ''}</td>
    <td><span class="tag layer-${im.layer}">${im.layer}</span></td><td>${im.source}</td>
    <td>${originText(im.origin)}</td><td>${im.priority ?? ''}</td><td>${im.version || ''}</td>
  </tr>`)}</tbody>`;
}
