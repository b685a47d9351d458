//go:build linux

// Command presenced-bench measures a running presenced node with real
// WebSocket clients speaking its protocol.
//
//	presenced-bench <scenario> [flags]
//
// Scenarios: idle, fanout, heartbeat, churn, detect, bulk (see bench/README.md),
// and suite, which starts its own server for each run. Each scenario prints
// one JSON line of results on stdout and a table on stderr.
//
// Clients are spread over worker processes (this program re-run with the
// hidden "worker" argument), because one process may hold at most 20,000
// open files. Every scenario has bounded connection counts and a time
// limit, ends by itself, and connects only to --url.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// scenario is one measurement.
type scenario interface {
	// register adds the scenario's own flags.
	register(fs *flag.FlagSet)
	run(ctx context.Context, e *env) (*report, error)
}

var scenarios = map[string]func() scenario{
	"idle":      func() scenario { return &idleScenario{} },
	"fanout":    func() scenario { return &fanoutScenario{} },
	"heartbeat": func() scenario { return &heartbeatScenario{} },
	"churn":     func() scenario { return &churnScenario{} },
	"detect":    func() scenario { return &detectScenario{} },
	"bulk":      func() scenario { return &bulkScenario{} },
}

func main() {
	if len(os.Args) >= 2 && os.Args[1] == "worker" {
		if err := runWorker(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "presenced-bench:", err)
		os.Exit(1)
	}
}

func usage() {
	names := make([]string, 0, len(scenarios))
	for n := range scenarios {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: presenced-bench <scenario> [flags]\n\nscenarios: %v; also suite, idlecost, model\n"+
		"run presenced-bench <scenario> -h for its flags; see bench/README.md\n", names)
}

func run(args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage()
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "suite":
		return runSuite(ctx, args[1:])
	case "idlecost":
		return runIdleCost(ctx, args[1:])
	case "model":
		return runModel(os.Stdout, args[1:])
	}
	mk, ok := scenarios[args[0]]
	if !ok {
		usage()
		return fmt.Errorf("unknown scenario %q", args[0])
	}
	sc := mk()
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	var c common
	c.register(fs)
	sc.register(fs)
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	rep, err := runScenario(ctx, args[0], sc, c)
	if err != nil {
		return err
	}
	printReport(rep)
	return nil
}

func printReport(rep *report) {
	os.Stdout.Write(append(rep.JSON(), '\n'))
	rep.Table(os.Stderr)
}
