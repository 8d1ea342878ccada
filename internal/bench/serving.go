package bench

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// bucket is the width of the herd's throughput buckets.
const bucket = 5 * time.Second

// Serving is how a herd was served over time: reminders sent per 5-second bucket, counted from the first wake-up,
// and which reminders were missed.
type Serving struct {
	// FirstWake is the earliest wake-up relative to the due time, in seconds (−spread or a little more).
	FirstWake float64 `json:"firstWakeSeconds"`
	// Sent[k] counts the appointments whose first reminder delivery came in [first wake-up + 5k s, + 5(k+1) s).
	Sent []int `json:"sentPerBucket"`
	// Peak is the largest bucket; MinOverPeak the smallest bucket before the last one that sent anything, over Peak
	// (the last one is cut short when the herd runs out).
	Peak        int     `json:"peakBucket"`
	MinOverPeak float64 `json:"minBucketOverPeak"`
	// Missed counts the appointments that got no reminder at all; MissedLatest is the share of them that are among the
	// Missed appointments with the latest wake-ups (1: the misses are exactly the latest wake-ups).
	Missed       int     `json:"missedAppointments"`
	MissedLatest float64 `json:"missedLatestShare,omitempty"`
	// InTolerance is the share of appointments whose first reminder delivery came no later than due + 1 minute.
	InTolerance float64 `json:"inToleranceShare"`
}

// serving computes Serving from each appointment's first reminder delivery (zero: none) and wake-up time.
func serving(first, wake []time.Time, due time.Time) Serving {
	var s Serving
	if len(wake) == 0 {
		return s
	}
	w0 := wake[0]
	for _, w := range wake {
		if w.Before(w0) {
			w0 = w
		}
	}
	s.FirstWake = round(w0.Sub(due).Seconds(), 1)
	var missed []int
	inTol := 0
	for i, f := range first {
		if f.IsZero() {
			missed = append(missed, i)
			continue
		}
		if !f.After(due.Add(time.Minute)) {
			inTol++
		}
		k := int(f.Sub(w0) / bucket)
		if k < 0 {
			k = 0
		}
		for len(s.Sent) <= k {
			s.Sent = append(s.Sent, 0)
		}
		s.Sent[k]++
	}
	s.InTolerance = round(float64(inTol)/float64(len(first)), 4)
	for _, c := range s.Sent {
		if c > s.Peak {
			s.Peak = c
		}
	}
	if len(s.Sent) > 1 && s.Peak > 0 {
		min := s.Sent[0]
		for _, c := range s.Sent[:len(s.Sent)-1] {
			if c < min {
				min = c
			}
		}
		s.MinOverPeak = round(float64(min)/float64(s.Peak), 2)
	}
	s.Missed = len(missed)
	if k := len(missed); k > 0 {
		order := make([]int, len(wake))
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(a, b int) bool { return wake[order[a]].After(wake[order[b]]) })
		latest := map[int]bool{}
		for _, i := range order[:k] {
			latest[i] = true
		}
		hit := 0
		for _, i := range missed {
			if latest[i] {
				hit++
			}
		}
		s.MissedLatest = round(float64(hit)/float64(k), 3)
	}
	return s
}

func (s Serving) describe() string {
	parts := make([]string, len(s.Sent))
	for i, c := range s.Sent {
		parts[i] = strconv.Itoa(c)
	}
	d := fmt.Sprintf("reminders sent per %s from the first wake-up (due %+.1f s): [%s]; peak %d, smallest full bucket %.0f%% of it; %.2f%% inside the tolerance",
		bucket, s.FirstWake, strings.Join(parts, " "), s.Peak, 100*s.MinOverPeak, 100*s.InTolerance)
	if s.Missed > 0 {
		d += fmt.Sprintf("; %d appointments missed, %.1f%% of them among the %d latest wake-ups", s.Missed, 100*s.MissedLatest, s.Missed)
	}
	return d
}
