package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The terminal's bundle, built by terminal/build.sh from its lockfile.
//
//go:embed static/terminal.js static/terminal.css static/licenses.txt
var static embed.FS

//go:embed terminal.html
var terminalPage []byte

// Terminal serves the browser terminal: its page, the bundle (xterm.js and
// its addons) and the options the page reads. Paths are relative to the
// route's base: "" is the page, then terminal.js, terminal.css, licenses.txt
// and terminal.json.
type Terminal struct {
	Index    []byte         // a custom page (--index); nil: the built-in one
	Options  map[string]any // xterm.js options (--term-option)
	Title    string         // the tab's fixed title; empty: the program's (OSC 0/2)
	ReadOnly bool           // the page sends no input (the server drops it anyway)
	// URLOptions name the options the page's own query may set over
	// Options (?fontSize=20), checked as Options are; see ParseURLOptions.
	URLOptions []string
}

// terminalAssets are the embedded files, each with its ETag and, for those
// worth it, a gzipped copy, made once.
var terminalAssets = sync.OnceValue(func() map[string]*asset {
	assets := map[string]*asset{}
	for name, ctype := range map[string]string{
		"terminal.js":  "text/javascript; charset=utf-8",
		"terminal.css": "text/css; charset=utf-8",
		"licenses.txt": "text/plain; charset=utf-8",
	} {
		body, err := static.ReadFile("static/" + name)
		if err != nil {
			panic(err) // embedded at build time
		}
		assets[name] = newAsset(body, ctype)
	}
	return assets
})

type asset struct {
	body, gz []byte
	ctype    string
	etag     string
}

func newAsset(body []byte, ctype string) *asset {
	sum := sha256.Sum256(body)
	a := &asset{body: body, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	if buf.Len() < len(body)*9/10 {
		a.gz = buf.Bytes()
	}
	return a
}

func (a *asset) serve(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", a.ctype)
	h.Set("ETag", a.etag)
	h.Set("Cache-Control", "no-cache") // revalidate: a new wsbridge may bring a new bundle
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept-Encoding")
	body := a.body
	if a.gz != nil && acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.TrimSpace(name) == "gzip" && strings.ReplaceAll(q, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// IsTerminalAsset says whether rel names part of the public bundle: the same
// bytes for everyone, served without credentials, so a page opened with a
// token in its query (which scripts and styles do not carry) still loads.
func IsTerminalAsset(rel string) bool {
	_, ok := terminalAssets()[rel]
	return ok
}

// Serve answers a GET or HEAD for rel; it says false when rel is none of the
// terminal's paths.
func (t *Terminal) Serve(w http.ResponseWriter, r *http.Request, rel string) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	if a, ok := terminalAssets()[rel]; ok {
		a.serve(w, r)
		return true
	}
	switch rel {
	case "":
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		// xterm.js adds <style> elements for its themes: inline styles stay.
		// The image addon decodes sixel in WebAssembly, and without
		// createImageBitmap shows images through blob: URLs.
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; "+
			"connect-src 'self'; img-src 'self' data: blob:; font-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		page := t.Index
		if page == nil {
			page = terminalPage
		}
		_, _ = w.Write(page)
	case "terminal.json":
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		options, warnings := t.optionsFor(r.URL.Query())
		settings := map[string]any{
			"options":  options,
			"title":    t.Title,
			"readonly": t.ReadOnly,
		}
		if len(warnings) > 0 {
			settings["warnings"] = warnings
		}
		_ = json.NewEncoder(w).Encode(settings)
	default:
		return false
	}
	return true
}

// optionsFor is Options with the allowed ones the page's query sets (the
// page passes its query on to terminal.json) laid over them, and what was
// refused, for the page to show. Other parameters (access_token, arg) are
// none of its business.
func (t *Terminal) optionsFor(query map[string][]string) (map[string]any, []string) {
	options := maps.Clone(t.Options) // t.Options serves every request
	var warnings []string
	for _, name := range termOptionNames() {
		values := query[name]
		if len(values) == 0 {
			continue
		}
		if !slices.Contains(t.URLOptions, name) {
			warnings = append(warnings, name+": not settable from the URL here")
			continue
		}
		_, v, err := ParseTermOption(name + "=" + values[len(values)-1])
		if err != nil {
			warnings = append(warnings, err.Error())
			continue
		}
		if options == nil {
			options = map[string]any{}
		}
		options[name] = v
	}
	return options, warnings
}

// DefaultURLOptions are the options a link may set unless told otherwise:
// how the terminal looks, nothing about what it sends.
const DefaultURLOptions = "fontSize,fontFamily,theme,cursorStyle,cursorBlink,scrollback"

// neverFromURL are options no link may set: windowOptions lets the program
// ask the browser about and move its window, ignoreBracketedPasteMode makes
// pasted lines run at once, logLevel debug writes every key typed (a
// password too) to the console, and clipboardWrite lets the program write
// the clipboard.
var neverFromURL = []string{"windowOptions", "ignoreBracketedPasteMode", "logLevel", "clipboardWrite"}

// ParseURLOptions reads a comma-separated list of option names the page's
// query may set; empty allows none.
func ParseURLOptions(list string) ([]string, error) {
	var names []string
	for _, name := range strings.Split(list, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			continue
		case termOptionKinds[name] == "":
			return nil, fmt.Errorf("%q is not an option this page takes; it takes %s", name, strings.Join(termOptionNames(), ", "))
		case slices.Contains(neverFromURL, name):
			return nil, fmt.Errorf("%s must not come from a link: a page opened from someone else's link would have it", name)
		}
		names = append(names, name)
	}
	return names, nil
}

// termOptionKinds are the xterm.js 6 options --term-option may set, by the
// kind of value each takes (ITerminalOptions, less those that hold functions
// and those the page sets itself), and the page's own settings.
var termOptionKinds = map[string]string{
	"allowTransparency": "bool", "altClickMovesCursor": "bool", "convertEol": "bool",
	"cursorBlink": "bool", "customGlyphs": "bool", "drawBoldTextInBrightColors": "bool",
	"ignoreBracketedPasteMode": "bool", "macOptionIsMeta": "bool", "macOptionClickForcesSelection": "bool",
	"reflowCursorLine": "bool", "rescaleOverlappingGlyphs": "bool", "rightClickSelectsWord": "bool",
	"screenReaderMode": "bool", "scrollOnEraseInDisplay": "bool", "scrollOnUserInput": "bool",

	"cursorWidth": "number", "fastScrollSensitivity": "number", "fontSize": "number",
	"letterSpacing": "number", "lineHeight": "number", "minimumContrastRatio": "number",
	"scrollback": "number", "scrollSensitivity": "number", "smoothScrollDuration": "number",
	"tabStopWidth": "number",

	"fontFamily": "string", "wordSeparator": "string",
	"fontWeight": "weight", "fontWeightBold": "weight",

	"cursorStyle":         "block|underline|bar",
	"cursorInactiveStyle": "outline|block|bar|underline|none",
	"logLevel":            "trace|debug|info|warn|error|off",

	"theme": "object", "windowOptions": "object", "overviewRuler": "object",

	// The page's own, by ttyd's names: no "leave this page?" prompt; file
	// transfer by rz/sz (ZMODEM) and trz/tsz (trzsz), on unless false.
	"disableLeaveAlert": "bool", "enableZmodem": "bool", "enableTrzsz": "bool",
	// The page's own: the program may write the clipboard (OSC 52); it
	// never reads it.
	"clipboardWrite": "bool",
}

// ParseTermOption reads a --term-option value, "name=value": a number or
// true/false where the option takes one, a JSON object for theme (e.g.
// theme={"background":"#202020"}).
func ParseTermOption(s string) (string, any, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return "", nil, fmt.Errorf("want name=value, got %q", s)
	}
	kind, known := termOptionKinds[name]
	if !known {
		return "", nil, fmt.Errorf("%q is not an xterm.js option this page takes; it takes %s", name, strings.Join(termOptionNames(), ", "))
	}
	bad := func(want string) (string, any, error) {
		return "", nil, fmt.Errorf("%s: want %s, got %q", name, want, value)
	}
	switch kind {
	case "bool":
		b, err := strconv.ParseBool(value)
		if err != nil {
			return bad("true or false")
		}
		return name, b, nil
	case "number":
		f, err := strconv.ParseFloat(value, 64)
		if err != nil || f < 0 {
			return bad("a number, 0 or more")
		}
		return name, f, nil
	case "string":
		return name, value, nil
	case "weight":
		if f, err := strconv.ParseFloat(value, 64); err == nil && f >= 1 && f <= 1000 {
			return name, f, nil
		}
		if value == "normal" || value == "bold" {
			return name, value, nil
		}
		return bad("normal, bold or 1 to 1000")
	case "object":
		var obj map[string]any
		if err := json.Unmarshal([]byte(value), &obj); err != nil {
			return bad(`a JSON object such as {"background":"#202020"}`)
		}
		return name, obj, nil
	}
	if !slices.Contains(strings.Split(kind, "|"), value) {
		return bad("one of " + strings.ReplaceAll(kind, "|", ", "))
	}
	return name, value, nil
}

// termOptionNames lists what ParseTermOption takes.
func termOptionNames() []string {
	names := make([]string, 0, len(termOptionKinds))
	for name := range termOptionKinds {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
