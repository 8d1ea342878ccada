package orgs

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// Sender index timings (docs/rules.md#suppression).
const (
	// SendersMaxAge is the oldest the index may be when a STOP or START is routed: older, it lists the organisations
	// again (reading the document of each one whose revision changed).
	SendersMaxAge = 30 * time.Second
	// SendersMissRefresh: a number no organisation sends from makes the index list again at once, if it is older
	// than this, so a tenant onboarded seconds ago is found.
	SendersMissRefresh = 2 * time.Second
)

// Revisions lists the organisations written through the API with their revisions (api.Client.ListOrgs, from the
// settings workflows' memos in the visibility store).
type Revisions func(ctx context.Context) (map[string]int64, error)

// Senders maps an SMS sender number to the organisations that send from it (sms_from, compared in E.164): the
// config file's organisations and those written through the API, whose documents it reads through the Directory
// only when their revision changes. A STOP or START texted to a number is routed with it.
//
// Only the first build is waited for. A stale index answers at once and is refreshed behind the answer; a number
// no organisation sends from waits for a fresh listing (a tenant onboarded seconds ago). One refresh runs at a
// time, never under the lock that answers; an organisation whose document cannot be read keeps its previous entry
// (and is read again next time) instead of failing the others.
type Senders struct {
	file *config.Config
	dir  *Directory
	list Revisions
	now  func() time.Time
	// Logger gets one line per organisation whose document could not be read, and per failed background refresh.
	Logger *slog.Logger
	// background runs a refresh behind an answer (tests run it in place).
	background func(func())

	refreshing sync.Mutex  // one refresh at a time
	behind     atomic.Bool // a background refresh is queued or running

	mu       sync.Mutex
	loadedAt time.Time         // start of the last refresh that listed the organisations
	triedAt  time.Time         // start of the last refresh, whatever its outcome
	lastErr  error             // that refresh's listing error
	revs     map[string]int64  // API organisations: the revision of the document last read
	from     map[string]string // organisation → its sms_from in E.164 ("" when none)
}

// NewSenders returns an index over the config file, the directory and the API's list of organisations.
func NewSenders(file *config.Config, dir *Directory, list Revisions) *Senders {
	return &Senders{file: file, dir: dir, list: list, now: time.Now, Logger: slog.New(slog.DiscardHandler),
		background: func(f func()) { go f() }, revs: map[string]int64{}, from: map[string]string{}}
}

// OrgsSendingFrom returns the organisations whose sms_from is number, sorted by ID. Error: the first build, or the
// listing a miss waits for, failed (the caller answers 503, and Twilio's STOP is not lost for good: the customer's
// next message to the number, or Twilio's own refusal with 21610, suppresses it).
func (s *Senders) OrgsSendingFrom(ctx context.Context, number string) ([]string, error) {
	n, err := addrhash.NormalizePhone(number)
	if err != nil {
		return nil, nil
	}
	s.mu.Lock()
	loaded, age := !s.loadedAt.IsZero(), s.now().Sub(s.loadedAt)
	s.mu.Unlock()
	switch {
	case !loaded:
		if err := s.refresh(ctx); err != nil {
			return nil, err
		}
	case age > SendersMaxAge && s.behind.CompareAndSwap(false, true):
		s.background(func() {
			defer s.behind.Store(false)
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), sendersRefreshTimeout)
			defer cancel()
			if err := s.refresh(bctx); err != nil {
				s.Logger.Warn("the SMS sender index could not be refreshed; it answers as it was", "error", err.Error())
			}
		})
	}
	out := s.match(n)
	if len(out) > 0 {
		return out, nil
	}
	s.mu.Lock()
	tried, lastErr := s.now().Sub(s.triedAt), s.lastErr
	s.mu.Unlock()
	if tried <= SendersMissRefresh {
		return nil, lastErr // listed a moment ago: that listing's outcome
	}
	if err := s.refresh(ctx); err != nil {
		return nil, err
	}
	return s.match(n), nil
}

// sendersRefreshTimeout bounds a refresh behind an answer.
const sendersRefreshTimeout = 2 * time.Minute

// Warm builds the index now, so that the first STOP after a start does not wait for it (with 1,000 organisations
// written through the API, the first build reads 1,000 documents: some 7 s). Errors are returned; the next
// OrgsSendingFrom tries again.
func (s *Senders) Warm(ctx context.Context) error {
	return s.refresh(ctx)
}

func (s *Senders) match(n string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, id := range appt.SortedKeys(s.from) {
		if s.from[id] == n {
			out = append(out, id)
		}
	}
	return out
}

// refresh lists the API's organisations and reads the document of each new or changed one; the file's
// organisations fill in for those the API has not written. A caller that waited for another's refresh, started
// after it asked, takes that one's outcome.
func (s *Senders) refresh(ctx context.Context) error {
	asked := s.now()
	s.refreshing.Lock()
	defer s.refreshing.Unlock()
	s.mu.Lock()
	if !s.triedAt.Before(asked) {
		err := s.lastErr
		s.mu.Unlock()
		return err
	}
	oldRevs, oldFrom := s.revs, s.from
	s.mu.Unlock()
	started := s.now()
	listed, err := s.list(ctx)
	if err != nil {
		s.mu.Lock()
		s.triedAt, s.lastErr = started, err
		s.mu.Unlock()
		return err
	}
	revs, from := map[string]int64{}, map[string]string{}
	for i := range s.file.Organizations {
		o := &s.file.Organizations[i]
		from[o.ID] = e164(o.SMSFrom)
	}
	for _, id := range appt.SortedKeys(listed) {
		if old, ok := oldFrom[id]; ok && oldRevs[id] == listed[id] {
			from[id], revs[id] = old, oldRevs[id]
			continue
		}
		v, err := s.dir.Lookup(ctx, id)
		if err != nil {
			// Keep what it had (its old revision, so that it is read again next time); the others go on.
			s.Logger.Warn("an organisation's SMS sender could not be read; its previous one stays in the index", "org", id,
				"error", err.Error())
			if old, ok := oldFrom[id]; ok {
				from[id], revs[id] = old, oldRevs[id]
			}
			continue
		}
		if v.Known {
			// The revision actually read: a cached read older than the listing is read again next time.
			from[id], revs[id] = e164(v.Org.SMSFrom), v.Live.Revision
		}
	}
	s.mu.Lock()
	s.revs, s.from, s.loadedAt, s.triedAt, s.lastErr = revs, from, started, started, nil
	s.mu.Unlock()
	return nil
}

func e164(number string) string {
	if number == "" {
		return ""
	}
	n, err := addrhash.NormalizePhone(number)
	if err != nil {
		return ""
	}
	return n
}
