package stacktest_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/orgs"
	"github.com/apptnotify/apptnotify/internal/seal"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// TestOrgScale measures organisations as run-time data on the embedded server (docs/performance.md,
// "Organisations"): APPTNOTIFY_ORG_SCALE organisations, each with 2 subscribers and its own templates, written
// through the Go API; it reports the process's RSS (server, worker and API in one process), the time to list
// them, and the cost of a send's settings read on a cache miss (a query of the settings workflow) and a hit. It
// runs only when the variable is set: it is a measurement, not a rule.
func TestOrgScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("APPTNOTIFY_ORG_SCALE"))
	if n <= 0 {
		t.Skip("set APPTNOTIFY_ORG_SCALE=1000 to measure")
	}
	e := startAPIEnv(t)
	key, err := seal.NewPrivateKey()
	require.NoError(t, err)
	opener, err := seal.ParsePrivateKeys(key)
	require.NoError(t, err)
	c := api.New(e.tc, config.Demo())
	c.DataConverter = codec.DataConverter(e.ring, nil)
	c.UseOrgDirectory(opener.Sealer(), nil)
	ctx := context.Background()
	rss0 := rssKiB(t)
	start := time.Now()
	for i := range n {
		id := fmt.Sprintf("scale-%04d", i)
		doc := &config.Org{ID: id, Platform: appt.Genesys, EmailFrom: "Care <care@" + id + ".example>",
			Templates: map[string]string{
				"create.subject.txt": "Booking " + id + " {{.AppointmentID}}",
				"de/create.txt":      "Ihr Termin " + id + " am {{.Start}}",
			},
			Webhooks: []config.Webhook{
				{URL: "https://a." + id + ".example/hook", Secret: testenv.WebhookSecret},
				{URL: "https://b." + id + ".example/hook", Secret: testenv.WebhookSecret},
			}}
		_, err := c.PutOrg(ctx, "env-scale", doc, nil)
		require.NoError(t, err)
	}
	write := time.Since(start)
	rss1 := rssKiB(t)
	var listed []api.OrgSummary
	require.Eventually(t, func() bool {
		listed, err = c.ListOrgs(ctx)
		require.NoError(t, err)
		return len(listed) >= n
	}, time.Minute, 200*time.Millisecond)
	start = time.Now()
	const lists = 5
	for range lists {
		listed, err = c.ListOrgs(ctx)
		require.NoError(t, err)
	}
	list := time.Since(start) / lists

	// A send's settings read: a miss queries the settings workflow and decodes the document (and opens its
	// secrets and puts its templates in force when the revision is new); a hit is the cache.
	miss := orgs.NewDirectory(config.Demo(), orgs.TemporalQuery(e.tc), orgs.DirectoryOptions{Opener: opener})
	start = time.Now()
	const reads = 200
	for i := range reads {
		_, err := miss.Lookup(ctx, fmt.Sprintf("scale-%04d", i%n))
		require.NoError(t, err)
	}
	missCost := time.Since(start) / reads
	hit := orgs.NewDirectory(config.Demo(), orgs.TemporalQuery(e.tc), orgs.DirectoryOptions{Opener: opener, TTL: time.Second})
	_, err = hit.Lookup(ctx, "scale-0000")
	require.NoError(t, err)
	start = time.Now()
	const hits = 100000
	for range hits {
		_, _ = hit.Lookup(ctx, "scale-0000")
	}
	hitCost := time.Since(start) / hits
	t.Logf("organisations: %d (%d listed); writes %s (%.1f ms each); RSS %d MiB before, %d MiB after (+%d MiB); "+
		"list %s; settings read: miss %s, hit %s",
		n, len(listed), write.Round(time.Millisecond), float64(write.Milliseconds())/float64(n), rss0/1024, rss1/1024,
		(rss1-rss0)/1024, list.Round(time.Millisecond), missCost.Round(time.Microsecond), hitCost)
}

func rssKiB(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}
