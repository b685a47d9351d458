package testproc

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// The parent-death signal fires when the thread that started the child
// exits, not the process, and Go may retire threads; so every child is
// started from one goroutine locked to its thread for the life of the
// process.
var (
	once     sync.Once
	requests chan request
)

type request struct {
	cmd  *exec.Cmd
	done chan error
}

func start(cmd *exec.Cmd) error {
	once.Do(func() {
		requests = make(chan request)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range requests {
				r.done <- r.cmd.Start()
			}
		}()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	r := request{cmd: cmd, done: make(chan error, 1)}
	requests <- r
	return <-r.done
}
