//go:build linux

package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/presenced/presenced/internal/redistest"
)

// redisSample is what a set of Redis servers had done by one moment, summed
// over them: the INFO fields the idle cost is measured with.
type redisSample struct {
	// Calls counts commands executed, by command (INFO commandstats;
	// subcommands as Redis names them, "cluster|slots"). The tool's own
	// INFO calls are left out.
	Calls map[string]int64
	// NetIn and NetOut are bytes read from and written to clients.
	NetIn, NetOut int64
	// UsedMemory is the memory Redis's allocator holds for data.
	UsedMemory int64
	// Usec is the time spent executing the commands of Calls.
	Usec int64
	// CPU is the servers' CPU time, user and system, in seconds.
	CPU float64
}

// total is the number of commands in s.
func (s redisSample) total() int64 {
	var n int64
	for _, v := range s.Calls {
		n += v
	}
	return n
}

// sampleRedis reads INFO from every address (the masters of a cluster, or
// one server) and adds it up.
func sampleRedis(addrs []string) (redisSample, error) {
	s := redisSample{Calls: map[string]int64{}}
	for _, a := range addrs {
		info, err := redistest.DoString(a, "INFO", "commandstats", "stats", "memory", "cpu")
		if err != nil {
			return s, fmt.Errorf("INFO from redis %s: %w", a, err)
		}
		if err := s.addInfo(info); err != nil {
			return s, fmt.Errorf("INFO from redis %s: %w", a, err)
		}
	}
	return s, nil
}

// addInfo adds one server's INFO text to s.
func (s *redisSample) addInfo(info string) error {
	for _, l := range strings.Split(info, "\n") {
		l = strings.TrimSpace(l)
		k, v, ok := strings.Cut(l, ":")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		switch {
		case strings.HasPrefix(k, "cmdstat_"):
			cmd := strings.TrimPrefix(k, "cmdstat_")
			if cmd == "info" {
				continue
			}
			calls, ok := infoField(v, "calls")
			if !ok {
				return fmt.Errorf("%s without calls: %q", k, v)
			}
			s.Calls[cmd] += calls
			usec, _ := infoField(v, "usec")
			s.Usec += usec
		case k == "total_net_input_bytes":
			s.NetIn += parseInt(v)
		case k == "total_net_output_bytes":
			s.NetOut += parseInt(v)
		case k == "used_memory":
			s.UsedMemory += parseInt(v)
		case k == "used_cpu_sys" || k == "used_cpu_user":
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			s.CPU += f
		}
	}
	return nil
}

// infoField returns the value of name in "calls=17,usec=40,...".
func infoField(v, name string) (int64, bool) {
	for _, f := range strings.Split(v, ",") {
		if k, x, ok := strings.Cut(f, "="); ok && k == name {
			n, err := strconv.ParseInt(x, 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func parseInt(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	return n
}

// sub returns what happened between earlier and s.
func (s redisSample) sub(earlier redisSample) redisSample {
	d := redisSample{Calls: map[string]int64{}, NetIn: s.NetIn - earlier.NetIn, NetOut: s.NetOut - earlier.NetOut, UsedMemory: s.UsedMemory - earlier.UsedMemory, Usec: s.Usec - earlier.Usec, CPU: s.CPU - earlier.CPU}
	for k, v := range s.Calls {
		if n := v - earlier.Calls[k]; n != 0 {
			d.Calls[k] = n
		}
	}
	return d
}

// byCount lists the commands of s, the most frequent first, as
// "evalsha 17600, zrange 9600".
func (s redisSample) byCount() string {
	type kc struct {
		k string
		n int64
	}
	var xs []kc
	for k, n := range s.Calls {
		xs = append(xs, kc{k, n})
	}
	sort.Slice(xs, func(i, j int) bool { return xs[i].n > xs[j].n || (xs[i].n == xs[j].n && xs[i].k < xs[j].k) })
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprintf("%s %d", x.k, x.n)
	}
	return strings.Join(parts, ", ")
}
