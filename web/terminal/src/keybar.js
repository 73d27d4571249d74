// The key bar on phones and tablets: the keys a soft keyboard lacks (Esc,
// Tab, Ctrl, arrows) and those it hides on another page (| ~ /). Ctrl is
// sticky: tap it, then type a letter, as Ctrl+letter.

// isTouch says whether the main pointer is a finger: phones and tablets, not
// a laptop that also has a touch screen.
export function isTouch() {
  return window.matchMedia('(pointer: coarse)').matches;
}

const arrows = { up: 'A', down: 'B', right: 'C', left: 'D' };
const keys = [
  ['esc', 'Esc'], ['tab', 'Tab'], ['ctrl', 'Ctrl'],
  ['left', '←'], ['down', '↓'], ['up', '↑'], ['right', '→'],
  ['|', '|'], ['~', '~'], ['/', '/'],
];

// addKeyBar shows the bar and returns modify, which the page runs over
// every input before sending it: it applies a pending Ctrl.
export function addKeyBar(term) {
  const bar = document.createElement('div');
  bar.id = 'wsbridge-keybar';
  bar.setAttribute('role', 'toolbar');
  bar.setAttribute('aria-label', 'Keys');
  document.documentElement.classList.add('wsbridge-keybar');
  document.body.append(bar);

  let ctrl = null;
  const setCtrl = (on) => ctrl.setAttribute('aria-pressed', String(on));
  const ctrlOn = () => ctrl.getAttribute('aria-pressed') === 'true';

  for (const [key, label] of keys) {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = label;
    b.dataset.key = key;
    b.tabIndex = -1;
    if (key === 'ctrl') { ctrl = b; setCtrl(false); }
    // Keep the focus (and the soft keyboard) on the terminal.
    b.addEventListener('mousedown', (ev) => ev.preventDefault());
    b.addEventListener('click', () => {
      if (key === 'ctrl') setCtrl(!ctrlOn());
      else if (arrows[key]) {
        // Ctrl+arrow is CSI 1;5 X; plain arrows follow the program's cursor
        // key mode (DECCKM), as the keyboard's do.
        const seq = ctrlOn() ? '\x1b[1;5' : term.modes.applicationCursorKeysMode ? '\x1bO' : '\x1b[';
        setCtrl(false);
        term.input(seq + arrows[key]);
      } else term.input(key === 'esc' ? '\x1b' : key === 'tab' ? '\t' : key);
      term.focus();
    });
    bar.append(b);
  }

  // A soft keyboard should type what it shows: no autocorrection or
  // suggestions (xterm.js already turns off autocapitalize and spellcheck).
  term.textarea?.setAttribute('autocomplete', 'off');

  return function modify(data) {
    if (!ctrlOn()) return data;
    setCtrl(false);
    if (data.length !== 1) return data;
    // Ctrl+letter and Ctrl+@[\]^_ are the C0 controls; Ctrl+Space is NUL.
    const c = data.toUpperCase().charCodeAt(0);
    if (c >= 0x40 && c <= 0x5f) return String.fromCharCode(c & 0x1f);
    if (c === 0x20) return '\x00';
    if (c === 0x3f) return '\x7f'; // Ctrl+? is DEL
    return data;
  };
}
