package wsconn

import (
	"runtime"
	"sync"
)

// handlerPool runs connection events (nbio's per-connection job lists) on
// long-lived goroutines. nbio's default executor starts a goroutine per
// event, and a small event (a heartbeat) then mostly pays for creating that
// goroutine, growing its stack and ending it: 26% of the server's CPU at
// 40,000 heartbeats/s, 7% with this pool (perf, see bench/README.md). An
// idle worker takes an event at once; when every worker is busy the event
// gets a goroutine of its own, as before, so a handler that blocks (a store
// round trip) never makes another connection's events wait.
type handlerPool struct {
	tasks chan func()
	stop  chan struct{}
	wg    sync.WaitGroup
}

// handlerWorkersPerProc sizes the pool: enough idle workers for bursts,
// 8 KB or so of stack each.
const handlerWorkersPerProc = 16

func newHandlerPool() *handlerPool {
	p := &handlerPool{tasks: make(chan func()), stop: make(chan struct{})}
	n := handlerWorkersPerProc * runtime.GOMAXPROCS(0)
	p.wg.Add(n)
	for range n {
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

// run executes f on an idle worker, or on a new goroutine if none is idle.
func (p *handlerPool) run(f func()) {
	select {
	case p.tasks <- f:
	default:
		go f()
	}
}

// close stops the workers once they finish what they run.
func (p *handlerPool) close() {
	close(p.stop)
	p.wg.Wait()
}
