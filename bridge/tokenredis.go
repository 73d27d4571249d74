package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/logging"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// TokenRedis finds targets in Redis, as websockify's TokenRedis plugin: one
// key per token (the namespace, a colon, the token), whose value is
// "host:port" or JSON {"host": "host:port"}; also {"host": "h", "port": N}
// and, as in token files, "unix_socket:/path". Every wsbridge instance that
// reads the same Redis routes a token alike, and a token set or deleted
// there counts within a second.
//
// Answers are cached briefly (a found token for 1 s, an unknown one for
// 250 ms), and concurrent lookups of one token share one query, so a burst
// of connections costs one round trip. A Redis that is down or slow fails
// each lookup within a second with a 503; nothing is cached then, so the
// first lookup after Redis is back succeeds.
type TokenRedis struct {
	Log *slog.Logger

	client    *redis.Client
	closeOnce sync.Once
	closeErr  error
	namespace string // with its colon, or ""
	where     string // Redis's address and database, for logs (no password)

	mu      sync.Mutex
	cache   map[string]cachedTarget
	flights map[string]*tokenFlight
}

// The cache's bounds: a found token is kept for redisHitTTL, an unknown one
// (or a bad value) for redisMissTTL, at most redisCacheMax of them, each key
// at most redisCacheKeyMax bytes (a URL may be long: 10,000 of them must not
// hold gigabytes).
const (
	redisHitTTL      = time.Second
	redisMissTTL     = 250 * time.Millisecond
	redisCacheMax    = 10000
	redisCacheKeyMax = 512
	// redisTimeout bounds a lookup: dial, write and read together.
	redisTimeout = time.Second
)

type cachedTarget struct {
	target Target
	err    error // errUnknownToken or errBadTokenValue
	until  time.Time
}

// tokenFlight is one query that concurrent lookups of its key wait for.
type tokenFlight struct {
	done   chan struct{}
	target Target
	err    error
}

var (
	errTokenStore = &HTTPError{Status: http.StatusServiceUnavailable, Message: "the token store is unavailable",
		Header: http.Header{"Retry-After": {"1"}}, Refusal: RefusedDialFailed}
	errBadTokenValue = &HTTPError{Status: http.StatusBadGateway, Message: "the token's target is not valid", Refusal: RefusedDialFailed}
)

// NewTokenRedis reads a source as websockify's --token-source for
// TokenRedis, host[:port[:db[:password[:namespace]]]] (a field may be
// "quoted" to hold colons), or a URL: redis://[[user]:password@]host[:port][/db],
// rediss:// for TLS, or unix:///path?db=N, each with ?namespace=NS.
// A non-empty password replaces the source's. Nothing is dialed until the
// first lookup.
func NewTokenRedis(source, password string, log *slog.Logger) (*TokenRedis, error) {
	opt, namespace, err := parseRedisSource(source)
	if err != nil {
		return nil, err
	}
	// go-redis prints to stderr; our own lines say what failed, in our format.
	redis.SetLogger(&logging.VoidLogger{})
	if password != "" {
		opt.Password = password
	}
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = redisTimeout, redisTimeout, redisTimeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = 1 // once more on a pooled connection that Redis closed
	opt.DialerRetries = 1
	opt.PoolTimeout = redisTimeout
	opt.Protocol = 2 // plain GETs; RESP2 speaks to every Redis, old ones too
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	where := opt.Addr
	if opt.Network == "unix" {
		where = "unix:" + opt.Addr
	}
	where += "/" + strconv.Itoa(opt.DB)
	if namespace != "" {
		namespace += ":"
	}
	return &TokenRedis{
		Log:       log,
		client:    redis.NewClient(opt),
		namespace: namespace,
		where:     where,
		cache:     map[string]cachedTarget{},
		flights:   map[string]*tokenFlight{},
	}, nil
}

func (t *TokenRedis) String() string {
	s := "Redis at " + t.where
	if t.namespace != "" {
		s += " (namespace " + strings.TrimSuffix(t.namespace, ":") + ")"
	}
	return s
}

// Close closes the connections to Redis; a lookup after it fails.
func (t *TokenRedis) Close() error {
	t.closeOnce.Do(func() { t.closeErr = t.client.Close() })
	return t.closeErr
}

// Target looks the token up: from the cache, from a query under way, or
// from Redis. A host name is looked up in lower case.
func (t *TokenRedis) Target(ctx context.Context, token string, host bool) (Target, error) {
	if host {
		token = strings.ToLower(token)
	}
	key := t.namespace + token
	t.mu.Lock()
	if c, ok := t.cache[key]; ok && time.Now().Before(c.until) {
		t.mu.Unlock()
		return c.target, c.err
	}
	if f, ok := t.flights[key]; ok {
		t.mu.Unlock()
		select {
		case <-f.done:
			return f.target, f.err
		case <-ctx.Done():
			return Target{}, errTokenStore // the client left; nobody reads this
		}
	}
	f := &tokenFlight{done: make(chan struct{})}
	t.flights[key] = f
	t.mu.Unlock()

	// Not the request's context: others may wait for this answer after the
	// first client left. The timeout bounds it anyway.
	f.target, f.err = t.query(key)
	t.mu.Lock()
	delete(t.flights, key)
	if f.err != errTokenStore && len(key) <= redisCacheKeyMax {
		t.remember(key, cachedTarget{target: f.target, err: f.err})
	}
	t.mu.Unlock()
	close(f.done)
	return f.target, f.err
}

// remember caches an answer. t.mu is held.
func (t *TokenRedis) remember(key string, c cachedTarget) {
	now := time.Now()
	if len(t.cache) >= redisCacheMax {
		for k, old := range t.cache {
			if !now.Before(old.until) {
				delete(t.cache, k)
			}
		}
		if len(t.cache) >= redisCacheMax {
			clear(t.cache) // a flood of distinct tokens: start again
		}
	}
	c.until = now.Add(redisMissTTL)
	if c.err == nil {
		c.until = now.Add(redisHitTTL)
	}
	t.cache[key] = c
}

// query asks Redis for key's target.
func (t *TokenRedis) query(key string) (Target, error) {
	ctx, cancel := context.WithTimeout(context.Background(), redisTimeout)
	defer cancel()
	value, err := t.client.Get(ctx, key).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return Target{}, errUnknownToken
	case err != nil:
		t.Log.Warn("token store unavailable", "redis", t.where, "err", err)
		return Target{}, errTokenStore
	}
	target, err := parseRedisTarget(value)
	if err != nil {
		// The token names the key to fix; the value may hold secrets.
		t.Log.Error("token store: bad value", "redis", t.where, "key", key, "err", err)
		return Target{}, errBadTokenValue
	}
	return target, nil
}

// parseRedisTarget reads a token's value as websockify does: JSON when it
// starts with "{", else "host:port" (or "unix_socket:/path").
func parseRedisTarget(value string) (Target, error) {
	value = strings.TrimSpace(value)
	if !strings.HasPrefix(value, "{") {
		return parseTarget(value)
	}
	var v struct {
		Host *string         `json:"host"`
		Port json.RawMessage `json:"port"`
	}
	if err := json.Unmarshal([]byte(value), &v); err != nil {
		return Target{}, errors.New("not valid JSON")
	}
	if v.Host == nil {
		return Target{}, errors.New(`JSON without "host"`)
	}
	if v.Port == nil {
		return parseTarget(*v.Host)
	}
	port := strings.Trim(string(v.Port), `"`) // 5900 or "5900"
	return parseTarget(net.JoinHostPort(*v.Host, port))
}

// parseRedisSource reads websockify's source string or a URL into go-redis
// options and a namespace.
func parseRedisSource(s string) (*redis.Options, string, error) {
	if strings.Contains(s, "://") {
		return parseRedisURL(s)
	}
	fields := splitSource(s)
	if len(fields) > 5 {
		return nil, "", fmt.Errorf("%q: want host[:port[:db[:password[:namespace]]]] or a redis:// URL", s)
	}
	fields = append(fields, make([]string, 5-len(fields))...)
	host, port, db, password, namespace := fields[0], fields[1], fields[2], fields[3], fields[4]
	if host == "" {
		return nil, "", fmt.Errorf("%q: no host: want host[:port[:db[:password[:namespace]]]] or a redis:// URL", s)
	}
	opt := &redis.Options{Network: "tcp", Password: password}
	if port == "" {
		port = "6379"
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return nil, "", fmt.Errorf("%q: %q is not a port (1-65535)", s, port)
	}
	opt.Addr = net.JoinHostPort(host, port)
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return nil, "", fmt.Errorf("%q: %q is not a database number", s, db)
		}
		opt.DB = n
	}
	return opt, namespace, nil
}

// splitSource splits at colons as websockify does: a field wrapped in
// double quotes ("first-ns:second-ns") keeps its colons.
func splitSource(s string) []string {
	var fields []string
	for {
		if len(s) > 1 && s[0] == '"' {
			if end := strings.IndexByte(s[1:], '"') + 1; end > 1 && (end+1 == len(s) || s[end+1] == ':') {
				fields = append(fields, s[1:end])
				if end+1 == len(s) {
					return fields
				}
				s = s[end+2:]
				continue
			}
		}
		field, rest, more := strings.Cut(s, ":")
		fields = append(fields, field)
		if !more {
			return fields
		}
		s = rest
	}
}

// parseRedisURL reads go-redis's URLs, less our ?namespace=.
func parseRedisURL(s string) (*redis.Options, string, error) {
	u, err := url.Parse(s)
	if err != nil {
		if strings.Contains(s, "@") {
			return nil, "", errors.New("not a valid URL") // the details may quote the password
		}
		return nil, "", fmt.Errorf("not a valid URL: %v", errors.Unwrap(err))
	}
	q := u.Query()
	namespace := q.Get("namespace")
	q.Del("namespace")
	u.RawQuery = q.Encode()
	opt, err := redis.ParseURL(u.String())
	if err != nil {
		return nil, "", errors.New(strings.TrimPrefix(err.Error(), "redis: "))
	}
	return opt, namespace, nil
}
