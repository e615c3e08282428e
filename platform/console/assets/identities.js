// Identities: the list of business identities the caller may see.
import { describe, get } from './api.js';
import { html, idPart, list, render, yesNo } from './html.js';

/** identityHash is the route of an identity's pages. */
export function identityHash(code, sub = '') {
  return `#/identities/${encodeURIComponent(code)}${sub ? `/${sub}` : ''}`;
}

export async function listPage(view, ctx) {
  ctx.title('Identities');
  render(view, html`<h1>Business identities</h1>
    <div class="toolbar">
      ${ctx.can('identity.create') ? html`<a id="identity-new" class="button primary" href="#/identities/new">New identity</a>` : ''}
    </div>
    <div id="identities-body"><p>Loading…</p></div>`);
  const body = view.querySelector('#identities-body');
  let data;
  try {
    data = await get('/v1/admin/identities');
  } catch (e) {
    render(body, html`<p class="error-text" role="alert">Could not load the identities: ${describe(e)}</p>`);
    return;
  }
  const items = [...(data.items || [])].sort((a, b) => a.code.localeCompare(b.code));
  if (!items.length) {
    render(body, html`<p>No identities are visible to you${ctx.can('identity.create') ? '; create the first one' : ''}.</p>`);
    return;
  }
  render(body, html`<p class="muted">Configuration revision <span id="config-revision">${data.revision}</span>.</p>
    <table id="identities-table">
      <caption class="visually-hidden">Business identities</caption>
      <thead><tr><th scope="col">Code</th><th scope="col">Name</th><th scope="col">Products</th>
        <th scope="col">Bizpacks</th><th scope="col">Disabled</th><th scope="col">Actions</th></tr></thead>
      <tbody>${items.map((it) => html`<tr id="identity-row-${idPart(it.code)}">
        <th scope="row"><a href="${identityHash(it.code)}">${it.code}</a></th>
        <td>${it.name || ''}</td>
        <td>${productCell(it)}</td>
        <td>${list((it.bizpacks || []).map((b) => b.name))}</td>
        <td>${it.disabled ? html`<strong class="tag tag-off">disabled</strong>` : yesNo(false)}</td>
        <td><a href="${identityHash(it.code, 'edit')}" aria-label="Edit ${it.code}">Edit</a></td>
      </tr>`)}</tbody>
    </table>`);
}

// productCell shows the identity's own products, and the inherited ones apart.
function productCell(it) {
  const own = (it.products || []).map((p) => p.name);
  const eff = (it.effective && it.effective.products) || [];
  const inherited = eff.filter((n) => !own.includes(n));
  return html`${list(own)}${inherited.length ? html` <span class="muted">(inherited: ${inherited.join(', ')})</span>` : ''}`;
}
