// The browser terminal wsbridge serves with --pty. It speaks the terminal
// protocol (docs/terminal-protocol.md): binary messages carry terminal bytes
// both ways, text messages carry small JSON control messages.
import { Terminal } from '@xterm/xterm';
import { FitAddon } from '@xterm/addon-fit';
import { WebLinksAddon } from '@xterm/addon-web-links';
import { WebglAddon } from '@xterm/addon-webgl';
import { Unicode11Addon } from '@xterm/addon-unicode11';
import { fileTransfer } from './transfer.js';
import { loadImages } from './images.js';
import { allowClipboardWrites } from './clipboard.js';
import { addSearch } from './search.js';
import { addKeyBar, isTouch } from './keybar.js';
import '@xterm/xterm/css/xterm.css';
import './terminal.css';

// Acknowledge rendered output in batches of this many bytes, or sooner when
// everything written has been rendered. The server keeps at most its window
// unacknowledged (64 to 256 KiB, sized by the pace of these acks), so a flood
// never outruns the renderer, nor a slow link by much.
const ackBatch = 32 * 1024;
const encoder = new TextEncoder();

// byID finds an element of the page, or adds it: a custom page (--index)
// needs only to load terminal.js and terminal.css.
function byID(id) {
  let el = document.getElementById(id);
  if (!el) {
    el = document.createElement('div');
    el.id = id;
    document.body.append(el);
  }
  return el;
}

// storage runs f on the tab's storage, which a browser may refuse.
function storage(f) {
  try { return f(); } catch (e) { return null; }
}

async function main() {
  const container = byID('terminal');
  const statusBox = byID('wsbridge-status');
  statusBox.hidden = true;
  const query = location.search;
  let config = { options: {} };
  try {
    const resp = await fetch('terminal.json' + query, { cache: 'no-store', credentials: 'same-origin' });
    if (resp.ok) config = await resp.json();
  } catch (e) {
    // The defaults serve; the connection below says what is wrong.
  }

  // Options the URL asked for that the server refused (terminal.json lays
  // the allowed ones over --term-option).
  for (const w of config.warnings || []) console.warn('wsbridge: ignored from the URL: ' + w);
  // disableLeaveAlert, enableZmodem, enableTrzsz and clipboardWrite are the
  // page's, not xterm.js's.
  const { disableLeaveAlert, enableZmodem, enableTrzsz, clipboardWrite, ...options } = config.options || {};
  // ?watch=TOKEN watches someone's lasting terminal, read-only (the
  // server drops a watcher's input anyway).
  const watching = new URLSearchParams(location.search).has('watch');
  const readonly = !!config.readonly || watching;

  const term = new Terminal({
    fontFamily: 'ui-monospace, "DejaVu Sans Mono", "Noto Color Emoji", monospace',
    fontSize: 15,
    scrollback: 5000,
    cursorBlink: true,
    ...options,
    allowProposedApi: true, // unicode11
    disableStdin: readonly,
  });
  const fit = new FitAddon();
  term.loadAddon(fit);
  term.loadAddon(new WebLinksAddon());
  term.loadAddon(new Unicode11Addon());
  term.unicode.activeVersion = '11';
  loadImages(term);
  // A lasting terminal's replay (the output kept from before this client
  // came) is history: until the server's "replayed" message and xterm.js
  // has drawn what came before it, the page answers none of its queries
  // (ESC[6n, ESC[>c, OSC 52 reads: they would be typed into what runs
  // now), starts none of its transfers and makes none of its clipboard
  // writes.
  let replaying = false; // output that arrives now is the replay
  let quiet = false;     // the replay is not all drawn yet
  if (clipboardWrite) allowClipboardWrites(term, () => quiet);
  const search = addSearch(term);
  term.open(container);
  const keyBar = isTouch() && !readonly ? addKeyBar(term) : null;
  let renderer = 'dom';
  try {
    const webgl = new WebglAddon();
    webgl.onContextLoss(() => { webgl.dispose(); renderer = 'dom'; });
    term.loadAddon(webgl);
    renderer = 'webgl';
  } catch (e) {
    // No WebGL here: xterm.js keeps its DOM renderer.
  }
  fit.fit();
  term.focus();

  if (readonly) {
    const badge = byID('wsbridge-readonly');
    badge.textContent = 'Read-only';
    badge.title = 'What you type here is not sent: wsbridge serves this terminal read-only.';
  }

  // "Leave this page?" while a session you can type into is live: leaving
  // hangs up its program (unless the terminal lasts: then it runs on).
  const leaveAlert = !readonly && !disableLeaveAlert;
  const askBeforeLeaving = (ev) => { ev.preventDefault(); ev.returnValue = ''; };
  function setLive(live) {
    if (!leaveAlert || sessionID) live = false;
    if (live) window.addEventListener('beforeunload', askBeforeLeaving);
    else window.removeEventListener('beforeunload', askBeforeLeaving);
  }

  const fixedTitle = config.title || '';
  if (fixedTitle) document.title = fixedTitle;
  term.onTitleChange((t) => { if (!fixedTitle && t) document.title = t; });

  // Copy on select, as terminals do.
  term.onSelectionChange(() => {
    const text = term.getSelection();
    if (search.finding) return; // a match, not a copy
    if (text && navigator.clipboard) navigator.clipboard.writeText(text).catch(() => {});
  });

  let ws = null;
  let sessions = 0;     // started so far: a new one starts on a clean terminal
  let exited = null;    // the exit message of the session that ended
  let attempt = 0;      // reconnection attempts since the last good session
  let retryTimer = null;
  let unacked = 0, pendingWrites = 0;
  // A lasting terminal's (--linger) credentials, from its session message:
  // the id reattaches after a lost connection or a reload (the tab's
  // sessionStorage keeps it), the watch token makes the read-only link
  // others may watch with.
  const idKey = 'wsbridge-session:' + location.pathname;
  let sessionID = watching ? null : storage(() => sessionStorage.getItem(idKey)), watchURL = '';
  function keepID(id) {
    sessionID = id;
    if (!watching) storage(() => id ? sessionStorage.setItem(idKey, id) : sessionStorage.removeItem(idKey));
  }
  const watchersBox = byID('wsbridge-watchers');
  watchersBox.hidden = true;

  function showWatchers(count) {
    watchersBox.replaceChildren();
    if (count > 1) watchersBox.append(count + ' watching');
    if (watchURL && !watching) {
      const a = document.createElement('a');
      a.href = watchURL;
      a.target = '_blank';
      a.textContent = 'read-only link';
      a.title = 'Others can watch this terminal, read-only, from this link. Copy it to share it.';
      watchersBox.append(a);
    }
    watchersBox.hidden = watchersBox.childNodes.length === 0;
  }

  function send(obj) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(obj));
  }
  function sendBytes(bytes) {
    if (ws && ws.readyState === WebSocket.OPEN && !readonly) ws.send(bytes);
  }
  // rz/sz and trz/tsz (transfer.js). A transfer answers the program, so
  // none on a read-only page.
  const transfer = fileTransfer(term, {
    send: sendBytes, box: byID('wsbridge-transfer'),
    zmodem: !readonly && enableZmodem !== false,
    trzsz: !readonly && enableTrzsz !== false,
  });

  function showStatus(text, action) {
    statusBox.replaceChildren();
    if (!text) { statusBox.hidden = true; return; }
    const p = document.createElement('p');
    p.textContent = text;
    statusBox.append(p);
    if (action) {
      const b = document.createElement('button');
      b.textContent = action.label;
      b.addEventListener('click', action.run);
      statusBox.append(b);
    }
    statusBox.hidden = false;
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    exited = null;
    unacked = 0; pendingWrites = 0;
    replaying = quiet = false;
    transfer.reset();
    const url = new URL(location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.hash = '';
    if (sessionID) url.searchParams.set('session', sessionID);
    const sock = new WebSocket(url);
    ws = sock;
    sock.binaryType = 'arraybuffer';
    sock.onopen = () => {
      if (sessions++ > 0) term.reset();
      sock.send(JSON.stringify({ type: 'size', cols: term.cols, rows: term.rows, flow: true }));
      attempt = 0;
      setLive(true);
      showStatus('');
      term.focus();
    };
    sock.onmessage = (ev) => {
      if (typeof ev.data !== 'string') {
        const bytes = new Uint8Array(ev.data);
        pendingWrites++;
        const drawn = () => { // the bytes are drawn, or a transfer's
          pendingWrites--;
          unacked += bytes.length;
          if (sock === ws && (unacked >= ackBatch || pendingWrites === 0)) {
            send({ type: 'ack', bytes: unacked });
            unacked = 0;
          }
        };
        if (replaying) term.write(bytes, drawn);
        else transfer.output(bytes, drawn);
        return;
      }
      let msg;
      try { msg = JSON.parse(ev.data); } catch (e) { return; }
      if (msg.type === 'title' && !fixedTitle) document.title = msg.title;
      if (msg.type === 'exit') exited = msg;
      if (msg.type === 'session') {
        replaying = quiet = true; // until "replayed"
        keepID(msg.id || null);
        const u = new URL(location.href);
        u.hash = '';
        u.search = '';
        u.searchParams.set('watch', msg.watch);
        watchURL = u.href;
        setLive(true);
        showWatchers(1);
      }
      if (msg.type === 'watchers') showWatchers(msg.count);
      if (msg.type === 'replayed' && replaying) {
        replaying = false;
        // xterm.js parses later: live once what came before is parsed.
        term.write('', () => { if (sock === ws) quiet = false; });
      }
    };
    sock.onclose = (ev) => {
      if (sock !== ws) return;
      ws = null;
      replaying = quiet = false;
      setLive(false);
      const code = ev.code;
      if (exited || code === 1000 || code === 1011 || (code >= 4000 && code < 4400) || ev.reason === 'idle timeout') {
        // The program has ended: a new session is a new terminal.
        keepID(null); watchURL = '';
        showWatchers(0);
        const why = (exited && exited.reason) || ev.reason || 'code ' + code;
        // A watcher has nothing to start: the terminal it watched is gone.
        showStatus('The session ended: ' + why + '.', watching ? null : { label: 'Start a new session (Enter)', run: connect });
        return;
      }
      if (![1001, 1006, 1012, 1013, 1014].includes(code)) {
        // A refusal (policy, message size, protocol) will not mend itself.
        showStatus('Closed: ' + (ev.reason || 'code ' + code) + '.', { label: 'Try again', run: connect });
        return;
      }
      if (watching) { // the terminal may have ended meanwhile: no use retrying
        watchGone().then((gone) => { if (gone) showGone(); else retry(code); });
        return;
      }
      retry(code);
    };
  }

  // A watch link whose terminal has ended is refused (404), which a browser
  // hides from the page; terminal.json tells it instead.
  async function watchGone() {
    try {
      const resp = await fetch('terminal.json' + query, { cache: 'no-store', credentials: 'same-origin' });
      return resp.ok && !!(await resp.json()).gone;
    } catch (e) {
      return false; // unreachable: worth a retry
    }
  }
  function showGone() {
    showWatchers(0);
    showStatus('The terminal this link watched has ended.');
  }

  // retry dials again after a lost connection, waiting longer each time.
  function retry(code) {
    const why = code === 1001 ? 'the server went away' : 'the connection was lost';
    attempt++;
    const delay = Math.min(30, 2 ** (attempt - 1));
    let left = delay;
    const tick = () => {
      if (left <= 0) { showStatus('Reconnecting (attempt ' + attempt + ')…'); connect(); return; }
      showStatus('Disconnected: ' + why + '. Reconnecting in ' + left + ' s (attempt ' + attempt + ')…',
        { label: 'Reconnect now', run: connect });
      left--;
      retryTimer = setTimeout(tick, 1000);
    };
    tick();
  }

  term.onData((data) => {
    // xterm.js's answers are escape sequences; keys typed meanwhile go on
    // (but for arrows and the like, in the moment the replay is drawn).
    if (quiet && data.startsWith('\x1b')) return;
    if (keyBar) data = keyBar(data);
    if (transfer.input(data)) return;
    if (ws) { sendBytes(encoder.encode(data)); return; }
    if (data === '\r' && !retryTimer) connect(); // Enter starts a new session after an exit
  });
  term.onBinary((data) => {
    if (transfer.input(data)) return;
    const bytes = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) bytes[i] = data.charCodeAt(i) & 0xff;
    sendBytes(bytes);
  });
  term.onResize(({ cols, rows }) => send({ type: 'size', cols, rows }));

  let fitPending = false;
  new ResizeObserver(() => {
    if (fitPending) return;
    fitPending = true;
    requestAnimationFrame(() => { fitPending = false; fit.fit(); });
  }).observe(container);

  // For scripts and tests driving the page.
  window.wsbridge = {
    term,
    get connected() { return ws !== null && ws.readyState === WebSocket.OPEN; },
    get renderer() { return renderer; },
    get transferring() { return transfer.active; },
    get watchURL() { return watchURL; }, // a lasting terminal's read-only link
    get replayed() { return !quiet; }, // a lasting terminal's replay is drawn
  };
  if (watching && config.gone) showGone();
  else connect();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', main);
else main();
