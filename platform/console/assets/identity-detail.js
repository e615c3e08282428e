// One identity: its summary and three sections reached by links (plan,
// lifecycle, audit), each its own route so it can be bookmarked.
import { describe, get, request, seg } from './api.js';
import { html, list, render } from './html.js';
import { planTable } from './plan.js';
import { lifecycleSection } from './lifecycle.js';
import { auditTable } from './audit.js';
import { identityHash } from './identities.js';

const tabs = [
  { id: 'plan', label: 'Plan' },
  { id: 'lifecycle', label: 'Lifecycle' },
  { id: 'audit', label: 'Audit' },
];

export async function detailPage(view, ctx, params) {
  const { code, tab } = params;
  ctx.title(`${code} · ${tabs.find((t) => t.id === tab).label}`);
  render(view, html`<h1>Identity <code>${code}</code></h1>
    <div id="identity-summary"><p>Loading…</p></div>
    <nav aria-label="Sections of ${code}" class="tabs"><ul>${tabs.map((t) => html`<li>
      <a id="tab-${t.id}" href="${identityHash(code, t.id)}" ${t.id === tab ? html`aria-current="page"` : ''}>${t.label}</a></li>`)}</ul></nav>
    <section id="identity-tab" aria-labelledby="identity-tab-title">
      <h2 id="identity-tab-title">${tabs.find((t) => t.id === tab).label}</h2>
      <div id="identity-tab-body"><p>Loading…</p></div>
    </section>`);
  const summary = view.querySelector('#identity-summary');
  const body = view.querySelector('#identity-tab-body');
  const showSummary = async () => {
    try {
      const it = (await request('GET', `/v1/admin/identities/${seg(code)}`)).data;
      const eff = it.effective || {};
      render(summary, html`<dl class="facts" id="identity-facts">
        <dt>Name</dt><dd id="identity-fact-name">${it.name || '—'}</dd>
        <dt>Parent</dt><dd>${it.parent ? html`<a href="${identityHash(it.parent)}"><code>${it.parent}</code></a>` : 'top level'}</dd>
        <dt>Status</dt><dd id="identity-fact-status">${it.disabled ? html`<strong class="tag tag-off">disabled</strong>` : 'enabled'}</dd>
        <dt>Products</dt><dd>${list((it.products || []).map((p) => p.name))}${(eff.products || []).length
          ? html` <span class="muted">(effective: ${eff.products.join(', ')})</span>` : ''}</dd>
        <dt>Bizpacks</dt><dd>${list((it.bizpacks || []).map((b) => `${b.name}${b.priority ? ` (priority ${b.priority})` : ''}`))}</dd>
        <dt>Payment timeout</dt><dd>${it.paymentTimeout || 'inherited'}${eff.paymentTimeout ? ` (effective ${eff.paymentTimeout})` : ''}</dd>
        <dt>Resolution rules</dt><dd>${(it.rules || []).length ? html`<ul class="plain">${it.rules.map((r) => html`<li>${ruleText(r)}</li>`)}</ul>` : 'none'}</dd>
        <dt>Revision</dt><dd>${it.revision ?? ''}</dd>
      </dl>
      <p><a id="identity-edit" class="button" href="${identityHash(code, 'edit')}">Edit ${code}</a></p>`);
    } catch (e) {
      render(summary, html`<p class="error-text" role="alert">Could not load ${code}: ${describe(e)}</p>`);
    }
  };
  const showTab = async () => {
    try {
      if (tab === 'plan') {
        const plan = await get(`/v1/admin/identities/${seg(code)}/plan`);
        render(body, html`<p>Products in force: ${list(plan.products)}. Payment timeout ${plan.paymentTimeout || '—'}.</p>
          ${planTable(plan)}`);
      } else if (tab === 'lifecycle') {
        const lc = await get(`/v1/admin/identities/${seg(code)}/lifecycle`);
        lifecycleSection(body, lc, { headingLevel: 3 });
      } else {
        // The identity's own audit: whoever may read the identity may read it.
        await auditTable(body, ctx, { targetType: 'identity', targetId: code, path: `/v1/admin/identities/${seg(code)}/audit`,
          headingLevel: 3 });
      }
    } catch (e) {
      render(body, html`<p class="error-text" role="alert">Could not load the ${tab}: ${describe(e)}</p>`);
    }
  };
  await Promise.all([showSummary(), showTab()]);
}

/** ruleText describes a resolution rule in words. */
export function ruleText(r) {
  const parts = [];
  if (r.channel) parts.push(`channel ${r.channel}`);
  if (r.category) parts.push(`category ${r.category}`);
  for (const [k, v] of Object.entries(r.buyer || {})) parts.push(`buyer ${k}=${v}`);
  return parts.length ? parts.join(' and ') : 'any order (no condition)';
}
