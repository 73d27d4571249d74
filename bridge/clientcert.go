package bridge

import (
	"net/http"
	"slices"
)

// clientCNAllowed checks a route's ClientCNs: the request must come with a
// client certificate that a listener verified and whose common name is in
// the list. Otherwise it answers 403 and says false. The check is the
// route's, not the TLS handshake's, since routes on one listener may name
// different clients.
func (h *routeHandler) clientCNAllowed(w http.ResponseWriter, r *http.Request) bool {
	if len(h.route.ClientCNs) == 0 {
		return true
	}
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		h.refused(w, RefusedClientCert, r, nil)
		http.Error(w, "a client certificate is required", http.StatusForbidden)
		return false
	}
	cn := r.TLS.PeerCertificates[0].Subject.CommonName
	if !slices.Contains(h.route.ClientCNs, cn) {
		h.refused(w, RefusedClientCert, r, nil)
		http.Error(w, "client certificate not allowed here", http.StatusForbidden)
		return false
	}
	return true
}
