package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

// TestDescribeBuild: each way of building wsbridge says which it is, with
// the commit beside a release's version where the build knows it.
func TestDescribeBuild(t *testing.T) {
	const sha = "0123456789abcdef0123456789abcdef01234567"
	info := func(mod string, vcs ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "github.com/wsbridge/wsbridge", Version: mod}}
		for i := 0; i+1 < len(vcs); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: vcs[i], Value: vcs[i+1]})
		}
		return bi
	}
	clean := []string{"vcs", "git", "vcs.revision", sha, "vcs.time", "2026-01-02T15:04:05Z", "vcs.modified", "false"}
	dirty := []string{"vcs", "git", "vcs.revision", sha, "vcs.time", "2026-01-02T15:04:05Z", "vcs.modified", "true"}
	platform := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	for _, tc := range []struct {
		name       string
		bi         *debug.BuildInfo
		ldv, ldrev string
		want       string
	}{
		{"no build information", nil, "", "", "dev (" + platform + ")"},
		{"go build -buildvcs=false", info("(devel)"), "", "", "dev (" + platform + ")"},
		{"go install @v1.2.3", info("v1.2.3"), "", "", "v1.2.3 (" + platform + ")"},
		{"go install @commit", info("v0.0.0-20260102150405-0123456789ab"), "", "", "v0.0.0-20260102150405-0123456789ab (" + platform + ")"},
		{"checkout", info("v0.0.0-20260102150405-0123456789ab", clean...), "", "", "0123456789ab (2026-01-02T15:04:05Z, " + platform + ")"},
		{"modified checkout", info("v0.0.0-20260102150405-0123456789ab+dirty", dirty...), "", "", "0123456789ab+modified (2026-01-02T15:04:05Z, " + platform + ")"},
		{"checkout at a tag", info("v1.2.3", clean...), "", "", "v1.2.3 (0123456789ab, 2026-01-02T15:04:05Z, " + platform + ")"},
		{"modified checkout at a tag", info("v1.2.3+dirty", dirty...), "", "", "v1.2.3+dirty (0123456789ab+modified, 2026-01-02T15:04:05Z, " + platform + ")"},
		{"scripts/release", info("(devel)"), "v1.2.3", sha, "v1.2.3 (0123456789ab, " + platform + ")"},
		{"scripts/release, modified", info("(devel)"), "v1.2.3", sha + "+modified", "v1.2.3 (0123456789ab+modified, " + platform + ")"},
		{"scripts/release in a clone", info("v0.0.0-20260102150405-0123456789ab", clean...), "v0.0.0-20260102150405-0123456789ab", sha, "v0.0.0-20260102150405-0123456789ab (0123456789ab, 2026-01-02T15:04:05Z, " + platform + ")"},
	} {
		if got := describe(tc.bi, tc.ldv, tc.ldrev).String(); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
