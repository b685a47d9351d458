//go:build !linux

// Command presenced-bench measures a running presenced node; it needs
// Linux (epoll, /proc, SIGSTOP, parent-death signals).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "presenced-bench runs on Linux only")
	os.Exit(1)
}
