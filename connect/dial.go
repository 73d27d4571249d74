// Package connect is wsbridge's client, `wsbridge connect`: it turns a
// WebSocket back into a byte stream, either its own stdin and stdout (for ssh's
// ProxyCommand and pipelines) or each connection of a local TCP listener.
// Bytes travel in binary messages; --text sends a text message per line.
// When the server closes, the client's exit status says why: the remote
// program's own status from the exec bridge's close code, or one of the codes
// in exit.go for what went wrong on the way.
package connect

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/wire"
	xproxy "golang.org/x/net/proxy"
)

// Options say where to connect and how; main fills them from flags.
type Options struct {
	URL          *url.URL
	Header       http.Header // sent with the handshake: -H, credentials, Origin
	Subprotocols []string
	TLS          *tls.Config                      // for wss://; nil: Go's defaults
	Proxy        func(*url.URL) (*url.URL, error) // the HTTP proxy for a URL (nil result: direct); nil: always direct
	DialTimeout  time.Duration                    // TCP connect, proxy, TLS and handshake together
	Ping         time.Duration                    // ping the server this often (0: never)
	PingTimeout  time.Duration                    // with Ping: how long the server may stay silent after a ping
	Text         bool                             // a text message per input line, a line per message
	EOFWait      time.Duration                    // after the input's end, how long a server without the half-close may take to close first
	NoClose      bool                             // never close at the input's end: wait for the server
	Unix         string                           // dial this unix socket instead of the URL's host
	Log          *slog.Logger                     // Stdio's log lines (a Listener has its own); nil: none
	Reconnect    bool                             // try a failed dial again, with backoff (reconnect.go)
	ReconnectMax int                              // with Reconnect, retries in a row before giving up; 0: no limit
	TTY          bool                             // the terminal protocol of a --pty endpoint (tty.go)
	// Compression offers permessage-deflate; gorilla/websocket deflates
	// each message alone (no context takeover), with a compressor from a
	// shared pool, held while a message is written.
	Compression bool

	reattach string // with TTY: the lasting terminal's id a reconnect asks for
}

// writeBuffers hold a message while it is masked and sent, shared by every
// tunnel (idle ones hold none).
var writeBuffers = &sync.Pool{}

// Dial opens the WebSocket. halfClose says that the server takes close 4500
// as a half-close (wsbridge's server says so in its answer). Its errors are
// *Error, carrying the exit status for what failed (unreachable, TLS,
// refused, ...), or ctx's cause when ctx ended first.
func (o *Options) Dial(ctx context.Context) (ws *websocket.Conn, halfClose bool, err error) {
	parent := ctx
	if o.DialTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.DialTimeout)
		defer cancel()
	}
	// gorilla/websocket bounds the handshake by ctx's deadline but does not
	// see ctx end: without this an interrupt waits for a slow server.
	stop := func() bool { return true }
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := o.dialConn(ctx, network, addr)
		if err == nil {
			stop = context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
		}
		return conn, err
	}
	d := websocket.Dialer{
		NetDialContext:    dial,
		NetDialTLSContext: dial,
		Subprotocols:      o.Subprotocols,
		ReadBufferSize:    4 << 10, // frame headers; payloads are read past it
		WriteBufferSize:   64 << 10,
		WriteBufferPool:   writeBuffers,
		EnableCompression: o.Compression,
	}
	ws, resp, err := d.DialContext(ctx, o.URL.String(), o.Header)
	if !stop() && err == nil { // ctx ended as the handshake did
		ws.Close()
		err = context.Cause(ctx)
	}
	switch {
	case err != nil && parent.Err() != nil:
		return nil, false, context.Cause(parent)
	case err != nil:
		e := dialError(o.URL, err, resp)
		if ee, ok := e.(*Error); ok && isRetryable(ee, err) {
			return nil, false, retryable{ee}
		}
		return nil, false, e
	}
	return ws, resp.Header.Get(wire.HalfCloseHeader) == strconv.Itoa(int(wire.EndOfInput)), nil
}

// dialConn is gorilla/websocket's dial for ws:// and wss://: TCP (through
// the proxy if there is one), then TLS for wss:// here rather than in
// gorilla, so that the wireConn on top reads plain text.
func (o *Options) dialConn(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := o.dialTCP(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	if o.URL.Scheme != "wss" {
		return newWireConn(conn), nil
	}
	cfg := &tls.Config{}
	if o.TLS != nil {
		cfg = o.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = o.URL.Hostname()
	}
	tc := tls.Client(conn, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return newWireConn(tc), nil
}

// dialTCP reaches the server's address, through the proxy if there is one.
// The proxy is dialed here rather than by gorilla/websocket so that its
// answer (such as 407) keeps its status code and the dial its context.
func (o *Options) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	var nd net.Dialer
	var proxy *url.URL
	if o.Proxy != nil && o.Unix == "" {
		var err error
		if proxy, err = o.Proxy(o.URL); err != nil {
			return nil, &Error{Code: ExitUnreachable, Msg: "proxy: " + err.Error()}
		}
	}
	if o.Unix != "" {
		return nd.DialContext(ctx, "unix", o.Unix)
	}
	switch {
	case proxy == nil:
		return nd.DialContext(ctx, network, addr)
	case proxy.Scheme == "socks5" || proxy.Scheme == "socks5h":
		return dialSOCKS(ctx, &nd, proxy, addr)
	case proxy.Scheme != "http" && proxy.Scheme != "https":
		return nil, &Error{Code: ExitUsage, Msg: "proxy " + Shown(proxy) + ": want http://, https://, socks5:// or socks5h://"}
	}
	conn, err := nd.DialContext(ctx, network, proxyAddr(proxy))
	if err != nil {
		return nil, &proxyError{proxy: Shown(proxy), err: err}
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if proxy.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: proxy.Hostname(), MinVersion: tls.VersionTLS12})
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return nil, &proxyError{proxy: Shown(proxy), err: err}
		}
		conn = tc
	}
	if err := connectThrough(conn, proxy, addr); err != nil {
		conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, &proxyError{proxy: Shown(proxy), err: err}
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// proxyAddr is the proxy's host:port, 80, 443 or 1080 (SOCKS) when the URL
// has none.
func proxyAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	port := map[string]string{"https": "443", "socks5": "1080", "socks5h": "1080"}[u.Scheme]
	return net.JoinHostPort(u.Hostname(), cmp.Or(port, "80"))
}

// dialSOCKS reaches addr through a SOCKS5 proxy (golang.org/x/net/proxy),
// with the credentials of the proxy URL. socks5:// resolves the server's
// name here, socks5h:// lets the proxy do it (as curl reads them).
func dialSOCKS(ctx context.Context, nd *net.Dialer, proxy *url.URL, addr string) (net.Conn, error) {
	var auth *xproxy.Auth
	if u := proxy.User; u != nil {
		pass, _ := u.Password()
		auth = &xproxy.Auth{User: u.Username(), Password: pass}
	}
	if host, port, err := net.SplitHostPort(addr); err == nil && proxy.Scheme == "socks5" {
		ips, err := net.DefaultResolver.LookupHost(ctx, host)
		if err != nil {
			return nil, err
		}
		addr = net.JoinHostPort(ips[0], port)
	}
	d, err := xproxy.SOCKS5("tcp", proxyAddr(proxy), auth, nd)
	if err == nil {
		var conn net.Conn
		if conn, err = d.(xproxy.ContextDialer).DialContext(ctx, "tcp", addr); err == nil {
			return conn, nil
		}
	}
	// golang.org/x/net says why only in words: a refusal of our
	// credentials, or of the tunnel by the proxy's rules, is 77 like 407.
	msg := err.Error()
	refused := strings.Contains(msg, "authentication") || strings.Contains(msg, "not allowed by ruleset")
	return nil, &proxyError{proxy: Shown(proxy), err: err, refused: refused}
}

// connectThrough asks an HTTP proxy for a tunnel to addr (CONNECT), with
// Basic credentials from the proxy URL.
func connectThrough(conn net.Conn, proxy *url.URL, addr string) error {
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: http.Header{}}
	if u := proxy.User; u != nil {
		pass, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pass)))
	}
	if err := req.Write(conn); err != nil {
		return err
	}
	// The proxy says nothing after its answer until the server speaks, so a
	// buffered reader loses nothing here.
	resp, err := http.ReadResponse(bufio.NewReaderSize(&headReader{conn, maxHead}, 1024), req)
	switch {
	case errors.Is(err, errHeadTooLarge):
		return fmt.Errorf("its answer to CONNECT is too long: %w", err)
	case err != nil:
		return fmt.Errorf("no answer to CONNECT: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &proxyStatus{code: resp.StatusCode, status: resp.Status}
	}
	return nil
}

type proxyError struct {
	proxy   string
	err     error
	refused bool // our credentials, or the tunnel, were refused
}

func (e *proxyError) Error() string { return "proxy " + e.proxy + ": " + e.err.Error() }
func (e *proxyError) Unwrap() error { return e.err }

type proxyStatus struct {
	code   int
	status string
}

func (e *proxyStatus) Error() string { return "CONNECT answered " + e.status }

// Shown is the URL as errors and logs show it: without credentials or the
// query, which may carry a token (?access_token=).
func Shown(u *url.URL) string {
	v := *u
	v.User = nil
	if v.RawQuery != "" {
		v.RawQuery = "..."
	}
	return v.String()
}

// readBody is the start of a refused handshake's body, for the error line.
func readBody(resp *http.Response) string {
	if resp.Body == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return string(b)
}
