// Search in the scrollback: Ctrl+Shift+F opens a small box; typing finds
// as you go, Enter finds the next match up (older), Shift+Enter the next one
// down, Escape closes the box and goes back to the terminal.
import { SearchAddon } from '@xterm/addon-search';

const decorations = {
  matchBackground: '#5c4a00',
  matchOverviewRuler: '#c9a400',
  activeMatchBackground: '#c96a00',
  activeMatchColorOverviewRuler: '#ff8c00',
};

export function addSearch(term) {
  const search = new SearchAddon();
  term.loadAddon(search);

  const box = document.createElement('div');
  box.id = 'wsbridge-search';
  box.hidden = true;
  const input = document.createElement('input');
  input.type = 'search';
  input.placeholder = 'Search';
  input.setAttribute('aria-label', 'Search the terminal');
  input.autocomplete = 'off';
  input.spellcheck = false;
  const count = document.createElement('span');
  count.className = 'count';
  box.append(input, count);
  document.body.append(box);

  const options = (incremental) => ({ incremental, decorations });
  // finding is true while a match is being selected: the page's copy on
  // select leaves that selection alone.
  let finding = false;
  // Older matches are up: the first search goes backwards from the end.
  const find = (older, incremental = false) => {
    if (!input.value) { search.clearDecorations(); term.clearSelection(); count.textContent = ''; return; }
    finding = true;
    try {
      const found = older ? search.findPrevious(input.value, options(incremental)) : search.findNext(input.value, options(incremental));
      if (!found) count.textContent = 'none';
    } finally {
      finding = false;
    }
  };
  search.onDidChangeResults(({ resultIndex, resultCount }) => {
    if (resultCount === 0) count.textContent = input.value ? 'none' : '';
    else count.textContent = resultIndex >= 0 ? (resultIndex + 1) + '/' + resultCount : resultCount + '+';
  });

  function open() {
    box.hidden = false;
    const selected = term.getSelection();
    if (selected && !selected.includes('\n')) input.value = selected;
    input.select();
    input.focus();
  }
  function close() {
    box.hidden = true;
    search.clearDecorations();
    term.focus();
  }
  input.addEventListener('input', () => find(true, true));
  input.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') { ev.preventDefault(); find(!ev.shiftKey); }
    if (ev.key === 'Escape') { ev.preventDefault(); close(); }
  });
  // In the capture phase, before xterm.js takes the key for the program.
  window.addEventListener('keydown', (ev) => {
    if (ev.ctrlKey && ev.shiftKey && !ev.altKey && ev.code === 'KeyF') {
      ev.preventDefault();
      ev.stopPropagation();
      open();
    }
  }, true);

  return { open, close, get finding() { return finding; } };
}
