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
// E.164). The index reads an API organisation's document only when its revision changes; it is refreshed once
// older than SendersMaxAge; a number no organisation sends from lists the organisations again at once (a tenant
// onboarded seconds ago is found), but not more often than SendersMissRefresh; an organisation whose document
// cannot be read keeps its previous entry without failing the others; a failed listing leaves the index answering
// as it was, and only a miss gets the error.
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
	badRead := ""
	query := func(_ context.Context, id string) (appt.OrgSettings, bool, error) {
		if id == badRead {
			return appt.OrgSettings{}, false, errors.New("query timed out")
		}
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
	s.background = func(f func()) { f() } // the refresh behind an answer, run in place
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

	// One organisation whose document cannot be read keeps its previous entry; the others are routed.
	now = now.Add(SendersMaxAge + time.Second)
	docs["tenant-b"], revs["tenant-b"] = "+14155550105", 2
	badRead = "tenant-b"
	assert.Equal(t, []string{"clinic", "tenant-b"}, route("+14155550101"), "tenant-b keeps its previous number")
	assert.Equal(t, int64(1), s.revs["tenant-b"], "…and its old revision, so it is read again next time")
	badRead = ""

	// A listing that fails: the index answers as it was; a miss, which needs a fresh listing, gets the error.
	now = now.Add(SendersMaxAge + time.Second)
	listErr = errors.New("visibility unavailable")
	assert.Equal(t, []string{"clinic", "tenant-b"}, route("+14155550101"), "a stale index still answers")
	_, err = s.OrgsSendingFrom(ctx, "+14155550199")
	assert.ErrorContains(t, err, "visibility unavailable")
}

// TestSendersRecordTheRevisionRead: a document read from a cache older than the listing (the listing shows
// revision 2, the read still returns revision 1 with the old number) is recorded at the revision read, so the next
// refresh reads it again and routes the new number.
func TestSendersRecordTheRevisionRead(t *testing.T) {
	file := &config.Config{}
	served := map[int64]string{1: "+14155550111", 2: "+14155550112"}
	readRev, listRev := int64(1), int64(2)
	query := func(_ context.Context, id string) (appt.OrgSettings, bool, error) {
		doc, _ := json.Marshal(map[string]any{"id": id, "platform": "genesys", "email_from": "care@x.example", "sms_from": served[readRev]})
		return appt.OrgSettings{OrgDocument: appt.OrgDocument{Document: doc, Revision: readRev}}, true, nil
	}
	now := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	s := NewSenders(file, NewDirectory(file, query, DirectoryOptions{}),
		func(context.Context) (map[string]int64, error) { return map[string]int64{"tenant": listRev}, nil })
	s.now = func() time.Time { return now }
	s.background = func(f func()) { f() }
	ctx := context.Background()
	out, err := s.OrgsSendingFrom(ctx, "+14155550111")
	require.NoError(t, err)
	assert.Equal(t, []string{"tenant"}, out, "the stale read's number, for now")
	readRev = 2 // the cache catches up
	now = now.Add(SendersMaxAge + time.Second)
	out, err = s.OrgsSendingFrom(ctx, "+14155550112")
	require.NoError(t, err)
	assert.Equal(t, []string{"tenant"}, out, "read again: the revision recorded was the one read, not the one listed")
}
