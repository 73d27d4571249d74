//go:build unix && race

package pollwait

// raceEnabled says whether the tests run under the race detector, which
// allocates.
const raceEnabled = true
