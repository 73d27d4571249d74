//go:build unix && !race

package bridge

const raceDetector = false
