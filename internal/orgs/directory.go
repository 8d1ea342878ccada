package orgs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/seal"
	"github.com/apptnotify/apptnotify/internal/templates"
)

// Sources of an organisation in force.
const (
	SourceFile = "file" // the config file's organizations: (the bootstrap)
	SourceAPI  = "api"  // the document written through the API, which wins from its first write on
)

// SecretContext is the HPKE context a subscriber secret of an organisation is sealed in (internal/seal): a sealed
// secret opens only for the organisation it was written for.
func SecretContext(org string) string { return "org/" + org + "/webhook-secret" }

// Query reads an organisation's settings (its document included) once. found is false when the organisation has
// no settings workflow.
type Query func(ctx context.Context, org string) (s appt.OrgSettings, found bool, err error)

// TemporalQuery queries the organisation-settings workflow through a Temporal client.
func TemporalQuery(c client.Client) Query {
	return func(ctx context.Context, org string) (appt.OrgSettings, bool, error) {
		v, err := c.QueryWorkflow(ctx, appt.OrgWorkflowID(org), "", appt.QueryOrgSettings)
		if err != nil {
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				return appt.OrgSettings{}, false, nil
			}
			return appt.OrgSettings{}, false, fmt.Errorf("querying the settings of %s: %w", org, err)
		}
		var s appt.OrgSettings
		if err := v.Get(&s); err != nil {
			return appt.OrgSettings{}, false, fmt.Errorf("decoding the settings of %s: %w", org, err)
		}
		return s, true, nil
	}
}

// View is an organisation as it is in force now.
type View struct {
	// Org is the document in force: the API's when it has one (secrets opened when the Directory has an Opener),
	// else the config file's. Nil when Known is false. Shared: never modify it.
	Org *config.Org
	// Live are the live settings: the flags, revision and disabled flag.
	Live   appt.OrgSettings
	Known  bool
	Source string
}

// Directory is how the worker and the API find an organisation at the moment they need it (docs/rules.md#organisations):
// the config file seeds it; once it is written through the API, the API's document (read from its settings
// workflow, at most TTL old) wins. Each revision is decoded, its secrets opened and its templates put in force once.
// It is safe for concurrent use.
type Directory struct {
	file      *config.Config
	query     Query
	ttl       time.Duration
	opener    *seal.Opener
	templates *templates.Set
	logger    *slog.Logger
	now       func() time.Time

	mu       sync.Mutex
	settings map[string]cached
	docs     map[string]resolved
}

type cached struct {
	s     appt.OrgSettings
	found bool
	at    time.Time
}

type resolved struct {
	rev   int64
	org   *config.Org
	until time.Time // when a previous secret's overlap ends: resolve again then
}

// DirectoryOptions configure a Directory. All are optional.
type DirectoryOptions struct {
	// TTL is how long a settings read is reused; 0 reads every time (for a query that caches already, such as the
	// worker's activities.SettingsCache). At most appt.SettingsMaxAge.
	TTL time.Duration
	// Opener opens subscriber secrets (the worker); without it secrets stay sealed (the API).
	Opener *seal.Opener
	// Templates, when set, gets each new revision's templates (templates.Set.SetOrg).
	Templates *templates.Set
	Logger    *slog.Logger
	Now       func() time.Time
}

// NewDirectory returns a Directory over the config file's organisations and a settings query.
func NewDirectory(file *config.Config, q Query, o DirectoryOptions) *Directory {
	d := &Directory{file: file, query: q, ttl: min(o.TTL, appt.SettingsMaxAge), opener: o.Opener, templates: o.Templates,
		logger: o.Logger, now: o.Now, settings: map[string]cached{}, docs: map[string]resolved{}}
	if d.logger == nil {
		d.logger = slog.New(slog.DiscardHandler)
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Lookup returns the organisation in force. An organisation neither in the file nor written through the API is
// not an error: Known is false.
func (d *Directory) Lookup(ctx context.Context, id string) (View, error) {
	fileOrg, inFile := d.file.Org(id)
	live, found, err := d.read(ctx, id)
	if err != nil {
		return View{}, err
	}
	if found && live.Document != nil {
		org, err := d.resolve(id, live, inFile)
		if err != nil {
			return View{}, err
		}
		return View{Org: org, Live: live, Known: true, Source: SourceAPI}, nil
	}
	if !inFile {
		return View{Live: live}, nil
	}
	if !found {
		live = appt.DefaultOrgSettings(*fileOrg.AutoActivate)
	}
	return View{Org: fileOrg, Live: live, Known: true, Source: SourceFile}, nil
}

func (d *Directory) read(ctx context.Context, id string) (appt.OrgSettings, bool, error) {
	if d.query == nil {
		return appt.OrgSettings{}, false, nil
	}
	now := d.now()
	if d.ttl > 0 {
		d.mu.Lock()
		c, ok := d.settings[id]
		d.mu.Unlock()
		if ok && now.Sub(c.at) < d.ttl {
			return c.s, c.found, nil
		}
	}
	s, found, err := d.query(ctx, id)
	if err != nil {
		return s, found, err
	}
	if d.ttl > 0 {
		d.mu.Lock()
		d.settings[id] = cached{s: s, found: found, at: now}
		d.mu.Unlock()
	}
	return s, found, nil
}

// resolve decodes a revision of the API's document once, opens its secrets and puts its templates in force.
func (d *Directory) resolve(id string, live appt.OrgSettings, inFile bool) (*config.Org, error) {
	now := d.now()
	d.mu.Lock()
	r, ok := d.docs[id]
	d.mu.Unlock()
	if ok && r.rev == live.Revision && (r.until.IsZero() || now.Before(r.until)) {
		return r.org, nil
	}
	var org config.Org
	if err := json.Unmarshal(live.Document, &org); err != nil {
		return nil, fmt.Errorf("organisation %s, revision %d: the document does not decode: %w", id, live.Revision, err)
	}
	var until time.Time
	if d.opener != nil {
		for i := range org.Webhooks {
			w := &org.Webhooks[i]
			if w.SealedSecret != "" {
				pt, err := d.opener.Open(SecretContext(id), w.SealedSecret)
				if err != nil {
					return nil, fmt.Errorf("organisation %s, webhooks[%d]: %w", id, i, err)
				}
				w.Secret = string(pt)
			}
			if err := openCredentials(d.opener, id, i, w); err != nil {
				return nil, err
			}
			if w.PreviousSealedSecret != "" && w.PreviousSecretUntil != nil && now.Before(*w.PreviousSecretUntil) {
				if pt, err := d.opener.Open(SecretContext(id), w.PreviousSealedSecret); err == nil {
					w.PreviousSecret = string(pt)
				}
				if until.IsZero() || w.PreviousSecretUntil.Before(until) {
					until = *w.PreviousSecretUntil
				}
			}
		}
	}
	if d.templates != nil {
		if err := d.templates.SetOrg(&org); err != nil {
			return nil, err
		}
	}
	if !ok && inFile {
		d.logger.Warn("the config file also defines this organisation; the copy written through the API is in force and the file's is ignored",
			"org", id, "revision", live.Revision)
	}
	d.mu.Lock()
	d.docs[id] = resolved{rev: live.Revision, org: &org, until: until}
	d.mu.Unlock()
	return &org, nil
}
