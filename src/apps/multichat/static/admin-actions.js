/**
 * The admin lists' action checkboxes, as Django 3.2's actions.js handles them:
 * the header's box ticks or unticks every row of the page, the counter says how
 * many are ticked, and once every row of a page is, on a list with more than the
 * page, "Select all N rooms" offers them all (select_across=1, which the server
 * reads as every row the list's search and lookups match), until a row is
 * unticked or "Clear selection" pressed. Ticking or unticking a row with Shift
 * held does the same to every row between it and the row ticked or unticked
 * before, as Django's does. Without it, rows are ticked one by one.
 */
(function () {
  'use strict';

  const form = document.getElementById('changelist-form');
  const bar = form?.querySelector('.actions');
  if (!form || !bar) return;
  const toggle = document.getElementById('action-toggle');
  const boxes = Array.from(form.querySelectorAll('input.action-select'));
  const counter = bar.querySelector('.action-counter');
  const across = bar.querySelector('input.select-across');
  const [all, question, clear] = ['.all', '.question', '.clear'].map((s) => bar.querySelector(s));

  function show(acrossAll) {
    const ticked = boxes.filter((box) => box.checked).length;
    across.value = acrossAll ? '1' : '0';
    counter.textContent = `${ticked} of ${boxes.length} selected`;
    counter.hidden = acrossAll;
    if (toggle) toggle.checked = boxes.length > 0 && ticked === boxes.length;
    for (const box of boxes) box.closest('tr')?.classList.toggle('selected', box.checked);
    if (!question) return;
    all.hidden = !acrossAll;
    clear.hidden = !acrossAll;
    question.hidden = acrossAll || ticked !== boxes.length;
  }

  toggle?.addEventListener('change', () => {
    for (const box of boxes) box.checked = toggle.checked;
    show(false);
  });
  // Django's actions.js follows Shift by keydown and keyup (Shift+Space on a
  // box); a click says itself whether Shift was held.
  let shiftPressed = false;
  for (const type of ['keydown', 'keyup'])
    document.addEventListener(type, (event) => (shiftPressed = event.shiftKey));
  let lastChecked = null;
  for (const box of boxes)
    box.addEventListener('click', (event) => {
      if ((event.shiftKey || shiftPressed) && lastChecked && lastChecked !== box) {
        const [from, to] = [boxes.indexOf(lastChecked), boxes.indexOf(box)].sort((a, b) => a - b);
        for (const other of boxes.slice(from, to + 1)) other.checked = box.checked;
      }
      lastChecked = box;
      show(false);
    });
  for (const box of boxes) box.addEventListener('change', () => show(false));
  question?.querySelector('button').addEventListener('click', () => show(true));
  clear?.querySelector('button').addEventListener('click', () => {
    for (const box of boxes) box.checked = false;
    show(false);
  });
  // Ticks a browser restores (back to the page) are counted.
  show(false);
})();
