package appt

import (
	"fmt"
	"strings"
	"time"
)

// IsAppointmentWorkflowID reports whether a workflow ID is an appointment's (WorkflowID): the workflows whose
// payloads hold customer data, each sealed with the appointment's own data key (docs/security.md#erasure).
func IsAppointmentWorkflowID(workflowID string) bool {
	prefix := WorkflowID("")
	return strings.HasPrefix(workflowID, prefix) && len(workflowID) > len(prefix)
}

// SearchAttrAddressHashes is the keyword list, set when an appointment is scheduled, of the keyed hashes
// (internal/addrhash, per organisation) of each customer's normalised email address and phone number: how an
// erasure finds a customer's appointments without any plaintext address in Temporal.
const SearchAttrAddressHashes = "AppointmentAddressHashes"

// The erasure workflow (docs/security.md#erasure): its type, the query of its receipt and its activities.
const (
	ErasureWorkflowType        = "ErasureWorkflow"
	QueryErasureReceipt        = "erasure-receipt"
	ActivityErasureFind        = "ErasureFind"
	ActivityErasureStop        = "ErasureStop"
	ActivityErasureDestroyKeys = "ErasureDestroyKeys"
	ActivityErasureDelete      = "ErasureDelete"
	ActivityErasureTombstone   = "ErasureTombstone"
	ActivityRedactSMS          = "RedactSMS"
)

// TombstoneErased is the suppression reason an erasure records for each address it erased, so that a later booking
// of the same address is not taken for consent.
const TombstoneErased = "erased"

// ErasureWorkflowID is the ID of an erasure's workflow: the organisation and the erasure ID, no personal data.
func ErasureWorkflowID(org, erasureID string) string { return "erasure:" + org + ":" + erasureID }

// ErasureRequest is the erasure workflow's input: keyed hashes and appointment IDs, never an address.
type ErasureRequest struct {
	ErasureID      string   `json:"erasureId"`
	Org            string   `json:"org"`
	AddressHashes  []string `json:"addressHashes,omitempty"`
	AppointmentIDs []string `json:"appointmentIds,omitempty"`
}

// ErasureSteps says when each step of an erasure finished (nil: not yet).
type ErasureSteps struct {
	// Found: the matching appointments were listed (by address hash and appointment ID, within the organisation).
	Found *time.Time `json:"found,omitempty"`
	// Stopped: every running appointment was terminated, so nothing more is sent, and nothing about the erasure.
	Stopped *time.Time `json:"stopped,omitempty"`
	// KeysDestroyed: the appointments' data keys were destroyed.
	KeysDestroyed *time.Time `json:"keysDestroyed,omitempty"`
	// ExecutionsDeleted: every run of the appointments' workflows was deleted from Temporal.
	ExecutionsDeleted *time.Time `json:"executionsDeleted,omitempty"`
	// Tombstoned: a tombstone (reason erased) was recorded for each address hash.
	Tombstoned *time.Time `json:"tombstoned,omitempty"`
	// SMSRedacted: every SMS body was redacted at Twilio, or given up on after ErasureRedactionWindow.
	SMSRedacted *time.Time `json:"smsRedacted,omitempty"`
}

// ErasureReceipt is what an erasure answers: counts and times, no personal data.
type ErasureReceipt struct {
	ErasureID   string    `json:"erasureId"`
	Org         string    `json:"org"`
	RequestedAt time.Time `json:"requestedAt"`
	// Appointments is how many appointments matched; Executions how many workflow runs were deleted.
	Appointments int `json:"appointments"`
	Executions   int `json:"executions"`
	// DataKeysDestroyed counts the data keys this erasure destroyed (appointments sealed before data keys have none).
	DataKeysDestroyed int `json:"dataKeysDestroyed"`
	// Tombstones counts the address hashes recorded with reason erased.
	Tombstones int `json:"tombstones"`
	// SMSMessages is how many SMS the appointments sent through Twilio; SMSRedacted how many bodies Twilio
	// redacted; SMSRedactionFailed how many it would not redact within ErasureRedactionWindow.
	SMSMessages        int          `json:"smsMessages"`
	SMSRedacted        int          `json:"smsRedacted"`
	SMSRedactionFailed int          `json:"smsRedactionFailed"`
	Steps              ErasureSteps `json:"steps"`
	// ErasedAt is when every step but the SMS redaction finished: nothing of the customer is left in Temporal.
	ErasedAt *time.Time `json:"erasedAt,omitempty"`
	// FinishedAt is when the SMS redaction finished too.
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
}

// ErasureRedactionWindow is how long an erasure keeps asking Twilio to redact a message body it is not ready to
// redact yet (error 20009): 14 days.
const ErasureRedactionWindow = 14 * 24 * time.Hour

// MaxCustomerAddresses is how many distinct customer email addresses and phone numbers one appointment may have
// (docs/rules.md#erasure). The keyed hash of each (64 hex digits) goes into the keyword list
// AppointmentAddressHashes, and Temporal refuses a search-attribute value over 2 KiB (its default size limit per
// value), ending the workflow that sets it: 28 hashes take 1,876 bytes as a JSON list.
const MaxCustomerAddresses = 28

// CustomerAddressesError refuses participants whose customers have more than MaxCustomerAddresses distinct email
// addresses and phone numbers (compared trimmed and lower-cased, so two spellings of one address may count twice),
// naming field; nil otherwise. Edge-only: the workflow never calls it.
func CustomerAddressesError(field string, ps []Participant) *FieldError {
	seen := map[string]bool{}
	for _, p := range ps {
		if !p.IsCustomer() {
			continue
		}
		for _, a := range []string{p.Email, p.Phone} {
			if a = strings.ToLower(strings.TrimSpace(a)); a != "" {
				seen[a] = true
			}
		}
	}
	if len(seen) <= MaxCustomerAddresses {
		return nil
	}
	return &FieldError{Field: field, Msg: fmt.Sprintf("the customers have %d distinct email addresses and phone numbers; an appointment takes at most %d",
		len(seen), MaxCustomerAddresses)}
}
