//go:build linux

package leanws_test

import (
	"io"
	"net"
	"syscall"
	"testing"
)

// The machine's own costs, the floor under every load figure: a fan-out
// delivery is at least one write(2) on its subscriber's socket and a
// heartbeat at least one read(2). Compare these across machines before
// comparing bench/README.md results.

func BenchmarkMachineSyscall(b *testing.B) {
	for range b.N {
		syscall.Getppid()
	}
}

func BenchmarkMachineLoopbackWrite(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	frame := make([]byte, 300) // a presence_update
	b.SetBytes(int64(len(frame)))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(frame); err != nil {
			b.Fatal(err)
		}
	}
}
