package orgs

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// TestSendersRouteByEveryOrganisation (docs/rules.md#suppression): a STOP texted to a number is routed to every
// organisation that sends from it, the config file's and those written through the API alike (numbers compared in
// E.164). The index reads an API organisation's document only when its revision changes; it is at most
// SendersMaxAge old; a number no organisation sends from lists the organisations again at once (a tenant onboarded
// seconds ago is found), but not more often than SendersMissRefresh; a listing error is returned.
func TestSendersRouteByEveryOrganisation(t *testing.T) {
	file, err := config.Parse([]byte(`
organizations:
  - {id: clinic, platform: genesys, email_from: care@clinic.example, sms_from: "+14155550101"}
`))
	require.NoError(t, err)
	docs := map[string]string{"tenant-a": "+14155550102", "tenant-b": "+14155550101"}
	revs := map[string]int64{"tenant-a": 1, "tenant-b": 1}
	reads, lists := 0, 0
	var listErr error
	query := func(_ context.Context, id string) (appt.OrgSettings, bool, error) {
		from, ok := docs[id]
		if !ok {
			return appt.OrgSettings{}, false, nil
		}
		reads++
		doc, _ := json.Marshal(map[string]any{"id": id, "platform": "genesys", "email_from": "care@" + id + ".example",
			"sms_from": from})
		return appt.OrgSettings{OrgDocument: appt.OrgDocument{Document: doc, Revision: revs[id]}}, true, nil
	}
	list := func(context.Context) (map[string]int64, error) {
		lists++
		out := map[string]int64{}
		for id, r := range revs {
			out[id] = r
		}
		return out, listErr
	}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	s := NewSenders(file, NewDirectory(file, query, DirectoryOptions{}), list)
	s.now = func() time.Time { return now }
	ctx := context.Background()
	route := func(number string) []string {
		t.Helper()
		out, err := s.OrgsSendingFrom(ctx, number)
		require.NoError(t, err)
		return out
	}

	require.NoError(t, s.Warm(ctx))
	assert.Equal(t, 1, lists, "Warm builds the index")
	assert.Equal(t, []string{"clinic", "tenant-b"}, route("+14155550101"), "the file's and the API's organisation")
	assert.Equal(t, 2, reads, "each API organisation's document read once")
	assert.Equal(t, []string{"tenant-a"}, route("+1 (415) 555-0102"))
	assert.Equal(t, 1, lists, "inside SendersMaxAge nothing is listed again")

	assert.Empty(t, route("+14155550199"), "a number nobody sends from")
	assert.Equal(t, 1, lists, "a miss within SendersMissRefresh of the listing lists nothing")

	now = now.Add(3 * time.Second)
	docs["tenant-c"], revs["tenant-c"] = "+14155550103", 1
	assert.Equal(t, []string{"tenant-c"}, route("+14155550103"), "a tenant onboarded since is found by the miss")
	assert.Equal(t, 2, lists)
	assert.Equal(t, 3, reads, "only the new organisation's document is read")

	now = now.Add(SendersMaxAge + time.Second)
	docs["tenant-a"], revs["tenant-a"] = "+14155550104", 2
	assert.Equal(t, []string{"tenant-a"}, route("+14155550104"), "a changed number is routed after SendersMaxAge")
	assert.Equal(t, 4, reads, "only the changed organisation's document is read again")
	assert.Empty(t, route("+14155550102"), "the old number no longer routes to it")

	now = now.Add(SendersMaxAge + time.Second)
	listErr = errors.New("visibility unavailable")
	_, err = s.OrgsSendingFrom(ctx, "+14155550101")
	assert.ErrorContains(t, err, "visibility unavailable")
}
