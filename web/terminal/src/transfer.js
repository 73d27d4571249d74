// File transfer in the terminal: ZMODEM (rz/sz) and trzsz (trz/tsz), found
// in the program's output as ttyd does. terminal.js hands every output
// message to output() and every key to input(); this module decides what is
// the terminal's and what a transfer's, asks for files, and saves downloads.
import { ZmodemTransfer } from './zmodem.js';
import { TrzszTransfer } from './trzsz.js';

const empty = new Uint8Array(0);
const sendPiece = 64 * 1024;

// fileTransfer sets up the protocols options turn on (both unless
// enableZmodem or enableTrzsz is false). send(Uint8Array) sends terminal
// input; box is the element the file picker shows in.
export function fileTransfer(term, { send, box, zmodem = true, trzsz = true }) {
  box.hidden = true;
  let picking = null; // resolves the file picker that is shown

  // chooseFiles shows the picker for what (the program asking) and resolves
  // to the files chosen, or null when cancelled.
  function chooseFiles(what) {
    return new Promise((resolve) => {
      const input = document.createElement('input');
      input.type = 'file';
      input.multiple = true;
      const cancel = document.createElement('button');
      cancel.textContent = 'Cancel';
      const p = document.createElement('p');
      p.textContent = what + ' is waiting for files to upload (Esc or Ctrl+C cancels).';
      const done = (files) => {
        if (picking !== done) return;
        picking = null;
        box.hidden = true;
        box.replaceChildren();
        setTimeout(() => term.focus()); // after the browser's own focus return from its picker
        resolve(files);
      };
      picking = done;
      input.addEventListener('change', () => done(input.files.length ? [...input.files] : null));
      input.addEventListener('cancel', () => done(null)); // the picker was dismissed
      cancel.addEventListener('click', () => done(null));
      box.onkeydown = (ev) => { if (ev.key === 'Escape' || (ev.ctrlKey && ev.key === 'c')) done(null); };
      box.replaceChildren(p, input, cancel);
      box.hidden = false;
      input.focus();
    });
  }

  // save offers bytes as a download of this name.
  function save(name, parts) {
    const url = URL.createObjectURL(new Blob(parts, { type: 'application/octet-stream' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  const ui = {
    write: (data) => term.write(data),
    // In pieces: trzsz sends up to 10 MB at once, and the server takes
    // messages up to --maxframesize (1 MiB by default).
    send: (bytes) => {
      for (let i = 0; i < bytes.length; i += sendPiece) send(bytes.subarray(i, i + sendPiece));
    },
    chooseFiles,
    save,
    ended: () => { if (picking) picking(null); },
  };
  const layers = [];
  if (trzsz) layers.push(new TrzszTransfer(term, ui));
  if (zmodem) layers.push(new ZmodemTransfer(ui));

  return {
    // active says whether a transfer is under way (or a picker shown).
    get active() { return picking !== null || layers.some((l) => l.active); },
    // output takes one message of output; done runs once the terminal has
    // rendered what of it is the terminal's, so the message is acknowledged
    // (flow control) whether it was drawn or read by a transfer.
    output(bytes, done) {
      // A transfer under way has it all (a file sz sends may hold trz's
      // announcement); otherwise the layer whose start it holds.
      const layer = layers.find((l) => l.active) || layers.find((l) => l.claims(bytes));
      if (!layer) {
        term.write(bytes, done);
        return;
      }
      layer.consume(bytes);
      term.write(empty, done); // after the writes consume made
    },
    // input takes what the user typed; it says true when a transfer took it
    // (Ctrl+C cancels one; other keys would corrupt it).
    input(data) {
      const layer = layers.find((l) => l.active);
      if (!layer) return false;
      if (data === '\x03') layer.cancel();
      return true;
    },
    // reset forgets transfers, for a new connection.
    reset() {
      if (picking) picking(null);
      for (const l of layers) l.reset();
    },
  };
}
