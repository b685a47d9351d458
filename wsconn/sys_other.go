//go:build !unix

package wsconn

import "net"

// shutdownWrite is not available: the close timer or the peer ends the
// connection.
func shutdownWrite(int) {}

func maxFDs() int { return 0 }

// OpenFileLimit returns 0: the limit is unknown on this platform.
func OpenFileLimit() int { return 0 }

func socketPair() (net.Conn, net.Conn, error) {
	a, b := net.Pipe() // not pollable: NewServer fails on such platforms
	return a, b, nil
}
