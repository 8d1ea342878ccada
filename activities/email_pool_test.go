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

// startDroppingSMTP is an SMTP server that accepts every message and drops the connection at the RSET that ends
// each transaction, as a relay that fails right after it has taken the message would. It counts the messages it
// accepted.
func startDroppingSMTP(t *testing.T) (int, *atomic.Int32) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				say := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
				say("220 dropping.test ESMTP")
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					switch cmd := strings.ToUpper(strings.TrimSpace(line)); {
					case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
						say("250 dropping.test")
					case cmd == "DATA":
						say("354 end with <CRLF>.<CRLF>")
						for {
							l, err := r.ReadString('\n')
							if err != nil {
								return
							}
							if l == ".\r\n" {
								break
							}
						}
						accepted.Add(1)
						say("250 queued")
					case cmd == "RSET":
						return // the message is taken; the connection drops
					case cmd == "QUIT":
						say("221 bye")
						return
					default: // MAIL, RCPT, NOOP
						say("250 ok")
					}
				}
			}()
		}
	}()
	return l.Addr().(*net.TCPAddr).Port, &accepted
}

// TestEmailAcceptedThenDroppedIsSent: once the server has answered 250 to the message, a failure of the RSET that
// follows does not make the send fail (its retry would send the email twice); the session is not kept.
func TestEmailAcceptedThenDroppedIsSent(t *testing.T) {
	port, accepted := startDroppingSMTP(t)
	m, err := activities.NewMailer(config.SMTP{Host: "127.0.0.1", Port: port, TLS: config.TLSNone}, testTemplates(t),
		activities.WithSMTPTimeout(20*time.Second))
	require.NoError(t, err)
	t.Cleanup(m.Close)
	nid := "A1/CREATE/g0/email/c1"
	id, err := m.SendEmail(context.Background(), emailOrg(), notification(appt.Create, ann), ann, nid)
	require.NoError(t, err)
	require.Equal(t, "<"+activities.MessageID(nid, emailOrg().EmailFrom)+">", id)
	require.Equal(t, int32(1), accepted.Load())
	require.Equal(t, 0, m.IdleConns())
}
