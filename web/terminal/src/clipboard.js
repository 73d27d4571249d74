// OSC 52: the program puts text on the clipboard (tmux, vim and neovim
// over ssh do so for "yank"). Only writes: a program's request to read the
// clipboard (OSC 52 ;c;?) gets an empty answer, so nothing the user copied
// elsewhere leaves the browser behind their back. The page loads this only
// when the server allows it (--term-option clipboardWrite=true).
import { ClipboardAddon } from '@xterm/addon-clipboard';

// muted() says the output being drawn is a replay (history): its writes
// were made once already.
const writeOnly = (muted) => ({
  readText() { return ''; },
  writeText(selection, text) {
    if (muted()) return;
    // "c" (or nothing, which xterm reads as the default) is the clipboard;
    // a browser has no primary or cut buffers.
    if (selection !== '' && !selection.includes('c')) return;
    if (!navigator.clipboard) return;
    // Browsers refuse while the page is not focused: the write is lost, the
    // terminal goes on.
    return navigator.clipboard.writeText(text).catch((e) => console.warn('wsbridge: OSC 52 clipboard write refused: ' + e));
  },
});

export function allowClipboardWrites(term, muted) {
  term.loadAddon(new ClipboardAddon(undefined, writeOnly(muted)));
}
