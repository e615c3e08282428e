// Safe HTML building and small formatting helpers shared by every page.
//
// Contract: html`...` escapes every interpolated value unless it is itself
// the result of html`` (or an array of such results). Text from the server
// (identity names, order data, error messages) therefore can never become
// markup. Never build markup by string concatenation outside html``.

/** Markup that is already safe to insert. */
export class Safe {
  constructor(s) { this.s = s; }
  toString() { return this.s; }
}

const escapes = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' };

/** escape turns any value into text safe inside an element or a quoted attribute. */
export function escape(v) {
  if (v === null || v === undefined || v === false) return '';
  return String(v).replace(/[&<>"'`]/g, (c) => escapes[c]);
}

function part(v) {
  if (v instanceof Safe) return v.s;
  if (Array.isArray(v)) return v.map(part).join('');
  return escape(v);
}

/** html is a tagged template: html`<p>${userText}</p>` → Safe. */
export function html(strings, ...values) {
  let out = strings[0];
  for (let i = 0; i < values.length; i++) out += part(values[i]) + strings[i + 1];
  return new Safe(out);
}

/** render replaces el's children with the Safe markup. */
export function render(el, safe) {
  el.innerHTML = part(safe);
  return el;
}

/** idPart makes a name usable inside an element id: anything but
 * letters, digits, '_' and '-' becomes '-' ("delivery.freight" → "delivery-freight"). */
export function idPart(name) {
  return String(name).replace(/[^A-Za-z0-9_-]/g, '-');
}

/** fmtTime shows an RFC 3339 time as "2024-05-01 12:00:03 UTC" inside a
 * <time> element: the same text in every browser locale. */
export function fmtTime(iso) {
  if (!iso) return html`<span class="muted">—</span>`;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return html`${iso}`;
  const text = d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  return html`<time datetime="${iso}">${text}</time>`;
}

/** fmtMoney shows minor units of a currency ("12345", "CNY" → "123.45 CNY"). */
export function fmtMoney(minor, currency) {
  if (minor === undefined || minor === null) return '—';
  let digits = 2;
  try {
    digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
  } catch { /* unknown currency code: assume 2 */ }
  const n = Number(minor) / 10 ** digits;
  return `${n.toFixed(digits)} ${currency || ''}`.trim();
}

/** yesNo renders a boolean for tables. */
export function yesNo(b) {
  return b ? 'yes' : 'no';
}

/** list joins names, or shows a dash for none. */
export function list(names) {
  return names && names.length ? names.join(', ') : '—';
}

/** json pretty-prints a value for <pre> blocks. */
export function json(v) {
  if (v === undefined || v === null) return 'null';
  return JSON.stringify(v, null, 2);
}
