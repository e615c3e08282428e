package bizpackhost

// landlockSpec is what the shim confines a bizpack to with Landlock, in
// the bizpack's own process, just before it executes the bizpack: nothing
// of the filesystem but these paths, and (unless Network) no TCP connect
// or bind, no UDP where the kernel restricts it. The restriction is
// inherited by everything the bizpack starts and cannot be lifted.
type landlockSpec struct {
	// Exec is the bizpack's checked copy: read and execute.
	Exec string `json:"exec"`
	// Sock is the bizpack's private directory for go-plugin's unix
	// socket (also its TMPDIR): read and write.
	Sock string `json:"sock"`
	// ReadOnly are directories it may read and execute from: a bundle's
	// unpacked directory and its interpreter's own files.
	ReadOnly []string `json:"readOnly,omitempty"`
	// ReadWrite are further directories the operator opened to it.
	ReadWrite []string `json:"readWrite,omitempty"`
	// Network leaves the network unrestricted (the manifest asked).
	Network bool `json:"network,omitempty"`
}
