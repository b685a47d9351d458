package redisstore

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/presenced/presenced/presence"
	"github.com/presenced/presenced/privacy"
)

// BenchmarkUpdateSettings blocks and unblocks a user of someone with 100
// contacts: one read and one compare-and-set each.
func BenchmarkUpdateSettings(b *testing.B) {
	ctx := context.Background()
	for name, url := range redisURLs(b) {
		b.Run(name, func(b *testing.B) {
			s := openNodes(b, url, 1, nil)[0].Settings
			if _, err := s.UpdateSettings(ctx, "alice", func(p *privacy.Settings) error {
				for i := range 100 {
					p.Contacts = append(p.Contacts, "c"+strconv.Itoa(i))
				}
				return nil
			}); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := s.UpdateSettings(ctx, "alice", func(p *privacy.Settings) error {
					if i%2 == 0 {
						p.Blocks = []string{"bob"}
					} else {
						p.Blocks = nil
					}
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadSettings1000 reads the settings of 1,000 users, half of
// whom have some.
func BenchmarkLoadSettings1000(b *testing.B) {
	ctx := context.Background()
	for name, url := range redisURLs(b) {
		b.Run(name, func(b *testing.B) {
			s := openNodes(b, url, 1, nil)[0].Settings
			ids := make([]string, 1000)
			for i := range ids {
				ids[i] = "u" + strconv.Itoa(i)
				if i%2 == 0 {
					if _, err := s.UpdateSettings(ctx, ids[i], func(p *privacy.Settings) error {
						p.Visibility, p.Contacts = privacy.Contacts, []string{"a", "b", "c"}
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ResetTimer()
			for range b.N {
				if _, err := s.LoadSettings(ctx, ids); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRoomJoinLeave joins and leaves a room of 100 members.
func BenchmarkRoomJoinLeave(b *testing.B) {
	ctx := context.Background()
	conn := presence.RoomConn{SessionID: "s", Device: "web", Meta: json.RawMessage(`{"mode":"viewing"}`)}
	join := func(user string) func(*presence.RoomMember, int) (*presence.RoomMember, error) {
		return func(m *presence.RoomMember, _ int) (*presence.RoomMember, error) {
			return &presence.RoomMember{UserID: user, Connections: []presence.RoomConn{conn}}, nil
		}
	}
	leave := func(*presence.RoomMember, int) (*presence.RoomMember, error) { return nil, nil }
	for name, url := range redisURLs(b) {
		b.Run(name, func(b *testing.B) {
			r := openNodes(b, url, 1, nil)[0].Rooms
			for i := range 100 {
				if _, err := r.UpdateRoom(ctx, "doc", "m"+strconv.Itoa(i), join("m"+strconv.Itoa(i))); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := range b.N {
				fn := join("x")
				if i%2 == 1 {
					fn = leave
				}
				if _, err := r.UpdateRoom(ctx, "doc", "x", fn); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
