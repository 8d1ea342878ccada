package appt

import (
	"fmt"
	"regexp"
	"time"
)

// Suppressed is the delivery status of a send that the organisation's suppression list stopped before any
// provider was called (docs/rules.md#suppression). The entry's SuppressionReason says why. It is not a failure:
// it is not retried and fires no failure alert.
const Suppressed DeliveryStatus = "suppressed"

// SuppressionWorkflowType is the entity workflow, one per organisation, that holds its suppression list.
const SuppressionWorkflowType = "SuppressionWorkflow"

// Updates and queries of the suppression workflow.
const (
	UpdateSuppressionAdd    = "suppression-add"     // SuppressionEntry in, SuppressionAddResult out
	UpdateSuppressionLift   = "suppression-lift"    // SuppressionLift in, SuppressionLiftResult out
	QuerySuppressionChanges = "suppression-changes" // SuppressionChangesQuery in, SuppressionChanges out
	QuerySuppressionLookup  = "suppression-lookup"  // SuppressionLookupQuery in, []SuppressionEntry out
)

// SuppressionWorkflowID is the ID of an organisation's suppression-list workflow.
func SuppressionWorkflowID(org string) string { return "suppression:" + org }

// SuppressionReason is why an address is on a suppression list.
type SuppressionReason string

// The suppression reasons (docs/rules.md#suppression).
const (
	// ReasonSMSStop: the customer texted a STOP keyword, or Twilio refused a send with 21610. Lifted by START,
	// YES or UNSTOP (an opt-in), or by hand.
	ReasonSMSStop SuppressionReason = "sms_stop"
	// ReasonHardBounce: an email relay reported a permanent bounce. Expires (default 7 days).
	ReasonHardBounce SuppressionReason = "hard_bounce"
	// ReasonComplaint: the recipient marked an email as spam. Never lifted by an opt-in; only by hand.
	ReasonComplaint SuppressionReason = "complaint"
	// ReasonManual: added through the API or the starter, for as long as given.
	ReasonManual SuppressionReason = "manual"
	// ReasonErased: the tombstone of an erased customer (docs/security.md#erasure), so that a later booking of the
	// same address is not taken for consent. Never expires; never lifted by an opt-in; only by hand.
	ReasonErased SuppressionReason = TombstoneErased
)

// SuppressionReasons lists the reasons in precedence order: when an address has entries for several, the status
// document shows the first.
var SuppressionReasons = []SuppressionReason{ReasonErased, ReasonComplaint, ReasonSMSStop, ReasonHardBounce, ReasonManual}

// Known reports whether r is one of SuppressionReasons.
func (r SuppressionReason) Known() bool {
	for _, k := range SuppressionReasons {
		if k == r {
			return true
		}
	}
	return false
}

// Sources of suppression entries and lifts: which feed wrote them.
const (
	SourceTwilioInbound = "twilio_inbound" // a STOP (or START) texted to the organisation's number
	SourceTwilio21610   = "twilio_21610"   // a send or status callback with Twilio error 21610
	SourceSendGrid      = "sendgrid"       // the SendGrid Event Webhook
	SourceSES           = "ses"            // Amazon SES through an SNS topic
	SourceAPI           = "api"            // the HTTP API or the starter
	SourceExpired       = "expired"        // the list's own sweep of expired entries
	SourceErasure       = "erasure"        // an erasure's tombstone (ReasonErased)
)

var hashRe = regexp.MustCompile(`^[0-9a-f]{64}$`)

// SuppressionEntry is one line of a suppression list: a channel and the keyed hash of a normalised address
// (internal/addrhash: 64 lower-case hex digits), never the address. An address may hold one entry per reason.
type SuppressionEntry struct {
	Channel   Channel           `json:"channel"` // email or sms
	Hash      string            `json:"hash"`
	Reason    SuppressionReason `json:"reason"`
	Source    string            `json:"source"`            // the feed: one of the Source* names
	EventID   string            `json:"eventId,omitempty"` // the feed's event ID; a repeated one changes nothing
	CreatedAt time.Time         `json:"createdAt"`
	ExpiresAt *time.Time        `json:"expiresAt,omitempty"` // nil: until lifted
	// Seq is the list's change counter when the entry last changed: a reader that has seen every change up to n
	// asks for the changes after n (QuerySuppressionChanges).
	Seq int64 `json:"seq"`
	// LiftedAt marks a lifted or expired entry (a tombstone, kept for a while so that readers see the lift);
	// LiftedBy is its source.
	LiftedAt *time.Time `json:"liftedAt,omitempty"`
	LiftedBy string     `json:"liftedBy,omitempty"`
}

// Key is the entry's identity in its list: channel, hash and reason.
func (e *SuppressionEntry) Key() string {
	return string(e.Channel) + "|" + e.Hash + "|" + string(e.Reason)
}

// InForce reports whether the entry suppresses sends at now: not lifted and not expired.
func (e *SuppressionEntry) InForce(now time.Time) bool {
	return e.LiftedAt == nil && (e.ExpiresAt == nil || now.Before(*e.ExpiresAt))
}

// ValidateSuppressionTarget checks a channel and hash: email or sms, and 64 lower-case hex digits.
func ValidateSuppressionTarget(ch Channel, hash string) error {
	if ch != Email && ch != SMS {
		return &FieldError{Field: "channel", Msg: "must be email or sms"}
	}
	if !hashRe.MatchString(hash) {
		return &FieldError{Field: "hash", Msg: "must be 64 lower-case hex digits (the address's keyed hash)"}
	}
	return nil
}

// Validate checks an entry to add: target, a known reason, a source, and an expiry after its creation.
func (e *SuppressionEntry) Validate() error {
	if err := ValidateSuppressionTarget(e.Channel, e.Hash); err != nil {
		return err
	}
	if !e.Reason.Known() {
		return &FieldError{Field: "reason", Msg: fmt.Sprintf("must be one of %v", SuppressionReasons)}
	}
	if e.Source == "" {
		return &FieldError{Field: "source", Msg: "is required"}
	}
	if e.ExpiresAt != nil && !e.ExpiresAt.After(e.CreatedAt) {
		return &FieldError{Field: "expiresAt", Msg: "must be after the entry's creation"}
	}
	return nil
}

// SuppressionAddResult is what an add returns: the entry as the list holds it, and whether the add changed it (a
// repeated event, or an entry already in force at least as long, changes nothing).
type SuppressionAddResult struct {
	Entry   SuppressionEntry `json:"entry"`
	Changed bool             `json:"changed"`
}

// SuppressionLift lifts an address's entries: those of the given reasons, or all when Reasons is empty. An opt-in
// (OptIn, the customer texted START) lifts only sms_stop whatever Reasons says: opting back in never lifts a
// complaint.
type SuppressionLift struct {
	Channel Channel             `json:"channel"`
	Hash    string              `json:"hash"`
	Reasons []SuppressionReason `json:"reasons,omitempty"`
	OptIn   bool                `json:"optIn,omitempty"`
	Source  string              `json:"source"`
	EventID string              `json:"eventId,omitempty"`
}

// SuppressionLiftResult lists the entries a lift removed (as tombstones).
type SuppressionLiftResult struct {
	Lifted []SuppressionEntry `json:"lifted"`
}

// SuppressionChangesQuery asks for the entries (and tombstones) that changed after Since, at most Limit of them
// (0: the default page, 1000), in change order.
// Full says the reader is loading the whole list (it started at 0, or after a Reset) and pages on: it gets no Reset,
// since it holds nothing that a dropped tombstone could leave stale.
type SuppressionChangesQuery struct {
	Since int64 `json:"since"`
	Limit int   `json:"limit,omitempty"`
	Full  bool  `json:"full,omitempty"`
}

// SuppressionChanges is one page of changes. Reset is true when the reader's Since is older than the oldest
// tombstone the list kept: the page starts from the beginning and the reader must drop what it held. Next is the
// Since of the following page; More says whether there is one.
type SuppressionChanges struct {
	Entries []SuppressionEntry `json:"entries"`
	Next    int64              `json:"next"`
	More    bool               `json:"more"`
	Reset   bool               `json:"reset,omitempty"`
}

// SuppressionLookupQuery asks for an address's entries in force (and, with Lifted, its tombstones).
type SuppressionLookupQuery struct {
	Channel Channel `json:"channel"`
	Hash    string  `json:"hash"`
}

// SuppressionState is the list carried across continue-as-new: the entries and tombstones in change order, the
// change counter, the floor (changes at or below it may have lost their tombstones) and the recent event IDs.
type SuppressionState struct {
	Org     string             `json:"org"`
	Entries []SuppressionEntry `json:"entries,omitempty"`
	Seq     int64              `json:"seq"`
	Floor   int64              `json:"floor,omitempty"`
	Events  []string           `json:"events,omitempty"`
}
