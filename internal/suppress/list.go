package suppress

import (
	"context"
	"time"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/orgs"
)

// List is the suppression list as the worker and the HTTP API use it: it turns addresses into keyed hashes, so
// that nothing it hands to Temporal holds an address, applies each organisation's lifetimes, and checks sends
// against its Cache (nil in the HTTP API, which never sends).
type List struct {
	Config *config.Config
	Hasher *addrhash.Hasher
	Store  Store
	Cache  *Cache
	Now    func() time.Time
	// Orgs finds an organisation as it is in force, written through the API or in the config file
	// (orgs.Directory); nil: the config file's alone.
	Orgs OrgFinder
	// Senders routes a STOP or START by the number it was texted to (orgs.Senders); nil: the config file's
	// organisations alone.
	Senders SenderFinder
}

// OrgFinder finds an organisation as it is in force (orgs.Directory).
type OrgFinder interface {
	Lookup(ctx context.Context, id string) (orgs.View, error)
}

// SenderFinder returns the organisations that send SMS from a number (orgs.Senders).
type SenderFinder interface {
	OrgsSendingFrom(ctx context.Context, number string) ([]string, error)
}

// Org returns an organisation as it is in force: through Orgs, else from the config file. Error: Orgs could not
// read it.
func (l *List) Org(ctx context.Context, id string) (*config.Org, bool, error) {
	if l.Orgs == nil {
		o, ok := l.Config.Org(id)
		return o, ok, nil
	}
	v, err := l.Orgs.Lookup(ctx, id)
	if err != nil {
		return nil, false, err
	}
	return v.Org, v.Known, nil
}

// NewList returns a List over a Temporal-backed store; cache may be nil.
func NewList(cfg *config.Config, h *addrhash.Hasher, store Store, cache *Cache) *List {
	return &List{Config: cfg, Hasher: h, Store: store, Cache: cache, Now: time.Now}
}

// Hash returns an address's keyed hash in an organisation. Error: an *appt.FieldError naming field, when the
// address does not normalise for its channel (an email without @, a phone not in international format).
func (l *List) Hash(org string, ch appt.Channel, field, address string) (string, error) {
	h, err := l.Hasher.HashAddress(org, ch, address)
	if err != nil {
		return "", &appt.FieldError{Field: field, Msg: err.Error()}
	}
	return h, nil
}

// Check is the check every send makes, first attempts, automatic and manual retries alike: the reason the address
// is suppressed in the organisation, or "" when it is not (an address that does not normalise is on no list).
// Error: the list could not be read (Cache.Check); the caller treats it as a transient failure.
func (l *List) Check(ctx context.Context, org string, ch appt.Channel, address string) (appt.SuppressionReason, error) {
	if l == nil || l.Cache == nil {
		return "", nil
	}
	n, err := addrhash.Normalize(ch, address)
	if err != nil {
		return "", nil
	}
	return l.Cache.Check(ctx, org, ch, l.Hasher.Hash(org, ch, n))
}

// Add suppresses an address: reason and source as given, eventID the feed's event (a repeat changes nothing).
// expires overrides the organisation's lifetime for the reason (a manual entry's "as given"; nil: the lifetime).
// Errors: the address does not normalise (*appt.FieldError on field "address"), an unknown organisation, or the
// update failed.
func (l *List) Add(ctx context.Context, org string, ch appt.Channel, address string, reason appt.SuppressionReason,
	source, eventID string, expires *time.Time) (appt.SuppressionAddResult, error) {
	hash, err := l.Hash(org, ch, "address", address)
	if err != nil {
		return appt.SuppressionAddResult{}, err
	}
	return l.AddHash(ctx, org, ch, hash, reason, source, eventID, expires)
}

// AddHash is Add for an address already hashed.
func (l *List) AddHash(ctx context.Context, org string, ch appt.Channel, hash string, reason appt.SuppressionReason,
	source, eventID string, expires *time.Time) (appt.SuppressionAddResult, error) {
	o, ok, err := l.Org(ctx, org)
	if err != nil {
		return appt.SuppressionAddResult{}, err
	}
	if !ok {
		return appt.SuppressionAddResult{}, &appt.FieldError{Field: "org", Msg: "is not a known organisation"}
	}
	now := l.Now().UTC().Truncate(time.Second)
	e := appt.SuppressionEntry{Channel: ch, Hash: hash, Reason: reason, Source: source, EventID: eventID, CreatedAt: now,
		ExpiresAt: expires}
	if expires == nil {
		if d := o.SuppressionLifetime(reason); d > 0 {
			t := now.Add(d)
			e.ExpiresAt = &t
		}
	}
	if err := e.Validate(); err != nil {
		return appt.SuppressionAddResult{}, err
	}
	res, err := l.Store.Add(ctx, org, e)
	if err == nil && l.Cache != nil && res.Changed {
		l.Cache.Note(org, res.Entry)
	}
	return res, err
}

// Lift lifts an address's entries of the given reasons (all when none); optIn lifts only sms_stop. Errors: as Add.
func (l *List) Lift(ctx context.Context, org string, ch appt.Channel, address string, reasons []appt.SuppressionReason,
	optIn bool, source, eventID string) (appt.SuppressionLiftResult, error) {
	hash, err := l.Hash(org, ch, "address", address)
	if err != nil {
		return appt.SuppressionLiftResult{}, err
	}
	res, err := l.Store.Lift(ctx, org, appt.SuppressionLift{Channel: ch, Hash: hash, Reasons: reasons, OptIn: optIn,
		Source: source, EventID: eventID})
	if err == nil && l.Cache != nil {
		for _, e := range res.Lifted {
			l.Cache.Note(org, e)
		}
	}
	return res, err
}

// Lookup returns an address's entries (tombstones of recent lifts included) and its hash. Errors: as Add.
func (l *List) Lookup(ctx context.Context, org string, ch appt.Channel, address string) ([]appt.SuppressionEntry, string, error) {
	hash, err := l.Hash(org, ch, "address", address)
	if err != nil {
		return nil, "", err
	}
	es, err := l.Store.Lookup(ctx, org, appt.SuppressionLookupQuery{Channel: ch, Hash: hash})
	return es, hash, err
}

// OrgsSendingFrom returns the organisations whose sms_from is the number (compared in E.164): a STOP texted to a
// number suppresses the sender for each of them, as Twilio does per sender. Through Senders when set (the config
// file's organisations and those written through the API), else the config file's. Error: Senders could not read
// the organisations.
func (l *List) OrgsSendingFrom(ctx context.Context, number string) ([]string, error) {
	if l.Senders != nil {
		return l.Senders.OrgsSendingFrom(ctx, number)
	}
	n, err := addrhash.NormalizePhone(number)
	if err != nil {
		return nil, nil
	}
	var out []string
	for i := range l.Config.Organizations {
		o := &l.Config.Organizations[i]
		if f, err := addrhash.NormalizePhone(o.SMSFrom); err == nil && f == n {
			out = append(out, o.ID)
		}
	}
	return out, nil
}

// StopSMS suppresses a customer's number (sms_stop) in every organisation that sends from sender (receipts.OptOuts).
// Error: the first that an add returned; the others are still tried.
func (l *List) StopSMS(ctx context.Context, sender, customer, source, eventID string) error {
	orgIDs, err := l.OrgsSendingFrom(ctx, sender)
	if err != nil {
		return err
	}
	var first error
	for _, org := range orgIDs {
		if _, err := l.Add(ctx, org, appt.SMS, customer, appt.ReasonSMSStop, source, eventID, nil); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// StartSMS lifts a customer's sms_stop (an opt-in: never another reason) in every organisation that sends from
// sender (receipts.OptOuts).
func (l *List) StartSMS(ctx context.Context, sender, customer, eventID string) error {
	orgIDs, err := l.OrgsSendingFrom(ctx, sender)
	if err != nil {
		return err
	}
	var first error
	for _, org := range orgIDs {
		if _, err := l.Lift(ctx, org, appt.SMS, customer, nil, true, appt.SourceTwilioInbound, eventID); err != nil && first == nil {
			first = err
		}
	}
	return first
}
