// Package roomstoretest is the contract test suite of hub.RoomStore: every
// implementation runs it.
package roomstoretest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/presenced/presenced/hub"
	"github.com/presenced/presenced/presence"
)

// Run runs the suite; newStore returns an empty store.
func Run(t *testing.T, newStore func(t *testing.T) hub.RoomStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s hub.RoomStore)
	}{
		{"MembershipAndVersions", testMembershipAndVersions},
		{"MemberVersions", testMemberVersions},
		{"VersionsSurviveAnEmptyRoom", testVersionsSurviveAnEmptyRoom},
		{"ErrorsChangeNothing", testErrorsChangeNothing},
		{"InvisibleAreNotVisible", testInvisible},
		{"Paging", testPaging},
		{"ConcurrentJoins", testConcurrentJoins},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

var ctx = context.Background()

func conn(id string) presence.RoomConn {
	return presence.RoomConn{SessionID: id, Device: "web", Meta: json.RawMessage(`{"mode":"viewing"}`)}
}

// add adds a connection of user to room.
func add(t *testing.T, s hub.RoomStore, room, user, session string) presence.RoomChange {
	t.Helper()
	ch, err := s.UpdateRoom(ctx, room, user, func(m *presence.RoomMember, _ int) (*presence.RoomMember, error) {
		if m == nil {
			m = &presence.RoomMember{UserID: user, JoinedAt: time.Unix(1790000000, 0)}
		}
		m.Connections = append(m.Connections, conn(session))
		return m, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func remove(t *testing.T, s hub.RoomStore, room, user string) presence.RoomChange {
	t.Helper()
	ch, err := s.UpdateRoom(ctx, room, user, func(*presence.RoomMember, int) (*presence.RoomMember, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func testMembershipAndVersions(t *testing.T, s hub.RoomStore) {
	ch := add(t, s, "doc", "alice", "s1")
	if !ch.Changed || ch.Before != nil || ch.After == nil || ch.Count != 1 || ch.Visible != 1 || ch.V == 0 {
		t.Fatalf("first join = %+v", ch)
	}
	v1 := ch.V
	ch = add(t, s, "doc", "alice", "s2")
	if !ch.Changed || ch.Before == nil || len(ch.After.Connections) != 2 || ch.Count != 1 || ch.V != v1+1 {
		t.Fatalf("second connection = %+v", ch)
	}
	// fn sees the count, and returning the record unchanged changes nothing.
	ch, err := s.UpdateRoom(ctx, "doc", "alice", func(m *presence.RoomMember, count int) (*presence.RoomMember, error) {
		if count != 1 {
			return nil, fmt.Errorf("count = %d", count)
		}
		return m, nil
	})
	if err != nil || ch.Changed || ch.V != v1+1 || ch.Count != 1 {
		t.Fatalf("no-op = %+v, %v", ch, err)
	}
	ch = remove(t, s, "doc", "nobody")
	if ch.Changed || ch.V != v1+1 {
		t.Fatalf("removing a non-member = %+v", ch)
	}
	ch = remove(t, s, "doc", "alice")
	if !ch.Changed || ch.After != nil || ch.Count != 0 || ch.V != v1+2 {
		t.Fatalf("leave = %+v", ch)
	}
}

// testMemberVersions: each record carries the room version of its last
// write, which a node that missed events compares with what it applied.
func testMemberVersions(t *testing.T, s hub.RoomStore) {
	a := add(t, s, "doc", "alice", "s1")
	b := add(t, s, "doc", "bob", "s2")
	if a.After.V != a.V || b.After.V != b.V {
		t.Fatalf("member versions %d, %d; changes at %d, %d", a.After.V, b.After.V, a.V, b.V)
	}
	a = add(t, s, "doc", "alice", "s3")
	// A no-op keeps the version.
	noop, err := s.UpdateRoom(ctx, "doc", "bob", func(m *presence.RoomMember, _ int) (*presence.RoomMember, error) { return m, nil })
	if err != nil || noop.Changed || noop.After.V != b.V {
		t.Fatalf("no-op = %+v, %v", noop, err)
	}
	p, err := s.RoomMembers(ctx, "doc", "", 10)
	if err != nil || len(p.Members) != 2 || p.Members[0].V != a.V || p.Members[1].V != b.V || p.V != a.V {
		t.Fatalf("page = %+v, %v; want alice at %d, bob at %d", p, err, a.V, b.V)
	}
}

func testVersionsSurviveAnEmptyRoom(t *testing.T, s hub.RoomStore) {
	add(t, s, "doc", "alice", "s1")
	last := remove(t, s, "doc", "alice").V
	if p, err := s.RoomMembers(ctx, "doc", "", 10); err != nil || p.Count != 0 || len(p.Members) != 0 {
		t.Fatalf("empty room = %+v, %v", p, err)
	}
	if ch := add(t, s, "doc", "bob", "s2"); ch.V <= last {
		t.Fatalf("version %d after the room emptied at %d", ch.V, last)
	}
}

func testErrorsChangeNothing(t *testing.T, s hub.RoomStore) {
	v := add(t, s, "doc", "alice", "s1").V
	boom := errors.New("boom")
	_, err := s.UpdateRoom(ctx, "doc", "alice", func(m *presence.RoomMember, _ int) (*presence.RoomMember, error) {
		m.Connections = nil
		return nil, boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	p, _ := s.RoomMembers(ctx, "doc", "", 10)
	if p.V != v || p.Count != 1 || len(p.Members[0].Connections) != 1 {
		t.Fatalf("after a failed update: %+v", p)
	}
}

func testInvisible(t *testing.T, s hub.RoomStore) {
	add(t, s, "doc", "alice", "s1")
	add(t, s, "doc", "bob", "s2")
	ch, err := s.UpdateRoom(ctx, "doc", "bob", func(m *presence.RoomMember, _ int) (*presence.RoomMember, error) {
		m.Invisible, m.UserV = true, 7
		return m, nil
	})
	if err != nil || !ch.Changed || ch.Count != 2 || ch.Visible != 1 || !ch.After.Invisible || ch.After.UserV != 7 {
		t.Fatalf("going invisible = %+v, %v", ch, err)
	}
	if ch := remove(t, s, "doc", "bob"); ch.Count != 1 || ch.Visible != 1 {
		t.Fatalf("invisible leaving = %+v", ch)
	}
}

func testPaging(t *testing.T, s hub.RoomStore) {
	for i, u := range []string{"e", "a", "d", "b", "c"} {
		add(t, s, "doc", u, fmt.Sprint("s", i))
	}
	p, err := s.RoomMembers(ctx, "doc", "", 2)
	if err != nil || ids(p) != "a,b" || p.Next != "b" || p.Count != 5 {
		t.Fatalf("page 1 = %+v, %v", p, err)
	}
	held := p.Members[0]
	if p, _ = s.RoomMembers(ctx, "doc", p.Next, 2); ids(p) != "c,d" || p.Next != "d" {
		t.Fatalf("page 2 = %+v", p)
	}
	if p, _ = s.RoomMembers(ctx, "doc", p.Next, 2); ids(p) != "e" || p.Next != "" {
		t.Fatalf("page 3 = %+v", p)
	}
	// after need not be a member; limit 0 reads only the counts.
	if p, _ = s.RoomMembers(ctx, "doc", "bb", 10); ids(p) != "c,d,e" {
		t.Fatalf("after bb = %+v", p)
	}
	if p, _ = s.RoomMembers(ctx, "doc", "", 0); len(p.Members) != 0 || p.Count != 5 || p.V == 0 {
		t.Fatalf("counts only = %+v", p)
	}
	// A record read earlier stays as it was.
	add(t, s, "doc", "a", "s9")
	if len(held.Connections) != 1 {
		t.Fatalf("a record read earlier changed: %+v", held)
	}
}

func testConcurrentJoins(t *testing.T, s hub.RoomStore) {
	const n = 50
	var wg sync.WaitGroup
	vs := make(chan uint64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user := fmt.Sprint("u", i)
			ch, err := s.UpdateRoom(ctx, "doc", user, func(*presence.RoomMember, int) (*presence.RoomMember, error) {
				return &presence.RoomMember{UserID: user, Connections: []presence.RoomConn{conn("s")}}, nil
			})
			if err != nil {
				t.Error(err)
			}
			vs <- ch.V
		}()
	}
	wg.Wait()
	close(vs)
	seen := map[uint64]bool{}
	for v := range vs {
		if seen[v] {
			t.Fatalf("version %d given twice", v)
		}
		seen[v] = true
	}
	if p, _ := s.RoomMembers(ctx, "doc", "", 100); p.Count != n || len(p.Members) != n {
		t.Fatalf("count = %d, %d members", p.Count, len(p.Members))
	}
}

func ids(p presence.RoomPage) string {
	s := ""
	for i, m := range p.Members {
		if i > 0 {
			s += ","
		}
		s += m.UserID
	}
	return s
}
