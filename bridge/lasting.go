package bridge

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math"
	"net/http"
	"sync"

	"github.com/wsbridge/wsbridge/wire"
)

// Lasting terminals (Pty.Linger): each terminal is a Shared hub of one
// run, so a browser that goes away leaves its program running, its output
// kept in the hub's replay; the page comes back with the terminal's id and
// gets the replay and the live program. Others watch, read-only, with the
// terminal's watch token. Ids and tokens are credentials: random, looked up
// by their hash, and logged only as a short hash.

// lastingQueue is each client's queue of a lasting terminal, besides the
// scrollback a client that joins gets first: beyond it a client that does
// not keep up is dropped (1008 "too slow") beside one that does.
const lastingQueue = 256 << 10

// lastingPace is the least a lasting terminal's program writes ahead of
// its fastest client before it waits (more for one that reads more in a
// paceSample), as without Linger the terminal's flow control makes it
// wait: what is queued beyond the flow window is what a Ctrl-C cannot stop.
const lastingPace = 16 << 10

// defaultScrollback is Pty.Scrollback's 0.
const defaultScrollback = 1 << 20

// terminalReset (RIS) goes before a replay: a client's terminal starts
// clean and draws the screen again from what the program wrote.
var terminalReset = []byte("\x1bc")

// lastingTerms are a Pty's lasting terminals, by the hashes of their ids
// and watch tokens.
type lastingTerms struct {
	mu      sync.Mutex
	byID    map[[32]byte]*lastingTerm
	byWatch map[[32]byte]*lastingTerm
	retired bool   // the route is gone: terminals end with their last client
	onEmpty func() // after retired, called when the last terminal ended
	ended   bool   // the server is stopping
}

// lasting is t's terminals: its own, or those of the route it replaced.
func (t *Pty) lasting() *lastingTerms {
	if ts := t.terms.Load(); ts != nil {
		return ts
	}
	t.terms.CompareAndSwap(nil, &lastingTerms{})
	return t.terms.Load()
}

// handOver gives the lasting terminals of from, a route's backend, to to,
// the backend of the route that replaces it on a reload (the same name,
// or path), if both linger: the terminals run on, the programs they
// started with, and their ids and watch links reach them through to.
// It reports whether it did; from's Retire then leaves them alone.
func handOver(from, to Backend) bool {
	a, ok := from.(*Pty)
	b, ok2 := to.(*Pty)
	if !ok || !ok2 || a == b || a.Linger <= 0 || b.Linger <= 0 {
		return false
	}
	b.terms.Store(a.lasting())
	a.handed.Store(true)
	return true
}

// lastingTerm is one lasting terminal.
type lastingTerm struct {
	hub       *Shared
	id, watch string
	user      string // who started it (userOf): only they reattach
}

// label names a credential in log lines without giving it away.
func label(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:4])
}

// newSecret is 128 random bits, as text for a URL.
func newSecret() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// openLasting opens a session on a lasting terminal: the one the request's
// ?watch= names (read-only; an unknown token is 404), or the one its
// ?session= names if the same user started it and it still runs, or else a
// new one.
func (t *Pty) openLasting(r *http.Request) (Session, error) {
	q := r.URL.Query()
	terms := t.lasting()
	if token := q.Get(wire.WatchParam); token != "" {
		lt := terms.find(terms.byWatch, token)
		if lt == nil {
			return nil, errNoTerminal
		}
		s, err := lt.hub.join(joining{readOnly: true, hello: wire.Session{Watch: lt.watch}.Marshal(), preface: terminalReset, replayed: true})
		if err == errRunOver {
			return nil, errNoTerminal
		}
		if err != nil { // shutting down: 503, to come back later
			return nil, err
		}
		t.Log.Info("watching a terminal", "terminal", label(lt.id))
		return s, nil
	}
	if id := q.Get(wire.SessionParam); id != "" {
		if lt := terms.find(terms.byID, id); lt != nil && lt.user == userOf(r) {
			if s, err := lt.hub.join(lt.writer()); err == nil {
				t.Log.Info("reattached to a terminal", "terminal", label(lt.id))
				return s, nil
			}
		}
		// Gone (ended, expired, another server) or never ours: a new one.
	}
	sess, err := t.openOne(r)
	if err != nil {
		return nil, err
	}
	lt := &lastingTerm{id: newSecret(), watch: newSecret(), user: userOf(r)}
	scrollback := t.Scrollback
	if scrollback <= 0 {
		scrollback = defaultScrollback
	}
	lt.hub = &Shared{
		Backend:     &onceBackend{sess: sess},
		Framing:     Terminal,
		MaxMessage:  32 << 10,
		Linger:      t.Linger,
		Replay:      math.MaxInt,
		ReplayBytes: scrollback,
		Queue:       lastingQueue,
		Pace:        lastingPace,
		Slow:        SlowDrop,
		Once:        true,
		Watchers:    true,
		OneWriter:   t.OneWriter,
		RunEnded:    func() { terms.remove(lt) },
		Log:         t.Log,
	}
	if err := terms.add(lt, t.MaxTerminals); err != nil {
		sess.Stop()
		sess.Close()
		return nil, err
	}
	s, err := lt.hub.join(lt.writer())
	if err != nil { // it has not started: only End stops it
		terms.remove(lt)
		sess.Stop()
		sess.Close()
		return nil, err
	}
	return s, nil
}

// watchGone answers the page's terminal.json for a watch link whose
// terminal has ended with {"gone":true}: a browser does not show the page
// the handshake's 404, so the page would otherwise retry it for ever.
func watchGone(b Backend, w http.ResponseWriter, r *http.Request) bool {
	t, ok := b.(*Pty)
	token := r.URL.Query().Get(wire.WatchParam)
	if !ok || t.Linger <= 0 || token == "" || r.URL.Path != "/terminal.json" {
		return false
	}
	if terms := t.lasting(); terms.find(terms.byWatch, token) != nil {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = io.WriteString(w, `{"gone":true}`+"\n")
	return true
}

// errNoTerminal answers a watch token that names no running terminal.
var errNoTerminal = &HTTPError{Status: http.StatusNotFound, Message: "no such terminal: it has ended, or the link is wrong"}

// writer is how its writers join: with the id and the watch token.
func (lt *lastingTerm) writer() joining {
	return joining{hello: wire.Session{ID: lt.id, Watch: lt.watch}.Marshal(), preface: terminalReset, replayed: true}
}

func (ts *lastingTerms) find(m map[[32]byte]*lastingTerm, secret string) *lastingTerm {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return m[sha256.Sum256([]byte(secret))]
}

// errTooManyTerminals answers a new terminal beyond Pty.MaxTerminals.
var errTooManyTerminals = &HTTPError{Status: http.StatusTooManyRequests, Message: "too many terminals", Header: http.Header{"Retry-After": {"1"}}, Refusal: RefusedLimit}

// add registers a new terminal, unless the server is stopping or max
// (if not 0) run already.
func (ts *lastingTerms) add(lt *lastingTerm, max int) error {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	switch {
	case ts.ended:
		return busyError("shutting down")
	case max > 0 && len(ts.byID) >= max:
		return errTooManyTerminals
	}
	if ts.byID == nil {
		ts.byID, ts.byWatch = map[[32]byte]*lastingTerm{}, map[[32]byte]*lastingTerm{}
	}
	ts.byID[sha256.Sum256([]byte(lt.id))] = lt
	ts.byWatch[sha256.Sum256([]byte(lt.watch))] = lt
	if ts.retired {
		lt.hub.Retire(nil)
	}
	return nil
}

func (ts *lastingTerms) remove(lt *lastingTerm) {
	ts.mu.Lock()
	delete(ts.byID, sha256.Sum256([]byte(lt.id)))
	delete(ts.byWatch, sha256.Sum256([]byte(lt.watch)))
	ts.mu.Unlock()
	ts.doneIfEmpty()
}

// doneIfEmpty calls onEmpty, once, when the terminals are retired and the
// last has ended.
func (ts *lastingTerms) doneIfEmpty() {
	ts.mu.Lock()
	done := ts.onEmpty
	if !ts.retired || len(ts.byID) > 0 {
		done = nil
	}
	if done != nil {
		ts.onEmpty = nil
	}
	ts.mu.Unlock()
	if done != nil {
		done()
	}
}

func (ts *lastingTerms) all() []*lastingTerm {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	list := make([]*lastingTerm, 0, len(ts.byID))
	for _, lt := range ts.byID {
		list = append(list, lt)
	}
	return list
}

// Begin does nothing: lasting terminals start with their clients.
func (t *Pty) Begin() {}

// Retire stops the lasting terminals nobody watches; the others stop when
// their last client leaves, and then done is called. Terminals handed over
// to the route that replaced this one run on.
func (t *Pty) Retire(done func()) {
	if t.handed.Load() {
		done()
		return
	}
	ts := t.lasting()
	ts.mu.Lock()
	ts.retired, ts.onEmpty = true, done
	ts.mu.Unlock()
	for _, lt := range ts.all() {
		lt.hub.Retire(nil)
	}
	ts.doneIfEmpty()
}

// End stops every lasting terminal, after the server's sessions ended.
func (t *Pty) End() {
	ts := t.lasting()
	ts.mu.Lock()
	ts.ended = true
	ts.mu.Unlock()
	for _, lt := range ts.all() {
		lt.hub.End()
	}
}

// onceBackend opens one session, made before: a lasting terminal's
// program, opened for the request that started it.
type onceBackend struct {
	mu   sync.Mutex
	sess Session
}

func (b *onceBackend) Open(*http.Request) (Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sess
	b.sess = nil
	if s == nil {
		return nil, errRunOver
	}
	return s, nil
}
