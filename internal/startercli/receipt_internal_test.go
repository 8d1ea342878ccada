package startercli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// The status text shows an SMS entry's receipt, its error code and when it came; --json carries receipt,
// receiptError and receiptAt.
func TestStatusShowsReceipts(t *testing.T) {
	at := time.Date(2026, 3, 1, 9, 0, 7, 0, time.UTC)
	es := []appt.DeliveryEntry{
		{ID: "e1", Type: appt.Create, Channel: appt.SMS, Recipient: "c1", Status: appt.Sent, Attempts: 1,
			ProviderID: "SM01", Receipt: "undelivered", ReceiptError: 30003, ReceiptAt: &at, At: at},
		{ID: "e2", Type: appt.Create, Channel: appt.Email, Recipient: "c1", Status: appt.Sent, Attempts: 1,
			ProviderID: "<m@x>", At: at},
	}
	var out bytes.Buffer
	printEntries(&out, es)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3)
	assert.Contains(t, lines[1], "SM01; receipt undelivered (error 30003) at 2026-03-01T09:00:07Z")
	assert.NotContains(t, lines[2], "receipt")

	b, err := json.Marshal(es[0])
	require.NoError(t, err)
	assert.Contains(t, string(b), `"receipt":"undelivered","receiptError":30003,"receiptAt":"2026-03-01T09:00:07Z"`)
	b, err = json.Marshal(es[1])
	require.NoError(t, err)
	assert.NotContains(t, string(b), "receipt", "no receipt fields before a receipt")
}
