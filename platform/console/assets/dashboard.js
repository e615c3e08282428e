// Dashboard: live charts of this node's own series (GET /v1/admin/dashboard,
// action admin.dashboard.read): placed and paid orders, gross order value,
// refusals, API and extension latency, extension failures, event backlog,
// webhook failures, open breakers and the lowest stock. Charts are plain
// SVG drawn here (no library, no build step); each has a title, a text
// summary and a table of its series for screen readers and keyboard users.
import { describe, get, query } from './api.js';
import { html, idPart, render } from './html.js';

/** ranges offered; the API accepts exactly these. */
const ranges = [
  { value: '15m', label: '15 minutes' },
  { value: '1h', label: '1 hour' },
  { value: '6h', label: '6 hours' },
  { value: '24h', label: '24 hours' },
];

/** how often the page asks for new samples (the server samples every 10 s). */
const pollMs = 5000;

// Chart geometry in SVG user units (the SVG scales to its box).
const W = 640;
const H = 200;
const PAD = { left: 56, right: 12, top: 12, bottom: 28 };
/** series colours: classes in dashboard.css (no inline style under the CSP). */
const COLOURS = 8;

/** fmt shows a number with at most 3 significant digits after thousands. */
function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '—';
  const a = Math.abs(v);
  if (a >= 1000) return Math.round(v).toLocaleString('en');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a === 0) return '0';
  return v.toPrecision(2);
}

/** axis shows a grid value briefly: 2.5k, 1.2M. */
function axis(v) {
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  return fmt(v);
}

/** niceMax rounds a maximum up to 1, 2 or 5 × 10^n (at least 1). */
function niceMax(max) {
  if (!(max > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

function timeText(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString().slice(11, 19) + ' UTC';
}

/** pathOf draws one series; a null breaks the line. A lone point is a dot. */
function pathOf(values, x, y) {
  let d = '';
  let pen = false;
  values.forEach((v, i) => {
    if (v === null) {
      pen = false;
      return;
    }
    d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    const next = values[i + 1];
    if (!pen && (next === null || next === undefined)) d += `h0.1`; // a visible dot with round caps
    pen = true;
  });
  return d;
}

/** chart returns one panel's markup: heading, SVG, summary and table. */
function chart(panel, timestamps, step) {
  const id = idPart(panel.id);
  const series = panel.series || [];
  const all = series.flatMap((s) => s.values.filter((v) => v !== null));
  const max = all.length ? Math.max(...all) : 0;
  const top = niceMax(max);
  const n = Math.max(timestamps.length, 2);
  const x = (i) => PAD.left + (i * (W - PAD.left - PAD.right)) / (n - 1);
  const y = (v) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  const grid = [0, top / 2, top].map((g) => html`<g class="dash-grid">
      <line x1="${PAD.left}" x2="${W - PAD.right}" y1="${y(g).toFixed(1)}" y2="${y(g).toFixed(1)}"></line>
      <text x="${PAD.left - 6}" y="${(y(g) + 4).toFixed(1)}" text-anchor="end">${axis(g)}</text></g>`);
  const first = timestamps.length ? timeText(timestamps[0]) : '';
  const last = timestamps.length ? timeText(timestamps[timestamps.length - 1]) : '';
  const lines = series.map((s, i) => {
    const smax = Math.max(0, ...s.values.filter((v) => v !== null));
    return html`<path class="dash-line dash-c${i % COLOURS}" d="${pathOf(s.values, x, y)}"
      data-series="${s.name}" data-max="${smax}" data-last="${s.last === null ? '' : s.last}"></path>`;
  });
  const summary = series.length
    ? `${series.length} series over ${timestamps.length} samples every ${step}; highest ${fmt(max)} ${panel.unit}. ` +
      series.map((s) => `${s.name}: now ${fmt(s.last)}`).join('; ') + '.'
    : `No data in this range yet (${timestamps.length} samples).`;
  const rows = series.map((s, i) => {
    const vals = s.values.filter((v) => v !== null);
    return html`<tr><th scope="row"><span class="dash-key dash-c${i % COLOURS}" aria-hidden="true"></span>${s.name}</th>
      <td class="num">${fmt(s.last)}</td><td class="num">${fmt(vals.length ? Math.max(...vals) : null)}</td></tr>`;
  });
  return html`<section class="dash-panel" id="panel-${id}" aria-labelledby="panel-${id}-title">
    <h2 id="panel-${id}-title">${panel.title}</h2>
    <p class="hint" id="panel-${id}-unit">${panel.unit} · ${panel.description}</p>
    <svg id="chart-${id}" class="dash-chart" viewBox="0 0 ${W} ${H}" role="img" preserveAspectRatio="none"
      aria-labelledby="chart-${id}-title chart-${id}-desc" data-panel="${panel.id}" data-max="${max}"
      data-series-count="${series.length}" data-samples="${timestamps.length}">
      <title id="chart-${id}-title">${panel.title} (${panel.unit})</title>
      <desc id="chart-${id}-desc">${summary}</desc>
      ${grid}
      <text class="dash-time" x="${PAD.left}" y="${H - 8}">${first}</text>
      <text class="dash-time" x="${W - PAD.right}" y="${H - 8}" text-anchor="end">${last}</text>
      ${lines}
    </svg>
    ${series.length ? html`<table class="dash-table" id="table-${id}">
      <caption class="visually-hidden">${panel.title}: each series now and at its highest (${panel.unit})</caption>
      <thead><tr><th scope="col">Series</th><th scope="col" class="num">Now</th><th scope="col" class="num">Highest</th></tr></thead>
      <tbody>${rows}</tbody></table>`
    : html`<p class="muted" id="empty-${id}">No data in this range yet.</p>`}
  </section>`;
}

/** dashboardPage shows the charts and refreshes them every few seconds. */
export async function dashboardPage(view, ctx) {
  ctx.title('Dashboard');
  const asked = ctx.query.get('range');
  const range = ranges.some((r) => r.value === asked) ? asked : '1h';
  render(view, html`<h1>Dashboard</h1>
    <p>How this node is doing, from the series it keeps of its own metrics (every 10 s for the last hour, every
      minute for the last day). Each node charts its own; for the whole cluster use Prometheus and Grafana
      (docs/monitoring). The charts refresh every ${pollMs / 1000} seconds.</p>
    <form id="dashboard-form" class="filters" novalidate>
      <div class="field"><label for="dashboard-range">Range</label>
        <select id="dashboard-range">${ranges.map((r) =>
          html`<option value="${r.value}" ${r.value === range ? html`selected` : ''}>${r.label}</option>`)}</select></div>
      <p class="hint" id="dashboard-updated">Loading…</p>
    </form>
    <div id="dashboard-panels" class="dash-grid-panels"></div>`);
  view.querySelector('#dashboard-range').addEventListener('change', (ev) => {
    ctx.navigate(`#/dashboard${query({ range: ev.target.value })}`);
  });
  let timer = null;
  let stopped = false;
  ctx.onLeave(() => {
    stopped = true;
    clearTimeout(timer);
  });
  const panels = view.querySelector('#dashboard-panels');
  const updated = view.querySelector('#dashboard-updated');
  let failed = false;
  const load = async () => {
    try {
      const d = await get(`/v1/admin/dashboard${query({ range })}`);
      if (stopped || !view.isConnected) return;
      // Keep the focus where it was (the range selector) across refreshes.
      render(panels, html`${(d.panels || []).map((p) => chart(p, d.timestamps || [], d.step))}`);
      panels.dataset.samples = String((d.timestamps || []).length);
      updated.textContent = `Node ${d.node}: ${(d.timestamps || []).length} samples every ${d.step}; ` +
        `updated ${timeText(new Date().toISOString())}.`;
      if (failed) ctx.status('The dashboard is updating again.');
      failed = false;
    } catch (e) {
      if (stopped || !view.isConnected) return;
      if (!failed) ctx.status(`Could not update the dashboard: ${describe(e)}`, 'error');
      failed = true;
    }
    if (!stopped) timer = setTimeout(load, pollMs);
  };
  await load();
}
