package uitest

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/devserver"
	"github.com/apptnotify/apptnotify/internal/workerapp"
	"github.com/apptnotify/apptnotify/workflows"
)

// StackConfig is the organisation the browser test and the screenshots use: the walkthrough's demo organisation
// (a 2-minute reminder), with SMS and one webhook subscriber provisioned, so that a story has every channel.
const StackConfig = `
organizations:
  - id: demo
    platform: genesys
    email_from: "Demo Care <care@demo.example>"
    sms_from: "+15550000000"
    reminder_offsets: [2m]
    webhooks:
      - {url: "https://hooks.demo.example/appointments", secret_env: DEMO_WEBHOOK_SECRET}
`

// SMSRejection is what the stack's Twilio answers to every SMS: a permanent error, so each SMS ends failed after
// one attempt and the appointment's story has to say why.
const SMSRejection = "Twilio 21211: The 'To' number is not a valid phone number"

// Stack is an embedded Temporal server with its Web UI (decoding through a codec endpoint) and a worker running the real workflows and activities,
// with in-memory senders: email and webhooks succeed, every SMS is rejected (SMSRejection).
type Stack struct {
	Server *devserver.Server
	Client client.Client
	API    *api.Client
	// Keys is the key ring the payloads are encrypted with, in APPTNOTIFY_ENCRYPTION_KEYS's format.
	Keys   string
	worker worker.Worker
	codec  *codec.Endpoint
}

// StartStack starts the server (data in dir, free ports on 127.0.0.1) and the worker. Stop it with Stop.
func StartStack(ctx context.Context, dir string, logger *slog.Logger) (*Stack, error) {
	cfg, err := config.ParseWorker([]byte(StackConfig), func(k string) string {
		return map[string]string{"DEMO_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
			"TWILIO_ACCOUNT_SID": "AC00000000000000000000000000000000", "TWILIO_AUTH_TOKEN": "test"}[k]
	})
	if err != nil {
		return nil, err
	}
	port, err := devserver.FreePort()
	if err != nil {
		return nil, err
	}
	uiPort, err := devserver.FreePort()
	if err != nil {
		return nil, err
	}
	// Payloads are encrypted as the worker encrypts them, and the Web UI decodes them through a codec endpoint.
	keys, err := codec.NewKeyRingText(time.Now())
	if err != nil {
		return nil, err
	}
	ring, err := codec.ParseKeyRing(keys)
	if err != nil {
		return nil, err
	}
	ep, err := codec.Listen("127.0.0.1:0", "codec-port", codec.Handler(codec.New(ring, nil),
		codec.EndpointOptions{AllowedOrigin: "http://127.0.0.1:" + strconv.Itoa(uiPort)}), logger)
	if err != nil {
		return nil, err
	}
	srv, err := devserver.Start(ctx, devserver.Options{DataDir: dir, Port: port, UIPort: uiPort,
		SearchAttributes: workerapp.SearchAttributes, Logger: logger, CodecEndpoint: "http://" + ep.Addr()})
	if err != nil {
		ep.Close()
		return nil, err
	}
	copts := client.Options{HostPort: srv.FrontendAddress(), Namespace: srv.Namespace(),
		Logger: sdklog.NewStructuredLogger(logger)}
	api.Encrypt(&copts, ring, nil)
	tc, err := client.Dial(copts)
	if err != nil {
		srv.Stop()
		ep.Close()
		return nil, err
	}
	s := &Stack{Server: srv, Client: tc, API: api.New(tc, cfg), Keys: keys, codec: ep}
	s.API.DataConverter = codec.DataConverter(ring, nil)
	fake := &senders{}
	acts := &activities.Activities{Config: cfg, Email: fake, SMS: fake, Webhooks: fake,
		Settings: activities.NewTemporalSettingsReader(tc)}
	s.worker = worker.New(tc, appt.TaskQueue, worker.Options{})
	workflows.Register(s.worker)
	activities.Register(s.worker, acts)
	if err := s.worker.Start(); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop stops the worker, the client and the server.
func (s *Stack) Stop() {
	if s.worker != nil {
		s.worker.Stop()
	}
	s.Client.Close()
	s.Server.Stop()
	s.codec.Close()
}

// WorkflowURL is the Web UI page of an appointment's workflow.
func (s *Stack) WorkflowURL(appointmentID string) string {
	return fmt.Sprintf("%s/namespaces/%s/workflows/%s", s.Server.UIAddress(), s.Server.Namespace(),
		url.PathEscape(appt.WorkflowID(appointmentID)))
}

type senders struct{}

func (f *senders) SendEmail(_ context.Context, org *config.Org, _ *activities.Message, _ appt.Participant, nid string) (string, error) {
	return "<" + activities.MessageID(nid, org.EmailFrom) + ">", nil
}

func (f *senders) SendSMS(context.Context, *config.Org, *activities.Message, appt.Participant, string) (string, error) {
	return "", activities.Permanent(activities.ErrProviderPermanent, "%s", SMSRejection)
}

func (f *senders) SendWebhook(context.Context, *config.Org, int, *activities.Message) error {
	return nil
}
