package redisstore

import (
	"strconv"
	"testing"

	"github.com/presenced/presenced/internal/redistest"
)

// TestSlotMatchesRedis compares our slot function with the server's.
func TestSlotMatchesRedis(t *testing.T) {
	start(t)
	addr := shared.cluster.Nodes[0].Addr()
	for _, key := range []string{"", "a", "alice", "pd:{u:alice}", "pd:{u:alice}:x", "{}x", "a{b}c", "x{}{y}", "pd:{u:a}b}", "ünïcödé"} {
		want, err := redistest.Do(addr, "CLUSTER", "KEYSLOT", key)
		if err != nil {
			t.Fatal(err)
		}
		if got := Slot(key); int64(got) != want.(int64) {
			t.Errorf("Slot(%q) = %d, redis says %d", key, got, want)
		}
	}
}

// TestSpreadTagsCoverTheSlotRange checks that shard i's tag falls in the
// i-th part of the slot range, so shards spread over the masters.
func TestSpreadTagsCoverTheSlotRange(t *testing.T) {
	l := newLayout("pd:")
	for i, tag := range l.shardTags {
		if s := int(Slot("{" + tag + "}")); s < i*slotCount/DeadlineShards || s >= (i+1)*slotCount/DeadlineShards {
			t.Errorf("shard %d tag %q in slot %d", i, tag, s)
		}
	}
	for i := range ChannelPartitions {
		ch, p := l.channel("u:user" + strconv.Itoa(i))
		if s := int(Slot(ch)); s < p*slotCount/ChannelPartitions || s >= (p+1)*slotCount/ChannelPartitions {
			t.Errorf("channel %q of partition %d in slot %d", ch, p, s)
		}
	}
	if a, b := Slot(l.userKey("alice")), Slot(l.userKey("alice")+":x"); a != b {
		t.Errorf("one user's keys in slots %d and %d", a, b)
	}
}

// TestPlacementIgnoresThePrefix: UserSlots, RoomSlot and TopicSlot give the
// slots a node uses whatever its key prefix.
func TestPlacementIgnoresThePrefix(t *testing.T) {
	for _, prefix := range []string{"pd:", "other:"} {
		l := newLayout(prefix)
		for _, id := range []string{"alice", "bob}x", "doc:42"} {
			record, shard, channel := UserSlots(id)
			ch, _ := l.channel("u:" + id)
			if record != Slot(l.userKey(id)) || shard != Slot(l.shardKey(userShard(id))) || channel != Slot(ch) {
				t.Fatalf("%s%s: slots %d %d %d", prefix, id, record, shard, channel)
			}
			room, _ := l.channel("r:" + id)
			if RoomSlot(id) != Slot(l.roomKeys(id)[0]) || TopicSlot("r:"+id) != Slot(room) {
				t.Fatalf("%sroom %s: slots %d %d", prefix, id, RoomSlot(id), TopicSlot("r:"+id))
			}
		}
	}
}
