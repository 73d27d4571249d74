package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gorilla/websocket"
	"github.com/wsbridge/wsbridge/wire"
)

// Exit statuses of `wsbridge connect` for what went wrong on the way (the
// README has the table). They come from sysexits.h, above the statuses
// programs commonly use, so that a remote program's own status (0-255 from
// the exec bridge, 128+N for a signal) passes through unchanged beside them.
const (
	ExitUsage       = 2  // a bad flag or argument
	ExitBackend     = 68 // the bridge answered but its backend did not: 502, 504, or a backend error later (1014)
	ExitUnreachable = 69 // no connection: refused, no such host, timeout, or the proxy could not connect
	ExitLost        = 74 // the session broke: no close frame, no answer to pings, or an error close code
	ExitBusy        = 75 // the server is full or done: 429, 503; try later
	ExitProtocol    = 76 // the server did not accept the WebSocket: 400, 404, not a WebSocket endpoint
	ExitRefused     = 77 // credentials or origin refused: 401, 403, or 407 from the proxy
	ExitTLS         = 78 // TLS failed: certificate not trusted, wrong name, expired, or handshake refused
)

// Error is how a session or a dial ended, with the exit status it means.
// Msg is empty when there is nothing to say (the remote program's status).
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// dialError names what failed in a dial, with its exit status.
func dialError(u *url.URL, err error, resp *http.Response) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	where := Shown(u)
	if resp != nil && errors.Is(err, websocket.ErrBadHandshake) {
		msg := fmt.Sprintf("%s answered %s", where, resp.Status)
		if body := strings.TrimSpace(readBody(resp)); body != "" {
			msg += ": " + strings.Join(strings.Fields(body), " ")
		}
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			return &Error{ExitRefused, msg}
		case http.StatusBadGateway, http.StatusGatewayTimeout:
			return &Error{ExitBackend, msg}
		case http.StatusTooManyRequests, http.StatusServiceUnavailable:
			return &Error{ExitBusy, msg}
		case http.StatusSwitchingProtocols:
			return &Error{ExitProtocol, msg + " without a valid WebSocket upgrade"}
		}
		return &Error{ExitProtocol, msg}
	}
	msg := fmt.Sprintf("%s: %v", where, err)
	if pe := (*proxyError)(nil); errors.As(err, &pe) && pe.refused {
		return &Error{ExitRefused, msg}
	}
	var ps *proxyStatus
	if errors.As(err, &ps) {
		switch ps.code { // tinyproxy refuses credentials with 401
		case http.StatusProxyAuthRequired, http.StatusUnauthorized, http.StatusForbidden:
			return &Error{ExitRefused, msg}
		}
		return &Error{ExitUnreachable, msg}
	}
	if isTLSError(err) {
		return &Error{ExitTLS, msg}
	}
	var ne net.Error
	var dns *net.DNSError
	var op *net.OpError
	var pe *proxyError
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return &Error{ExitUnreachable, where + ": timed out"}
	case errors.As(err, &dns), errors.As(err, &op) && op.Op == "dial", errors.As(err, &pe):
		return &Error{ExitUnreachable, msg}
	case errors.Is(err, errHeadTooLarge):
		return &Error{ExitProtocol, where + ": its answer to the handshake is too long: " + err.Error()}
	}
	return &Error{ExitProtocol, msg}
}

func isTLSError(err error) bool {
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		header   tls.RecordHeaderError
		op       *net.OpError
	)
	// crypto/tls reports the peer's alerts (a refused client certificate) as
	// an OpError "remote error".
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) ||
		errors.As(err, &verify) || errors.As(err, &header) ||
		errors.As(err, &op) && (op.Op == "remote error" || op.Op == "local error")
}

// closeError reads how the server ended a session: nil for a normal close,
// the remote program's status from the exec bridge's codes, ExitBackend for
// a failed backend, ExitLost for anything else.
func closeError(err error) error {
	e, ok := closeEnding(err)
	if !ok {
		var ne net.Error // gorilla/websocket hides the wrapped os.ErrDeadlineExceeded
		if errors.As(err, &ne) && ne.Timeout() {
			return &Error{ExitLost, "the server stopped answering pings"}
		}
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || connReset(err) {
			return &Error{ExitLost, "connection lost without a close frame"}
		}
		return &Error{ExitLost, "connection lost: " + err.Error()}
	}
	if e.Code == wire.NormalClosure || e.Code == wire.NoStatusReceived {
		return nil
	}
	if status, ok := e.Code.ExitStatus(); ok {
		return &Error{Code: status}
	}
	if sig, ok := e.Code.Signal(); ok {
		return &Error{Code: 128 + sig, Msg: "the remote program was killed: " + e.Reason}
	}
	if e.Code == wire.BadGateway {
		return &Error{ExitBackend, "the bridge's backend failed: " + e.Reason}
	}
	msg := fmt.Sprintf("the server closed the session with %d", e.Code)
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	return &Error{ExitLost, msg}
}

// closeEnding reads gorilla/websocket's close error in err's chain as the
// session's wire.Ending.
func closeEnding(err error) (wire.Ending, bool) {
	var ce *websocket.CloseError
	if !errors.As(err, &ce) {
		return wire.Ending{}, false
	}
	return wire.Ending{Code: wire.CloseCode(ce.Code), Reason: ce.Text}, true
}
