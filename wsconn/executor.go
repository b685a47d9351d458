package wsconn

import (
	"sync"
	"sync/atomic"
)

// handlerPool runs connection events on a fixed set of long-lived
// goroutines. nbio hands the executor one task per connection that has
// events waiting (the task runs that connection's events in order and ends
// when none is left), so a queued task is a connection waiting for a
// worker (nbio may queue a connection's opening as a task of its own).
//
// Long-lived workers matter for speed: nbio's default starts a goroutine
// per event, and a small event (a heartbeat) then mostly pays for creating
// that goroutine, growing its stack and ending it: 26% of the server's CPU
// at 40,000 heartbeats/s, 7% with a pool (perf, see bench/README.md).
// A fixed number of them matters for safety: handlers may wait on the store,
// and a store that slows down must not turn every waiting event into a
// goroutine of its own.
//
// When every worker is busy tasks wait in a queue of bounded length; when
// the queue is full the caller waits (back-pressure: the poller that read
// the event stops reading until a worker is free).
type handlerPool struct {
	tasks   chan func()
	stop    chan struct{}
	wg      sync.WaitGroup
	stalls  atomic.Int64 // times a caller waited for room in the queue
	stopped atomic.Bool
}

func newHandlerPool(workers, queue int) *handlerPool {
	p := &handlerPool{tasks: make(chan func(), queue), stop: make(chan struct{})}
	p.wg.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

func (p *handlerPool) work() {
	defer p.wg.Done()
	for {
		select {
		case f := <-p.tasks:
			f()
		case <-p.stop:
			return
		}
	}
}

// run queues f for a worker, waiting for room if the queue is full. After
// close it runs f itself: the engine is stopped by then and f only
// releases what the connection held.
func (p *handlerPool) run(f func()) {
	if p.stopped.Load() {
		f()
		return
	}
	select {
	case p.tasks <- f:
		return
	default:
	}
	p.stalls.Add(1)
	select {
	case p.tasks <- f:
	case <-p.stop:
		f()
	}
}

// queued returns the connections waiting for a worker.
func (p *handlerPool) queued() int { return len(p.tasks) }

// close stops the workers once they finish what they run, then runs what
// is left in the queue.
func (p *handlerPool) close() {
	p.stopped.Store(true)
	close(p.stop)
	p.wg.Wait()
	for {
		select {
		case f := <-p.tasks:
			f()
		default:
			return
		}
	}
}
