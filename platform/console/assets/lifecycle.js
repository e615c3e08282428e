// An identity's order lifecycle: a state diagram as inline SVG plus the same
// transitions as a table (the diagram's accessible equivalent) and the
// guards asked on every transition.
//
// Layout: a state's column is its BFS depth from the initial state (states
// not reachable from it go in a last column); within a column, states are
// ordered by the mean row of their predecessors to limit crossings. All
// transitions between one pair of states share one edge, labelled with
// their events. A state with no way out sits right of all its predecessors.
// Edges to the next column cross the gap; longer forward edges run under the
// diagram and edges back to an earlier column over it, each in its own
// lane; self-loops sit above their box. Labels are nudged up or down until
// they cover neither a box nor another label.
import { html } from './html.js';
import { originText } from './plan.js';

const NS = 'http://www.w3.org/2000/svg';
const BOX_H = 36;
const ROW_GAP = 48;
const CHAR_W = 7.4; // average glyph width of the 13px system font
const LABEL_CHAR_W = 6.6; // 12px labels
const MARGIN = 24;
const TOP = 56; // room for self-loops above the first row

function svgEl(tag, attrs = {}, text) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

const asList = (v) => (Array.isArray(v) ? v : v === undefined || v === null || v === '' ? [] : [v]);

/** layout computes the positions of states and the grouped edges. Exported for tests. */
export function layout(lc) {
  const states = new Map();
  for (const s of lc.states || []) states.set(s.name, { ...s });
  const edges = new Map(); // "from\u0000to" → {from, to, events: []}
  for (const t of lc.transitions || []) {
    for (const from of asList(t.from)) {
      for (const name of [from, t.to]) if (!states.has(name)) states.set(name, { name });
      const key = `${from}\u0000${t.to}`;
      if (!edges.has(key)) edges.set(key, { from, to: t.to, events: [] });
      if (!edges.get(key).events.includes(t.event)) edges.get(key).events.push(t.event);
    }
  }
  // BFS depth from the initial state.
  const depth = new Map();
  const order = [];
  const initial = states.has(lc.initial) ? lc.initial : [...states.keys()][0];
  if (initial !== undefined) {
    depth.set(initial, 0);
    const queue = [initial];
    while (queue.length) {
      const s = queue.shift();
      order.push(s);
      for (const e of edges.values()) {
        if (e.from === s && !depth.has(e.to)) {
          depth.set(e.to, depth.get(s) + 1);
          queue.push(e.to);
        }
      }
    }
  }
  const reachedMax = Math.max(0, ...depth.values());
  for (const name of states.keys()) {
    if (!depth.has(name)) {
      depth.set(name, reachedMax + 1);
      order.push(name);
    }
  }
  // A sink (a state with no way out, typically terminal) goes one column
  // right of its rightmost predecessor, so that every edge into it runs
  // forward instead of doubling back.
  for (const name of states.keys()) {
    const out = [...edges.values()].some((e) => e.from === name && e.to !== name);
    const preds = [...edges.values()].filter((e) => e.to === name && e.from !== name);
    if (!out && preds.length) depth.set(name, Math.max(...preds.map((e) => depth.get(e.from))) + 1);
  }
  const ncols = Math.max(...depth.values(), 0) + 1;
  const cols = Array.from({ length: ncols }, () => []);
  for (const name of order) cols[depth.get(name)].push(name);
  // Barycentre ordering, column by column.
  const row = new Map();
  cols[0].forEach((n, i) => row.set(n, i));
  for (let c = 1; c < ncols; c++) {
    const key = (n) => {
      const preds = [...edges.values()].filter((e) => e.to === n && row.has(e.from) && depth.get(e.from) < c);
      return preds.length ? preds.reduce((a, e) => a + row.get(e.from), 0) / preds.length : Infinity;
    };
    // Main-flow states first, then sinks; among sinks, those reached from
    // far left last, so that their edges come up from under the diagram
    // without crossing another box of the column.
    const sink = (n) => ([...edges.values()].some((e) => e.from === n && e.to !== n) ? 0 : 1);
    const far = (n) => [...edges.values()].filter((e) => e.to === n && depth.get(e.from) < c - 1).length;
    const keyed = cols[c].map((n, i) => ({ n, s: sink(n), f: sink(n) ? far(n) : 0, k: key(n), i }));
    keyed.sort((a, b) => a.s - b.s || a.f - b.f || a.k - b.k || a.i - b.i);
    cols[c] = keyed.map((x) => x.n);
    cols[c].forEach((n, i) => row.set(n, i));
  }
  // Column widths from the longest name; gaps from the longest label leaving the column.
  const widths = cols.map((names) => Math.max(110, ...names.map((n) => n.length * CHAR_W + 28)));
  const gaps = cols.map((_, c) => {
    const labels = [...edges.values()].filter((e) => depth.get(e.from) === c && depth.get(e.to) === c + 1)
      .map((e) => e.events.join(', ').length * LABEL_CHAR_W + 36);
    return Math.max(90, ...labels);
  });
  const pos = new Map();
  let x = MARGIN + 36; // room for the initial marker
  cols.forEach((names, c) => {
    names.forEach((n, r) => pos.set(n, { x, y: TOP + r * (BOX_H + ROW_GAP), w: widths[c], h: BOX_H, col: c, row: r }));
    x += widths[c] + gaps[c];
  });
  const rows = Math.max(1, ...cols.map((c) => c.length));
  return { states, edges: [...edges.values()], pos, initial, width: x - gaps[ncols - 1] + MARGIN,
    bodyHeight: TOP + rows * (BOX_H + ROW_GAP) - ROW_GAP };
}

function bezierAt(p0, p1, p2, p3, t) {
  const u = 1 - t;
  const f = (a, b, c, d) => u * u * u * a + 3 * u * u * t * b + 3 * u * t * t * c + t * t * t * d;
  return { x: f(p0.x, p1.x, p2.x, p3.x), y: f(p0.y, p1.y, p2.y, p3.y) };
}

/** diagram builds the <svg> element. idSuffix keeps marker ids unique per page. */
export function diagram(lc, idSuffix = '') {
  const L = layout(lc);
  const arrowId = `lc-arrow${idSuffix}`;
  const svg = svgEl('svg', { id: `lifecycle-svg${idSuffix}`, class: 'lifecycle', role: 'img',
    'aria-label': `Lifecycle diagram of ${lc.identity || 'this identity'}: ${L.states.size} states, `
      + `${(lc.transitions || []).length} transitions, starting at ${L.initial}. The table below lists every transition.`,
    xmlns: NS });
  svg.appendChild(svgEl('title', {}, `Lifecycle ${lc.name || ''} of ${lc.identity || ''}`.trim()));
  const defs = svgEl('defs');
  const marker = svgEl('marker', { id: arrowId, class: 'lc-arrow', viewBox: '0 0 10 10', refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
  marker.appendChild(svgEl('path', { d: 'M0,0 L10,5 L0,10 z' }));
  defs.appendChild(marker);
  svg.appendChild(defs);

  const edgeLayer = svgEl('g', { class: 'edges' });
  const labelLayer = svgEl('g', { class: 'edge-labels' });
  // Rectangles labels must not cover: the boxes, then each placed label.
  const taken = [...L.pos.values()].map((p) => ({ x: p.x - 2, y: p.y - 2, w: p.w + 4, h: p.h + 4 }));
  const overlaps = (r) => taken.some((t) => r.x < t.x + t.w && t.x < r.x + r.w && r.y < t.y + t.h && t.y < r.y + r.h);
  // placeLabel nudges a label up or down from where it wants to be until it is clear.
  const placeLabel = (text, at) => {
    const w = text.length * LABEL_CHAR_W + 6;
    for (const dy of [0, -14, 14, -28, 28, -42, 42]) {
      const r = { x: at.x - w / 2, y: at.y + dy - 11, w, h: 15 };
      if (!overlaps(r)) {
        taken.push(r);
        return { x: at.x, y: at.y + dy };
      }
    }
    return at;
  };
  // Routes: "next" = to the next column (a curve across the gap), "long" =
  // further right (under the diagram, in the bottom lanes), "back" = to an
  // earlier column (over it, in the top lanes), "down"/"up" = within a
  // column, "self" = a loop above the box.
  const kind = (e, a, b) => {
    if (e.from === e.to) return 'self';
    if (b.col === a.col + 1) return 'next';
    if (b.col > a.col) return 'long';
    if (b.col < a.col) return 'back';
    return b.row > a.row ? 'down' : 'up';
  };
  // spread spaces the ends of several edges along one side of a box.
  const spread = (list, e, from, len) => from + (len * (list.indexOf(e) + 1)) / (list.length + 1);
  const group = (key) => {
    const m = new Map();
    for (const e of L.edges) {
      const k = key(e);
      if (k) m.set(k, [...(m.get(k) || []), e]);
    }
    return m;
  };
  const kinds = new Map(L.edges.map((e) => [e, kind(e, L.pos.get(e.from), L.pos.get(e.to))]));
  const byX = (e, end) => L.pos.get(end === 'from' ? e.to : e.from).x;
  const nextIn = group((e) => (kinds.get(e) === 'next' ? `${e.to}` : ''));
  for (const l of nextIn.values()) l.sort((x, y) => L.pos.get(x.from).y - L.pos.get(y.from).y);
  const longIn = group((e) => (kinds.get(e) === 'long' ? e.to : ''));
  const longOut = group((e) => (kinds.get(e) === 'long' ? e.from : ''));
  for (const l of longIn.values()) l.sort((x, y) => byX(x, 'to') - byX(y, 'to'));
  for (const l of longOut.values()) l.sort((x, y) => byX(x, 'from') - byX(y, 'from'));
  let topLane = 0;
  let bottomLane = 0;
  let minY = 0;
  let maxY = L.bodyHeight;
  for (const e of L.edges) {
    const a = L.pos.get(e.from);
    const b = L.pos.get(e.to);
    const label = e.events.join(', ');
    let d;
    let lp;
    switch (kinds.get(e)) {
      case 'self': {
        const cx = a.x + a.w / 2;
        d = `M${cx - 12},${a.y} C${cx - 34},${a.y - 40} ${cx + 34},${a.y - 40} ${cx + 12},${a.y}`;
        lp = { x: cx, y: a.y - 34 };
        minY = Math.min(minY, a.y - 50);
        break;
      }
      case 'next': {
        const p0 = { x: a.x + a.w, y: a.y + a.h / 2 };
        const p3 = { x: b.x, y: spread(nextIn.get(e.to), e, b.y, b.h) };
        const dx = (p3.x - p0.x) / 2;
        const p1 = { x: p0.x + dx, y: p0.y };
        const p2 = { x: p3.x - dx, y: p3.y };
        d = `M${p0.x},${p0.y} C${p1.x},${p1.y} ${p2.x},${p2.y} ${p3.x},${p3.y}`;
        const mid = bezierAt(p0, p1, p2, p3, 0.5);
        lp = { x: mid.x, y: mid.y - 5 };
        break;
      }
      case 'long': {
        const lane = L.bodyHeight + 30 + 18 * bottomLane++;
        const p0 = { x: spread(longOut.get(e.from), e, a.x, a.w), y: a.y + a.h };
        const p3 = { x: spread(longIn.get(e.to), e, b.x, b.w), y: b.y + b.h };
        d = `M${p0.x},${p0.y} C${p0.x},${lane} ${p3.x},${lane} ${p3.x},${p3.y}`;
        const low = bezierAt(p0, { x: p0.x, y: lane }, { x: p3.x, y: lane }, p3, 0.5);
        lp = { x: low.x, y: low.y + 13 };
        maxY = Math.max(maxY, lane + 10);
        break;
      }
      case 'back': {
        const lane = TOP - 26 - 16 * topLane++;
        const p0 = { x: a.x + a.w / 2 + 8, y: a.y };
        const p3 = { x: b.x + b.w / 2 - 8, y: b.y };
        d = `M${p0.x},${p0.y} C${p0.x},${lane} ${p3.x},${lane} ${p3.x},${p3.y}`;
        const apex = bezierAt(p0, { x: p0.x, y: lane }, { x: p3.x, y: lane }, p3, 0.5);
        lp = { x: apex.x, y: apex.y - 4 };
        minY = Math.min(minY, lane - 24);
        break;
      }
      default: { // down or up within a column: a straight line, label beside it
        const down = kinds.get(e) === 'down';
        const x = a.x + a.w / 2 + (down ? -10 : 10);
        const y0 = down ? a.y + a.h : a.y;
        const y1 = down ? b.y : b.y + b.h;
        d = `M${x},${y0} L${x},${y1}`;
        lp = { x: x + (down ? -1 : 1) * (label.length * LABEL_CHAR_W / 2 + 6), y: (y0 + y1) / 2 + 4 };
      }
    }
    const path = svgEl('path', { d, class: `edge${e.from === e.to ? ' self' : ''}`, 'marker-end': `url(#${arrowId})` });
    path.dataset.from = e.from;
    path.dataset.to = e.to;
    edgeLayer.appendChild(path);
    lp = placeLabel(label, lp);
    labelLayer.appendChild(svgEl('text', { x: lp.x, y: lp.y, class: 'edge-label', 'text-anchor': 'middle' }, label));
    maxY = Math.max(maxY, lp.y + 6);
    minY = Math.min(minY, lp.y - 16);
  }

  const stateLayer = svgEl('g', { class: 'states' });
  for (const [name, s] of L.states) {
    const p = L.pos.get(name);
    const g = svgEl('g', { class: `state${s.terminal ? ' terminal' : ''}${name === L.initial ? ' initial' : ''}` });
    g.dataset.state = name;
    if (s.doc) g.appendChild(svgEl('title', {}, `${name}: ${s.doc}`));
    g.appendChild(svgEl('rect', { x: p.x, y: p.y, width: p.w, height: p.h, rx: 9, ry: 9 }));
    if (s.terminal) {
      g.appendChild(svgEl('rect', { x: p.x + 4, y: p.y + 4, width: p.w - 8, height: p.h - 8, rx: 6, ry: 6, class: 'inner' }));
    }
    g.appendChild(svgEl('text', { x: p.x + p.w / 2, y: p.y + p.h / 2 + 4.5, 'text-anchor': 'middle' }, name));
    stateLayer.appendChild(g);
  }
  // The initial marker: a dot with an arrow into the initial state.
  const ip = L.pos.get(L.initial);
  if (ip) {
    const cy = ip.y + ip.h / 2;
    edgeLayer.appendChild(svgEl('circle', { cx: ip.x - 30, cy, r: 6, class: 'initial-dot' }));
    edgeLayer.appendChild(svgEl('path', { d: `M${ip.x - 24},${cy} L${ip.x},${cy}`, class: 'edge',
      'marker-end': `url(#${arrowId})` }));
  }
  svg.append(edgeLayer, stateLayer, labelLayer);
  // Back-edge lanes may reach above the first row: the view box starts there.
  const height = maxY + MARGIN - minY;
  svg.setAttribute('viewBox', `0 ${Math.floor(minY)} ${Math.ceil(L.width)} ${Math.ceil(height)}`);
  svg.setAttribute('width', Math.ceil(L.width));
  svg.setAttribute('height', Math.ceil(height));
  return svg;
}

/** lifecycleSection renders the diagram, the transitions and states tables
 * and the guards into container; headingLevel is that of its sub-headings. */
export function lifecycleSection(container, lc, opts = {}) {
  const suffix = opts.idSuffix || '';
  const h = opts.headingLevel || 2;
  const heading = (text, id) => html([`<h${h} id="`, `">`, `</h${h}>`], id, text);
  const states = lc.states || [];
  const transitions = lc.transitions || [];
  const guards = lc.guards || [];
  container.innerHTML = html`
    <p>Lifecycle <strong>${lc.name || ''}</strong>${lc.revision ? html` at revision ${lc.revision}` : ''};
      it starts at <strong>${lc.initial}</strong>. Terminal states have a double border.</p>
    <div class="diagram-scroll" id="lifecycle-diagram${suffix}"></div>
    ${heading('Guards (asked on every transition)', `lifecycle-guards-title${suffix}`)}
    ${guards.length ? html`<ul id="lifecycle-guards${suffix}" class="guards">${guards.map((g) => html`<li>
        <code>${g.impl}</code> — <span class="tag layer-${g.layer}">${g.layer}</span> ${g.source}, from ${originText(g.origin)}</li>`)}</ul>`
      : html`<p id="lifecycle-guards${suffix}" class="muted">No order.guard implementation: a transition is allowed by the state machine alone.</p>`}
    ${heading('Transitions', `lifecycle-transitions-title${suffix}`)}
    <div class="table-scroll"><table id="lifecycle-table${suffix}">
      <caption class="visually-hidden">Transitions of lifecycle ${lc.name || ''}</caption>
      <thead><tr><th scope="col">Event</th><th scope="col">From</th><th scope="col">To</th>
        <th scope="col">Effects</th><th scope="col">Notes</th></tr></thead>
      <tbody>${transitions.map((t) => html`<tr><th scope="row"><code>${t.event}</code></th>
        <td>${asList(t.from).join(', ')}</td><td>${t.to}</td>
        <td>${(t.effects || []).length ? (t.effects || []).map((x) => html`<code>${typeof x === 'string' ? x : JSON.stringify(x)}</code> `) : '—'}</td>
        <td>${t.doc || ''}</td></tr>`)}</tbody>
    </table></div>
    ${heading('States', `lifecycle-states-title${suffix}`)}
    <div class="table-scroll"><table id="lifecycle-states${suffix}">
      <caption class="visually-hidden">States of lifecycle ${lc.name || ''}</caption>
      <thead><tr><th scope="col">State</th><th scope="col">Kind</th><th scope="col">Notes</th></tr></thead>
      <tbody>${states.map((s) => html`<tr><th scope="row">${s.name}</th>
        <td>${s.name === lc.initial ? 'initial' : s.terminal ? 'terminal' : 'intermediate'}</td><td>${s.doc || ''}</td></tr>`)}</tbody>
    </table></div>`.s;
  container.querySelector(`#lifecycle-diagram${suffix}`).appendChild(diagram(lc, suffix));
}
