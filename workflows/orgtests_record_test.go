package workflows_test

import (
	"context"
	"fmt"
	"sync"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/config"
)

// recCodes keeps the verification codes the recording's test recipients were sent (the code is only in the text).
var recCodes struct {
	mu   sync.Mutex
	last string
}

func (s *recSenders) SendDraft(_ context.Context, _ *config.Org, d *activities.EmailDraft) (string, error) {
	if c := codeRe.FindString(d.Text); c != "" && d.Subject == "Verification code "+c {
		recCodes.mu.Lock()
		recCodes.last = c
		recCodes.mu.Unlock()
	}
	return "<" + d.MessageID + ">", nil
}

func (s *recSenders) PostDraft(context.Context, *config.Org, *activities.WebhookDraft) error {
	return nil
}

// orgtests: the preview-and-test workflow of acme: a test recipient added, a wrong code, the right one, a preview
// of sample fields with an unsaved template, a test email and a test webhook. It never completes; its history so
// far is recorded.
func (r *recorder) orgTests(name string) error {
	ctx, cancel := bg()
	defer cancel()
	tr, err := r.api.AddTestRecipient(ctx, "acme", &appt.AddTestRecipientRequest{Channel: appt.Email, Address: "me@acme.example"})
	if err != nil {
		return err
	}
	recCodes.mu.Lock()
	code := recCodes.last
	recCodes.mu.Unlock()
	if code == "" {
		return fmt.Errorf("no verification code was sent")
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if _, err := r.api.VerifyTestRecipient(ctx, "acme", tr.ID, wrong); err == nil {
		return fmt.Errorf("a wrong code was accepted")
	}
	if _, err := r.api.VerifyTestRecipient(ctx, "acme", tr.ID, code); err != nil {
		return err
	}
	req := germanSample()
	req.Org = "acme"
	if _, err := r.api.Preview(ctx, &req); err != nil {
		return err
	}
	if _, err := r.api.TestSend(ctx, &appt.TestSendRequest{Preview: req, Recipient: tr.ID, Actor: "anonymous"}); err != nil {
		return err
	}
	req.Channel = appt.Webhook
	if _, err := r.api.TestSend(ctx, &appt.TestSendRequest{Preview: req, Actor: "anonymous"}); err != nil {
		return err
	}
	return r.finish(name, appt.OrgTestsWorkflowID("acme"), false)
}
