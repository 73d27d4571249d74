//go:build unix && !race

package pollwait

const raceEnabled = false
