package redisstore

import (
	"hash/fnv"
	"strconv"
	"sync"
)

// The key layout. Every key starts with the configured prefix (default
// "pd:"); the part in braces is the Redis Cluster hash tag that picks the
// slot. docs/redis.md describes the layout in full.
//
//	<p>{u:<id>}            hash: the user's record (s, r, v, hv, n)
//	<p>{d:<n>}             sorted set: one deadline shard (user → unix ms)
//	<p>{d:<n>}:r           hash: the revision of each user's shard entry
//	<p>{c:<n>}u:<id>       sharded pub/sub channel of one user
//	<p>{c:<n>}ctl          the control channel every node subscribes
//	<p>{l}                 sorted set: node leases (node → lapse, unix ms)
//	<p>{l}:r               hash: each leased node's last renewal (unix ms)
//	<p>{l}:conns           hash: each leased node's open connections at its
//	                       last renewal
//	<p>{l}:x:<node>        string: a lapsed node's lease, claimed or ended
//	<p>{d:<n>}:n:<node>    sorted set: the users of deadline shard n with a
//	                       session of node
//	<p>{o:<k>}:n           hash: the live counts of the records in one slot
//	                       (u users with a session, s sessions); o:<k> is
//	                       the slot's tag, as for its outbox stream
//
// A user id may contain "}", which ends the hash tag early: such a user's
// keys still share one slot (the tag is cut at the same place in each),
// and keys stay distinct because the suffixes contain no "}".

// userKey returns the key of a user's record.
func (s *layout) userKey(id string) string { return s.prefix + "{u:" + id + "}" }

// DeadlineShards is the number of sorted sets deadlines are spread over.
// The live nodes share the polling of them, each shard polled by one node
// once per lease period (see Store.ClaimDue).
const DeadlineShards = 16

// ChannelPartitions is the number of slots the user channels are spread
// over. A node holds one pub/sub connection per partition it listens on.
const ChannelPartitions = 16

// layout computes key and channel names for one prefix.
type layout struct {
	prefix     string
	shardTags  [DeadlineShards]string
	channelTag [ChannelPartitions]string
}

func newLayout(prefix string) *layout {
	l := &layout{prefix: prefix}
	for i := range l.shardTags {
		l.shardTags[i] = spreadTag("d:", i, DeadlineShards)
	}
	for i := range l.channelTag {
		l.channelTag[i] = spreadTag("c:", i, ChannelPartitions)
	}
	return l
}

func (l *layout) shardKey(i int) string   { return l.prefix + "{" + l.shardTags[i] + "}" }
func (l *layout) leaseKey() string        { return l.prefix + "{l}" }
func (l *layout) leaseRenewedKey() string { return l.prefix + "{l}:r" }
func (l *layout) leaseEndedKey(node string) string {
	return l.prefix + "{l}:x:" + node
}

// nodeUsersKey returns the key of node's users in deadline shard i: a
// user's entry lies with its deadline entry, so that indexing a connect
// needs no other master than writing its deadlines does.
func (l *layout) nodeUsersKey(i int, node string) string { return l.shardKey(i) + ":n:" + node }
func (l *layout) shardRevKey(i int) string               { return l.prefix + "{" + l.shardTags[i] + "}:r" }

// userShard returns the deadline shard of a user.
func userShard(id string) int { return int(hash32(id) % DeadlineShards) }

// userPartition returns the channel partition of a user.
func userPartition(id string) int { return int(hash32(id) % ChannelPartitions) }

// channel returns the pub/sub channel of a bus topic, and its partition.
// The control topic lives in partition 0.
func (l *layout) channel(topic string) (string, int) {
	if topic == controlTopic {
		return l.prefix + "{" + l.channelTag[0] + "}ctl", 0
	}
	p := userPartition(topic)
	return l.prefix + "{" + l.channelTag[p] + "}" + topic, p
}

// UserSlots returns the slots of a user's record, deadline shard and
// channel: which masters of a cluster hold what of the user. Slots do not
// depend on the key prefix, which lies outside the hash tags.
func UserSlots(id string) (record, shard, channel uint16) {
	l := slotLayout()
	return Slot(l.userKey(id)), Slot(l.shardKey(userShard(id))), TopicSlot("u:" + id)
}

// RoomSlot returns the slot of a room's keys.
func RoomSlot(room string) uint16 { return Slot(slotLayout().roomKeys(room)[0]) }

// TopicSlot returns the slot of a hub topic's channel ("u:<id>",
// "r:<room>", "ctl").
func TopicSlot(topic string) uint16 {
	ch, _ := slotLayout().channel(topic)
	return Slot(ch)
}

// slotLayout is a layout for computing slots; its prefix is irrelevant.
var slotLayout = sync.OnceValue(func() *layout { return newLayout("") })

// controlTopic is the hub's control topic; hub topics of users are "u:<id>".
const controlTopic = "ctl"

func hash32(s string) uint32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(s))
	return h.Sum32()
}

// spreadTag returns the hash tag of shard i of n: base followed by the
// smallest number that puts the tag in the i-th n-th of the slot range.
// Clusters split slots into contiguous ranges per master, so shards spread
// evenly over masters. Every node computes the same tags.
func spreadTag(base string, i, n int) string {
	lo, hi := i*slotCount/n, (i+1)*slotCount/n
	for k := 0; ; k++ {
		tag := base + strconv.Itoa(k)
		if s := int(Slot(tag)); s >= lo && s < hi {
			return tag
		}
	}
}

const slotCount = 16384

// Slot returns the Redis Cluster slot of key, honouring hash tags.
func Slot(key string) uint16 {
	if i := indexByte(key, '{'); i >= 0 {
		if j := indexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return crc16(key) % slotCount
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// crc16 is CRC-16/XMODEM, the checksum Redis Cluster uses for slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}
