package hub

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// benchRoom fills room with members connections writing to one counting
// sink.
func benchRoom(b *testing.B, h *Hub, room string, members int) *countSink {
	sink := newCountSink()
	ctx := context.Background()
	for i := range members {
		c := h.Open(fmt.Sprintf("m%05d", i), "web", time.Time{}, sink)
		c.AllowRooms([]string{"*"})
		if err := h.JoinRoom(ctx, c, room, nil, nil); err != nil {
			b.Fatal(err)
		}
	}
	return sink
}

func waitCount(b *testing.B, s *countSink, want int64) {
	for s.frames.Load() < want {
		time.Sleep(20 * time.Microsecond)
	}
}

// BenchmarkRoomSummary10k measures one room_summary of a 10,000-member room
// (100 joins and 100 leaves in the interval): the per-viewer deltas, the
// frames and the writers' drain. CPU per second spent on summaries is
// ns/op divided by the interval (2 s by default).
func BenchmarkRoomSummary10k(b *testing.B) {
	b.Run("no-policy", func(b *testing.B) { benchSummary(b, nil) })
	// A Policy that hides no one still costs a Level call per viewer and
	// changed user.
	b.Run("policy", func(b *testing.B) { benchSummary(b, hidePolicy{"nobody": {"x": true}}) })
	b.Run("policy-restricter", func(b *testing.B) { benchSummary(b, restricting{hidePolicy{"nobody": {"x": true}}}) })
}

func benchSummary(b *testing.B, p Policy) {
	// The fake clock moves 2 s per summary; sessions must outlive the run.
	h, clock := newHub(b, withRooms(func(c *Config) {
		c.Writers, c.Policy, c.HeartbeatInterval, c.HeartbeatTTL = 0, p, time.Hour, 24*time.Hour
	}))
	ctx := context.Background()
	sink := benchRoom(b, h, "hall", 10000)
	churn := make([]*Client, 100)
	for i := range churn {
		churn[i] = h.Open(fmt.Sprintf("c%03d", i), "web", time.Time{}, newCountSink())
		churn[i].AllowRooms([]string{"*"})
	}
	waitCount(b, sink, 10000) // the members' room_states
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		// 100 churners join, then 50 of them leave, and 50 of the
		// previous ones are gone: each summary carries 100 joins and
		// 100 leaves for most viewers.
		for _, c := range churn {
			if c.InRoom("hall") {
				_ = h.LeaveRoom(ctx, c, "hall")
			} else {
				_ = h.JoinRoom(ctx, c, "hall", nil, nil)
			}
		}
		clock.Advance(2 * time.Second)
		before := sink.frames.Load()
		due := h.rooms.sumQ.PopDue(clock.Now(), 0, nil)
		if len(due) != 1 {
			b.Fatalf("%d summaries due, want 1", len(due))
		}
		b.StartTimer()
		for _, rt := range due {
			h.flushSummary(rt)
		}
		waitCount(b, sink, before+10000)
	}
}

// BenchmarkRoomJoinFanout1k measures a join announced one by one to a
// 1,000-member room (--room-announce-max 1001), until every member's
// frame is written.
func BenchmarkRoomJoinFanout1k(b *testing.B) {
	h, _ := newHub(b, withRooms(func(c *Config) { c.RoomAnnounceMax = 1001 }))
	ctx := context.Background()
	sink := benchRoom(b, h, "doc", 1000)
	waitCount(b, sink, 1000*1001/2)
	joiner := h.Open("joiner", "web", time.Time{}, newCountSink())
	joiner.AllowRooms([]string{"*"})
	b.ResetTimer()
	for range b.N {
		before := sink.frames.Load()
		if err := h.JoinRoom(ctx, joiner, "doc", nil, nil); err != nil {
			b.Fatal(err)
		}
		waitCount(b, sink, before+1000)
		b.StopTimer()
		_ = h.LeaveRoom(ctx, joiner, "doc")
		waitCount(b, sink, before+2000)
		b.StartTimer()
	}
}
