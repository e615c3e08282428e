// Accessible validation: a message next to each field (aria-invalid +
// aria-describedby) and an error summary whose entries move focus to the
// field they name.
import { Safe, html, render } from './html.js';

/** setFieldError marks the element with id fieldId invalid and shows message
 * in <p id="<fieldId>-error"> right after it (or after its label group). */
export function setFieldError(fieldId, message) {
  const field = document.getElementById(fieldId);
  if (!field) return;
  const errId = `${fieldId}-error`;
  let p = document.getElementById(errId);
  if (!p) {
    p = document.createElement('p');
    p.id = errId;
    p.className = 'field-error';
    const anchor = field.closest('.field, fieldset') || field;
    if (anchor === field) field.insertAdjacentElement('afterend', p);
    else anchor.appendChild(p);
  }
  p.textContent = message;
  field.setAttribute('aria-invalid', 'true');
  const ids = new Set((field.getAttribute('aria-describedby') || '').split(/\s+/).filter(Boolean));
  ids.add(errId);
  field.setAttribute('aria-describedby', [...ids].join(' '));
}

/** clearFieldErrors removes every field error inside root. */
export function clearFieldErrors(root) {
  for (const p of root.querySelectorAll('.field-error')) {
    const fieldId = p.id.replace(/-error$/, '');
    const field = document.getElementById(fieldId);
    if (field) {
      field.removeAttribute('aria-invalid');
      const ids = (field.getAttribute('aria-describedby') || '').split(/\s+/).filter((x) => x && x !== p.id);
      if (ids.length) field.setAttribute('aria-describedby', ids.join(' '));
      else field.removeAttribute('aria-describedby');
    }
    p.remove();
  }
}

/**
 * showSummary fills box with an error summary.
 * entries: [{message, field?}] — field is the id of the element to focus.
 * opts.focus: make it an alert and move focus to it (after a user action);
 * without it the summary is updated quietly (automatic checks).
 * opts.extra: Safe markup appended below the list (e.g. action buttons).
 * opts.level: the title's heading level, 2 (default) to 6, so that a
 * summary inside a subsection fits the page's outline.
 */
export function showSummary(box, title, entries, opts = {}) {
  if (!entries.length && !opts.extra) {
    hideSummary(box);
    return;
  }
  const level = Number.isInteger(opts.level) && opts.level >= 2 && opts.level <= 6 ? opts.level : 2;
  const h = new Safe(`h${level}`); // a checked number: safe as a tag name
  render(box, html`<${h} id="${box.id}-title">${title}</${h}>
    <ul>${entries.map((e) => (e.field
      ? html`<li><a href="#${e.field}" data-focus="${e.field}">${e.message}</a></li>`
      : html`<li>${e.message}</li>`))}</ul>${opts.extra || ''}`);
  box.hidden = false;
  box.classList.add('error-summary');
  box.setAttribute('aria-labelledby', `${box.id}-title`);
  box.tabIndex = -1;
  if (opts.focus) {
    box.setAttribute('role', 'alert');
    box.focus();
  } else {
    box.removeAttribute('role');
  }
}

export function hideSummary(box) {
  box.hidden = true;
  box.removeAttribute('role');
  box.removeAttribute('aria-labelledby'); // its title goes with the content
  box.replaceChildren();
}

// Links in summaries move focus to their field instead of changing the
// hash (which is the router's).
document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[data-focus]');
  if (!a) return;
  ev.preventDefault();
  const field = document.getElementById(a.dataset.focus);
  if (!field) return;
  const details = field.closest('details');
  if (details) details.open = true;
  field.scrollIntoView({ block: 'center' });
  field.focus();
});
