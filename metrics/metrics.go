// Package metrics counts what a wsbridge server does, for Prometheus: it is
// a bridge.Observer over a registry of its own (never the global one), and
// serves that registry's text format.
//
// Every label value comes from a small bounded set: route names (the config
// file's, or the command line's one route), backend kinds, refusal reasons
// and close codes. Paths, clients and users never become labels.
package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/wsbridge/wsbridge/bridge"
)

// Metrics is the server's metrics; it implements bridge.Observer. Its
// methods may be called from many goroutines at once.
type Metrics struct {
	reg      *prometheus.Registry
	active   *prometheus.GaugeVec
	opened   *prometheus.CounterVec
	bytesIn  *prometheus.CounterVec
	bytesOut *prometheus.CounterVec
	closed   *prometheus.CounterVec
	refused  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	openTime *prometheus.HistogramVec
}

// New makes the metrics and registers them, with Go's and the process's
// collectors, in a registry of their own.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "wsbridge_sessions_active",
			Help: "WebSocket sessions open now.",
		}, []string{"route", "kind"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsbridge_sessions_total",
			Help: "WebSocket sessions opened (the backend opened and the client got 101).",
		}, []string{"route", "kind"}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsbridge_received_bytes_total",
			Help: "Message payload bytes from clients to backends, counted when each session ends.",
		}, []string{"route"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsbridge_sent_bytes_total",
			Help: "Message payload bytes from backends to clients, counted when each session ends.",
		}, []string{"route"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsbridge_sessions_ended_total",
			Help: `Sessions ended, by the close code wsbridge sent (4000+N: the program exited N; 4300+S: killed by signal S; "none": the client was gone first).`,
		}, []string{"route", "code"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsbridge_requests_refused_total",
			Help: `Requests answered with an error instead of a session or a page, by reason; route "" before a route was chosen (Host, no route matches).`,
		}, []string{"route", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wsbridge_session_duration_seconds",
			Help:    "How long sessions lasted, from the upgrade to the end.",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600},
		}, []string{"route", "kind"}),
		openTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "wsbridge_backend_open_seconds",
			Help:    "How long backends of sessions took to open: a program's spawn, a dial (with TLS and PROXY header). A pty's program starts later, at the first size.",
			Buckets: []float64{0.0002, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"route", "kind"}),
	}
	m.reg.MustRegister(m.active, m.opened, m.bytesIn, m.bytesOut, m.closed, m.refused, m.duration, m.openTime,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// AddRoute shows a route's series before its first session, at zero, so
// that a dashboard or an alert sees 0 rather than nothing.
func (m *Metrics) AddRoute(route, kind string) {
	m.active.WithLabelValues(route, kind)
	m.opened.WithLabelValues(route, kind)
	m.bytesIn.WithLabelValues(route)
	m.bytesOut.WithLabelValues(route)
}

// Registry is where the metrics are, to gather or to add to.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus's formats.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

func (m *Metrics) Refused(e bridge.RefusedEvent) {
	m.refused.WithLabelValues(e.Route, e.Reason.String()).Inc()
}

func (m *Metrics) Opened(e bridge.SessionEvent) {
	m.active.WithLabelValues(e.Route, e.Kind).Inc()
	m.opened.WithLabelValues(e.Route, e.Kind).Inc()
	m.openTime.WithLabelValues(e.Route, e.Kind).Observe(e.OpenTime.Seconds())
}

func (m *Metrics) Ended(e bridge.EndedEvent) {
	m.active.WithLabelValues(e.Route, e.Kind).Dec()
	m.bytesIn.WithLabelValues(e.Route).Add(float64(e.BytesIn))
	m.bytesOut.WithLabelValues(e.Route).Add(float64(e.BytesOut))
	m.closed.WithLabelValues(e.Route, codeLabel(e.CloseCode)).Inc()
	m.duration.WithLabelValues(e.Route, e.Kind).Observe(e.Duration.Seconds())
}

// codeLabel is a close code as a label: a code wsbridge sends (1000-4999),
// "none" when it sent none; anything else is "other", so the set stays
// bounded whatever a backend does.
func codeLabel(code int) string {
	switch {
	case code == 0:
		return "none"
	case code < 1000 || code > 4999:
		return "other"
	}
	return strconv.Itoa(code)
}
