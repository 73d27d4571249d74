package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

// JWT accepts JSON Web Tokens signed with one key: an RSA or ECDSA public
// key (PEM: a public key or a certificate) for RS256/ES256 and their
// siblings, or a shared secret of at least 32 bytes for HS256. exp and nbf
// are checked when present; the audience when Audience is set. The subject
// becomes REMOTE_USER.
type JWT struct {
	key      any
	methods  []string
	audience string
	source   TokenSource
}

// NewJWT reads the key file. Its errors name the file and wrap what is
// wrong with it (errors.Unwrap), for a caller that names the file itself.
func NewJWT(keyFile, audience string, source TokenSource) (*JWT, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, errors.Unwrap(err))
	}
	j := &JWT{audience: audience, source: source}
	if block, _ := pem.Decode(data); block != nil {
		var pub any
		switch block.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(block.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(block.Bytes); err == nil {
				pub = c.PublicKey
			}
		default:
			err = fmt.Errorf("a PEM %q block; want a PUBLIC KEY or CERTIFICATE", block.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", keyFile, err)
		}
		switch pub.(type) {
		case *rsa.PublicKey:
			j.key, j.methods = pub, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
		case *ecdsa.PublicKey:
			j.key, j.methods = pub, []string{"ES256", "ES384", "ES512"}
		default:
			return nil, fmt.Errorf("%s: %w", keyFile, fmt.Errorf("a %T key; want RSA or ECDSA", pub))
		}
		return j, nil
	}
	secret := bytes.TrimRight(data, "\r\n")
	if len(secret) < 32 {
		return nil, fmt.Errorf("%s: %w", keyFile, fmt.Errorf("an HS256 secret must be at least 32 bytes, this one is %d", len(secret)))
	}
	j.key, j.methods = secret, []string{"HS256", "HS384", "HS512"}
	return j, nil
}

func (j *JWT) Name() string             { return "jwt" }
func (j *JWT) Challenge() string        { return `Bearer realm="wsbridge"` }
func (j *JWT) tokenSource() TokenSource { return j.source }

func (j *JWT) Check(r *http.Request) (Identity, error) {
	tok := j.source.token(r)
	if tok == "" {
		return Identity{}, errNoCredentials
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(j.methods)}
	if j.audience != "" {
		opts = append(opts, jwt.WithAudience(j.audience))
	}
	t, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return j.key, nil }, opts...)
	if err != nil {
		return Identity{}, err
	}
	sub, _ := t.Claims.GetSubject()
	return Identity{User: sub, Type: "Bearer"}, nil
}
