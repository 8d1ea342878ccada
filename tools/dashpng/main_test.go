package main

import (
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// series is a bench series file of three scrapes: two REMINDERs woke at +0.5 s and +90 s, one sent and one
// skipped_missed, between the first and the last.
const series = `# at 1000
# TYPE apptnotify_notification_lateness_seconds histogram
apptnotify_notification_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="1"} 1
apptnotify_notification_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="60"} 1
apptnotify_notification_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="+Inf"} 1
apptnotify_notification_lateness_seconds_sum{namespace="default",org="acme",type="REMINDER"} 0.2
apptnotify_notification_lateness_seconds_count{namespace="default",org="acme",type="REMINDER"} 1
# TYPE apptnotify_notifications_total counter
apptnotify_notifications_total{org="acme",status="sent",type="CREATE"} 3
# at 6000
# TYPE apptnotify_notification_lateness_seconds histogram
apptnotify_notification_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="1"} 2
apptnotify_notification_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="60"} 2
apptnotify_notification_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="+Inf"} 2
apptnotify_notification_lateness_seconds_sum{namespace="default",org="acme",type="REMINDER"} 0.7
apptnotify_notification_lateness_seconds_count{namespace="default",org="acme",type="REMINDER"} 2
# TYPE apptnotify_notifications_total counter
apptnotify_notifications_total{org="acme",status="sent",type="CREATE"} 3
apptnotify_notifications_total{org="acme",status="sent",type="REMINDER"} 1
# at 11000
# TYPE apptnotify_notification_lateness_seconds histogram
apptnotify_notification_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="1"} 2
apptnotify_notification_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="60"} 2
apptnotify_notification_lateness_seconds_bucket{namespace="default",org="acme",type="REMINDER",le="+Inf"} 3
apptnotify_notification_lateness_seconds_sum{namespace="default",org="acme",type="REMINDER"} 90.7
apptnotify_notification_lateness_seconds_count{namespace="default",org="acme",type="REMINDER"} 3
# TYPE apptnotify_notifications_total counter
apptnotify_notifications_total{org="acme",status="sent",type="CREATE"} 3
apptnotify_notifications_total{org="acme",status="sent",type="REMINDER"} 1
apptnotify_notifications_total{org="acme",status="skipped_missed",type="REMINDER"} 1
`

// TestRenderFromSeries: the lateness panel is the increase of each bucket over the run, de-cumulated (one ≤1 s,
// one past 60 s: not the one observed before the run), the outcomes panel the increase by status in each step,
// and the PNG is written.
func TestRenderFromSeries(t *testing.T) {
	blocks, err := readSeries(strings.NewReader(series))
	require.NoError(t, err)
	require.Len(t, blocks, 3)
	assert.Equal(t, []bucket{{le: 1, count: 1}, {le: 60, count: 0}, {le: math.Inf(1), count: 1}}, lateness(blocks[0], blocks[2]))
	out := outcomesOverTime(blocks, 5*time.Second)
	assert.Equal(t, []outcome{{at: time.UnixMilli(6000), count: 1}, {at: time.UnixMilli(11000), count: 0}}, out["sent"])
	assert.Equal(t, []outcome{{at: time.UnixMilli(6000), count: 0}, {at: time.UnixMilli(11000), count: 1}}, out["skipped_missed"])

	dir := t.TempDir()
	in, pngPath := filepath.Join(dir, "series.txt"), filepath.Join(dir, "out.png")
	require.NoError(t, os.WriteFile(in, []byte(series), 0o600))
	require.NoError(t, run(in, pngPath, 5*time.Second))
	f, err := os.Open(pngPath)
	require.NoError(t, err)
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err)
	assert.Greater(t, img.Bounds().Dx(), 500)

	assert.Error(t, run(filepath.Join(dir, "missing.txt"), pngPath, time.Second))
}
