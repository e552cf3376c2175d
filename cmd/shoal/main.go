// Command shoal is a content-addressed peer-to-peer folder sync tool.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "shoal: under construction")
	os.Exit(1)
}
