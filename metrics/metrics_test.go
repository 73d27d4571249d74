package metrics

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/wsbridge/wsbridge/bridge"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestEvents: refusals, sessions opened and ended move the counters, the
// gauge and the histograms of their labels, and nothing else.
func TestEvents(t *testing.T) {
	m := New()
	session := bridge.SessionEvent{Route: "cat", Client: "10.9.8.7:4242", Path: "/secret/path", User: "ann", Start: time.Now(), Kind: "exec", OpenTime: 2 * time.Millisecond}
	m.Refused(bridge.RefusedEvent{Reason: bridge.RefusedNotFound, Client: "10.9.8.7:4242", Path: "/nothing/here"})
	m.Refused(bridge.RefusedEvent{Reason: bridge.RefusedOrigin, Route: "cat", Client: "10.9.8.7:4242", Path: "/secret/path"})
	m.Refused(bridge.RefusedEvent{Reason: bridge.RefusedOrigin, Route: "cat", Client: "10.9.8.6:4242", Path: "/secret/path"})
	m.Opened(session)
	m.Opened(session)
	check := func(what string, got, want float64) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("active while two run", testutil.ToFloat64(m.active.WithLabelValues("cat", "exec")), 2)
	m.Ended(bridge.EndedEvent{SessionEvent: session, BytesIn: 5, BytesOut: 7, Duration: 1500 * time.Millisecond, CloseCode: 4003})
	m.Ended(bridge.EndedEvent{SessionEvent: session, BytesIn: 1, BytesOut: 2, Duration: time.Second})

	check("active", testutil.ToFloat64(m.active.WithLabelValues("cat", "exec")), 0)
	check("sessions", testutil.ToFloat64(m.opened.WithLabelValues("cat", "exec")), 2)
	check("bytes in", testutil.ToFloat64(m.bytesIn.WithLabelValues("cat")), 6)
	check("bytes out", testutil.ToFloat64(m.bytesOut.WithLabelValues("cat")), 9)
	check("ended 4003", testutil.ToFloat64(m.closed.WithLabelValues("cat", "4003")), 1)
	check("ended without a close frame", testutil.ToFloat64(m.closed.WithLabelValues("cat", "none")), 1)
	check("refused not found", testutil.ToFloat64(m.refused.WithLabelValues("", "not found")), 1)
	check("refused origin", testutil.ToFloat64(m.refused.WithLabelValues("cat", "origin")), 2)

	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	text := w.Body.String()
	for _, line := range []string{
		`wsbridge_session_duration_seconds_count{kind="exec",route="cat"} 2`,
		`wsbridge_session_duration_seconds_sum{kind="exec",route="cat"} 2.5`,
		`wsbridge_session_duration_seconds_bucket{kind="exec",route="cat",le="1"} 1`,
		`wsbridge_backend_open_seconds_count{kind="exec",route="cat"} 2`,
		`wsbridge_backend_open_seconds_bucket{kind="exec",route="cat",le="0.0025"} 2`,
		`wsbridge_backend_open_seconds_bucket{kind="exec",route="cat",le="0.001"} 0`,
		`wsbridge_requests_refused_total{reason="not found",route=""} 1`,
		"go_goroutines ",
		"process_open_fds ",
	} {
		if !strings.Contains(text, "\n"+line) {
			t.Errorf("no line %q in\n%s", line, text)
		}
	}
	// Labels are bounded: no path, client address or user is one.
	for _, s := range []string{"secret", "nothing", "10.9.8", "4242", "ann"} {
		if strings.Contains(text, s) {
			t.Errorf("%q appears in the metrics", s)
		}
	}
}

// TestCodeLabel: close codes wsbridge sends are labels as they are; none
// and anything out of range are one label each.
func TestCodeLabel(t *testing.T) {
	for code, want := range map[int]string{0: "none", 1000: "1000", 1001: "1001", 4000: "4000", 4309: "4309", 999: "other", 5000: "other", 65535: "other"} {
		if got := codeLabel(code); got != want {
			t.Errorf("codeLabel(%d) = %q, want %q", code, got, want)
		}
	}
}

// TestAddRoute: a route's series are there at zero before any session.
func TestAddRoute(t *testing.T) {
	m := New()
	m.AddRoute("term", "pty")
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range []string{
		`wsbridge_sessions_active{kind="pty",route="term"} 0`,
		`wsbridge_sessions_total{kind="pty",route="term"} 0`,
		`wsbridge_received_bytes_total{route="term"} 0`,
		`wsbridge_sent_bytes_total{route="term"} 0`,
	} {
		if !strings.Contains(w.Body.String(), "\n"+line+"\n") {
			t.Errorf("no line %q in\n%s", line, w.Body.String())
		}
	}
}

// BenchmarkSession is what metrics add to each session: its Opened and
// Ended, from 4 goroutines at once. Nothing is added per message or byte.
func BenchmarkSession(b *testing.B) {
	m := New()
	m.AddRoute("cat", "exec")
	e := bridge.EndedEvent{SessionEvent: bridge.SessionEvent{Route: "cat", Kind: "exec", OpenTime: time.Millisecond}, BytesIn: 100, BytesOut: 1000, Duration: time.Second, CloseCode: 1000}
	b.SetParallelism(2) // 2 cores: 4 goroutines
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Opened(e.SessionEvent)
			m.Ended(e)
		}
	})
}
