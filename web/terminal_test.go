package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestURLOptions: the page's query sets the allowed options over the
// server's, type-checked; others are refused with a warning, and parameters
// that are no option are left alone.
func TestURLOptions(t *testing.T) {
	allowed, err := ParseURLOptions(DefaultURLOptions + ", lineHeight")
	if err != nil {
		t.Fatal(err)
	}
	term := &Terminal{Options: map[string]any{"fontSize": 16.0, "cursorStyle": "bar"}, URLOptions: allowed}
	for query, want := range map[string]string{
		"": `{"options":{"cursorStyle":"bar","fontSize":16},"readonly":false,"title":""}`,
		`?fontSize=20&theme={"background":"%23203040"}&lineHeight=1.2&access_token=x&arg=y`: `{"options":{"cursorStyle":"bar","fontSize":20,"lineHeight":1.2,"theme":{"background":"#203040"}},"readonly":false,"title":""}`,
		"?fontSize=1&fontSize=22&cursorStyle=blob&windowOptions={}&fontWeight=bold": `{"options":{"cursorStyle":"bar","fontSize":22},"readonly":false,"title":"",` +
			`"warnings":["cursorStyle: want one of block, underline, bar, got \"blob\"","fontWeight: not settable from the URL here","windowOptions: not settable from the URL here"]}`,
	} {
		rec := httptest.NewRecorder()
		term.Serve(rec, httptest.NewRequest("GET", "/terminal.json"+query, nil), "terminal.json")
		if got := strings.TrimSpace(rec.Body.String()); got != want {
			t.Errorf("%s:\n got %s\nwant %s", query, got, want)
		}
	}
	if term.Options["fontSize"] != 16.0 || len(term.Options) != 2 {
		t.Fatalf("a request changed the server's options: %v", term.Options)
	}
	for list, want := range map[string]string{
		"fontSize,windowOptions":   "windowOptions must not come from a link",
		"logLevel":                 "logLevel must not come from a link",
		"ignoreBracketedPasteMode": "ignoreBracketedPasteMode must not come from a link",
		"clipboardWrite":           "clipboardWrite must not come from a link",
		"fontsize":                 `"fontsize" is not an option this page takes`,
	} {
		if _, err := ParseURLOptions(list); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseURLOptions(%q): %v, want %q", list, err, want)
		}
	}
	if names, err := ParseURLOptions(""); err != nil || len(names) != 0 {
		t.Errorf(`ParseURLOptions(""): %v %v`, names, err)
	}
}
