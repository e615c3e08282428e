// The extension-point catalogue: every point with its contract.
import { describe, get } from './api.js';
import { html, render } from './html.js';

export async function pointsPage(view, ctx) {
  ctx.title('Extension points');
  render(view, html`<h1>Extension points</h1>
    <p>Every hook the platform offers, with how several implementations combine (reducer), what happens when one
      fails (failure policy) and how long a call may take.</p>
    <div class="field inline"><label for="points-filter">Filter by name, domain or text</label>
      <input id="points-filter" type="search" autocomplete="off" class="short"></div>
    <div id="points-body"><p>Loading…</p></div>`);
  const body = view.querySelector('#points-body');
  let items;
  try {
    items = (await get('/v1/admin/extension-points')).items || [];
  } catch (e) {
    render(body, html`<p class="error-text" role="alert">Could not load the catalogue: ${describe(e)}</p>`);
    return;
  }
  items.sort((a, b) => a.name.localeCompare(b.name));
  render(body, html`<p id="points-count" class="muted" aria-live="polite">${items.length} extension points.</p>
    <div class="table-scroll"><table id="points-table">
    <caption class="visually-hidden">Extension points</caption>
    <thead><tr><th scope="col">Point</th><th scope="col">Domain</th><th scope="col">Reducer</th>
      <th scope="col">Failure policy</th><th scope="col">Deadline</th><th scope="col">Contract</th></tr></thead>
    <tbody>${items.map((p) => html`<tr data-point="${p.name}" data-text="${`${p.name} ${p.domain} ${p.doc || ''}`.toLowerCase()}">
      <th scope="row"><code>${p.name}</code></th><td>${p.domain}</td><td>${p.reducer}</td><td>${p.policy}</td>
      <td>${p.deadlineMillis ? `${p.deadlineMillis} ms` : '—'}</td>
      <td>${p.doc || ''}${p.request || p.response ? html`<br><span class="muted">request <code>${typeName(p.request)}</code>,
        response <code>${typeName(p.response)}</code></span>` : ''}</td>
    </tr>`)}</tbody></table></div>`);
  const filter = view.querySelector('#points-filter');
  filter.addEventListener('input', () => {
    const q = filter.value.trim().toLowerCase();
    let shown = 0;
    for (const tr of body.querySelectorAll('tbody tr')) {
      tr.hidden = !!q && !tr.dataset.text.includes(q);
      if (!tr.hidden) shown++;
    }
    body.querySelector('#points-count').textContent = `${shown} of ${items.length} extension points.`;
  });
}

// typeName shows a request/response type: a string, or a schema's title.
function typeName(t) {
  if (!t) return '—';
  if (typeof t === 'string') return t;
  return t.title || t.name || t.type || JSON.stringify(t).slice(0, 80);
}
