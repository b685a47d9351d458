//go:build !linux

package testproc

import "os/exec"

func start(cmd *exec.Cmd) error { return cmd.Start() }
