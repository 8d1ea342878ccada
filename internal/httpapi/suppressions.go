package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/suppress"
)

// SuppressionPageMax bounds a page of GET /v1/organizations/{org}/suppressions.
const SuppressionPageMax = 1000

// probNoKey answers the suppression operations of a server without the address key.
var probNoKey = Problem{Type: problemTypeBase + "unavailable", Title: "The suppression list is not available",
	Status: http.StatusServiceUnavailable}

type suppressionBody struct {
	Channel   appt.Channel             `json:"channel"`
	Address   string                   `json:"address"`
	ExpiresAt *time.Time               `json:"expiresAt,omitempty"`
	Reasons   []appt.SuppressionReason `json:"reasons,omitempty"`
}

// SuppressionLookupResponse answers POST /v1/organizations/{org}/suppressions/lookup.
type SuppressionLookupResponse struct {
	Hash       string                  `json:"hash"`
	Suppressed bool                    `json:"suppressed"`
	Entries    []appt.SuppressionEntry `json:"entries"`
}

// checkSuppression checks the body of add, lookup and lift: a channel of email or sms, an address that normalises
// for it (an email: local@domain with an IDNA domain; a phone: international format), an expiry in the future.
func (h *Handler) checkSuppression(r *request) checked {
	var b suppressionBody
	if !decodeLenient(r.body, &b) {
		return undecodable
	}
	var errs []FieldProblem
	if b.Channel != appt.Email && b.Channel != appt.SMS {
		errs = append(errs, bodyField("/channel", "must be email or sms"))
	} else if _, err := addrhash.Normalize(b.Channel, b.Address); err != nil {
		errs = append(errs, bodyField("/address", err.Error()))
	}
	if b.ExpiresAt != nil && !b.ExpiresAt.After(h.now()) {
		errs = append(errs, bodyField("/expiresAt", "must be in the future"))
	}
	r.input = b
	return checked{errs: errs}
}

// suppressionOp runs a suppression operation after the organisation check, or answers 503 without the key.
func (h *Handler) suppressionOp(f func(ctx context.Context, r *request, org string) response) operation {
	return func(ctx context.Context, r *request) response {
		if p := h.checkOrg(r); p != nil {
			return fail(*p)
		}
		if h.suppressions == nil {
			return fail(probNoKey.with("the server has no address key (APPTNOTIFY_ADDRESS_KEY)"))
		}
		return f(ctx, r, r.params["org"])
	}
}

func (h *Handler) suppressionOps() map[string]operation {
	return map[string]operation{
		"addSuppression": h.suppressionOp(func(ctx context.Context, r *request, org string) response {
			b := r.input.(suppressionBody)
			res, err := h.suppressions.Add(ctx, org, b.Channel, b.Address, appt.ReasonManual, appt.SourceAPI, "", b.ExpiresAt)
			var full *appt.SuppressionFullError
			if errors.As(err, &full) {
				return fail(probListFull.with(full.Msg))
			}
			if err != nil {
				return fail(fromError(err, suppressionPointers, r.log))
			}
			return ok(http.StatusOK, res)
		}),
		"lookupSuppression": h.suppressionOp(func(ctx context.Context, r *request, org string) response {
			b := r.input.(suppressionBody)
			es, hash, err := h.suppressions.Lookup(ctx, org, b.Channel, b.Address)
			if err != nil {
				return fail(fromError(err, suppressionPointers, r.log))
			}
			out := SuppressionLookupResponse{Hash: hash, Entries: es}
			for i := range es {
				out.Suppressed = out.Suppressed || es[i].InForce(h.now())
			}
			return ok(http.StatusOK, out)
		}),
		"liftSuppression": h.suppressionOp(func(ctx context.Context, r *request, org string) response {
			b := r.input.(suppressionBody)
			res, err := h.suppressions.Lift(ctx, org, b.Channel, b.Address, b.Reasons, false, appt.SourceAPI, "")
			if err != nil {
				return fail(fromError(err, suppressionPointers, r.log))
			}
			return ok(http.StatusOK, res)
		}),
		"listSuppressions": h.suppressionOp(func(ctx context.Context, r *request, org string) response {
			var since int64
			limit := 100
			if v := r.query.Get("since"); v != "" {
				since, _ = strconv.ParseInt(v, 10, 64) // the document checked it
			}
			if v := r.query.Get("limit"); v != "" {
				limit, _ = strconv.Atoi(v)
			}
			page, err := suppress.Page(ctx, h.suppressions.Store, org, since, limit)
			var fe *appt.FieldError
			if errors.As(err, &fe) {
				return fail(probValidation.with(fe.Error(), paramField("since", fe.Msg)))
			}
			if err != nil {
				return fail(fromError(err, suppressionPointers, r.log))
			}
			return ok(http.StatusOK, page)
		}),
	}
}

var suppressionPointers = fieldPointers{"address": "/address", "expiresAt": "/expiresAt", "reasons": "/reasons"}
