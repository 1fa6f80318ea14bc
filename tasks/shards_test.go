package tasks

import (
	"fmt"
	"testing"
)

func TestCRC16IsRedisKeySlot(t *testing.T) {
	// Redis's own figures: CRC16("123456789") = 0x31C3 (its crc16.c test),
	// CLUSTER KEYSLOT foo = 12182, bar = 5061, hello = 866.
	if got := crc16("123456789"); got != 0x31C3 {
		t.Fatalf("crc16 = %#x", got)
	}
	for key, slot := range map[string]int{"foo": 12182, "bar": 5061, "hello": 866} {
		if got := int(crc16(key)) % clusterSlots; got != slot {
			t.Errorf("slot(%s) = %d, want %d", key, got, slot)
		}
	}
}

func TestShards(t *testing.T) {
	if got := NewShards(1).Names(); len(got) != 1 || got[0] != QueueName {
		t.Fatalf("one shard: %v", got)
	}
	if w := NewShards(1).Weights(); len(w) != 1 || w[QueueName] == 0 {
		t.Fatalf("one shard's weights %v", w)
	}
	for _, n := range []int{2, 3, 6, 12} {
		s := NewShards(n)
		seen := map[string]bool{}
		for i, name := range s.Names() {
			slot := int(crc16(name)) % clusterSlots
			if slot < i*clusterSlots/n || slot >= (i+1)*clusterSlots/n || seen[name] || name == QueueName {
				t.Fatalf("%d shards: %s (slot %d) is not in band %d", n, name, slot, i)
			}
			seen[name] = true
		}
		if w := s.Weights(); len(w) != n+1 || w[QueueName] >= w[s.Names()[0]] {
			t.Fatalf("%d shards' weights %v: every shard equal, the old queue last", n, w)
		}
		// Numbers spread evenly, and a verification keeps its shard.
		count := map[string]int{}
		const ids = 30000
		for i := range ids {
			id := fmt.Sprintf("VE%020x%012x", uint64(i)*0x9E3779B97F4A7C15, i)
			q := s.For(id)
			if q != s.For(id) {
				t.Fatal("a verification changed shard")
			}
			count[q]++
		}
		for q, c := range count {
			if share := float64(c) * float64(n) / ids; share < 0.9 || share > 1.1 {
				t.Errorf("%d shards: %s got %.2f of its fair share", n, q, share)
			}
		}
	}
}
