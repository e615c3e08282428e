// Command benchpack serves the placement benchmark's bizpack as a plugin.
package main

import (
	"github.com/tmf-platform/tmf/extensions/plugin"
	"github.com/tmf-platform/tmf/platform/bizpackhost/internal/benchpack"
)

func main() { plugin.Serve(benchpack.New()) }
