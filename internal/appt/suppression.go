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

// Validate checks an entry to add: target, a known reason, a source (at most MaxSuppressionSourceLen bytes), an event
// ID of at most MaxSuppressionEventIDLen bytes, and an expiry after its creation.
func (e *SuppressionEntry) Validate() error {
	if err := ValidateSuppressionTarget(e.Channel, e.Hash); err != nil {
		return err
	}
	if !e.Reason.Known() {
		return &FieldError{Field: "reason", Msg: fmt.Sprintf("must be one of %v", SuppressionReasons)}
	}
	if err := validateFeed(e.Source, e.EventID); err != nil {
		return err
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

// Validate checks a lift: target, known reasons, a source and an event ID within their bounds.
func (lf *SuppressionLift) Validate() error {
	if err := ValidateSuppressionTarget(lf.Channel, lf.Hash); err != nil {
		return err
	}
	for _, r := range lf.Reasons {
		if !r.Known() {
			return &FieldError{Field: "reasons", Msg: "has an unknown reason " + string(r)}
		}
	}
	return validateFeed(lf.Source, lf.EventID)
}

// validateFeed checks the source of an add or lift (required, at most MaxSuppressionSourceLen bytes) and its event
// ID (at most MaxSuppressionEventIDLen bytes).
func validateFeed(source, eventID string) error {
	if source == "" {
		return &FieldError{Field: "source", Msg: "is required"}
	}
	if len(source) > MaxSuppressionSourceLen {
		return &FieldError{Field: "source", Msg: fmt.Sprintf("is longer than %d bytes", MaxSuppressionSourceLen)}
	}
	if len(eventID) > MaxSuppressionEventIDLen {
		return &FieldError{Field: "eventId", Msg: fmt.Sprintf("is longer than %d bytes", MaxSuppressionEventIDLen)}
	}
	return nil
}

// SuppressionLiftResult lists the entries a lift removed (as tombstones).
type SuppressionLiftResult struct {
	Lifted []SuppressionEntry `json:"lifted"`
	// Seq is the shard's change counter after the lift, which the writer reports to the index even when nothing was
	// lifted (a retry of a lift whose bump failed); a Store's result across shards leaves it 0.
	Seq int64 `json:"seq,omitempty"`
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
	Shard   int                `json:"shard,omitempty"` // which of the SuppressionShards (0: also the list before shards)
	Entries []SuppressionEntry `json:"entries,omitempty"`
	Seq     int64              `json:"seq"`
	Floor   int64              `json:"floor,omitempty"`
	Events  []string           `json:"events,omitempty"`
}

// Shards of an organisation's suppression list (docs/rules.md#suppression). The list is split by the address's
// hash over SuppressionShards entity workflows, each running SuppressionWorkflowType with its own change counter,
// so that no one workflow carries more than its shard across continue-as-new (Temporal refuses a payload over
// 2 MB). Shard 0 keeps the ID of the list before shards (SuppressionWorkflowID), and may still hold entries of any
// hash written then: readers look up an address in its shard and in shard 0.
const SuppressionShards = 32

// SuppressionShard is the shard of an address's keyed hash: its first byte (two hex digits) modulo
// SuppressionShards; 0 for a hash that is not hex.
func SuppressionShard(hash string) int {
	if len(hash) < 2 {
		return 0
	}
	hi, lo := hexDigit(hash[0]), hexDigit(hash[1])
	if hi < 0 || lo < 0 {
		return 0
	}
	return (hi<<4 | lo) % SuppressionShards
}

func hexDigit(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// SuppressionShardWorkflowID is the ID of shard k of an organisation's list: shard 0 is SuppressionWorkflowID
// (suppression:<org>), shard k ≥ 1 is suppression-shard-<k>:<org>. The shard number is in the prefix, not after the
// organisation, because organisation IDs may contain ':'.
func SuppressionShardWorkflowID(org string, shard int) string {
	if shard == 0 {
		return SuppressionWorkflowID(org)
	}
	return fmt.Sprintf("suppression-shard-%d:%s", shard, org)
}

// SuppressionIndexWorkflowType is the entity workflow, one per organisation (SuppressionIndexWorkflowID), that
// holds the change counter of each shard, so that a reader learns with one query which shards changed.
const SuppressionIndexWorkflowType = "SuppressionIndexWorkflow"

// SuppressionIndexWorkflowID is the ID of an organisation's suppression index workflow.
func SuppressionIndexWorkflowID(org string) string { return "suppression-index:" + org }

// Updates and queries of the shards (batch add) and of the index.
const (
	UpdateSuppressionAddBatch   = "suppression-add-batch"  // SuppressionBatch in, SuppressionBatchResult out
	UpdateSuppressionIndexBump  = "suppression-index-bump" // SuppressionBump in, SuppressionIndex out
	QuerySuppressionIndexShards = "suppression-index"      // no input, SuppressionIndex out
)

// Bounds of the values a suppression list carries (validated before a shard takes an add), so that a full shard's
// state has a known size.
const (
	// MaxSuppressionBatch is the most entries one suppression-add-batch update carries.
	MaxSuppressionBatch = 1000
	// MaxSuppressionEventIDLen and MaxSuppressionSourceLen bound an entry's feed event ID and source (bytes).
	MaxSuppressionEventIDLen = 128
	MaxSuppressionSourceLen  = 64
)

// SuppressionBatch is a batch of entries for one shard (an import): each is added as by suppression-add.
type SuppressionBatch struct {
	Entries []SuppressionEntry `json:"entries"`
}

// Validate checks a batch: 1 to MaxSuppressionBatch entries, each valid (the field is named entries[i].<field>).
func (b *SuppressionBatch) Validate() error {
	if len(b.Entries) == 0 || len(b.Entries) > MaxSuppressionBatch {
		return &FieldError{Field: "entries", Msg: fmt.Sprintf("must hold 1 to %d entries, not %d", MaxSuppressionBatch, len(b.Entries))}
	}
	for i := range b.Entries {
		if err := b.Entries[i].Validate(); err != nil {
			if fe, ok := err.(*FieldError); ok {
				return &FieldError{Field: fmt.Sprintf("entries[%d].%s", i, fe.Field), Msg: fe.Msg}
			}
			return err
		}
	}
	return nil
}

// SuppressionBatchResult is what a batch add returns: how many entries it changed, and the shard's change counter
// after it (the seq a writer reports to the index).
type SuppressionBatchResult struct {
	Added int   `json:"added"`
	Seq   int64 `json:"seq"`
}

// SuppressionBump tells the index that shard Shard has changes up to Seq.
type SuppressionBump struct {
	Shard int   `json:"shard"`
	Seq   int64 `json:"seq"`
}

// SuppressionIndex is the index's vector: the highest change counter reported for each shard, SuppressionShards
// long (0: no change reported).
type SuppressionIndex []int64

// SuppressionIndexState is the index carried across continue-as-new.
type SuppressionIndexState struct {
	Org  string           `json:"org"`
	Seqs SuppressionIndex `json:"seqs,omitempty"`
}

// SuppressionFullError is a shard's refusal of an add that would bring its state past its capacity
// (supplist.MaxShardBytes): the organisation's list is full. Nothing was added.
type SuppressionFullError struct {
	Shard int
	Msg   string
}

func (e *SuppressionFullError) Error() string { return e.Msg }

// SuppressionCursor packs a shard and a change counter of that shard into one listing cursor (the since and next
// of GET /v1/organizations/{org}/suppressions): shard<<48 | seq. Shard 0's cursors are its plain seq, as before
// shards; every cursor is below 2^53, so JSON readers keep it exact.
func SuppressionCursor(shard int, seq int64) int64 { return int64(shard)<<48 | seq }

// SplitSuppressionCursor is the inverse of SuppressionCursor. ok is false for a cursor that names no shard.
func SplitSuppressionCursor(c int64) (shard int, seq int64, ok bool) {
	if c < 0 {
		return 0, 0, false
	}
	shard, seq = int(c>>48), c&(1<<48-1)
	return shard, seq, shard < SuppressionShards
}
