package stack

import (
	"math"
	"testing"
)

// Callers pass whatever int they have at hand (a length, a constant); none
// may index outside the frame.
func TestGrowTakesAnyInt(t *testing.T) {
	for _, i := range []int{0, 1, -1, frame, frame - 1, math.MaxInt, math.MinInt} {
		Grow(i)
	}
}
