//go:build unix

package wsconn

import (
	"net"
	"os"
	"syscall"
)

// shutdownWrite half-closes a socket: the peer gets a FIN after the data
// already written, and we can still read its answer.
func shutdownWrite(fd int) {
	_ = syscall.Shutdown(fd, syscall.SHUT_WR)
}

// maxFDs returns the hard limit on open files, or 0 if unknown.
func maxFDs() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Max > 1<<30 {
		return 0
	}
	return int(lim.Max)
}

// OpenFileLimit returns the process's current limit on open files (the
// soft RLIMIT_NOFILE, which Go raises to the hard one at start on Linux),
// or 0 if unknown or unlimited. Every WebSocket holds one.
func OpenFileLimit() int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur > 1<<30 {
		return 0
	}
	return int(lim.Cur)
}

// socketPair returns the two ends of a connected Unix stream socket pair.
func socketPair() (net.Conn, net.Conn, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "wsconn-probe")
		c, err := net.FileConn(f) // dups fd
		_ = f.Close()
		if err != nil {
			if i == 1 {
				_ = conns[0].Close()
			} else {
				_ = syscall.Close(fds[1])
			}
			return nil, nil, err
		}
		conns[i] = c
	}
	return conns[0], conns[1], nil
}
