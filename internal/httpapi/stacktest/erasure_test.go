package stacktest_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// TestEraseThroughTheAPI (docs/security.md#erasure) on the real stack: an appointment scheduled through the API
// carries its customer's address hash, so POST /v1/organizations/acme/erasures with the address in another case
// finds and erases it (200, a receipt with 1 appointment and 1 tombstone, a Location the receipt can be read at
// again); the appointment is gone; a token for another organisation gets 404; and an address with no appointments
// still gets its tombstone and a receipt with 0 appointments. Every answer is validated against api/openapi.yaml.
func TestEraseThroughTheAPI(t *testing.T) {
	e := startAPIEnv(t)
	r := e.do(t, http.MethodPost, "/v1/appointments", tokAcme, scheduleBody("ER1", "acme", time.Now().Add(2*time.Hour)))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	require.True(t, e.exists(t, "ER1"))

	r = e.do(t, http.MethodPost, "/v1/organizations/acme/erasures", tokBeta, map[string]any{"email": "ann-er1@example.com"})
	assert.Equal(t, http.StatusNotFound, r.Status)
	require.True(t, e.exists(t, "ER1"), "a refused erasure erases nothing")

	var rc appt.ErasureReceipt
	require.Eventually(t, func() bool {
		// The appointment is listed once visibility has it.
		r = e.do(t, http.MethodPost, "/v1/organizations/acme/erasures", tokAcme, map[string]any{"email": "ANN-ER1@Example.COM"})
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		r.json(t, &rc)
		return rc.Appointments == 1
	}, time.Minute, 500*time.Millisecond)
	assert.Equal(t, 1, rc.Tombstones)
	assert.Equal(t, 1, rc.DataKeysDestroyed)
	require.NotNil(t, rc.ErasedAt)
	assert.False(t, e.exists(t, "ER1"), "the appointment's executions are deleted")
	loc := r.Header.Get("Location")
	assert.Equal(t, "/v1/organizations/acme/erasures/"+rc.ErasureID, loc)
	again := e.do(t, http.MethodGet, loc, tokAcme, nil)
	require.Equal(t, http.StatusOK, again.Status, "%s", again.Body)
	var read appt.ErasureReceipt
	again.json(t, &read)
	assert.Equal(t, rc.ErasureID, read.ErasureID)
	assert.Equal(t, http.StatusNotFound, e.do(t, http.MethodGet, loc, tokBeta, nil).Status)

	r = e.do(t, http.MethodPost, "/v1/organizations/acme/erasures", tokAcme, map[string]any{"email": "nobody@example.com"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var none appt.ErasureReceipt
	r.json(t, &none)
	assert.Equal(t, 0, none.Appointments)
	assert.Equal(t, 1, none.Tombstones)
	key, err := base64.StdEncoding.DecodeString(e.addressKey)
	require.NoError(t, err)
	h, err := addrhash.New(key)
	require.NoError(t, err)
	hash, err := h.HashAddress("acme", appt.Email, "nobody@example.com")
	require.NoError(t, err)
	tomb, found, err := e.tombstones.Lookup(context.Background(), "acme", hash)
	require.NoError(t, err)
	require.True(t, found, "an address with no appointments still gets its tombstone")
	assert.Equal(t, appt.TombstoneErased, tomb.Reason)
}

// TestEraseAddedCustomer (docs/security.md#erasure): a customer added to an appointment after it was scheduled
// (POST /v1/appointments/{id}/participants) joins its AppointmentAddressHashes search attribute, so an erasure by
// the added customer's address finds and erases the appointment, as it does for a customer scheduled with it.
func TestEraseAddedCustomer(t *testing.T) {
	e := startAPIEnv(t)
	r := e.do(t, http.MethodPost, "/v1/appointments", tokAcme, scheduleBody("ER2", "acme", time.Now().Add(2*time.Hour)))
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r = e.do(t, http.MethodPost, "/v1/appointments/ER2/participants", tokAcme,
		map[string]any{"id": "c2", "name": "Bo Berg", "email": "bo-er2@example.com", "tz": "Europe/Berlin", "locale": "de"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)

	// An erasure is answered once per request (a repeat gets the same receipt), so erase only once visibility
	// lists the appointment under the added address.
	key, err := base64.StdEncoding.DecodeString(e.addressKey)
	require.NoError(t, err)
	h, err := addrhash.New(key)
	require.NoError(t, err)
	hash, err := h.HashAddress("acme", appt.Email, "bo-er2@example.com")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		res, err := e.tc.CountWorkflow(context.Background(), &workflowservice.CountWorkflowExecutionsRequest{
			Query: appt.SearchAttrAddressHashes + " = '" + hash + "'"})
		require.NoError(t, err)
		return res.GetCount() == 1
	}, 30*time.Second, 200*time.Millisecond, "the added customer's address hash is on the appointment")

	r = e.do(t, http.MethodPost, "/v1/organizations/acme/erasures", tokAcme, map[string]any{"email": "Bo-ER2@example.com"})
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	var rc appt.ErasureReceipt
	r.json(t, &rc)
	assert.Equal(t, 1, rc.Appointments, "an erasure by the added customer's address finds the appointment")
	assert.False(t, e.exists(t, "ER2"), "the appointment's executions are deleted")
}

// TestCustomerAddressesFitTheSearchAttribute (docs/rules.md#erasure): AppointmentAddressHashes holds at most
// appt.MaxCustomerAddresses hashes, because Temporal refuses a longer value and ends the workflow that sets it. A
// schedule request whose customers have more distinct addresses gets a 400 naming /participants and starts
// nothing; an add-participant past the limit is refused, and the appointment stays open and takes the next
// operation.
func TestCustomerAddressesFitTheSearchAttribute(t *testing.T) {
	e := startAPIEnv(t)
	customers := func(n int, id string) []map[string]any {
		var ps []map[string]any
		for i := range n {
			ps = append(ps, map[string]any{"id": fmt.Sprintf("c%d", i), "name": "Customer", "email": fmt.Sprintf("c%d-%s@example.com", i, id),
				"phone": fmt.Sprintf("+4915123456%03d", i), "tz": "Europe/Berlin", "locale": "de"})
		}
		return ps
	}
	body := scheduleBody("SA1", "acme", time.Now().Add(2*time.Hour))
	body["participants"] = customers(appt.MaxCustomerAddresses/2+1, "sa1") // 30 addresses
	r := e.do(t, http.MethodPost, "/v1/appointments", tokAcme, body)
	require.Equal(t, http.StatusBadRequest, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "/participants")
	assert.False(t, e.exists(t, "SA1"), "nothing starts")

	body = scheduleBody("SA2", "acme", time.Now().Add(2*time.Hour))
	body["participants"] = customers(appt.MaxCustomerAddresses/2, "sa2") // 28 addresses: the limit
	r = e.do(t, http.MethodPost, "/v1/appointments", tokAcme, body)
	require.Equal(t, http.StatusCreated, r.Status, "%s", r.Body)
	r = e.do(t, http.MethodPost, "/v1/appointments/SA2/participants", tokAcme,
		map[string]any{"id": "c99", "name": "One Too Many", "email": "c99-sa2@example.com", "tz": "Europe/Berlin", "locale": "de"})
	assert.Equal(t, http.StatusConflict, r.Status, "%s", r.Body)
	assert.Contains(t, string(r.Body), "at most 28")
	r = e.do(t, http.MethodPost, "/v1/appointments/SA2/cancel", tokAcme, map[string]any{"reason": "still open"})
	assert.Equal(t, http.StatusOK, r.Status, "the appointment is still open: %s", r.Body)
}
