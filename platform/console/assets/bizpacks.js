// Bizpacks: the plugins in force, their health and per-point latency, and
// the operator's actions: upload and promote a new binary, register one by
// its path on the server, restart, roll back to the standby version.
//
// A refresh updates the facts of each card in place, so what an operator is
// typing in a card's action fields (and where the focus is) survives it.
import { describe, get, request, seg } from './api.js';
import { html, idPart, render, fmtTime } from './html.js';
import { clearFieldErrors, setFieldError } from './forms.js';

const SHA_RE = /^[0-9a-fA-F]{64}$/;

export async function bizpacksPage(view, ctx) {
  ctx.title('Bizpacks');
  const canWrite = ctx.can('admin.bizpacks.write');
  render(view, html`<h1>Bizpacks</h1>
    <p>Business teams' plugins, each a separate process. A new version starts beside the running one and is put in
      force once healthy; the previous one stays up as the standby for a rollback.</p>
    <p><button type="button" id="bizpacks-refresh">Refresh</button></p>
    <div id="bizpacks-body"><p>Loading…</p></div>`);
  const body = view.querySelector('#bizpacks-body');
  const uploaded = new Map(); // name → {sha256, size} of the last upload, awaiting promotion

  async function refresh(announce) {
    let items;
    try {
      items = (await get('/v1/admin/bizpacks')).items || [];
    } catch (e) {
      render(body, html`<p class="error-text" role="alert">Could not load the bizpacks: ${describe(e)}</p>`);
      return;
    }
    if (!view.isConnected) return;
    if (!items.length) {
      render(body, html`<p id="bizpacks-none">No bizpack is configured on this server.</p>`);
      return;
    }
    body.querySelector(':scope > p')?.remove();
    const seen = new Set();
    for (const b of items) {
      const id = `bizpack-${idPart(b.name)}`;
      seen.add(`${id}-card`);
      let card = body.querySelector(`[id="${id}-card"]`);
      if (!card) {
        card = document.createElement('section');
        card.id = `${id}-card`;
        card.className = 'card';
        card.setAttribute('aria-labelledby', `${id}-title`);
        render(card, cardSkeleton(b, id, canWrite));
        body.appendChild(card);
        if (canWrite) wire(card, b.name, id);
      }
      render(card.querySelector(`[id="${id}-facts"]`), facts(b, id));
      render(card.querySelector(`[id="${id}-points-box"]`), pointsTable(b, id));
      const rb = card.querySelector(`[id="${id}-rollback"]`);
      if (rb) {
        rb.hidden = !b.standby;
        rb.textContent = b.standby ? `Roll back to ${b.standby}` : 'Roll back';
      }
    }
    for (const card of [...body.querySelectorAll(':scope > section.card')]) if (!seen.has(card.id)) card.remove();
    if (announce) ctx.status('Bizpacks refreshed.');
  }

  // result shows the outcome of an action in the card's live region.
  function result(id, message, isError) {
    const box = document.getElementById(`${id}-result`);
    if (!box) return;
    box.textContent = message;
    box.dataset.kind = isError ? 'error' : 'ok';
  }

  async function act(id, button, fn) {
    button.disabled = true;
    result(id, 'Working…');
    try {
      const msg = await fn();
      result(id, msg);
      await refresh(false);
    } catch (e) {
      result(id, describe(e), true);
    } finally {
      button.disabled = false;
    }
  }

  function wire(card, name, id) {
    const q = (suffix) => card.querySelector(`[id="${id}-${suffix}"]`);
    q('rollback').addEventListener('click', (ev) => act(id, ev.currentTarget, async () => {
      const v = (await request('POST', `/v1/admin/bizpacks/${seg(name)}/rollback`, { body: {} })).data;
      return `Rolled back: ${name} now runs version ${v.version}.`;
    }));
    q('restart').addEventListener('click', (ev) => act(id, ev.currentTarget, async () => {
      const v = (await request('POST', `/v1/admin/bizpacks/${seg(name)}/reload`, { body: {} })).data;
      return `Restarted: ${name} runs version ${v.version}.`;
    }));
    q('upload').addEventListener('click', (ev) => {
      clearFieldErrors(card);
      const file = q('file').files[0];
      if (!file) {
        setFieldError(`${id}-file`, 'Choose the binary file to upload.');
        q('file').focus();
        return;
      }
      act(id, ev.currentTarget, async () => {
        // The browser's own SHA-256 of the file goes along, so a binary
        // damaged on the way is refused, not stored (crypto.subtle exists in
        // secure contexts: https and localhost; elsewhere the server's sum
        // is shown for the operator to compare).
        const headers = {};
        if (globalThis.crypto && crypto.subtle) {
          const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', await file.arrayBuffer()));
          headers['X-Content-SHA256'] = Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
        }
        const up = (await request('PUT', `/v1/admin/bizpacks/${seg(name)}/binaries`, { body: file, headers })).data;
        uploaded.set(name, up);
        q('promote').hidden = false;
        q('promote').textContent = `Promote uploaded binary ${up.sha256.slice(0, 12)}…`;
        q('uploaded').textContent = `Uploaded ${file.name}: SHA-256 ${up.sha256}, ${up.size} bytes. It is not in force until promoted.`;
        return `Uploaded ${file.name} (${up.size} bytes). Press Promote to put it in force.`;
      });
    });
    q('promote').addEventListener('click', (ev) => {
      const up = uploaded.get(name);
      if (!up) return;
      act(id, ev.currentTarget, async () => {
        const v = (await request('POST', `/v1/admin/bizpacks/${seg(name)}/reload`, { body: { sha256: up.sha256 } })).data;
        uploaded.delete(name);
        q('promote').hidden = true;
        q('uploaded').textContent = '';
        return `Promoted: ${name} now runs version ${v.version}; the previous version is the standby.`;
      });
    });
    q('register-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      clearFieldErrors(card);
      const path = q('path').value.trim();
      const sha = q('sha256').value.trim();
      let bad = null;
      if (!SHA_RE.test(sha)) {
        setFieldError(`${id}-sha256`, 'Enter the SHA-256 of the binary: 64 hexadecimal characters (tmfctl bizpack sum prints it).');
        bad = `${id}-sha256`;
      }
      if (!path) {
        setFieldError(`${id}-path`, 'Enter the path of the binary on the server.');
        bad = `${id}-path`;
      }
      if (bad) {
        document.getElementById(bad).focus();
        return;
      }
      act(id, q('register'), async () => {
        const v = (await request('POST', `/v1/admin/bizpacks/${seg(name)}/reload`, { body: { path, sha256: sha } })).data;
        return `Registered and promoted: ${name} now runs version ${v.version}.`;
      });
    });
  }

  view.querySelector('#bizpacks-refresh').addEventListener('click', () => refresh(true));
  await refresh(false);
}

function cardSkeleton(b, id, canWrite) {
  return html`<h2 id="${id}-title">${b.name}</h2>
    <div id="${id}-facts"></div>
    <h3>Extension points</h3>
    <div id="${id}-points-box"></div>
    ${canWrite ? html`<h3>Actions</h3>
    <div id="${id}-result" class="result" role="status" aria-live="polite"></div>
    <div class="actions">
      <button type="button" id="${id}-rollback" hidden>Roll back</button>
      <button type="button" id="${id}-restart">Restart ${b.name}</button>
    </div>
    <div class="subform">
      <div class="field">
        <label for="${id}-file">New binary for ${b.name}</label>
        <p class="hint" id="${id}-file-hint">Upload stores it on the server; Promote then starts it and puts it in force.</p>
        <input type="file" id="${id}-file" aria-describedby="${id}-file-hint">
      </div>
      <div class="actions">
        <button type="button" id="${id}-upload">Upload</button>
        <button type="button" id="${id}-promote" class="primary" hidden>Promote</button>
      </div>
      <p id="${id}-uploaded" class="muted"></p>
    </div>
    <form class="subform" id="${id}-register-form" novalidate>
      <p class="subform-title">Or register a binary already on the server</p>
      <div class="field"><label for="${id}-path">Path on the server</label>
        <input id="${id}-path" autocomplete="off" spellcheck="false"></div>
      <div class="field"><label for="${id}-sha256">SHA-256</label>
        <p class="hint" id="${id}-sha256-hint">64 hexadecimal characters, as <code>tmfctl bizpack sum</code> prints.</p>
        <input id="${id}-sha256" autocomplete="off" spellcheck="false" aria-describedby="${id}-sha256-hint" class="code"></div>
      <button type="submit" id="${id}-register">Register and promote</button>
    </form>` : ''}`;
}

function facts(b, id) {
  return html`<dl class="facts">
    <dt>Version</dt><dd id="${id}-version">${b.version || '—'}</dd>
    <dt>Status</dt><dd id="${id}-status"><span class="tag status-${b.status}">${b.status}</span></dd>
    <dt>Breaker</dt><dd id="${id}-breaker"><span class="tag breaker-${b.breaker}">${b.breaker}</span></dd>
    <dt>Restarts</dt><dd id="${id}-restarts">${b.restarts}</dd>
    <dt>Process id</dt><dd id="${id}-pid">${b.pid || '—'}</dd>
    <dt>Standby version</dt><dd id="${id}-standby">${b.standby || 'none'}</dd>
    <dt>Round trips</dt><dd>${b.roundTrips ?? 0}</dd>
    <dt>Status since</dt><dd>${fmtTime(b.since)}</dd>
    ${b.lastError ? html`<dt>Last error</dt><dd id="${id}-last-error" class="error-text">${b.lastError}</dd>` : ''}
  </dl>`;
}

function pointsTable(b, id) {
  const pts = b.points || [];
  if (!pts.length) return html`<p class="muted" id="${id}-points">No calls recorded.</p>`;
  return html`<div class="table-scroll"><table id="${id}-points">
    <caption class="visually-hidden">Calls of ${b.name} per extension point</caption>
    <thead><tr><th scope="col">Point</th><th scope="col" class="num">Calls</th><th scope="col" class="num">Failures</th>
      <th scope="col" class="num">Error rate</th><th scope="col" class="num">p50 (µs)</th><th scope="col" class="num">p99 (µs)</th></tr></thead>
    <tbody>${pts.map((p) => html`<tr><th scope="row"><code>${p.point}</code></th>
      <td class="num">${p.calls}</td><td class="num">${p.failures}</td>
      <td class="num">${p.calls ? `${((100 * p.failures) / p.calls).toFixed(1)} %` : '—'}</td>
      <td class="num">${p.p50Micros}</td><td class="num">${p.p99Micros}</td></tr>`)}</tbody>
  </table></div>`;
}
