package bizpackhost

// LandlockABI is the kernel's Landlock ABI, for tests to skip what it
// cannot restrict.
func LandlockABI() int { return landlockABI() }
