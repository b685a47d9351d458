// Package testproc starts helper processes for tests (redis-server,
// presenced nodes) so that they die with the test binary even when it is
// killed: on Linux each child gets SIGKILL as its parent-death signal.
package testproc

import "os/exec"

// Start starts cmd like cmd.Start, arranging, where the system allows, for
// the child to be killed if the test process dies before stopping it.
func Start(cmd *exec.Cmd) error { return start(cmd) }
