package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// participantPointers names the fields of an add-participant body, which is the participant itself.
var participantPointers = fieldPointers{
	"participant": "", "participant.id": "/id", "participant.name": "/name", "participant.email": "/email",
	"participant.phone": "/phone", "participant.tz": "/tz", "participant.locale": "/locale", "participant.role": "/role",
}

// checkAddParticipant applies a participant's rules (appt.ParticipantErrors) to the body; r.input is the participant.
func checkAddParticipant(r *request) checked {
	var p appt.Participant
	if !decodeLenient(r.body, &p) {
		return undecodable
	}
	r.input = p
	return checked{errs: participantPointers.problems(appt.ParticipantErrors(p))}
}

func (h *Handler) addParticipant(ctx context.Context, r *request) response {
	p := r.input.(appt.Participant)
	return h.participantUpdate(ctx, r, func(ctx context.Context, id string) (*appt.UpdateResult, error) {
		return h.client.AddParticipant(ctx, id, p)
	})
}

func (h *Handler) removeParticipant(ctx context.Context, r *request) response {
	return h.participantUpdate(ctx, r, func(ctx context.Context, id string) (*appt.UpdateResult, error) {
		return h.client.RemoveParticipant(ctx, id, r.params["participantId"])
	})
}

// participantUpdate runs a participant change after the access check. A refusal is the usual 409, with the field
// the workflow's reason names (participant.id: …, participantId: …) as the problem's errors entry.
func (h *Handler) participantUpdate(ctx context.Context, r *request, do func(ctx context.Context, id string) (*appt.UpdateResult, error)) response {
	if p := h.checkAccess(ctx, r); p != nil {
		return fail(*p)
	}
	res, err := do(ctx, r.params["id"])
	var re *api.RefusedError
	switch {
	case errors.As(err, &re):
		return fail(probRefused.with(re.Reason, refusedField(re.Reason)...))
	case err != nil:
		return fail(fromError(err, participantPointers, r.log))
	}
	return ok(http.StatusOK, res)
}

// refusedField is the field a participant change's refusal names, as a problem entry: participantId is the path
// parameter of a removal, the others are fields of an added participant's body.
func refusedField(reason string) []FieldProblem {
	field, detail, ok := strings.Cut(reason, ": ")
	switch {
	case !ok:
		return nil
	case field == "participantId":
		return []FieldProblem{paramField(field, detail)}
	case field == "participant" || strings.HasPrefix(field, "participant."):
		return []FieldProblem{bodyField(participantPointers.pointer(field), detail)}
	}
	return nil
}
