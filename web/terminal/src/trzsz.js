// trzsz (trz and tsz) on the page, with trzsz's own filter: trz and tsz
// announce themselves with a magic line in the output, the filter answers,
// and output is the transfer's until it ends. The browser's File System
// Access pickers choose what trz uploads and where tsz saves; files dropped
// on the terminal are uploaded by a trz the filter types itself.
import { TrzszFilter } from 'trzsz';

const encoder = new TextEncoder();
const magic = encoder.encode('::TRZSZ:TRANSFER:');

// hasMagic says whether bytes hold trzsz's announcement.
function hasMagic(bytes) {
  for (let i = bytes.indexOf(magic[0]); i >= 0 && i + magic.length <= bytes.length; i = bytes.indexOf(magic[0], i + 1)) {
    let j = 1;
    while (j < magic.length && bytes[i + j] === magic[j]) j++;
    if (j === magic.length) return true;
  }
  return false;
}

export class TrzszTransfer {
  // ui: { write(bytes|string), send(Uint8Array) }.
  constructor(term, ui) {
    this.term = term;
    this.ui = ui;
    this.reset();
    term.onResize(({ cols }) => this.filter.setTerminalColumns(cols));
    const el = term.element;
    el.addEventListener('dragover', (ev) => ev.preventDefault());
    el.addEventListener('drop', (ev) => {
      ev.preventDefault();
      this.filter.uploadFiles(ev.dataTransfer.items).catch((e) => console.warn('wsbridge: trzsz upload:', e));
    });
  }

  // reset starts over with a new filter; one left behind (a transfer on a
  // connection that is gone) says nothing more.
  reset() {
    const { term, ui } = this;
    const old = this.filter;
    const filter = this.filter = new TrzszFilter({
      writeToTerminal: (data) => ui.write(typeof data === 'string' || data instanceof Uint8Array ? data : new Uint8Array(data)),
      // Its strings are ASCII; the terminal protocol's input is binary.
      sendToServer: (data) => {
        if (this.filter === filter) ui.send(typeof data === 'string' ? encoder.encode(data) : data);
      },
      terminalColumns: term.cols,
    });
    if (old) old.stopTransferringFiles();
  }

  get active() { return this.filter.isTransferringFiles(); }

  // claims says whether bytes are trzsz's to read: during a transfer all
  // are, and output that announces one.
  claims(bytes) { return this.active || hasMagic(bytes); }

  // consume hands output to the filter, which writes what is not the
  // transfer's to the terminal.
  consume(bytes) { this.filter.processServerOutput(bytes); }

  cancel() { this.filter.stopTransferringFiles(); }
}
