package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestServing(t *testing.T) {
	due := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	// Four appointments waking 30, 20, 10 and 0 s before due; the first two sent, the last two missed.
	wake := []time.Time{due.Add(-30 * time.Second), due.Add(-20 * time.Second), due.Add(-10 * time.Second), due}
	first := []time.Time{due.Add(-29 * time.Second), due.Add(-14 * time.Second), {}, {}}
	s := serving(first, wake, due)
	assert.Equal(t, -30.0, s.FirstWake)
	assert.Equal(t, []int{1, 0, 0, 1}, s.Sent, "sends counted in 5-s buckets from the first wake-up")
	assert.Equal(t, 1, s.Peak)
	assert.Equal(t, 0.0, s.MinOverPeak, "an empty bucket before the last is the smallest")
	assert.Equal(t, 2, s.Missed)
	assert.Equal(t, 1.0, s.MissedLatest, "the two missed are the two latest wake-ups")
	assert.Equal(t, 0.5, s.InTolerance)

	// The same herd, but the earliest riser missed and a late one sent: half the misses are among the latest.
	first = []time.Time{{}, due.Add(-14 * time.Second), {}, due.Add(70 * time.Second)}
	s = serving(first, wake, due)
	assert.Equal(t, 0.5, s.MissedLatest)
	assert.Equal(t, 0.25, s.InTolerance, "a send after due + 60 s is outside the tolerance")
}

func TestParseDelta(t *testing.T) {
	m := parseDelta("== SDK (worker): 2 metrics changed during the herd window\na 3\nb 1.500\n== server: 1\na 7\n")
	assert.Equal(t, map[string]float64{"a": 3, "b": 1.5}, m)
}

func TestRound(t *testing.T) {
	assert.Equal(t, -30.0, round(-29.999, 1))
	assert.Equal(t, -6.5, round(-6.45, 1))
	assert.Equal(t, 2.35, round(2.345, 2))
}
