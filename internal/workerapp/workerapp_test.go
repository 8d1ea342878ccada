package workerapp

import (
	"runtime/debug"
	"testing"
	"time"
)

func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)

	if got := TuneGC(func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	}); got != "150" {
		t.Errorf("with GOGC=150 in the environment TuneGC reported %q", got)
	}
	if cur := debug.SetGCPercent(100); cur != 100 {
		t.Errorf("GOGC in the environment must win, but the percentage became %d", cur)
	}

	if got := TuneGC(func(string) string { return "" }); got != "200" {
		t.Errorf("without GOGC TuneGC reported %q, want 200", got)
	}
	if cur := debug.SetGCPercent(100); cur != DefaultGCPercent {
		t.Errorf("without GOGC the percentage is %d, want %d", cur, DefaultGCPercent)
	}
}

func TestTuningDefaults(t *testing.T) {
	o, err := ParseFlags(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if o.StickyTimeout != 20*time.Second || o.HistoryShards != 8 || o.WorkflowPollers != 16 ||
		o.ActivityPollers != 8 || o.StickyCacheSize != 20000 {
		t.Errorf("defaults changed without the bench: %+v", o)
	}
	wo := o.WorkerOptions()
	if wo.StickyScheduleToStartTimeout != 20*time.Second || wo.MaxConcurrentWorkflowTaskPollers != 16 {
		t.Errorf("worker options: sticky %v, pollers %d", wo.StickyScheduleToStartTimeout, wo.MaxConcurrentWorkflowTaskPollers)
	}
	o, err = ParseFlags([]string{"--sticky-timeout", "0", "--history-shards", "1"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if wo := o.WorkerOptions(); wo.StickyScheduleToStartTimeout != 0 || o.HistoryShards != 1 {
		t.Errorf("--sticky-timeout 0 must leave the SDK default, --history-shards 1 must give 1: %v, %d",
			wo.StickyScheduleToStartTimeout, o.HistoryShards)
	}
}
