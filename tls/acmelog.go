package tls

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
)

// acmeProblems is the ACME client's transport: it passes every request on
// and logs why the CA refused a challenge. autocert keeps that to itself and
// ends with "no viable challenge type found", which tells nobody what to fix
// (a port not reachable, a proxy answering instead, DNS elsewhere).
type acmeProblems struct {
	next   http.RoundTripper
	log    *slog.Logger
	mu     sync.Mutex
	logged map[string]bool // challenge URLs already logged
}

// authzBody is what an ACME authorization says of its challenges (RFC 8555
// section 7.1.4); other responses have none.
type authzBody struct {
	Identifier struct{ Value string } `json:"identifier"`
	Challenges []struct {
		Type   string `json:"type"`
		URL    string `json:"url"`
		Status string `json:"status"`
		Error  *struct {
			Type   string `json:"type"`
			Detail string `json:"detail"`
		} `json:"error"`
	} `json:"challenges"`
}

func (a *acmeProblems) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.next.RoundTrip(req)
	if err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return resp, err
	}
	// What was read is handed on before the rest: the client reads the
	// body whole, however long, and sees any error of the rest.
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAuthzBody+1))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), resp.Body), resp.Body}
	var z authzBody
	if err != nil || len(body) > maxAuthzBody || json.Unmarshal(body, &z) != nil {
		return resp, nil
	}
	for _, c := range z.Challenges {
		if c.Status != "invalid" || c.Error == nil || a.seen(c.URL) {
			continue
		}
		a.log.Warn("ACME challenge failed", "domain", z.Identifier.Value, "challenge", c.Type, "problem", c.Error.Type, "detail", c.Error.Detail)
	}
	return resp, nil
}

// maxAuthzBody is more than any authorization takes; a longer body is not
// one, and is passed on unread.
const maxAuthzBody = 1 << 20

// seen notes a challenge as logged and says whether it was already.
func (a *acmeProblems) seen(url string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.logged[url] {
		return true
	}
	if len(a.logged) >= 1000 { // a long-lived server: forget the old ones
		clear(a.logged)
	}
	a.logged[url] = true
	return false
}
