package workflows

import (
	"crypto/subtle"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/apptnotify/apptnotify/internal/appt"
)

// orgTestsUpdatesPerRun bounds one run of the preview-and-test workflow: after that many updates it continues as
// new (sooner when Temporal suggests it), so that previews, which carry whole emails, never make a long history.
const orgTestsUpdatesPerRun = 200

// orgTestsActivityTimeout bounds a preview, a code's send and a test send.
const orgTestsActivityTimeout = time.Minute

// orgTests is the state of an organisation's preview-and-test workflow.
type orgTests struct {
	st      appt.OrgTestsInput
	updates int
}

// OrgTestsWorkflow is the entity workflow, one per organisation (appt.OrgTestsWorkflowID), that runs previews on
// a worker and holds the organisation's test recipients and the record of its test sends (docs/rules.md#previews,
// docs/rules.md#test-sends). Every operation is an update; a validator refuses, without a trace in the history, a
// request that breaks a rule: an unknown or unverified test recipient, a used-up test-send rate
// (appt.TestSendLimit per appt.TestSendWindow, refused with the time until a send leaves the window), a code for a
// recipient that has none pending. Verification codes count against the rate as test sends do.
func OrgTestsWorkflow(ctx workflow.Context, in *appt.OrgTestsInput) error {
	o := &orgTests{st: *in}
	if err := workflow.SetQueryHandler(ctx, appt.QueryTestRecipients, func() ([]appt.TestRecipient, error) {
		out := []appt.TestRecipient{}
		for _, r := range o.st.Recipients {
			out = append(out, r.Public())
		}
		return out, nil
	}); err != nil {
		return err
	}
	if err := workflow.SetQueryHandler(ctx, appt.QueryTestSends, func() ([]appt.TestSendRecord, error) {
		return append([]appt.TestSendRecord{}, o.st.Sends...), nil
	}); err != nil {
		return err
	}
	handlers := []struct {
		name      string
		handler   any
		validator any
	}{
		{appt.UpdatePreview, o.preview, validatePreview},
		{appt.UpdateAddTestRecipient, o.add, o.validateAdd},
		{appt.UpdateVerifyTestRecipient, o.verify, o.validateVerify},
		{appt.UpdateRemoveTestRecipient, o.remove, o.validateRemove},
		{appt.UpdateTestSend, o.testSend, o.validateTestSend},
	}
	for _, h := range handlers {
		if err := workflow.SetUpdateHandlerWithOptions(ctx, h.name, h.handler,
			workflow.UpdateHandlerOptions{Validator: h.validator}); err != nil {
			return err
		}
	}
	if err := workflow.Await(ctx, func() bool {
		return o.updates >= orgTestsUpdatesPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
	}); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	o.st.Recent = o.recent(workflow.Now(ctx))
	return workflow.NewContinueAsNewError(ctx, OrgTestsWorkflow, &o.st)
}

func orgTestsOptions(ctx workflow.Context, summary string) workflow.Context {
	return workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{
		StartToCloseTimeout: orgTestsActivityTimeout,
		// A send is never repeated behind the administrator's back: a failure is reported, and they try again.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
		Summary:     summary,
	})
}

func refused(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), appt.ErrTestRecipientRefused, nil)
}

func validatePreview(_ workflow.Context, req *appt.PreviewRequest) error {
	if (req.AppointmentID == "") == (req.Sample == nil) {
		return refused("give an appointment ID or sample fields, not both")
	}
	return nil
}

// preview runs the Preview activity for the organisation.
func (o *orgTests) preview(ctx workflow.Context, req *appt.PreviewRequest) (*appt.PreviewResult, error) {
	o.updates++
	req.Org = o.st.Org
	var res appt.PreviewResult
	err := workflow.ExecuteLocalActivity(orgTestsOptions(ctx, "preview "+string(req.Type)), appt.ActivityPreview, req).
		Get(ctx, &res)
	return &res, err
}

func (o *orgTests) find(id string) int {
	return slices.IndexFunc(o.st.Recipients, func(r appt.TestRecipient) bool { return r.ID == id })
}

func (o *orgTests) validateAdd(ctx workflow.Context, req *appt.AddTestRecipientRequest) error {
	if req.Channel != appt.Email && req.Channel != appt.SMS {
		return refused("a test recipient is an email address or a phone number")
	}
	for _, r := range o.st.Recipients {
		if r.Channel == req.Channel && r.Address == req.Address {
			if r.Verified {
				return refused("%s is already a verified test recipient", r.ID)
			}
			return o.rateLimit(workflow.Now(ctx)) // a new code for a recipient not yet verified
		}
	}
	if len(o.st.Recipients) >= appt.MaxTestRecipients {
		return refused("the organisation has %d test recipients, the most it may have", appt.MaxTestRecipients)
	}
	return o.rateLimit(workflow.Now(ctx))
}

// rateLimit refuses one more send (a test send or a verification code) when the organisation has made
// appt.TestSendLimit in the window that ends at now, with the wait until the oldest leaves it.
func (o *orgTests) rateLimit(now time.Time) error {
	recent := o.recent(now)
	if len(recent) < appt.TestSendLimit {
		return nil
	}
	wait := recent[0].Add(appt.TestSendWindow).Sub(now)
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the organisation has made %d test sends and "+
		"verification codes in the last %s, the most it may", len(recent), appt.TestSendWindow),
		appt.ErrTestSendRateLimited, nil, appt.RateLimitDetails{RetryAfter: wait})
}

// add sends a verification code to a new test recipient (or a new code to one not yet verified) and keeps the
// code's salted hash.
func (o *orgTests) add(ctx workflow.Context, req *appt.AddTestRecipientRequest) (*appt.TestRecipient, error) {
	o.updates++
	if err := o.validateAdd(ctx, req); err != nil { // another send may have taken the last place
		return nil, err
	}
	o.st.Recent = append(o.recent(workflow.Now(ctx)), workflow.Now(ctx))
	var code appt.SendTestCodeResult
	if err := workflow.ExecuteLocalActivity(orgTestsOptions(ctx, "verification code by "+string(req.Channel)),
		appt.ActivitySendTestCode, &appt.SendTestCodeInput{Org: o.st.Org, Channel: req.Channel, Address: req.Address}).
		Get(ctx, &code); err != nil {
		return nil, err
	}
	now := workflow.Now(ctx)
	i := slices.IndexFunc(o.st.Recipients, func(r appt.TestRecipient) bool {
		return r.Channel == req.Channel && r.Address == req.Address
	})
	if i < 0 {
		o.st.Seq++
		o.st.Recipients = append(o.st.Recipients, appt.TestRecipient{ID: "tr-" + strconv.Itoa(o.st.Seq),
			Channel: req.Channel, Address: req.Address, AddedAt: now})
		i = len(o.st.Recipients) - 1
	}
	r := &o.st.Recipients[i]
	r.CodeSalt, r.CodeHash, r.CodeExpires, r.CodeAttempts = code.Salt, code.Hash, now.Add(appt.TestCodeTTL), 0
	pub := r.Public()
	return &pub, nil
}

func (o *orgTests) validateVerify(ctx workflow.Context, req *appt.VerifyTestRecipientRequest) error {
	i := o.find(req.ID)
	switch {
	case i < 0:
		return refused("no test recipient %s", req.ID)
	case o.st.Recipients[i].Verified:
		return refused("%s is already verified", req.ID)
	case o.st.Recipients[i].CodeHash == "" || !workflow.Now(ctx).Before(o.st.Recipients[i].CodeExpires):
		return refused("%s has no valid code: ask for a new one (add it again)", req.ID)
	}
	return nil
}

// verify checks a code against the pending code's hash: a match verifies the recipient; appt.TestCodeAttempts
// wrong codes void the code.
func (o *orgTests) verify(ctx workflow.Context, req *appt.VerifyTestRecipientRequest) (*appt.TestRecipient, error) {
	o.updates++
	if err := o.validateVerify(ctx, req); err != nil { // the state may have changed since validation
		return nil, err
	}
	r := &o.st.Recipients[o.find(req.ID)]
	if subtle.ConstantTimeCompare([]byte(appt.TestCodeHash(r.CodeSalt, req.Code)), []byte(r.CodeHash)) != 1 {
		r.CodeAttempts++
		left := appt.TestCodeAttempts - r.CodeAttempts
		if left <= 0 {
			r.CodeSalt, r.CodeHash = "", ""
			return nil, refused("the code is wrong; it is now void: ask for a new one (add it again)")
		}
		return nil, refused("the code is wrong; %d attempts left", left)
	}
	r.Verified = true
	r.CodeSalt, r.CodeHash, r.CodeExpires, r.CodeAttempts = "", "", time.Time{}, 0
	pub := r.Public()
	return &pub, nil
}

func (o *orgTests) validateRemove(_ workflow.Context, id string) error {
	if o.find(id) < 0 {
		return refused("no test recipient %s", id)
	}
	return nil
}

func (o *orgTests) remove(_ workflow.Context, id string) error {
	o.updates++
	if i := o.find(id); i >= 0 {
		o.st.Recipients = slices.Delete(o.st.Recipients, i, i+1)
	}
	return nil
}

// recent are the test sends inside the rate window that ends at now.
func (o *orgTests) recent(now time.Time) []time.Time {
	var out []time.Time
	for _, t := range o.st.Recent {
		if now.Sub(t) < appt.TestSendWindow {
			out = append(out, t)
		}
	}
	return out
}

func (o *orgTests) validateTestSend(ctx workflow.Context, req *appt.TestSendRequest) error {
	if err := validatePreview(ctx, &req.Preview); err != nil {
		return err
	}
	switch req.Preview.Channel {
	case appt.Email, appt.SMS:
		i := o.find(req.Recipient)
		if i < 0 {
			return refused("no test recipient %s", req.Recipient)
		}
		r := o.st.Recipients[i]
		if !r.Verified {
			return refused("test recipient %s is not verified", r.ID)
		}
		if r.Channel != req.Preview.Channel {
			return refused("test recipient %s is an %s recipient, not %s", r.ID, r.Channel, req.Preview.Channel)
		}
	case appt.Webhook:
		if req.Recipient != "" {
			return refused("a test webhook goes to the organisation's subscribers: name no recipient")
		}
	default:
		return refused("a test send names its channel: email, sms or webhook")
	}
	return o.rateLimit(workflow.Now(ctx))
}

// testSend sends one test (the TestSend activity) and records its outcome.
func (o *orgTests) testSend(ctx workflow.Context, req *appt.TestSendRequest) (*appt.TestSendResult, error) {
	o.updates++
	if err := o.validateTestSend(ctx, req); err != nil { // another send may have taken the last place
		return nil, err
	}
	now := workflow.Now(ctx)
	o.st.Recent = append(o.recent(now), now)
	o.st.Seq++
	job := &appt.TestSendJob{SendID: "ts-" + strconv.Itoa(o.st.Seq), Org: o.st.Org, Preview: req.Preview,
		Channel: req.Preview.Channel}
	job.Preview.Org = o.st.Org
	if i := o.find(req.Recipient); i >= 0 {
		r := o.st.Recipients[i].Public()
		job.Recipient = &r
	}
	var res appt.TestSendResult
	if err := workflow.ExecuteLocalActivity(orgTestsOptions(ctx, "test send "+job.SendID), appt.ActivityTestSend, job).
		Get(ctx, &res); err != nil {
		return nil, err
	}
	for i := range res.Records {
		res.Records[i].At, res.Records[i].Actor = now, req.Actor
	}
	o.st.Sends = append(o.st.Sends, res.Records...)
	if n := len(o.st.Sends) - appt.MaxTestSendRecords; n > 0 {
		o.st.Sends = slices.Delete(o.st.Sends, 0, n)
	}
	return &res, nil
}
