//go:build linux

package leanws

import (
	"errors"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Poller reads many connections with one goroutine and one epoll instance.
type Poller struct {
	epfd int
	buf  []byte

	mu      sync.Mutex
	conns   map[int]*Conn
	closing atomic.Bool
	done    chan struct{}
}

// NewPoller starts a poller. Close it to release it and end its connections.
func NewPoller() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	p := &Poller{epfd: epfd, buf: make([]byte, 64<<10), conns: map[int]*Conn{}, done: make(chan struct{})}
	go p.loop()
	return p, nil
}

func (p *Poller) add(c *Conn) error {
	p.mu.Lock()
	p.conns[c.fd] = c
	p.mu.Unlock()
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP, Fd: int32(c.fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, c.fd, &ev); err != nil {
		p.mu.Lock()
		delete(p.conns, c.fd)
		p.mu.Unlock()
		return err
	}
	return nil
}

func (p *Poller) remove(c *Conn) {
	p.mu.Lock()
	if p.conns[c.fd] == c {
		delete(p.conns, c.fd)
		_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, c.fd, nil)
	}
	p.mu.Unlock()
}

// Len returns the number of connections the poller reads.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

func (p *Poller) loop() {
	defer close(p.done)
	defer syscall.Close(p.epfd)
	events := make([]syscall.EpollEvent, 256)
	var closingSince time.Time
	for {
		// A timeout lets the loop notice Close: closing an epoll descriptor
		// does not wake a thread waiting on it.
		n, err := syscall.EpollWait(p.epfd, events, 100)
		if err != nil && err != syscall.EINTR {
			return
		}
		for i := range n {
			fd := int(events[i].Fd)
			p.mu.Lock()
			c := p.conns[fd]
			p.mu.Unlock()
			if c != nil {
				p.readable(c)
			}
		}
		if p.closing.Load() {
			if closingSince.IsZero() {
				closingSince = time.Now()
			}
			if p.Len() == 0 || time.Since(closingSince) > 2*time.Second {
				return
			}
		}
	}
}

// readable reads what one connection has: once per wakeup, so that a busy
// connection cannot starve the others (epoll reports it again).
func (p *Poller) readable(c *Conn) {
	n, err := syscall.Read(c.fd, p.buf)
	switch {
	case n > 0:
		c.consume(p.buf[:n])
	case err == syscall.EAGAIN || err == syscall.EINTR:
	case err != nil:
		c.fail(err)
	default:
		c.fail(errors.New("leanws: connection closed by the server without a close frame"))
	}
}

// Close drops every connection, delivers their OnClose, and stops the
// poller.
func (p *Poller) Close() {
	p.mu.Lock()
	conns := make([]*Conn, 0, len(p.conns))
	for _, c := range p.conns {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		c.Drop()
	}
	p.closing.Store(true)
	<-p.done
}
