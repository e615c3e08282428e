//go:build race

package bizpackhost_test

// raceEnabled: the test binary (the shim of its hosts) runs under the race
// detector, whose runtime keeps allocating after the shim set RLIMIT_DATA.
const raceEnabled = true
