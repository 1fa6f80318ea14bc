// Package stack grows a goroutine's stack ahead of deep work.
//
// Go starts a goroutine with a small stack (the average of the process's
// goroutines, most of them idle in a worker) and grows it by copying when
// it runs out. A goroutine that goes deep at once (an asynq task through
// the service, go-redis and twilio-go; a batch lane through go-redis's
// pipeline) grew two or three times, each time copying the deep stack it
// had: 6 to 15% of the worker's CPU in make bench's profiles
// (runtime.newstack). Grow takes such a stack in one step at the
// goroutine's start, while the stack is shallow and cheap to copy; work
// that needs more still grows.
package stack

// frame is a frame that makes a stack of a few KiB grow to 32 KiB, where
// most deliveries end. Not to 64 KiB, though some reach it: stacks of 32
// KiB and more come from the heap, not a per-P cache, and a 32 KiB frame
// cost more than the growth it saved (make bench's profiles: 15% of the
// worker's CPU in stack growth without it, 7% with this frame, 11% with
// twice it).
const frame = 16 << 10

// Grow takes the stack; call it first in the goroutine. Any i will do.
//
// It must not be inlined (its frame would join the caller's) and its
// array must be used, or the compiler would not keep the frame.
//
//go:noinline
func Grow(i int) byte {
	var f [frame]byte
	j := uint(i)
	f[j%frame] = byte(j)
	return f[(j*7)%frame]
}
