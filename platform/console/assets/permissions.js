// Permissions: the organisation tree, the principals and their roles, and
// the status of the policy that decides.
import { describe, get, query } from './api.js';
import { html, render, fmtTime, list } from './html.js';

const PAGE = 100;

export async function permissionsPage(view, ctx) {
  ctx.title('Permissions');
  render(view, html`<h1>Permissions</h1>
    <p>Subjects sit in an organisation tree; a subject may act on the orders of its own subtree. The policy decides
      every request, the console's included.</p>
    ${ctx.can('admin.orgs.read') ? html`<section aria-labelledby="orgs-title"><h2 id="orgs-title">Organisation tree</h2>
      <div id="org-tree-body"><p>Loading…</p></div></section>` : ''}
    ${ctx.can('admin.principals.read') ? html`<section aria-labelledby="principals-title"><h2 id="principals-title">Principals</h2>
      <div id="principals-body"><p>Loading…</p></div></section>` : ''}
    ${ctx.can('admin.policies.read') ? html`<section aria-labelledby="policy-title"><h2 id="policy-title">Policy</h2>
      <div id="policy-body"><p>Loading…</p></div></section>` : ''}`);
  const jobs = [];
  if (ctx.can('admin.orgs.read')) jobs.push(orgs(view.querySelector('#org-tree-body'), ctx));
  if (ctx.can('admin.principals.read')) jobs.push(principals(view.querySelector('#principals-body'), ctx));
  if (ctx.can('admin.policies.read')) jobs.push(policy(view.querySelector('#policy-body')));
  await Promise.all(jobs);
}

/** buildTree nests orgs by parent; orgs whose parent is not loaded are roots. */
export function buildTree(items) {
  const byId = new Map(items.map((o) => [o.id, { ...o, children: [] }]));
  const roots = [];
  for (const o of byId.values()) {
    const p = o.parent && byId.get(o.parent);
    if (p) p.children.push(o);
    else roots.push(o);
  }
  const sort = (xs) => {
    xs.sort((a, b) => (a.path || a.id).localeCompare(b.path || b.id));
    xs.forEach((x) => sort(x.children));
  };
  sort(roots);
  return roots;
}

function orgNode(o, depth) {
  const label = html`<span class="org-name">${o.name || o.id}</span> <code>${o.id}</code>${o.kind ? html` <span class="tag">${o.kind}</span>` : ''}`;
  if (!o.children.length) return html`<li id="org-${o.id}">${label}</li>`;
  return html`<li id="org-${o.id}"><details ${depth < 2 ? html`open` : ''}><summary>${label}
    <span class="muted">(${o.children.length})</span></summary>
    <ul>${o.children.map((c) => orgNode(c, depth + 1))}</ul></details></li>`;
}

async function orgs(box, ctx) {
  const items = [];
  let cursor = '';
  const draw = () => {
    render(box, html`<ul id="org-tree" class="tree">${buildTree(items).map((o) => orgNode(o, 0))}</ul>
      <p class="muted">${items.length} organisations shown.${cursor ? ' More exist.' : ''}</p>
      ${cursor ? html`<p><button type="button" id="orgs-more">Load more organisations</button></p>` : ''}`);
    box.querySelector('#orgs-more')?.addEventListener('click', async () => {
      await load();
      box.querySelector('#orgs-more')?.focus();
      ctx.status(`${items.length} organisations shown.`);
    });
  };
  const load = async () => {
    try {
      const page = await get(`/v1/admin/orgs${query({ limit: PAGE, cursor })}`);
      items.push(...(page.items || []));
      cursor = page.nextCursor || '';
      draw();
    } catch (e) {
      render(box, html`<p class="error-text" role="alert">Could not load the organisations: ${describe(e)}</p>`);
    }
  };
  await load();
}

async function principals(box, ctx) {
  const items = [];
  let cursor = '';
  const draw = () => {
    render(box, items.length ? html`<div class="table-scroll"><table id="principals-table">
      <caption class="visually-hidden">Principals</caption>
      <thead><tr><th scope="col">Principal</th><th scope="col">Roles</th><th scope="col">Organisation</th>
        <th scope="col">Identities</th></tr></thead>
      <tbody>${items.map((p) => html`<tr><th scope="row"><code>${p.id}</code></th><td>${list(p.roles)}</td>
        <td>${p.org || '—'}${p.orgPath ? html` <span class="muted">${p.orgPath}</span>` : ''}</td>
        <td>${list(p.identities)}</td></tr>`)}</tbody></table></div>
      ${cursor ? html`<p><button type="button" id="principals-more">Load more principals</button></p>` : ''}`
      : html`<p>No principal.</p>`);
    box.querySelector('#principals-more')?.addEventListener('click', async () => {
      await load();
      box.querySelector('#principals-more')?.focus();
      ctx.status(`${items.length} principals shown.`);
    });
  };
  const load = async () => {
    try {
      const page = await get(`/v1/admin/principals${query({ limit: PAGE, cursor })}`);
      items.push(...(page.items || []));
      cursor = page.nextCursor || '';
      draw();
    } catch (e) {
      render(box, html`<p class="error-text" role="alert">Could not load the principals: ${describe(e)}</p>`);
    }
  };
  await load();
}

async function policy(box) {
  try {
    const p = await get('/v1/admin/policies');
    render(box, html`<dl class="facts" id="policy-status">
      <dt>Source</dt><dd>${p.source}</dd>
      <dt>Revision</dt><dd>${p.revision}</dd>
      <dt>Digest</dt><dd><code>${p.digest}</code></dd>
      <dt>Loaded</dt><dd>${fmtTime(p.loadedAt)}</dd>
      <dt>Last failed load</dt><dd>${p.lastError ? html`<span class="error-text">${p.lastError}</span> (${fmtTime(p.lastErrorAt)});
        the policy in force stayed` : 'none'}</dd>
    </dl>`);
  } catch (e) {
    render(box, html`<p class="error-text" role="alert">Could not load the policy status: ${describe(e)}</p>`);
  }
}
