package startercli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"io/fs"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/orgs"
	"github.com/apptnotify/apptnotify/internal/suppress"
)

// suppressionList is the HTTP API's view of the suppression lists: the address key from APPTNOTIFY_ADDRESS_KEY or
// the local worker's <data-dir>/address-key (never created here), and the organisations' suppression workflows.
// Without a key it is nil and the suppression operations answer 503; a malformed key is an error.
func suppressionList(cfg *config.Config, tc client.Client, dataDir string, env Env) (*suppress.List, error) {
	key, err := addrhash.Load(env.Getenv, dataDir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	h, err := addrhash.New(key)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	return suppress.NewList(cfg, h, suppress.TemporalStore{C: tc}, nil), nil
}

// verbSuppression is the starter's suppression verb (docs/api.md#suppressions has the same operations over HTTP).
const verbSuppression = "suppression"

// suppressionUsage is the verb's usage line.
const suppressionUsage = "suppression add|lookup|lift|list --org ORG [--channel email|sms --address ADDR] [--expires RFC3339] [--reason R]… [--since N] [--limit N]"

// suppressionCmd runs `starter suppression add|lookup|lift|list`: it checks everything (the organisation, the channel,
// that the address normalises, the expiry) before it dials, exits 2 naming the field, and prints the answer as JSON
// (hashes only, never the address).
func suppressionCmd(ctx context.Context, args []string, env Env) (int, error) {
	if len(args) == 0 {
		return ExitBadInput, usagef("usage: starter %s", suppressionUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet(verbSuppression, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfgPath, org, channel, address, expires string
	var since int64
	var limit int
	var reasons multi
	keys := &command{verb: verbSuppression}
	fs.StringVar(&cfgPath, "config", "", "config file")
	fs.StringVar(&org, "org", "", "organisation")
	fs.StringVar(&channel, "channel", "", "email or sms")
	fs.StringVar(&address, "address", "", "the email address or phone number")
	fs.StringVar(&expires, "expires", "", "add: when the entry expires (RFC 3339)")
	fs.Var(&reasons, "reason", "lift: a reason to lift (repeatable; default all)")
	fs.Int64Var(&since, "since", 0, "list: the cursor to list from (a page's next; 0: the start)")
	fs.IntVar(&limit, "limit", 100, "list: entries per page")
	fs.StringVar(&keys.dataDir, "data-dir", ".data", "the local worker's data directory (encryption-keys, address-key)")
	fs.BoolVar(&keys.plaintext, codec.PlaintextFlag, false, "write payloads to Temporal unencrypted")
	if err := fs.Parse(args[1:]); err != nil {
		return ExitBadInput, usagef("%s: %v", verbSuppression, err)
	}
	cfg, err := config.Resolve(cfgPath, env.Getenv)
	if err != nil {
		return ExitBadInput, &usageError{msg: err.Error()}
	}
	// An organisation's ID has the shape the config loader requires (checked here, before dialling); whether it
	// exists is known only once the organisations written through the API can be read.
	if err := appt.ValidateParticipantID("org", org); err != nil {
		return ExitBadInput, usagef("%v", err)
	}
	ch := appt.Channel(channel)
	var exp *time.Time
	switch sub {
	case "add", "lookup", "lift":
		if ch != appt.Email && ch != appt.SMS {
			return ExitBadInput, usagef("channel: must be email or sms")
		}
		if _, err := addrhash.Normalize(ch, address); err != nil {
			return ExitBadInput, usagef("address: %v", err)
		}
	case "list":
		if limit < 1 || limit > 1000 {
			return ExitBadInput, usagef("limit: must be between 1 and 1000")
		}
		if _, _, ok := appt.SplitSuppressionCursor(since); !ok {
			return ExitBadInput, usagef("since: must be 0 or the next of a page listed before")
		}
	default:
		return ExitBadInput, usagef("usage: starter %s", suppressionUsage)
	}
	keys.now = time.Now()
	if env.Now != nil {
		keys.now = env.Now()
	}
	if expires != "" {
		t, err := time.Parse(time.RFC3339, expires)
		if err != nil || !t.After(keys.now) {
			return ExitBadInput, usagef("expires: must be an RFC 3339 time in the future")
		}
		exp = &t
	}
	for _, r := range reasons {
		if !appt.SuppressionReason(r).Known() {
			return ExitBadInput, usagef("reason: %q is not one of %v", r, appt.SuppressionReasons)
		}
	}
	ring, err := keys.keys(env)
	if err != nil {
		return ExitBadInput, err
	}
	key, err := addrhash.Load(env.Getenv, keys.dataDir, false)
	if err != nil {
		return ExitBadInput, &usageError{msg: err.Error()}
	}
	h, err := addrhash.New(key)
	if err != nil {
		return ExitBadInput, &usageError{msg: err.Error()}
	}
	tc, err := env.Dial(ring)
	if err != nil {
		return ExitOther, connectionError(env.address(), err)
	}
	defer tc.Close()
	l := suppress.NewList(cfg, h, suppress.TemporalStore{C: tc}, nil)
	// Organisations written through the API have lists too.
	l.Orgs = orgs.NewDirectory(cfg, orgs.TemporalQuery(tc), orgs.DirectoryOptions{})
	if _, ok, err := l.Org(ctx, org); err != nil {
		return ExitOther, connectionError(env.address(), err)
	} else if !ok {
		return ExitBadInput, usagef("org: %q is not an organisation (neither in the config nor written through the API)", org)
	}
	var out any
	switch sub {
	case "add":
		out, err = l.Add(ctx, org, ch, address, appt.ReasonManual, appt.SourceAPI, "", exp)
	case "lookup":
		var es []appt.SuppressionEntry
		var hash string
		es, hash, err = l.Lookup(ctx, org, ch, address)
		out = map[string]any{"hash": hash, "entries": es}
	case "lift":
		rs := make([]appt.SuppressionReason, len(reasons))
		for i, r := range reasons {
			rs[i] = appt.SuppressionReason(r)
		}
		out, err = l.Lift(ctx, org, ch, address, rs, false, appt.SourceAPI, "")
	case "list":
		out, err = suppress.Page(ctx, l.Store, org, since, limit)
	}
	if err != nil {
		if unreachable(err) {
			return ExitOther, connectionError(env.address(), err)
		}
		return ExitOther, err
	}
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	return ExitOK, enc.Encode(out)
}
