//go:build linux

package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// procSample is a process's memory and CPU time at one moment, from /proc.
type procSample struct {
	RSS     int64 // bytes resident (VmRSS)
	RSSAnon int64 // bytes resident and anonymous (heap, stacks)
	CPU     time.Duration
	// SysCPU is the part of CPU spent in the kernel on the process's
	// behalf: system calls, and the network work done in them.
	SysCPU time.Duration
	At     time.Time
}

// userHZ is the unit of utime and stime in /proc/<pid>/stat: fixed at 100
// by the Linux ABI on the machines we run on.
const userHZ = 100

func sampleProc(pid int) (procSample, error) {
	s := procSample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			s.RSS = kbField(v)
		case "RssAnon":
			s.RSSAnon = kbField(v)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command name may hold spaces; the fields after it do not.
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	s.CPU = time.Duration(utime+stime) * time.Second / userHZ
	s.SysCPU = time.Duration(stime) * time.Second / userHZ
	return s, nil
}

func kbField(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n << 10
}
