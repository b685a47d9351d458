package redisstore

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/presenced/presenced/internal/redistest"
)

// A pipeline of calls on a server that lacks the script sends its source
// once, not once per call.
func TestRunMultiLoadsTheScriptOnce(t *testing.T) {
	srv := redistest.Start(t)
	b := openNodes(t, srv.URL(), 1, nil)[0]
	s := newScript(`return ARGV[1]`)
	const n = 500
	calls := make([]scriptCall, n)
	for i := range calls {
		calls[i] = scriptCall{keys: []string{"k" + strconv.Itoa(i)}, args: []string{strconv.Itoa(i)}}
	}
	for i, r := range s.runMulti(context.Background(), b.client, calls) {
		if got, err := r.ToString(); err != nil || got != strconv.Itoa(i) {
			t.Fatalf("call %d replied %q, %v", i, got, err)
		}
	}
	info, err := redistest.DoString(srv.Addr(), "INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	evals := "0"
	for _, line := range strings.Split(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_eval:calls="); ok {
			evals, _, _ = strings.Cut(rest, ",")
		}
	}
	if evals != "1" {
		t.Fatalf("%s EVALs for %d calls, want 1", evals, n)
	}
}
