package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

// delivery is one message a sink received.
type delivery struct {
	key string // Message-ID for email, the To number for SMS, webhook-id for webhooks
	at  time.Time
}

// recorder keeps what a sink received, in order, and counts by key.
type recorder struct {
	mu  sync.Mutex
	got []delivery
}

func (r *recorder) add(key string, at time.Time) {
	r.mu.Lock()
	r.got = append(r.got, delivery{key: key, at: at})
	r.mu.Unlock()
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got)
}

func (r *recorder) snapshot() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.got...)
}

// sinks are the in-process stand-ins for the providers: an SMTP server (go-smtp), a Twilio-shaped HTTP server and a
// webhook receiver. They record the receive time of every delivery and do as little work as they can, so that the
// bench measures apptnotify and Temporal, not the sinks.
type sinks struct {
	email, sms, webhook recorder
	// idleEmails counts the emails to the herd's background appointments.
	idleEmails atomic.Int64
	// smtpSessions and httpConns count the connections the senders opened to the sinks.
	smtpSessions, httpConns atomic.Int64
	smtp                    *smtp.Server
	smtpAddr                string
	http                    *http.Server
	httpURL                 string
}

func startSinks() (*sinks, error) {
	s := &sinks{}
	sl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s.smtp = smtp.NewServer(&smtpBackend{rec: &s.email, idle: &s.idleEmails, sessions: &s.smtpSessions})
	s.smtp.Domain = "bench.local"
	s.smtp.AllowInsecureAuth = true
	s.smtp.MaxMessageBytes = 1 << 20
	s.smtp.ReadTimeout, s.smtp.WriteTimeout = time.Minute, time.Minute
	s.smtpAddr = sl.Addr().String()
	go func() { _ = s.smtp.Serve(sl) }()

	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	sid := 0
	var sidMu sync.Mutex
	mux.HandleFunc("POST /2010-04-01/Accounts/{account}/Messages.json", func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.sms.add(r.PostForm.Get("To"), time.Now())
		sidMu.Lock()
		sid++
		n := sid
		sidMu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"sid": fmt.Sprintf("SM%032d", n), "status": "queued"})
	})
	mux.HandleFunc("POST /hooks", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		s.webhook.add(r.Header.Get("webhook-id"), time.Now())
		w.WriteHeader(http.StatusNoContent)
	})
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ConnState: func(_ net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.httpConns.Add(1)
			}
		}}
	s.httpURL = "http://" + hl.Addr().String()
	go func() { _ = s.http.Serve(hl) }()
	return s, nil
}

func (s *sinks) close() {
	_ = s.smtp.Close()
	_ = s.http.Close()
}

type smtpBackend struct {
	rec *recorder
	// idle counts the messages to the background's appointments (recipients idle-*), which are not the herd's.
	idle *atomic.Int64
	// sessions counts the SMTP sessions opened.
	sessions *atomic.Int64
}

func (b *smtpBackend) NewSession(*smtp.Conn) (smtp.Session, error) {
	b.sessions.Add(1)
	return &smtpSession{rec: b.rec, idle: b.idle}, nil
}

type smtpSession struct {
	rec  *recorder
	idle *atomic.Int64
	to   string
}

func (s *smtpSession) AuthPlain(string, string) error       { return nil }
func (s *smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}
func (s *smtpSession) Reset()        { s.to = "" }
func (s *smtpSession) Logout() error { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	at := time.Now()
	m, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		return errors.New("unreadable message")
	}
	s.rec.add(strings.Trim(m.Header.Get("Message-Id"), "<> "), at)
	if strings.HasPrefix(s.to, "idle-") {
		s.idle.Add(1)
	}
	return nil
}
