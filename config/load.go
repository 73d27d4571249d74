package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsbridge/wsbridge/internal/size"
	"go.yaml.in/yaml/v3"
)

// Error is a bad config file: where, which key, and what is wrong.
type Error struct {
	File         string
	Line, Column int    // 0: not known
	Key          string // the key's path, such as routes[0].exec.command; empty for bad YAML
	Msg          string
}

// Error reads FILE:LINE:COLUMN: KEY: MSG, leaving out what is not known.
func (e *Error) Error() string {
	s := e.File
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
		if e.Column > 0 {
			s += ":" + strconv.Itoa(e.Column)
		}
	}
	if e.Key != "" {
		s += ": " + e.Key
	}
	return s + ": " + e.Msg
}

type pos struct{ line, column int }

// errorf makes an Error at key's value, or where its nearest enclosing key
// is when the file does not give key itself.
func (f *File) errorf(key, format string, args ...any) *Error {
	e := &Error{File: f.Path, Key: key, Msg: fmt.Sprintf(format, args...)}
	for k := key; k != ""; k = parentKey(k) {
		if p, ok := f.pos[k]; ok {
			e.Line, e.Column = p.line, p.column
			break
		}
	}
	return e
}

// parentKey is "routes[0]" for "routes[0].exec" and "routes" for "routes[0]".
func parentKey(k string) string {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return ""
	}
	return k[:i]
}

// has says whether the file gives key (null counts).
func (f *File) has(key string) bool {
	_, ok := f.pos[key]
	return ok
}

// New is the File an empty config file loads as: one listener on loopback
// port 8080, the defaults filled in, no routes. The command line starts
// from it (main's fileFromFlags) and fills in what its flags say.
func New() *File {
	f := &File{pos: map[string]pos{}}
	f.fill()
	return f
}

// Load reads a config file strictly, makes its relative paths relative to
// the file's folder and fills in defaults. It does not validate: see
// Validate.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: errors.Unwrap(err).Error()}
	}
	f := &File{Path: path, pos: map[string]pos{}}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil && err != io.EOF {
		return nil, yamlError(path, err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); err != io.EOF {
		if err != nil {
			return nil, yamlError(path, err)
		}
		return nil, &Error{File: path, Line: more.Line, Column: more.Column, Msg: "a second YAML document: give one"}
	}
	if len(root.Content) > 0 { // an empty file has no content
		d := decoder{f: f}
		if err := d.decode(root.Content[0], reflect.ValueOf(f).Elem(), ""); err != nil {
			return nil, err
		}
	}
	base, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	for _, p := range f.paths() {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(base, *p)
		}
	}
	f.fill()
	return f, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a YAML syntax error into an Error with its line.
func yamlError(path string, err error) *Error {
	e := &Error{File: path, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Msg = m[2]
	}
	return e
}

// paths are the fields that name files or folders, for Load to make
// relative ones relative to the file's folder. A command is one only when
// it holds a slash; otherwise PATH finds it.
func (f *File) paths() []*string {
	var ps []*string
	for i := range f.Listen {
		l := &f.Listen[i]
		ps = append(ps, &l.Unix)
		if t := l.TLS; t != nil {
			ps = append(ps, &t.ClientCA)
			for j := range t.Certs {
				ps = append(ps, &t.Certs[j].Cert, &t.Certs[j].Key)
			}
			if t.ACME != nil {
				ps = append(ps, &t.ACME.Cache)
			}
		}
	}
	settings := func(s *Settings) {
		a := &s.Auth
		ps = append(ps, &a.Htpasswd, &a.BearerTokenFile)
		if a.JWT != nil {
			ps = append(ps, &a.JWT.Key)
		}
		for j := range a.Basic {
			ps = append(ps, &a.Basic[j].PasswordFile)
		}
	}
	command := func(p *Program) {
		if strings.Contains(p.Command, "/") {
			ps = append(ps, &p.Command)
		}
	}
	dial := func(o *DialOptions) {
		if o.TLS != nil {
			ps = append(ps, &o.TLS.CA)
		}
	}
	settings(&f.Defaults)
	for i := range f.Routes {
		r := &f.Routes[i]
		settings(&r.Settings)
		ps = append(ps, &r.Static, &r.CGI)
		if r.Exec != nil {
			command(&r.Exec.Program)
			ps = append(ps, &r.Exec.Dir)
		}
		if r.PTY != nil {
			command(&r.PTY.Program)
			ps = append(ps, &r.PTY.Index, &r.PTY.Record)
		}
		if r.TCP != nil {
			dial(&r.TCP.DialOptions)
		}
		if r.Unix != nil {
			dial(&r.Unix.DialOptions)
			ps = append(ps, &r.Unix.Target)
		}
		if r.Tokens != nil {
			dial(&r.Tokens.DialOptions)
			ps = append(ps, &r.Tokens.File, &r.Tokens.PasswordFile)
		}
	}
	return ps
}

// fill sets the defaults of what the file leaves out: built-in ones, then
// for each route the defaults: section's.
func (f *File) fill() {
	if !f.has("listen") {
		f.Listen = []Listener{{}}
	}
	for i := range f.Listen {
		if l := &f.Listen[i]; l.Unix == "" && l.Systemd == "" && !f.has(fmt.Sprintf("listen[%d].port", i)) {
			l.Port = defaultPort
		}
	}
	f.fillSettings(&f.Defaults, "defaults")
	inherited := reflect.ValueOf(&f.Defaults).Elem()
	for i := range f.Routes {
		r := &f.Routes[i]
		key := fmt.Sprintf("routes[%d]", i)
		if r.Name == "" {
			r.Name = r.Path
		}
		f.fillSettings(&r.Settings, key)
		s := reflect.ValueOf(&r.Settings).Elem()
		for j, name := range fieldNames(s.Type()) {
			if !f.has(key + "." + name) {
				s.Field(j).Set(inherited.Field(j))
			}
		}
		if r.Exec != nil {
			f.fillProgram(&r.Exec.Program, key+".exec")
			if r.Exec.Framing == "" {
				r.Exec.Framing = "line"
			}
			if r.Exec.Stderr == "" {
				r.Exec.Stderr = "log"
			}
			if r.Exec.Shared != nil {
				r.Exec.Shared.Fill()
			}
		}
		if p := r.PTY; p != nil {
			f.fillProgram(&p.Program, key+".pty")
			if !f.has(key + ".pty.url_term_options") {
				p.URLTermOptions = defaultURLTermOptions()
			}
			if !f.has(key + ".pty.record_max") {
				p.RecordMax = defaultRecordMax
			}
			if p.Linger > 0 && !f.has(key+".pty.scrollback") {
				p.Scrollback = defaultScrollback
			}
			if p.Linger > 0 && p.Writers == "" {
				p.Writers = "all"
			}
		}
		for _, o := range []*DialOptions{dialOptions(r.TCP), dialOptions(r.Unix), tokenOptions(r.Tokens)} {
			if o != nil && !f.has(key+"."+r.Kind()+".dial_timeout") {
				o.DialTimeout = defaultDial
			}
		}
	}
}

func dialOptions(d *Dial) *DialOptions {
	if d == nil {
		return nil
	}
	return &d.DialOptions
}

func tokenOptions(t *Tokens) *DialOptions {
	if t == nil {
		return nil
	}
	return &t.DialOptions
}

func (f *File) fillSettings(s *Settings, key string) {
	if !f.has(key + ".max_message") {
		s.MaxMessage = defaultMaxMessage
	}
	if !f.has(key + ".auth.fail_delay") {
		s.Auth.FailDelay = defaultFailDelay
	}
	if !f.has(key + ".auth.fail_limit") {
		s.Auth.FailLimit = defaultFailLimit
	}
	if !f.has(key + ".auth.query") {
		s.Auth.Query = defaultAuthQuery
	}
}

func (f *File) fillProgram(p *Program, key string) {
	if !f.has(key + ".pass_env") {
		p.PassEnv = slices.Clone(defaultPassEnv)
	}
}

// decoder fills structs from YAML nodes by their yaml tags, strictly, and
// notes where each key's value is.
type decoder struct {
	f     *File
	nodes int // decoded so far, against aliases that expand without end
}

// maxNodes bounds what aliases may expand to: far more than any config.
const maxNodes = 100000

var (
	durationType = reflect.TypeFor[time.Duration]()
	sizeType     = reflect.TypeFor[Size]()
)

func (d *decoder) errorf(n *yaml.Node, key, format string, args ...any) *Error {
	return &Error{File: d.f.Path, Line: n.Line, Column: n.Column, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string) error {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if d.nodes++; d.nodes > maxNodes {
		return d.errorf(n, key, "more than %d values: do aliases expand without end?", maxNodes)
	}
	if key != "" {
		d.f.pos[key] = pos{n.Line, n.Column}
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		// "tls:" alone turns TLS on with its defaults; any other empty
		// value is the zero value.
		if v.Kind() == reflect.Pointer && v.Type().Elem().Kind() == reflect.Struct {
			v.Set(reflect.New(v.Type().Elem()))
		} else {
			v.SetZero()
		}
		return nil
	}
	switch v.Type() {
	case durationType:
		if n.Kind != yaml.ScalarNode {
			return d.errorf(n, key, "want a duration such as 90s or 5m, got %s", describe(n))
		}
		t, err := time.ParseDuration(n.Value)
		if err != nil && n.Value != "0" {
			return d.errorf(n, key, "%q is not a duration such as 90s, 5m or 1h30m", n.Value)
		}
		v.SetInt(int64(t))
		return nil
	case sizeType:
		if n.Kind != yaml.ScalarNode {
			return d.errorf(n, key, "want a size such as 1MiB, got %s", describe(n))
		}
		s, err := size.Parse(n.Value)
		if err != nil {
			return d.errorf(n, key, "%v", err)
		}
		v.SetInt(s)
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.nodes-- // the same node again
		return d.decode(n, v.Elem(), key)
	case reflect.Struct:
		return d.mapping(n, key, func(k *yaml.Node, val *yaml.Node) error {
			i, ok := fieldIndex(v.Type(), k.Value)
			if !ok {
				return d.errorf(k, join(key, k.Value), "%s", unknownKey(v.Type(), k.Value))
			}
			return d.decode(val, v.FieldByIndex(i), join(key, k.Value))
		})
	case reflect.Map:
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		return d.mapping(n, key, func(k *yaml.Node, val *yaml.Node) error {
			e := reflect.New(v.Type().Elem()).Elem()
			if err := d.decode(val, e, join(key, k.Value)); err != nil {
				return err
			}
			v.SetMapIndex(reflect.ValueOf(k.Value), e)
			return nil
		})
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return d.errorf(n, key, "want a list, got %s", describe(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", key, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return d.errorf(n, key, "want a string, got %s", describe(n))
		}
		v.SetString(n.Value)
		return nil
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" || n.Decode(&b) != nil {
			return d.errorf(n, key, "want true or false, got %s", describe(n))
		}
		v.SetBool(b)
		return nil
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
			return d.errorf(n, key, "want a whole number, got %s", describe(n))
		}
		v.SetInt(int64(i))
		return nil
	}
	panic("config: no decoding for " + v.Type().String()) // a struct field of a new type
}

// mapping calls each for every key and value of a mapping, refusing
// duplicate keys and YAML's merge keys.
func (d *decoder) mapping(n *yaml.Node, key string, each func(k, v *yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return d.errorf(n, key, "want keys and values, got %s", describe(n))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind != yaml.ScalarNode {
			return d.errorf(k, key, "a key must be a string, got %s", describe(k))
		}
		if k.Value == "<<" && k.ShortTag() == "!!merge" {
			return d.errorf(k, key, "merge keys (<<) are not taken: give a route's common settings in defaults:")
		}
		if line, dup := seen[k.Value]; dup {
			return d.errorf(k, join(key, k.Value), "given twice (first on line %d)", line)
		}
		seen[k.Value] = k.Line
		if err := each(k, n.Content[i+1]); err != nil {
			return err
		}
	}
	return nil
}

func join(key, name string) string {
	if key == "" {
		return name
	}
	return key + "." + name
}

// describe names what a node holds, for "want X, got Y".
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "keys and values"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(n.Value)
}

// fieldNames are the yaml names of t's fields, by index; "" for inline and
// untagged ones.
func fieldNames(t reflect.Type) []string {
	names := make([]string, t.NumField())
	for i := range names {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name != "-" {
			names[i] = name
		}
	}
	return names
}

// fieldIndex finds the field named name in t, inline structs included.
func fieldIndex(t reflect.Type, name string) ([]int, bool) {
	for i, n := range fieldNames(t) {
		f := t.Field(i)
		switch {
		case n == name && n != "":
			return []int{i}, true
		case n == "" && strings.HasSuffix(f.Tag.Get("yaml"), ",inline"):
			if sub, ok := fieldIndex(f.Type, name); ok {
				return append([]int{i}, sub...), true
			}
		}
	}
	return nil, false
}

// keys are the names t takes, in order.
func keys(t reflect.Type) []string {
	var out []string
	for i, n := range fieldNames(t) {
		if n != "" {
			out = append(out, n)
		} else if strings.HasSuffix(t.Field(i).Tag.Get("yaml"), ",inline") {
			out = append(out, keys(t.Field(i).Type)...)
		}
	}
	return out
}

// unknownKey says so, with the key meant when it is a slip away from one.
func unknownKey(t reflect.Type, name string) string {
	known := keys(t)
	for _, k := range known {
		if distance(k, name) <= min(2, len(k)/3) { // slips, not other words
			return fmt.Sprintf("unknown key (did you mean %s?)", k)
		}
	}
	return "unknown key; known here: " + strings.Join(known, ", ")
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Errorf is an *Error at key's value (or its nearest enclosing key's), for
// what the file's user finds wrong after Validate: a certificate that no
// longer loads, a port in use.
func (f *File) Errorf(key, format string, args ...any) *Error {
	return f.errorf(key, format, args...)
}
