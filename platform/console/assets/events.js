// The event stream: what waits in the outbox and who relays it, NATS, the
// change-data-capture feed and webhook deliveries, from
// GET /v1/admin/events/status (admin.events.read). Refreshed every 10 s
// while the page is open.
import { describe, get } from './api.js';
import { html, render, fmtTime, yesNo } from './html.js';

const REFRESH_MS = 10000;

function age(seconds) {
  if (!seconds) return '0 s';
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${(seconds / 60).toFixed(1)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function labels(l) {
  const e = Object.entries(l || {});
  return e.length ? `{${e.map(([k, v]) => `${k}="${v}"`).join(', ')}}` : '';
}

/** eventsPage shows the event stream's state. */
export async function eventsPage(view, ctx) {
  ctx.title('Event stream');
  render(view, html`<h1>Event stream</h1>
    <p>Committed changes leave the platform through the outbox: a relay (one server at a time, by lease) publishes them
      to NATS JetStream and to webhooks; on PostgreSQL a change-data-capture feed may publish order changes too.</p>
    <div class="actions"><button type="button" id="events-refresh">Refresh</button>
      <span class="muted" id="events-at" role="status"></span></div>
    <div id="events-body"><p>Loading…</p></div>`);
  const body = view.querySelector('#events-body');
  const load = async () => {
    let s;
    try {
      s = await get('/v1/admin/events/status');
    } catch (e) {
      if (body.isConnected) render(body, html`<p class="error-text" role="alert" id="events-error">Could not read the event stream's state: ${describe(e)}</p>`);
      return;
    }
    if (!body.isConnected) return;
    const o = s.outbox;
    const late = o.oldestAgeSeconds > 60;
    view.querySelector('#events-at').textContent = `As read by ${s.node} at ${new Date(s.at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}.`;
    render(body, html`<section aria-labelledby="events-outbox-title"><h2 id="events-outbox-title">Outbox</h2>
        <dl class="facts" id="events-outbox">
          <dt>Backlog</dt><dd id="events-backlog">${o.backlog} event${o.backlog === 1 ? '' : 's'} not yet relayed</dd>
          <dt>Oldest waiting</dt><dd id="events-oldest-age" class="${late ? 'error-text' : ''}">${o.backlog ? html`${age(o.oldestAgeSeconds)} (committed ${fmtTime(o.oldest)})` : '—'}</dd>
        </dl>
        ${o.relays.length ? html`<div class="table-scroll"><table id="events-relays">
          <caption class="visually-hidden">Relay leases</caption>
          <thead><tr><th scope="col">Lease</th><th scope="col">Relay</th><th scope="col">Held</th><th scope="col">Until</th></tr></thead>
          <tbody>${o.relays.map((r) => html`<tr><th scope="row">${r.name}</th><td><code>${r.owner}</code></td><td>${yesNo(r.held)}</td>
            <td>${fmtTime(r.expiresAt)}</td></tr>`)}</tbody></table></div>`
          : html`<p id="events-relays" class="muted">No relay has taken the outbox's lease yet.</p>`}</section>
      <section aria-labelledby="events-nats-title"><h2 id="events-nats-title">NATS JetStream</h2>
        <p id="events-nats">${s.nats.configured ? html`This server publishes to NATS: <span class="tag ${s.nats.connected ? 'outcome-ok' : 'outcome-error'}">${s.nats.connected ? 'connected' : 'disconnected'}</span>`
          : 'This server publishes to no broker (started without --events): events go to in-process subscribers and webhooks only.'}</p></section>
      <section aria-labelledby="events-cdc-title"><h2 id="events-cdc-title">Change data capture</h2>
        ${s.cdc.configured ? html`<dl class="facts" id="events-cdc">
          <dt>Active</dt><dd>${yesNo(s.cdc.active)}</dd>
          <dt>Slot lag</dt><dd>${Math.round(s.cdc.slotLagBytes)} bytes of WAL</dd>
          <dt>Last lag</dt><dd>${age(s.cdc.lagSeconds)}</dd>
          <dt>Published</dt><dd>${s.cdc.published} (${s.cdc.duplicates} duplicates)</dd>
          <dt>Sessions</dt><dd>${s.cdc.sessions}</dd></dl>`
          : html`<p id="events-cdc" class="muted">This process runs no change-data-capture feed (it runs as <code>tmfd cdc</code>; see its metrics there).</p>`}</section>
      <section aria-labelledby="events-webhooks-title"><h2 id="events-webhooks-title">Webhooks</h2>
        ${s.webhooks.configured ? html`<dl class="facts" id="events-webhooks">
          <dt>Pending deliveries</dt><dd>${s.webhooks.pending}</dd>
          <dt>Oldest pending</dt><dd>${age(s.webhooks.oldestPendingSeconds)}</dd>
          <dt>Attempts</dt><dd>${Object.entries(s.webhooks.attempts).map(([k, v]) => `${k} ${v}`).join(', ') || 'none yet'}</dd></dl>
          <p><a href="#/webhooks">Open the webhooks</a></p>`
          : html`<p id="events-webhooks" class="muted">Webhook delivery does not run on this server.</p>`}</section>
      <section aria-labelledby="events-metrics-title"><h2 id="events-metrics-title">Metrics</h2>
        <details><summary>Every counter and gauge of the event stream on this server</summary>
        <div class="table-scroll"><table id="events-metrics">
          <caption class="visually-hidden">Metrics of this server</caption>
          <thead><tr><th scope="col">Metric</th><th scope="col" class="num">Value</th></tr></thead>
          <tbody>${s.metrics.map((m) => html`<tr><th scope="row"><code>${m.name}${labels(m.labels)}</code></th><td class="num">${m.value}</td></tr>`)}</tbody>
        </table></div></details></section>`);
  };
  view.querySelector('#events-refresh').addEventListener('click', load);
  const timer = setInterval(load, REFRESH_MS);
  ctx.onLeave(() => clearInterval(timer));
  await load();
}
