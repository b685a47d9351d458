package redisstore

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/presenced/presenced/internal/poll"
	"github.com/presenced/presenced/internal/redistest"
	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/webhook"
)

const hookURL = "http://receiver.test/hook"

// writeEvent changes userID's record and returns one event whose TimeMS
// is seq, so that readers can check the order.
func writeEvent(t testing.TB, s *Store, userID string, seq int64) {
	t.Helper()
	_, err := s.UpdateWithEvents(context.Background(), userID, func(st *presence.UserState) ([]webhook.Event, error) {
		st.CustomStatus = "s" + strconv.FormatInt(seq, 10)
		st.Version++
		evs := []webhook.Event{{Type: webhook.UserStatus, UserID: userID, TimeMS: seq}}
		return evs, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// drain reads ob until want events came or the deadline passes,
// acknowledging them unless ack is false.
func drain(t testing.TB, ob *Outbox, want int, ack bool, within time.Duration) []webhook.Event {
	t.Helper()
	var got []webhook.Event
	deadline := time.Now().Add(within)
	for len(got) < want && time.Now().Before(deadline) {
		evs, err := ob.Pending(context.Background(), hookURL, 100)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, evs...)
		if ack && len(evs) > 0 {
			ids := make([]string, len(evs))
			for i := range evs {
				ids[i] = evs[i].ID
			}
			if err := ob.Ack(context.Background(), hookURL, ids); err != nil {
				t.Fatal(err)
			}
		}
		if len(evs) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	return got
}

func TestOutboxWrittenWithTheChange(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			b := openNodes(t, url, 1, nil)[0]
			const takeover = 500 * time.Millisecond
			enabled := time.Now()
			ob := b.Store.EnableOutbox([]string{hookURL}, takeover)
			writeEvent(t, b.Store, "alice", 1)
			refused := errors.New("refused")
			_, err := b.Store.UpdateWithEvents(context.Background(), "bob", func(st *presence.UserState) ([]webhook.Event, error) {
				st.CustomStatus = "x"
				st.Version++
				return []webhook.Event{{Type: webhook.UserStatus, UserID: "bob", TimeMS: 2}}, refused
			})
			if !errors.Is(err, refused) {
				t.Fatalf("refused change: %v", err)
			}
			got := drain(t, ob, 1, true, 5*time.Second)
			if len(got) != 1 || got[0].UserID != "alice" || got[0].Type != webhook.UserStatus || got[0].ID == "" {
				t.Fatalf("got %+v, want alice's one event", got)
			}
			if !strings.Contains(string(got[0].AppendJSON(nil)), `"id":"`+got[0].ID+`"`) {
				t.Fatalf("event JSON %s lacks its id", got[0].Raw)
			}
			// Nothing more, through the sweep of every slot after the start:
			// bob's refused change wrote no event.
			through := time.Until(enabled.Add(takeover + outboxSweepMargin + 250*time.Millisecond))
			if more := drain(t, ob, 1, true, through); len(more) != 0 {
				t.Fatalf("events of a refused change: %+v", more)
			}
			// Acknowledged by the only group: deleted.
			n, err := b.client.Do(context.Background(), b.client.B().Xlen().Key(b.l.outboxKey(Slot(b.l.userKey("alice")))).Build()).AsInt64()
			if err != nil || n != 0 {
				t.Fatalf("stream length after ack %d, %v; want 0", n, err)
			}
		})
	}
}

func TestOutboxOncePerClusterInOrder(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			nodes := openNodes(t, url, 3, nil)
			obs := make([]*Outbox, len(nodes))
			for i, b := range nodes {
				obs[i] = b.Store.EnableOutbox([]string{hookURL}, 0)
			}
			const users, per = 20, 15
			var mu sync.Mutex
			seen := map[string]int{}   // event id → node
			last := map[string]int64{} // user → last seq seen
			done := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan string, 100)
			for i, ob := range obs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-done:
							return
						default:
						}
						evs, err := ob.Pending(context.Background(), hookURL, 10)
						if err != nil {
							errs <- err.Error()
							return
						}
						mu.Lock()
						ids := make([]string, 0, len(evs))
						for _, ev := range evs {
							if n, dup := seen[ev.ID]; dup {
								errs <- fmt.Sprintf("event %s handed to node %d and node %d", ev.ID, n, i)
							}
							seen[ev.ID] = i
							if ev.TimeMS <= last[ev.UserID] {
								errs <- fmt.Sprintf("user %s: event %d after %d", ev.UserID, ev.TimeMS, last[ev.UserID])
							}
							last[ev.UserID] = ev.TimeMS
							ids = append(ids, ev.ID)
						}
						mu.Unlock()
						if err := ob.Ack(context.Background(), hookURL, ids); err != nil {
							errs <- err.Error()
							return
						}
						if len(evs) == 0 {
							time.Sleep(10 * time.Millisecond)
						}
					}
				}()
			}
			for seq := int64(1); seq <= per; seq++ {
				for u := range users {
					writeEvent(t, nodes[(u+int(seq))%3].Store, "u"+strconv.Itoa(u), seq)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				mu.Lock()
				n := len(seen)
				mu.Unlock()
				if n == users*per || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			close(done)
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			by := map[int]int{}
			for _, n := range seen {
				by[n]++
			}
			if len(seen) != users*per {
				t.Fatalf("%d events delivered, want %d", len(seen), users*per)
			}
			t.Logf("events per node: %v", by)
		})
	}
}

// renewLease renews node's lease on s every second, as a hub does, until
// the test ends.
func renewLease(t testing.TB, s *Store, node string) {
	t.Helper()
	renew := func() error {
		now := time.Now()
		_, err := s.RenewLease(context.Background(), node, now, now.Add(5*time.Second))
		return err
	}
	if err := renew(); err != nil {
		t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			_ = renew() // a failure shows as a takeover that does not come
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
	})
}

// liveNodes is the number of live nodes s's last lease renewal saw.
func liveNodes(s *Store) int { return int(s.rank.Load() & 0xffffffff) }

// A node that is handed events and is killed (SIGKILL) before delivering
// them: another node hands them out once its lease renewals see the
// killed one gone and the takeover period passed, in order, with the same
// ids. Both swept every slot at their start already, and the next safety
// sweep is a minute away: only the sweep that the killed node's leaving
// asked for finds the events in time.
func TestOutboxTakeoverAfterKill(t *testing.T) {
	if os.Getenv("OUTBOX_NODE_URL") != "" {
		return
	}
	const takeover = 2 * time.Second
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			nodes := openNodes(t, url, 1, nil)
			b := nodes[0]
			renewLease(t, b.Store, "parent")
			ob := b.Store.EnableOutbox([]string{hookURL}, takeover)
			const n = 50
			for seq := int64(1); seq <= n; seq++ {
				writeEvent(t, b.Store, "u"+strconv.Itoa(int(seq%5)), seq)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestOutboxNodeProcess$")
			cmd.Env = append(os.Environ(), "OUTBOX_NODE_URL="+url, "OUTBOX_NODE_PREFIX="+b.cfg.Prefix,
				"OUTBOX_NODE_WANT="+strconv.Itoa(n))
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var handed []string
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if id, ok := strings.CutPrefix(sc.Text(), "handed "); ok {
					handed = append(handed, id)
				}
				if sc.Text() == "ready" {
					break
				}
			}
			if len(handed) != n {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("the node was handed %d events, want %d", len(handed), n)
			}
			poll.Until(t, "the killed node among the live ones", func() bool { return liveNodes(b.Store) == 2 })
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			cmd.Wait()
			killed := time.Now()
			// Nothing is handed before the killed node's hold lapses.
			if early, err := ob.Pending(context.Background(), hookURL, 100); err != nil || len(early) != 0 {
				t.Fatalf("handed %d events at once, %v: taken from a node that may be alive", len(early), err)
			}
			// The renewals see it gone within liveSlack and a renewal; its
			// entries are claimable takeover later.
			got := drain(t, ob, n, true, liveSlack+time.Second+takeover+outboxSweepMargin+2*time.Second)
			took := time.Since(killed)
			checkTakenOver(t, got, handed)
			t.Logf("%s: backlog of %d events taken over %v after the kill (takeover %v)", name, n, took.Round(time.Millisecond), takeover)
		})
	}
}

// checkTakenOver fails the test unless got is every event of handed, each
// once, in order per user.
func checkTakenOver(t *testing.T, got []webhook.Event, handed []string) {
	t.Helper()
	if len(got) != len(handed) {
		t.Fatalf("took over %d events, want %d", len(got), len(handed))
	}
	last := map[string]int64{}
	ids := map[string]bool{}
	for _, ev := range got {
		if !contains(handed, ev.ID) || ids[ev.ID] {
			t.Fatalf("event id %s: not among those handed before, or handed twice", ev.ID)
		}
		ids[ev.ID] = true
		if ev.TimeMS <= last[ev.UserID] {
			t.Fatalf("user %s: event %d after %d", ev.UserID, ev.TimeMS, last[ev.UserID])
		}
		last[ev.UserID] = ev.TimeMS
	}
}

// A node that restarts reads under a new consumer name; the events its
// previous process was handed and did not acknowledge are found by the
// sweep of every slot a takeover period after the start (it wrote nothing
// and knows no stream; nobody else runs), with their ids, in order.
func TestOutboxRestartedNodeGetsItsOldEvents(t *testing.T) {
	const takeover = 500 * time.Millisecond
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			lives := openNodes(t, url, 2, nil)
			first := lives[0].Store.EnableOutbox([]string{hookURL}, takeover)
			const n = 10
			for seq := int64(1); seq <= n; seq++ {
				writeEvent(t, lives[0].Store, "u"+strconv.Itoa(int(seq%3)), seq)
			}
			var handed []string
			for _, ev := range drain(t, first, n, false, 5*time.Second) {
				handed = append(handed, ev.ID)
			}
			if len(handed) != n {
				t.Fatalf("the first process was handed %d events, want %d", len(handed), n)
			}
			lives[0].Close()
			restarted := time.Now()
			ob := lives[1].Store.EnableOutbox([]string{hookURL}, takeover)
			got := drain(t, ob, n, true, takeover+outboxSweepMargin+2*time.Second)
			took := time.Since(restarted)
			checkTakenOver(t, got, handed)
			if took < takeover {
				t.Fatalf("handed after %v, before the first process's hold could lapse", took)
			}
			t.Logf("%s: %d events of the previous process handed %v after the restart (takeover %v)", name, n, took.Round(time.Millisecond), takeover)
		})
	}
}

// A node that writes to a stream another node holds leaves its events to
// the holder, which reads the stream again when its acknowledgement leaves
// them unhanded: they go out at once, not at a sweep (the next one is the
// start's, seconds away).
func TestOutboxHeldStreamReadAgainAfterAck(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			nodes := openNodes(t, url, 2, nil)
			holder := nodes[0].Store.EnableOutbox([]string{hookURL}, 0)
			writer := nodes[1].Store.EnableOutbox([]string{hookURL}, 0)
			read := func(ob *Outbox) []webhook.Event {
				t.Helper()
				time.Sleep(2 * outboxReadWindow)
				evs, err := ob.Pending(context.Background(), hookURL, 10)
				if err != nil {
					t.Fatal(err)
				}
				return evs
			}
			writeEvent(t, nodes[0].Store, "alice", 1)
			first := read(holder)
			if len(first) != 1 {
				t.Fatalf("the holder was handed %d events, want 1", len(first))
			}
			if evs := read(holder); len(evs) != 0 { // the stream leaves its active ones
				t.Fatalf("handed %d more events", len(evs))
			}
			writeEvent(t, nodes[1].Store, "alice", 2)
			if evs := read(writer); len(evs) != 0 {
				t.Fatalf("the writer was handed %d events of a stream another node holds", len(evs))
			}
			if err := holder.Ack(context.Background(), hookURL, []string{first[0].ID}); err != nil {
				t.Fatal(err)
			}
			got := drain(t, holder, 1, true, time.Second)
			if len(got) != 1 || got[0].TimeMS != 2 {
				t.Fatalf("after the acknowledgement the holder got %+v, want the writer's event", got)
			}
		})
	}
}

// An acknowledgement that fails leaves the events held by nobody alive:
// the node reads their stream again once they can be claimed, and hands
// them again, after the start's sweep and long before the safety sweep.
func TestOutboxFailedAckHandsAgain(t *testing.T) {
	const takeover = 300 * time.Millisecond
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			b := openNodes(t, url, 1, nil)[0]
			ob := b.Store.EnableOutbox([]string{hookURL}, takeover)
			tgt := ob.targets[hookURL]
			writeEvent(t, b.Store, "alice", 1)
			first := drain(t, ob, 1, false, 5*time.Second)
			if len(first) != 1 {
				t.Fatalf("handed %d events, want 1", len(first))
			}
			poll.Until(t, "the sweep after the start", func() bool {
				if more := drain(t, ob, 1, false, 20*time.Millisecond); len(more) != 0 {
					t.Fatalf("handed %d more events", len(more))
				}
				tgt.mu.Lock()
				defer tgt.mu.Unlock()
				return len(tgt.sweeps.all) == 0
			})
			gone, cancel := context.WithCancel(context.Background())
			cancel()
			if err := ob.Ack(gone, hookURL, []string{first[0].ID}); err == nil {
				t.Fatal("acknowledged through a cancelled context")
			}
			failed := time.Now()
			again := drain(t, ob, 1, true, takeover+outboxSweepMargin+2*time.Second)
			if len(again) != 1 || again[0].ID != first[0].ID {
				t.Fatalf("after the failed acknowledgement got %+v, want %s again", again, first[0].ID)
			}
			if took := time.Since(failed); took < takeover {
				t.Fatalf("handed again after %v, before the takeover period", took)
			}
		})
	}
}

// scriptCalls is how many scripts (EVALSHA and EVAL) the Redis server at
// addr ran.
func scriptCalls(t *testing.T, addr string) int64 {
	t.Helper()
	info, err := redistest.DoString(addr, "INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if name != "cmdstat_evalsha" && name != "cmdstat_eval" || !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		c, _ := strconv.ParseInt(calls, 10, 64)
		n += c
	}
	return n
}

// An idle node with webhooks on reads no stream between its sweeps: once
// the sweep of every slot after its start is done, the scripts reaching
// Redis over a few seconds, read as often as the engine may, are its
// lease renewals. A sweep of every slot every 2 s would be 16,384 scripts
// per 2 s.
func TestOutboxIdleReadsNoStream(t *testing.T) {
	const window = 5 * time.Second
	srv := redistest.Start(t)
	b := openNodes(t, srv.URL(), 1, nil)[0]
	renewLease(t, b.Store, "idle")
	ob := b.Store.EnableOutbox([]string{hookURL}, 500*time.Millisecond)
	var reads atomic.Int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if evs, err := ob.Pending(context.Background(), hookURL, 100); err != nil || len(evs) > 0 {
				t.Errorf("idle outbox read %d events, %v", len(evs), err)
				return
			}
			reads.Add(1)
		}
	}()
	defer func() {
		close(stop)
		<-done
	}()
	tgt := ob.targets[hookURL]
	poll.Until(t, "the sweep after the start", func() bool {
		tgt.mu.Lock()
		defer tgt.mu.Unlock()
		return len(tgt.sweeps.all) == 0
	})
	swept := reads.Load() + 1 // the read that swept may still be running
	poll.Until(t, "the read that swept", func() bool { return reads.Load() > swept })
	if n := scriptCalls(t, srv.Addr()); n < slotCount {
		t.Fatalf("%d scripts run by the sweep after the start, want every slot's", n)
	}
	before := scriptCalls(t, srv.Addr())
	<-time.After(window)
	calls := scriptCalls(t, srv.Addr()) - before
	t.Logf("%d scripts in %v of idleness (%.1f/s)", calls, window, float64(calls)/window.Seconds())
	if limit := int64(window/time.Second) + 10; calls > limit {
		t.Fatalf("%d scripts in %v of idleness, want at most %d: a lease renewal a second", calls, window, limit)
	}
}

// TestOutboxNodeProcess is the node TestOutboxTakeoverAfterKill kills: it
// takes every event without acknowledging any, and waits.
func TestOutboxNodeProcess(t *testing.T) {
	url := os.Getenv("OUTBOX_NODE_URL")
	if url == "" {
		t.Skip("run by TestOutboxTakeoverAfterKill")
	}
	want, _ := strconv.Atoi(os.Getenv("OUTBOX_NODE_WANT"))
	b, err := Open(Config{URL: url, Prefix: os.Getenv("OUTBOX_NODE_PREFIX"), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	renewLease(t, b.Store, "child")
	ob := b.Store.EnableOutbox([]string{hookURL}, 2*time.Second)
	got := drain(t, ob, want, false, 10*time.Second)
	for _, ev := range got {
		fmt.Println("handed " + ev.ID)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute)
}

// With two URLs an entry stays until both groups acknowledged it: a
// receiver that is behind still gets every event.
func TestOutboxEntryKeptUntilEveryURLAcknowledged(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			b := openNodes(t, url, 1, nil)[0]
			const other = "http://other.test/hook"
			ob := b.Store.EnableOutbox([]string{hookURL, other}, 0)
			writeEvent(t, b.Store, "alice", 1)
			stream := b.l.outboxKey(Slot(b.l.userKey("alice")))
			length := func() int64 {
				n, err := b.client.Do(context.Background(), b.client.B().Xlen().Key(stream).Build()).AsInt64()
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if got := drain(t, ob, 1, true, 5*time.Second); len(got) != 1 {
				t.Fatalf("first URL got %d events, want 1", len(got))
			}
			if n := length(); n != 1 {
				t.Fatalf("stream length %d after one URL's ack, want 1", n)
			}
			evs, err := ob.Pending(context.Background(), other, 10)
			for deadline := time.Now().Add(5 * time.Second); len(evs) == 0 && err == nil && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
				evs, err = ob.Pending(context.Background(), other, 10)
			}
			if err != nil || len(evs) != 1 || evs[0].UserID != "alice" {
				t.Fatalf("second URL got %+v, %v", evs, err)
			}
			if err := ob.Ack(context.Background(), other, []string{evs[0].ID}); err != nil {
				t.Fatal(err)
			}
			if n := length(); n != 0 {
				t.Fatalf("stream length %d after both acks, want 0", n)
			}
		})
	}
}

// TestRoomEventsWrittenWithTheChange checks that a room's script appends
// the events of the outcome it reached: occupied then joined for the
// first member, left then vacated for the last, and none for a refused
// change or a member's new metadata.
func TestRoomEventsWrittenWithTheChange(t *testing.T) {
	for name, url := range redisURLs(t) {
		t.Run(name, func(t *testing.T) {
			b := openNodes(t, url, 1, nil)[0]
			// A takeover of a minute puts the start-up sweep past the end of
			// the test: the read below finds only what the node marked as
			// written.
			ob := b.Store.EnableOutbox([]string{hookURL}, time.Minute)
			const room = "doc:1"
			ctx := context.Background()
			events := func(ch *presence.RoomChange) []webhook.Event {
				return webhook.RoomEvents(room, ch, time.Now())
			}
			const limit = 2
			join := func(user, mode string) func(*presence.RoomMember, int) (*presence.RoomMember, error) {
				return func(m *presence.RoomMember, n int) (*presence.RoomMember, error) {
					if m == nil && n >= limit {
						return nil, errRoomFull
					}
					return &presence.RoomMember{UserID: user, Connections: []presence.RoomConn{
						{SessionID: "s", Device: "web", Meta: json.RawMessage(`{"mode":"` + mode + `"}`)}}}, nil
				}
			}
			leave := func(*presence.RoomMember, int) (*presence.RoomMember, error) { return nil, nil }
			step := func(what, user string, fn func(*presence.RoomMember, int) (*presence.RoomMember, error), wantErr error, want ...string) {
				t.Helper()
				before := roomStream(t, b, room)
				_, err := b.Rooms.UpdateRoomWithEvents(ctx, room, user, fn, events)
				if !errors.Is(err, wantErr) {
					t.Fatalf("%s: %v, want %v", what, err, wantErr)
				}
				got := roomStream(t, b, room)[len(before):]
				if !slices.Equal(got, want) {
					t.Fatalf("%s wrote %q, want %q", what, got, want)
				}
			}
			step("first join", "alice", join("alice", "viewing"), nil, "room.occupied", "room.member_joined alice")
			step("second join", "bob", join("bob", "viewing"), nil, "room.member_joined bob")
			step("metadata update", "bob", join("bob", "editing"), nil)
			step("join past the limit", "carol", join("carol", "viewing"), errRoomFull)
			refused := errors.New("refused")
			step("refused leave", "bob", func(*presence.RoomMember, int) (*presence.RoomMember, error) { return nil, refused }, refused)
			step("leave", "bob", leave, nil, "room.member_left bob")
			step("last leave", "alice", leave, nil, "room.member_left alice", "room.vacated")
			step("join again", "alice", join("alice", "viewing"), nil, "room.occupied", "room.member_joined alice")

			// The node reads its own events at once (no sweep is due), with
			// their ids, in order.
			got := drain(t, ob, 8, true, time.Second)
			var types []string
			for _, ev := range got {
				if ev.ID == "" || ev.Room != room {
					t.Fatalf("event %+v", ev)
				}
				types = append(types, string(ev.Type))
			}
			want := []string{"room.occupied", "room.member_joined", "room.member_joined", "room.member_left",
				"room.member_left", "room.vacated", "room.occupied", "room.member_joined"}
			if !slices.Equal(types, want) {
				t.Fatalf("read %q, want %q", types, want)
			}
		})
	}
}

var errRoomFull = errors.New("room full")

// roomStream returns the events in the outbox stream of room's slot, as
// "type" or "type user".
func roomStream(t *testing.T, b *Backend, room string) []string {
	t.Helper()
	entries, err := b.client.Do(context.Background(), b.client.B().Xrange().
		Key(b.l.outboxKey(Slot(b.l.roomKeys(room)[0]))).Start("-").End("+").Build()).ToArray()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		ev, entry, ok := decodeEntry(e)
		if !ok {
			t.Fatalf("entry %s undecodable", entry)
		}
		s := string(ev.Type)
		if ev.UserID != "" {
			s += " " + ev.UserID
		}
		out = append(out, s)
	}
	return out
}
