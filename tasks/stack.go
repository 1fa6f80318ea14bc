package tasks

// asynq runs every task on a goroutine of its own, and Go starts a
// goroutine with a small stack (the average of the process's goroutines,
// most of them idle). A delivery goes deep (asynq, the service, go-redis's
// pipeline, twilio-go and net/http), so its goroutine grew its stack two or
// three times, each time copying the deep stack it had: 6 to 15% of the
// worker's CPU in make bench's profiles (runtime.newstack). growStack takes
// the stack such a task ends with in one step, at its start, while the
// stack is shallow and cheap to copy; a task that needs more still grows.

// taskFrame is a frame that makes a stack of a few KiB grow to 32 KiB,
// where most deliveries end. Not to 64 KiB, though some reach it: stacks
// of 32 KiB and more come from the heap, not a per-P cache, and a 32 KiB
// frame cost more than the growth it saved (make bench's profiles: 15% of
// the worker's CPU in stack growth without growStack, 7% with this frame,
// 11% with twice it).
const taskFrame = 16 << 10

// growStack must not be inlined (its frame would join the caller's) and
// its array must be used, or the compiler would not keep the frame.
//
//go:noinline
func growStack(i int) byte {
	var frame [taskFrame]byte
	frame[i%taskFrame] = byte(i)
	return frame[(i*7)%taskFrame]
}
