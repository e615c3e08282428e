//go:build !race

package bizpackhost_test

const raceEnabled = false
