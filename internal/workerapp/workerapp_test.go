package workerapp

import (
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/apptnotify/apptnotify/workflows"
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
	if o.StickyTimeout != 0 || o.HistoryShards != 8 || o.WorkflowPollers != 0 ||
		o.ActivityPollers != 8 || o.StickyCacheSize != 20000 || o.HistoryCacheSize != 20000 || o.MemoryLimit != 0 {
		t.Errorf("defaults changed without the bench: %+v", o)
	}
	o.StickyTimeout, o.WorkflowPollers = DefaultStickyTimeout, o.workflowPollers(true)
	wo := o.WorkerOptions()
	if wo.StickyScheduleToStartTimeout != 90*time.Second || wo.MaxConcurrentWorkflowTaskPollers != 128 {
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

// The sticky timeout is the spread plus the tolerance: a task that waited longer can only be a missed reminder.
func TestStickyTimeoutCoversTheWindow(t *testing.T) {
	if DefaultStickyTimeout != workflows.MaxReminderSpread+workflows.ReminderTolerance {
		t.Errorf("DefaultStickyTimeout %v, want the spread plus the tolerance", DefaultStickyTimeout)
	}
}

func TestStickyTimeoutDependsOnTheServer(t *testing.T) {
	o := Options{}
	if got := o.stickyTimeout(true); got != 90*time.Second {
		t.Errorf("embedded default %v, want 1m30s", got)
	}
	if got := o.stickyTimeout(false); got != 20*time.Second {
		t.Errorf("cluster default %v, want 20s", got)
	}
	o.StickyTimeout = 45 * time.Second
	if o.stickyTimeout(true) != 45*time.Second || o.stickyTimeout(false) != 45*time.Second {
		t.Error("an explicit --sticky-timeout must win")
	}
}

// The embedded server's timers and workflow tasks share one writer, so the tasks need more pollers there.
func TestWorkflowPollersDependOnTheServer(t *testing.T) {
	o := Options{}
	if got := o.workflowPollers(true); got != 128 {
		t.Errorf("embedded default %d, want 128", got)
	}
	if got := o.workflowPollers(false); got != 16 {
		t.Errorf("cluster default %d, want 16", got)
	}
	o.WorkflowPollers = 2
	if o.workflowPollers(true) != 2 || o.workflowPollers(false) != 2 {
		t.Error("an explicit --workflow-pollers must win")
	}
	for _, embedded := range []bool{true, false} {
		o, err := ParseFlags(nil, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		o.ResolveServerDefaults(embedded)
		wo := o.WorkerOptions()
		if wo.MaxConcurrentWorkflowTaskPollers != o.workflowPollers(embedded) ||
			wo.StickyScheduleToStartTimeout != o.stickyTimeout(embedded) || wo.MaxConcurrentWorkflowTaskPollers == 0 {
			t.Errorf("embedded %t: the worker gets %d pollers and sticky timeout %v", embedded,
				wo.MaxConcurrentWorkflowTaskPollers, wo.StickyScheduleToStartTimeout)
		}
	}
}

func TestMemoryLimit(t *testing.T) {
	none := func(string) string { return "" }
	for _, tc := range []struct {
		args            []string
		limit           int64
		sticky, history int
	}{
		{[]string{"--memory-limit", "2GiB"}, 2 << 30, 14043, 14043},
		{[]string{"--memory-limit", "4GiB"}, 4 << 30, 20000, 20000},
		{[]string{"--memory-limit", "1500MiB"}, 1500 << 20, 9033, 9033},
		{[]string{"--memory-limit", "600MiB"}, 600 << 20, 804, 804},
		{[]string{"--memory-limit", "2GiB", "--sticky-cache", "3000"}, 2 << 30, 3000, 14043},
		{[]string{"--history-cache", "7000", "--memory-limit", "2GiB"}, 2 << 30, 14043, 7000},
		{[]string{"--sticky-cache", "5000", "--history-cache", "5000"}, 0, 5000, 5000},
	} {
		o, err := ParseFlags(tc.args, none)
		if err != nil {
			t.Fatalf("%v: %v", tc.args, err)
		}
		if o.MemoryLimit != tc.limit || o.StickyCacheSize != tc.sticky || o.HistoryCacheSize != tc.history {
			t.Errorf("%v: limit %d, sticky %d, history %d; want %d, %d, %d", tc.args, o.MemoryLimit, o.StickyCacheSize,
				o.HistoryCacheSize, tc.limit, tc.sticky, tc.history)
		}
	}
	for _, bad := range []string{"lots", "-1GiB", "100MiB", "0", "500MiB"} {
		if _, err := ParseFlags([]string{"--memory-limit", bad}, none); err == nil {
			t.Errorf("--memory-limit %q accepted", bad)
		} else if !strings.Contains(err.Error(), "--memory-limit") {
			t.Errorf("--memory-limit %q: the error does not name the flag: %v", bad, err)
		}
	}
}

func TestApplyProcessSettingsSetsTheMemoryLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	o, err := ParseFlags([]string{"--memory-limit", "3GiB"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	o.ApplyProcessSettings()
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Errorf("soft memory limit %d, want %d", got, int64(3<<30))
	}
}
