package main

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and revision are set by scripts/release with -ldflags
// "-X main.version=v1.2.3 -X main.revision=COMMIT[+modified]": its builds
// then say the same in a clone and in a git worktree (where Go stamps no
// commit).
// Otherwise the build's own information says which wsbridge this is.
var version, revision = "", ""

// pseudoVersion is how a module version made from a commit ends:
// v0.0.0-20260102150405-0123456789ab, "+dirty" for a modified checkout.
var pseudoVersion = regexp.MustCompile(`-\d{14}-[0-9a-f]{12}(\+dirty)?$`)

// buildID says which wsbridge this is.
type buildID struct {
	Version  string // a release (v1.2.3), else the commit, else "dev"
	Revision string // the commit (12 digits), "+modified" when the files differed
	Time     string // the commit's time
}

// describe reads a build's information: the -ldflags version; a release's
// module version (go install ...@v1.2.3, or a checkout at a tag); the
// commit a build in a checkout was made from, with "+modified" when the
// files differed from it, and that commit's time; or "dev" (go run,
// -buildvcs=false).
func describe(bi *debug.BuildInfo, ldVersion, ldRevision string) buildID {
	var id buildID
	vcs := map[string]string{}
	mod := ""
	if bi != nil {
		for _, s := range bi.Settings {
			vcs[s.Key] = s.Value
		}
		mod = strings.TrimSuffix(bi.Main.Version, "(devel)")
	}
	rev, modified := vcs["vcs.revision"], vcs["vcs.modified"] == "true"
	if ldRevision != "" {
		rev, modified = strings.CutSuffix(ldRevision, "+modified")
	}
	if rev != "" {
		rev = rev[:min(12, len(rev))]
		if modified {
			rev += "+modified"
		}
	}
	id.Revision, id.Time = rev, vcs["vcs.time"]
	switch {
	case ldVersion != "":
		id.Version = ldVersion
	case mod != "" && !pseudoVersion.MatchString(mod):
		id.Version = mod // a release
	case rev != "":
		// A build in a checkout: the commit says it more plainly than
		// the pseudo-version Go makes of it.
		id.Version = rev
	case mod != "":
		id.Version = mod // go install ...@COMMIT
	default:
		id.Version = "dev"
	}
	return id
}

// thisBuild describes the running binary.
func thisBuild() buildID {
	bi, _ := debug.ReadBuildInfo()
	return describe(bi, version, revision)
}

// buildVersion is the version alone, for the man page and SERVER_SOFTWARE.
func buildVersion() string { return thisBuild().Version }

// String is what --version prints after the name: "v1.2.3 (0123456789ab,
// 2026-01-02T15:04:05Z, go1.26.8 linux/amd64)" for a release built from
// its tag, "0123456789ab+modified (2026-01-02T15:04:05Z, go1.26.8
// linux/amd64)" for a build in a modified checkout, "v1.2.3 (go1.26.8
// linux/amd64)" for go install ...@v1.2.3 (the module cache has no commit).
func (id buildID) String() string {
	var details []string
	if id.Revision != "" && id.Revision != id.Version {
		details = append(details, id.Revision)
	}
	if id.Time != "" {
		details = append(details, id.Time)
	}
	details = append(details, runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH)
	return id.Version + " (" + strings.Join(details, ", ") + ")"
}

// versionString is what --version prints after the name.
func versionString() string { return thisBuild().String() }
