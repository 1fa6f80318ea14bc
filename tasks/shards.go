package tasks

import (
	"strconv"

	"github.com/otpd/otpd/otp"
)

// asynq keeps a queue under one hash tag ("asynq:{<queue>}:…"), so on a
// Redis Cluster every enqueue and dequeue of one queue lands on one master.
// QUEUE_SHARDS spreads a verification's tasks over that many queues, chosen
// by its number's tag: the same verification always uses the same queue
// (its TaskIDs stay unique), and different numbers spread evenly.

// clusterSlots is the size of Redis Cluster's key space.
const clusterSlots = 16384

// Shards names the queues a verification's tasks go to.
type Shards struct{ names []string }

// NewShards names n queues (n < 1 is 1). One shard is QueueName, as
// before sharding. With more, shard i is the first "otp-<k>" whose hash
// slot lies in the i-th of n equal bands of the slot space: a cluster whose
// masters hold equal slot ranges (as `redis-cli --cluster create` makes
// them) gets an equal share of queues on each when n is a multiple of the
// number of masters.
func NewShards(n int) Shards {
	if n <= 1 {
		return Shards{names: []string{QueueName}}
	}
	names := make([]string, n)
	k := 0
	for i := range names {
		lo, hi := i*clusterSlots/n, (i+1)*clusterSlots/n
		for ; ; k++ {
			name := QueueName + "-" + strconv.Itoa(k)
			if slot := int(crc16(name)) % clusterSlots; slot >= lo && slot < hi {
				names[i] = name
				break
			}
		}
	}
	return Shards{names: names}
}

// Names are the queues, in shard order.
func (s Shards) Names() []string { return s.names }

// For is the queue of verification id's tasks. An id that is no
// verification's (it cannot come from the service) goes to the first.
func (s Shards) For(id string) string {
	tag, _ := otp.TagOfID(id)
	return s.names[s.IndexOfTag(tag)]
}

// IndexOfTag is the shard of a number's hash tag: the tag is a keyed hash,
// uniform, and its first 8 hex digits pick. A malformed tag is shard 0.
func (s Shards) IndexOfTag(tag string) int {
	if len(s.names) == 1 || len(tag) < 8 {
		return 0
	}
	v, err := strconv.ParseUint(tag[:8], 16, 32)
	if err != nil {
		return 0
	}
	return int(v % uint64(len(s.names)))
}

// Weights are asynq's queue weights for a worker serving every shard
// equally. With several shards the unsharded queue is served too, at the
// lowest weight, so that tasks queued before QUEUE_SHARDS changed drain.
func (s Shards) Weights() map[string]int {
	w := make(map[string]int, len(s.names)+1)
	for _, n := range s.names {
		w[n] = 10
	}
	if len(s.names) > 1 {
		w[QueueName] = 1
	}
	return w
}

// crc16 is Redis Cluster's key hash (CRC-16/XMODEM) of a key without a
// hash tag of its own; a queue's name is asynq's tag.
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
