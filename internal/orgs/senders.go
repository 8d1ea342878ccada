package orgs

import (
	"context"
	"sync"
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
type Senders struct {
	file *config.Config
	dir  *Directory
	list Revisions
	now  func() time.Time

	mu       sync.Mutex
	loadedAt time.Time
	revs     map[string]int64  // API organisations: the revision last read
	from     map[string]string // organisation → its sms_from in E.164 ("" when none)
}

// NewSenders returns an index over the config file, the directory and the API's list of organisations.
func NewSenders(file *config.Config, dir *Directory, list Revisions) *Senders {
	return &Senders{file: file, dir: dir, list: list, now: time.Now, revs: map[string]int64{}, from: map[string]string{}}
}

// OrgsSendingFrom returns the organisations whose sms_from is number, sorted by ID. Error: the organisations could
// not be listed or a changed one read (the caller answers 503, and Twilio's STOP is not lost: the customer's next
// message to the number, or Twilio's own refusal with 21610, suppresses it).
func (s *Senders) OrgsSendingFrom(ctx context.Context, number string) ([]string, error) {
	n, err := addrhash.NormalizePhone(number)
	if err != nil {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	age := s.now().Sub(s.loadedAt)
	if s.loadedAt.IsZero() || age > SendersMaxAge {
		if err := s.refresh(ctx); err != nil {
			return nil, err
		}
	}
	out := s.match(n)
	if len(out) == 0 && s.now().Sub(s.loadedAt) > SendersMissRefresh {
		if err := s.refresh(ctx); err != nil {
			return nil, err
		}
		out = s.match(n)
	}
	return out, nil
}

// Warm builds the index now, so that the first STOP after a start does not wait for it (with 1,000 organisations
// written through the API, the first build reads 1,000 documents: some 7 s). Errors are returned; the next
// OrgsSendingFrom tries again.
func (s *Senders) Warm(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refresh(ctx)
}

func (s *Senders) match(n string) []string {
	var out []string
	for _, id := range appt.SortedKeys(s.from) {
		if s.from[id] == n {
			out = append(out, id)
		}
	}
	return out
}

// refresh lists the API's organisations and reads the document of each new or changed one; the file's
// organisations fill in for those the API has not written.
func (s *Senders) refresh(ctx context.Context) error {
	started := s.now()
	revs, err := s.list(ctx)
	if err != nil {
		return err
	}
	from := map[string]string{}
	for i := range s.file.Organizations {
		o := &s.file.Organizations[i]
		from[o.ID] = e164(o.SMSFrom)
	}
	for _, id := range appt.SortedKeys(revs) {
		if old, ok := s.from[id]; ok && s.revs[id] == revs[id] {
			from[id] = old
			continue
		}
		v, err := s.dir.Lookup(ctx, id)
		if err != nil {
			return err
		}
		if v.Known {
			from[id] = e164(v.Org.SMSFrom)
		}
	}
	s.revs, s.from, s.loadedAt = revs, from, started
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
