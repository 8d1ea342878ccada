package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
)

var searchAttrAddressHashes = temporal.NewSearchAttributeKeyKeywordList(appt.SearchAttrAddressHashes)

// startSearchAttributes are an appointment's search attributes at start: its organisation and, with an address
// key, the keyed hashes of its customers' addresses (AddressHashes).
func (c *Client) startSearchAttributes(req *appt.ScheduleRequest) temporal.SearchAttributes {
	sa := []temporal.SearchAttributeUpdate{searchAttrOrg.ValueSet(req.Org)}
	if hs := c.AddressHashes(req.Org, req.Participants); len(hs) > 0 {
		sa = append(sa, searchAttrAddressHashes.ValueSet(hs))
	}
	return temporal.NewSearchAttributes(sa...)
}

// AddressHashes returns the keyed hashes (addrhash.Hasher.Hash, within org) of the normalised email address and
// phone number of every customer among ps, sorted and without repeats: the value of the AppointmentAddressHashes
// search attribute. An address that does not normalise is left out. Nil without Client.Addresses.
func (c *Client) AddressHashes(org string, ps []appt.Participant) []string {
	if c.Addresses == nil {
		return nil
	}
	var out []string
	for _, p := range ps {
		if !p.IsCustomer() {
			continue
		}
		for ch, addr := range map[appt.Channel]string{appt.Email: p.Email, appt.SMS: p.Phone} {
			if addr == "" {
				continue
			}
			if h, err := c.Addresses.HashAddress(org, ch, addr); err == nil {
				out = append(out, h)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Erasure is a request to erase a customer of an organisation: by email address, phone number and/or appointment
// IDs (at least one).
type Erasure struct {
	Org            string
	Email          string
	Phone          string
	AppointmentIDs []string
}

// ErrNoAddressKey: an erasure by address without the address key; nothing was started.
var ErrNoAddressKey = errors.New("an erasure by address needs the address key (" + addrhash.EnvVar + ", or the local worker's <data-dir>/" + addrhash.FileName + ")")

// MaxErasureAppointments bounds the appointment IDs of one erasure request.
const MaxErasureAppointments = 100

// ErasureErrors checks an erasure request without touching Temporal and lists every problem: the organisation,
// at least one of email, phone and appointment IDs, an email address or phone number that does not normalise
// (addrhash.Normalize), and each appointment ID.
func (c *Client) ErasureErrors(e *Erasure) []*appt.FieldError {
	var errs []*appt.FieldError
	var fe *appt.FieldError
	if errors.As(c.CheckOrg(e.Org), &fe) {
		errs = append(errs, fe)
	}
	if e.Email == "" && e.Phone == "" && len(e.AppointmentIDs) == 0 {
		errs = append(errs, &appt.FieldError{Field: "email", Msg: "an email, a phone or at least one appointment ID is required"})
	}
	if e.Email != "" {
		if _, err := addrhash.NormalizeEmail(e.Email); err != nil {
			errs = append(errs, &appt.FieldError{Field: "email", Msg: err.Error()})
		}
	}
	if e.Phone != "" {
		if _, err := addrhash.NormalizePhone(e.Phone); err != nil {
			errs = append(errs, &appt.FieldError{Field: "phone", Msg: err.Error()})
		}
	}
	if len(e.AppointmentIDs) > MaxErasureAppointments {
		errs = append(errs, &appt.FieldError{Field: "appointmentIds", Msg: fmt.Sprintf("holds %d IDs; at most %d", len(e.AppointmentIDs), MaxErasureAppointments)})
	}
	for i, id := range e.AppointmentIDs {
		if err := appt.ValidateAppointmentID(id); err != nil {
			errs = append(errs, &appt.FieldError{Field: fmt.Sprintf("appointmentIds[%d]", i), Msg: fieldMsg(err)})
		}
	}
	return errs
}

func fieldMsg(err error) string {
	var fe *appt.FieldError
	if errors.As(err, &fe) {
		return fe.Msg
	}
	return err.Error()
}

// erasureRequest turns a valid erasure into the workflow's input: address hashes instead of addresses, and an
// erasure ID derived from the organisation, the hashes and the appointment IDs (24 hex digits of SHA-256), so
// that the same request names the same erasure.
func (c *Client) erasureRequest(e *Erasure) (*appt.ErasureRequest, error) {
	req := &appt.ErasureRequest{Org: e.Org}
	for ch, addr := range map[appt.Channel]string{appt.Email: e.Email, appt.SMS: e.Phone} {
		if addr == "" {
			continue
		}
		if c.Addresses == nil {
			return nil, ErrNoAddressKey
		}
		h, err := c.Addresses.HashAddress(e.Org, ch, addr)
		if err != nil {
			return nil, &appt.FieldError{Field: string(map[appt.Channel]string{appt.Email: "email", appt.SMS: "phone"}[ch]), Msg: err.Error()}
		}
		req.AddressHashes = append(req.AddressHashes, h)
	}
	slices.Sort(req.AddressHashes)
	req.AppointmentIDs = slices.Compact(slices.Sorted(slices.Values(e.AppointmentIDs)))
	sum := sha256.New()
	sum.Write([]byte(e.Org))
	for _, part := range [][]string{req.AddressHashes, req.AppointmentIDs} {
		sum.Write([]byte{0})
		for _, v := range part {
			sum.Write([]byte(v))
			sum.Write([]byte{1})
		}
	}
	req.ErasureID = hex.EncodeToString(sum.Sum(nil))[:24]
	return req, nil
}

// Erase erases a customer (docs/security.md#erasure): it validates the request, starts the erasure workflow (or
// joins the one already running for the same request; a finished one runs again and finds what is left, usually
// nothing) and waits, up to the client's update timeout, until every step but the SMS redaction has finished. It
// returns the receipt and whether those steps finished (false: the erasure goes on; Erasure reads it later).
// Errors: the first problem of ErasureErrors, ErrNoAddressKey, or Temporal's.
func (c *Client) Erase(ctx context.Context, e *Erasure) (*appt.ErasureReceipt, bool, error) {
	if errs := c.ErasureErrors(e); len(errs) > 0 {
		return nil, false, errs[0]
	}
	req, err := c.erasureRequest(e)
	if err != nil {
		return nil, false, err
	}
	id := appt.ErasureWorkflowID(req.Org, req.ErasureID)
	_, err = c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                appt.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_ALLOW_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            "Erasure " + req.ErasureID + " · organisation " + req.Org,
		TypedSearchAttributes:    temporal.NewSearchAttributes(searchAttrOrg.ValueSet(req.Org)),
	}, appt.ErasureWorkflowType, req)
	if err != nil {
		return nil, false, err
	}
	timeout := c.UpdateTimeout
	if timeout <= 0 {
		timeout = DefaultUpdateTimeout
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		r, err := c.Erasure(wctx, req.Org, req.ErasureID)
		if err == nil && r.ErasedAt != nil {
			return r, true, nil
		}
		select {
		case <-wctx.Done():
			if r != nil {
				return r, false, nil
			}
			return nil, false, fmt.Errorf("erasure %s: %w within %s; is the worker running?", req.ErasureID, ErrNoWorker, timeout)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var erasureIDPattern = regexp.MustCompile(`^[0-9a-f]{24}$`)

// Erasure returns the receipt of an organisation's erasure: its result once it finished, else its erasure-receipt
// query. ErrNotFound when there is no such erasure.
func (c *Client) Erasure(ctx context.Context, org, erasureID string) (*appt.ErasureReceipt, error) {
	if err := c.CheckOrg(org); err != nil {
		return nil, err
	}
	if !erasureIDPattern.MatchString(erasureID) {
		return nil, ErrNotFound
	}
	id := appt.ErasureWorkflowID(org, erasureID)
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, id, "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var r appt.ErasureReceipt
	if d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
		if err := c.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &r); err != nil {
			return nil, err
		}
		return &r, nil
	}
	v, err := c.Temporal.QueryWorkflow(ctx, id, "", appt.QueryErasureReceipt)
	if err != nil {
		return nil, fmt.Errorf("erasure receipt query: %w", err)
	}
	if err := v.Get(&r); err != nil {
		return nil, err
	}
	return &r, nil
}
