package bridge

import (
	"testing"

	"github.com/wsbridge/wsbridge/process"
	"github.com/wsbridge/wsbridge/wire"
)

// The terminal's size limit that wire.ParseControl checks is the kernel's,
// as package process knows it.
func TestWireMaxSize(t *testing.T) {
	if wire.MaxSize != process.MaxSize {
		t.Fatalf("wire.MaxSize %d, process.MaxSize %d", wire.MaxSize, process.MaxSize)
	}
}
