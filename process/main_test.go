package process

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv("PROCESS_TEST_PARENT") == "1" {
		parentHelper()
		return
	}
	goleak.VerifyTestMain(m)
}
