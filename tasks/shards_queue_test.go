package tasks_test

import (
	"context"
	"testing"
	"time"

	"github.com/otpd/otpd/otp"
	"github.com/otpd/otpd/tasks"
)

// With QUEUE_SHARDS, a verification's send, step timeout and expiry check
// go to its shard's queue, and the same attempt twice is still one task.
func TestShardedQueue(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	shards := tasks.NewShards(3)
	q := tasks.NewQueue(f.Asynq, shards)
	w := tasks.NewWebhooks(q, f.Events)
	used := map[string]bool{}
	for _, to := range []string{"+14155550100", "+14155550101", "+14155550102", "+14155550103", "+14155550104", "+14155550105"} {
		id, err := f.Codec.NewID(f.Codec.Tag(to))
		if err != nil {
			t.Fatal(err)
		}
		queue := shards.For(id)
		used[queue] = true
		job := otp.DeliveryJob{ID: id, Attempt: 1, ValidFor: time.Minute}
		for range 2 {
			if err := q.EnqueueDelivery(ctx, job); err != nil {
				t.Fatal(err)
			}
		}
		if err := q.ScheduleStep(ctx, id, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := w.ScheduleExpiry(ctx, id, time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := f.insp.GetTaskInfo(queue, id+":1"); err != nil {
			t.Fatalf("send of %s not in %s: %v", id, queue, err)
		}
		for _, task := range []string{id + ":s1", id + ":expire"} {
			if _, err := f.insp.GetTaskInfo(queue, task); err != nil {
				t.Fatalf("%s not in %s: %v", task, queue, err)
			}
		}
	}
	total := 0
	for _, name := range shards.Names() {
		info, err := f.insp.GetQueueInfo(name)
		if err == nil {
			total += info.Pending
		}
	}
	if total != 6 || len(used) < 2 {
		t.Fatalf("%d pending sends over %d shards, want 6 over several", total, len(used))
	}
	if _, err := f.insp.GetQueueInfo(tasks.QueueName); err == nil {
		t.Fatal("a sharded send went to the unsharded queue")
	}
}
