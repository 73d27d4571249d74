//go:build unix && race

package bridge

// raceDetector says whether the tests run under the race detector, which
// slows everything ten times or more.
const raceDetector = true
