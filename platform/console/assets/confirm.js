// An accessible confirmation: a modal <dialog> (focus moves into it and
// stays there, Escape cancels, focus returns to what opened it). Used
// before every action that moves money. No window.confirm: it cannot be
// styled, tested or read the same way in every browser.
import { html, render } from './html.js';

/**
 * confirmAction asks the question and resolves true (confirmed) or false.
 * opts: {title, text, yes, no}. Ids: confirm-dialog, confirm-title,
 * confirm-text, confirm-yes, confirm-no.
 */
export function confirmAction(opts) {
  const opener = document.activeElement;
  let dlg = document.getElementById('confirm-dialog');
  if (dlg) dlg.remove();
  dlg = document.createElement('dialog');
  dlg.id = 'confirm-dialog';
  dlg.className = 'confirm';
  dlg.setAttribute('aria-labelledby', 'confirm-title');
  dlg.setAttribute('aria-describedby', 'confirm-text');
  render(dlg, html`<h2 id="confirm-title">${opts.title}</h2>
    <p id="confirm-text">${opts.text}</p>
    <div class="actions"><button type="button" id="confirm-yes" class="primary">${opts.yes || 'Confirm'}</button>
      <button type="button" id="confirm-no">${opts.no || 'Cancel'}</button></div>`);
  document.body.appendChild(dlg);
  return new Promise((resolve) => {
    const done = (ok) => {
      if (dlg.open) dlg.close();
      dlg.remove();
      if (opener && opener.isConnected && opener.focus) opener.focus();
      resolve(ok);
    };
    dlg.querySelector('#confirm-yes').addEventListener('click', () => done(true));
    dlg.querySelector('#confirm-no').addEventListener('click', () => done(false));
    dlg.addEventListener('cancel', (ev) => { ev.preventDefault(); done(false); });
    dlg.showModal();
    dlg.querySelector('#confirm-no').focus(); // the safe choice first
  });
}
