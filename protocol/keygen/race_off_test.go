//go:build !race

package keygen

const raceEnabled = false
