package connect

import (
	"go/build"
	"strings"
	"testing"
)

// The client shares package wire with the server, not the server itself:
// nothing connect imports, directly or not, is package bridge.
func TestNoServerImport(t *testing.T) {
	const module = "github.com/wsbridge/wsbridge/"
	seen := map[string]bool{}
	var walk func(chain []string)
	walk = func(chain []string) {
		path := chain[len(chain)-1]
		if seen[path] {
			return
		}
		seen[path] = true
		if path == module+"bridge" {
			t.Errorf("the client imports the server: %s", strings.Join(chain, " imports "))
			return
		}
		p, err := build.Import(path, ".", 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module) {
				walk(append(chain[:len(chain):len(chain)], imp))
			}
		}
	}
	walk([]string{module + "connect"})
	if !seen[module+"wire"] {
		t.Errorf("connect does not import wire; imports walked: %v", seen)
	}
}
