// ZMODEM (lrzsz's rz and sz) on the page, with zmodem.js: its Sentry finds
// a session's start in the output, and the session then takes the output
// until it ends. rz asks the page for files to send; what sz sends is saved
// as a download.
import Zmodem from 'zmodem.js/src/zmodem_browser';

// zmodem.js holds its input as arrays of numbers and appends with
// push.apply, which overflows the stack on a message of a few hundred KiB:
// it is fed in slices.
const slice = 8192;

export class ZmodemTransfer {
  // ui: { write(bytes|string), send(Uint8Array), chooseFiles(what) →
  // Promise<File[]|null>, save(name, blobParts), ended() }.
  constructor(ui) {
    this.ui = ui;
    this.reset();
  }

  reset() {
    const { ui } = this;
    this.session = null;
    this.offer = null;
    // A session left behind (a new connection, an error) says nothing more.
    const sentry = this.sentry = new Zmodem.Sentry({
      to_terminal: (octets) => ui.write(Uint8Array.from(octets)),
      sender: (octets) => { if (this.sentry === sentry) ui.send(Uint8Array.from(octets)); },
      on_retract: () => {},
      on_detect: (detection) => this.start(detection.confirm()),
    });
  }

  get active() { return this.session !== null; }

  // claims says whether bytes are the ZMODEM layer's to read: during a
  // session all are; otherwise only output that holds a ZDLE (0x18), as the
  // header that starts a session does. Everything else goes straight to the
  // terminal, uncopied.
  claims(bytes) { return this.active || bytes.includes(0x18); }

  consume(bytes) {
    for (let i = 0; i < bytes.length; i += slice) {
      try {
        this.sentry.consume(bytes.subarray(i, i + slice));
      } catch (e) {
        // lrzsz's sz may end without the "OO" that should follow its ZFIN
        // (ttyd patches zmodem.js for it): the session is over, and what
        // follows is the shell's. Any other error is a broken session: it is
        // aborted. Either way the rest is the terminal's.
        const over = String(e).includes('after ZFIN');
        if (!over) console.warn('wsbridge: ZMODEM:', e);
        this.stop(!over);
        this.ui.write(bytes.subarray(over ? i : i + slice));
        return;
      }
    }
  }

  start(session) {
    this.session = session;
    session.on('session_end', () => {
      if (this.session !== session) return;
      this.session = null;
      this.ui.ended();
    });
    if (session.type === 'send') this.upload(session);
    else this.download(session);
  }

  // upload: rz waits for files; the page offers the file picker. No files
  // (the picker cancelled) ends the session cleanly, and rz with it.
  async upload(session) {
    const files = await this.ui.chooseFiles('rz');
    if (this.session !== session) return;
    try {
      if (files && files.length) {
        await Zmodem.Browser.send_files(session, files, {
          on_progress: (file, xfer) => this.progress(file.name, xfer.get_offset(), file.size),
          on_file_complete: () => this.ui.write('\r\n'),
        });
      }
      await session.close();
    } catch (e) {
      console.warn('wsbridge: ZMODEM upload:', e);
      this.stop(true);
    }
  }

  // download: each file sz offers is accepted and saved when complete.
  download(session) {
    session.on('offer', (offer) => {
      const { name, size } = offer.get_details();
      this.offer = offer;
      offer.on('input', () => this.progress(name, offer.get_offset(), size));
      offer.accept().then((parts) => {
        this.ui.write('\r\n');
        if (!offer.skipped) this.ui.save(name, parts);
      }).catch((e) => console.warn('wsbridge: ZMODEM download:', e))
        .finally(() => { if (this.offer === offer) this.offer = null; });
    });
    session.start();
  }

  // cancel: Ctrl+C during a session. An offer being received is skipped
  // (sz goes on to the next file or ends); anything else is aborted.
  cancel() {
    const s = this.session;
    if (!s) return;
    if (this.offer && !this.offer.skipped) {
      this.offer.skipped = true;
      try { this.offer.skip(); return; } catch (e) { /* between files: abort */ }
    }
    this.stop(true);
  }

  // stop ends the session, telling the program (abort) or not, and starts
  // over with a new Sentry.
  stop(abort) {
    const s = this.session;
    if (s && abort) {
      try { s.abort(); } catch (e) { /* already over */ }
    }
    this.reset();
    if (s) this.ui.ended();
  }

  // progress shows how far a file has come, on one line, when its percent
  // changes.
  progress(name, done, size) {
    const shown = `${name}: ${size ? Math.floor((100 * done) / size) : 100}% of ${human(size)}`;
    if (shown === this.shown) return;
    this.shown = shown;
    this.ui.write(`\r\x1b[2K${shown}`);
  }
}

function human(n) {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : String(n)) + ' ' + units[i];
}
