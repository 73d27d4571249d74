package main

import (
	"regexp"
	"runtime"
	"runtime/debug"
)

// version is set at release with -ldflags "-X main.version=..."; otherwise
// the build's own information says which version this is.
var version = ""

// pseudoVersion is how a module version made from a commit ends:
// v0.0.0-20260102150405-0123456789ab, "+dirty" for a modified checkout.
var pseudoVersion = regexp.MustCompile(`-\d{14}-[0-9a-f]{12}(\+dirty)?$`)

// buildVersion says which wsbridge this is: the -ldflags version; a
// release's module version (go install ...@v1.2.3); the commit a build in
// a checkout was made from, with "+modified" when the files differed from
// it, and that commit's time; or "dev" (go run, -buildvcs=false).
func buildVersion() (v, commitTime string) {
	if version != "" {
		return version, ""
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev", ""
	}
	vcs := map[string]string{}
	for _, s := range bi.Settings {
		vcs[s.Key] = s.Value
	}
	mod, rev := bi.Main.Version, vcs["vcs.revision"]
	release := mod != "" && mod != "(devel)" && !pseudoVersion.MatchString(mod)
	switch {
	case release:
		return mod, ""
	case rev != "":
		// A build in a checkout: the commit says it more plainly than
		// the pseudo-version Go makes of it.
		rev = rev[:min(12, len(rev))]
		if vcs["vcs.modified"] == "true" {
			rev += "+modified"
		}
		return rev, vcs["vcs.time"]
	case mod != "" && mod != "(devel)":
		return mod, "" // go install ...@COMMIT
	}
	return "dev", ""
}

// versionString is what --version prints after the name:
// "v1.2.3 (go1.26.8 linux/amd64)", or "0123456789ab (2026-01-02T15:04:05Z,
// go1.26.8 linux/amd64)" for a build in a checkout.
func versionString() string {
	v, commitTime := buildVersion()
	if commitTime != "" {
		commitTime += ", "
	}
	return v + " (" + commitTime + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}
