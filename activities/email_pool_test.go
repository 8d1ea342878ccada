package activities_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/testenv"
)

// tcpProxy forwards connections to a real server and counts them, so a test sees how many SMTP sessions a Mailer
// opened and how many are still open, and can cut them all as a relay's restart would.
type tcpProxy struct {
	host string
	port int

	mu       sync.Mutex
	accepted int
	open     map[net.Conn]net.Conn // client side -> server side
}

func startProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	p := &tcpProxy{host: "127.0.0.1", port: l.Addr().(*net.TCPAddr).Port, open: map[net.Conn]net.Conn{}}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.accepted++
			p.open[c] = s
			p.mu.Unlock()
			go func() {
				var wg sync.WaitGroup
				wg.Add(2)
				go func() { defer wg.Done(); _, _ = io.Copy(s, c); s.Close() }()
				go func() { defer wg.Done(); _, _ = io.Copy(c, s); c.Close() }()
				wg.Wait()
				p.mu.Lock()
				delete(p.open, c)
				p.mu.Unlock()
			}()
		}
	}()
	return p
}

func (p *tcpProxy) addr() string { return net.JoinHostPort(p.host, strconv.Itoa(p.port)) }

// counts returns the connections accepted so far and those still open.
func (p *tcpProxy) counts() (accepted, open int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, len(p.open)
}

// cut closes every open connection, as a relay that restarts or drops idle clients does.
func (p *tcpProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, s := range p.open {
		c.Close()
		s.Close()
	}
}

// proxiedMailpit starts Mailpit behind a counting proxy and a Mailer that sends through it.
func proxiedMailpit(t *testing.T, opts ...activities.MailerOption) (*testenv.Mailpit, *tcpProxy, *activities.Mailer) {
	t.Helper()
	mp := testenv.StartMailpit(t)
	p := startProxy(t, fmt.Sprintf("%s:%d", mp.SMTPHost, mp.SMTPPort))
	m, err := activities.NewMailer(config.SMTP{Host: p.host, Port: p.port, TLS: config.TLSNone}, testTemplates(t),
		append([]activities.MailerOption{activities.WithSMTPTimeout(20 * time.Second)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(m.Close)
	return mp, p, m
}

func sendN(t *testing.T, m *activities.Mailer, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		_, err := m.SendEmail(context.Background(), emailOrg(), notification(appt.Create, ann), ann, "n"+strconv.Itoa(i))
		require.NoError(t, err)
	}
}

// TestEmailReusesConnections: consecutive sends share one SMTP session, and every message arrives.
func TestEmailReusesConnections(t *testing.T) {
	mp, p, m := proxiedMailpit(t)
	sendN(t, m, 0, 5)
	accepted, open := p.counts()
	require.Equal(t, 1, accepted)
	require.Equal(t, 1, open)
	require.Equal(t, 1, m.Dials())
	require.Equal(t, 1, m.IdleConns())
	require.Len(t, mp.Messages(t), 5)

	// Close ends the idle session with QUIT.
	m.Close()
	require.Eventually(t, func() bool { _, open := p.counts(); return open == 0 }, 10*time.Second, 10*time.Millisecond)
}

// TestEmailWithoutReuse: with no idle connections allowed, every send has its own session, ended at once.
func TestEmailWithoutReuse(t *testing.T) {
	mp, p, m := proxiedMailpit(t, activities.WithSMTPIdleConns(0, time.Minute))
	sendN(t, m, 0, 3)
	accepted, _ := p.counts()
	require.Equal(t, 3, accepted)
	require.Equal(t, 0, m.IdleConns())
	require.Eventually(t, func() bool { _, open := p.counts(); return open == 0 }, 10*time.Second, 10*time.Millisecond)
	require.Len(t, mp.Messages(t), 3)
}

// TestEmailReconnectsAfterTheServerDrops: a kept session that the server has since closed fails its NOOP check, and
// the send goes out on a new session: delivered once, no error.
func TestEmailReconnectsAfterTheServerDrops(t *testing.T) {
	mp, p, m := proxiedMailpit(t)
	sendN(t, m, 0, 1)
	p.cut()
	require.Eventually(t, func() bool { _, open := p.counts(); return open == 0 }, 10*time.Second, 10*time.Millisecond)
	sendN(t, m, 1, 1)
	accepted, _ := p.counts()
	require.Equal(t, 2, accepted)
	require.Len(t, mp.Messages(t), 2)
}

// TestEmailDropsASessionAfterAnError: a session that saw an SMTP error is closed, not kept; the next send opens a
// new one.
func TestEmailDropsASessionAfterAnError(t *testing.T) {
	mp, p, m := proxiedMailpit(t)
	sendN(t, m, 0, 1)
	mp.Chaos(t, map[string]testenv.ChaosTrigger{"Recipient": {ErrorCode: 451, Probability: 100}})
	_, err := m.SendEmail(context.Background(), emailOrg(), notification(appt.Create, ann), ann, "n-fail")
	deliveryError(t, err, activities.ErrTransient)
	require.Equal(t, 0, m.IdleConns())
	mp.Chaos(t, map[string]testenv.ChaosTrigger{})
	sendN(t, m, 1, 1)
	accepted, _ := p.counts()
	require.Equal(t, 2, accepted)
	require.Len(t, mp.Messages(t), 2)
}

// TestEmailIdleSessionsAreBoundedAndExpire: concurrent sends open what they need, at most the idle limit stays
// open afterwards, and those end with QUIT after the idle timeout.
func TestEmailIdleSessionsAreBoundedAndExpire(t *testing.T) {
	mp, p, m := proxiedMailpit(t, activities.WithSMTPIdleConns(2, 300*time.Millisecond))
	concurrently(t, 8, func(i int) error {
		_, err := m.SendEmail(context.Background(), emailOrg(), notification(appt.Create, ann), ann, "n"+strconv.Itoa(i))
		return err
	})
	require.LessOrEqual(t, m.IdleConns(), 2)
	require.Len(t, mp.Messages(t), 8)
	require.Eventually(t, func() bool {
		_, open := p.counts()
		return open == 0 && m.IdleConns() == 0
	}, 10*time.Second, 20*time.Millisecond)
}

// scriptSMTP is a minimal SMTP server whose replies a test scripts: hook(session, messages accepted on it, verb)
// returns "" for the usual reply, "HANG" to never answer, "DROP" to close the connection, or a reply to send (a 421
// closes the connection after it). It counts the sessions and the messages it accepted (250 after DATA), and
// records the Message-IDs the client confirmed it read the 250 for: the client sends RSET only after that.
type scriptSMTP struct {
	port               int
	sessions, accepted atomic.Int32

	mu        sync.Mutex
	confirmed map[string]bool
}

func (s *scriptSMTP) wasConfirmed(messageID string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.confirmed[messageID]
}

func startScriptSMTP(t *testing.T, hook func(session, msgs int, verb string) string) *scriptSMTP {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	s := &scriptSMTP{port: l.Addr().(*net.TCPAddr).Port, confirmed: map[string]bool{}}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			session := int(s.sessions.Add(1)) - 1
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				say := func(x string) { _, _ = io.WriteString(c, x+"\r\n") }
				say("220 script.test ESMTP")
				msgs, lastID := 0, ""
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
					if verb == "RSET" && lastID != "" {
						s.mu.Lock()
						s.confirmed[lastID] = true
						s.mu.Unlock()
						lastID = ""
					}
					switch h := hook(session, msgs, verb); {
					case h == "HANG":
						<-done
						return
					case h == "DROP":
						return
					case h != "":
						say(h)
						if strings.HasPrefix(h, "421") {
							return
						}
						continue
					}
					switch verb {
					case "EHLO", "HELO":
						say("250 script.test")
					case "DATA":
						say("354 end with <CRLF>.<CRLF>")
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
							if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, "Message-ID") {
								lastID = strings.Trim(strings.TrimSpace(v), "<>")
							}
						}
						msgs++
						s.accepted.Add(1)
						say("250 queued")
					case "QUIT":
						say("221 bye")
						return
					default: // MAIL, RCPT, NOOP, RSET
						say("250 ok")
					}
				}
			}()
		}
	}()
	return s
}

func scriptMailer(t *testing.T, s *scriptSMTP, opts ...activities.MailerOption) *activities.Mailer {
	t.Helper()
	m, err := activities.NewMailer(config.SMTP{Host: "127.0.0.1", Port: s.port, TLS: config.TLSNone}, testTemplates(t),
		append([]activities.MailerOption{activities.WithSMTPTimeout(20 * time.Second)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(m.Close)
	return m
}

func sendCtx(ctx context.Context, m *activities.Mailer, nid string) error {
	_, err := m.SendEmail(ctx, emailOrg(), notification(appt.Create, ann), ann, nid)
	return err
}

// TestEmailAcceptedThenDroppedIsSent: once the server has answered 250 to the message, a failure of the RSET that
// follows does not make the send fail (its retry would send the email twice); the session is not kept.
func TestEmailAcceptedThenDroppedIsSent(t *testing.T) {
	s := startScriptSMTP(t, func(_, _ int, verb string) string {
		if verb == "RSET" {
			return "DROP"
		}
		return ""
	})
	m := scriptMailer(t, s)
	nid := "A1/CREATE/g0/email/c1"
	id, err := m.SendEmail(context.Background(), emailOrg(), notification(appt.Create, ann), ann, nid)
	require.NoError(t, err)
	require.Equal(t, "<"+activities.MessageID(nid, emailOrg().EmailFrom)+">", id)
	require.Equal(t, int32(1), s.accepted.Load())
	require.Equal(t, 0, m.IdleConns())
}

// TestEmailDeliveredIsNeverReportedFailed: the send's context ends at every point around the end of the
// transaction; a message the server accepted is never reported failed (the client sends RSET only after it has read
// the 250 to the message, so an RSET marks a delivered message).
func TestEmailDeliveredIsNeverReportedFailed(t *testing.T) {
	var delay atomic.Int64
	s := startScriptSMTP(t, func(_, _ int, verb string) string {
		if verb == "RSET" {
			time.Sleep(time.Duration(delay.Load()))
		}
		return ""
	})
	m := scriptMailer(t, s, activities.WithSMTPIdleConns(0, time.Second))
	failed := map[string]int{} // Message-ID -> send
	for i := range 400 {
		delay.Store(int64(time.Duration(i%40) * 50 * time.Microsecond))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Millisecond)
		nid := "n" + strconv.Itoa(i)
		if err := sendCtx(ctx, m, nid); err != nil {
			failed[activities.MessageID(nid, emailOrg().EmailFrom)] = i
		}
		cancel()
	}
	time.Sleep(100 * time.Millisecond) // the server may read the last RSETs after the client has moved on
	for id, i := range failed {
		require.False(t, s.wasConfirmed(id), "send %d was reported failed after it read the 250 to its message", i)
	}
}

// TestEmailDoesNotWaitForQuit: a send that succeeded returns without waiting for the server's answer to QUIT (here
// never), so it stays inside its caller's deadline.
func TestEmailDoesNotWaitForQuit(t *testing.T) {
	s := startScriptSMTP(t, func(_, _ int, verb string) string {
		if verb == "QUIT" {
			return "HANG"
		}
		return ""
	})
	m := scriptMailer(t, s, activities.WithSMTPIdleConns(0, time.Second)) // every session ends with QUIT at once
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	require.NoError(t, sendCtx(ctx, m, "n1"))
	require.NoError(t, ctx.Err(), "the send returned inside its deadline")
	require.Equal(t, int32(1), s.accepted.Load())
}

// TestEmailReplacesAKeptSessionTheServerRefuses: a kept session the server no longer serves is replaced by a new
// one within the send, and the message goes out once: a 421 to the NOOP check; a NOOP never answered (a firewall
// dropped the session without a word; the NOOP gets 5 s, not the send's 20 s); a 421 to MAIL FROM, as relays that
// cap messages per connection answer (nothing was transferred).
func TestEmailReplacesAKeptSessionTheServerRefuses(t *testing.T) {
	cases := map[string]struct{ verb, reply string }{
		"421 to NOOP":      {"NOOP", "421 4.4.2 idle timeout"},
		"silent NOOP":      {"NOOP", "HANG"},
		"421 to MAIL FROM": {"MAIL", "421 4.7.0 too many messages on this connection"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := startScriptSMTP(t, func(session, msgs int, verb string) string {
				if session == 0 && msgs >= 1 && verb == c.verb {
					return c.reply
				}
				return ""
			})
			m := scriptMailer(t, s)
			require.NoError(t, sendCtx(context.Background(), m, "n1"))
			require.NoError(t, sendCtx(context.Background(), m, "n2"))
			require.Equal(t, int32(2), s.accepted.Load())
			require.Equal(t, int32(2), s.sessions.Load())
		})
	}
}

// TestEmailRefusedOnANewSessionIsTransient: a new session refused at MAIL FROM is not tried again within the send;
// the failure is transient, and the activity's retry policy takes over.
func TestEmailRefusedOnANewSessionIsTransient(t *testing.T) {
	s := startScriptSMTP(t, func(_, _ int, verb string) string {
		if verb == "MAIL" {
			return "421 4.3.2 service not available"
		}
		return ""
	})
	err := sendCtx(context.Background(), scriptMailer(t, s), "n1")
	deliveryError(t, err, activities.ErrTransient)
	require.Equal(t, int32(1), s.sessions.Load())
}

// TestActivitiesCloseEndsTheMailersSessions: the worker calls Activities.Close at shutdown, and it reaches the
// Mailer; with no email sender it does nothing.
func TestActivitiesCloseEndsTheMailersSessions(t *testing.T) {
	_, p, m := proxiedMailpit(t)
	sendN(t, m, 0, 1)
	(&activities.Activities{Email: m}).Close()
	require.Equal(t, 0, m.IdleConns())
	require.Eventually(t, func() bool { _, open := p.counts(); return open == 0 }, 10*time.Second, 10*time.Millisecond)
	(&activities.Activities{}).Close()
}
