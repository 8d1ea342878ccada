package appt

import (
	"encoding/json"
	"time"
)

// Names of the organisation-document operations of the organisation-settings workflow (docs/production.md,
// "Organisations").
const (
	// UpdatePutOrg writes the organisation document, or disables or enables the organisation (PutOrgRequest).
	UpdatePutOrg = "put-org"
	// QueryOrgChanges returns the audit trail the workflow keeps ([]OrgChange, oldest first).
	QueryOrgChanges = "org-changes"
	// MaxOrgChanges is how many audit entries the workflow keeps in its state; older ones stay in its history.
	MaxOrgChanges = 200
	// OrgPreconditionFailed is the ApplicationError type of a write refused because its If-Match revision is not
	// the current one (HTTP 412).
	OrgPreconditionFailed = "PreconditionFailed"
	// OrgWriteRefused is the ApplicationError type of any other refused write (a new subscriber without a secret).
	OrgWriteRefused = "Refused"
)

// Memo keys of an organisation-settings workflow once written through the API, which the organisation list reads
// from the visibility store.
const (
	MemoOrgRevision = "orgRevision"
	MemoOrgDisabled = "orgDisabled"
)

// OrgDocument is the API's copy of an organisation: the document (a config.Org in JSON, secrets sealed), its
// revision (the ETag) and whether the organisation is disabled.
type OrgDocument struct {
	Document json.RawMessage `json:"document,omitempty"`
	Revision int64           `json:"revision,omitempty"`
	Disabled bool            `json:"disabled,omitempty"`
}

// OrgChange is one entry of an organisation's audit trail: who (the API token's ID), when, what, and which fields
// changed; never a value, so never a secret.
type OrgChange struct {
	Revision int64     `json:"revision"`
	Who      string    `json:"who"`
	At       time.Time `json:"at"`
	Action   string    `json:"action"` // created, replaced, patched, disabled, enabled
	Fields   []string  `json:"fields,omitempty"`
}

// PutOrgRequest is the argument of UpdatePutOrg. Document is nil for a disable or enable.
type PutOrgRequest struct {
	Document json.RawMessage `json:"document,omitempty"`
	// IfMatch, when set, is the revision the writer read; any other current revision refuses the write.
	IfMatch *int64 `json:"ifMatch,omitempty"`
	Who     string `json:"who"`
	Action  string `json:"action"`
	// Disabled sets the disabled flag for the actions disabled and enabled.
	Disabled bool `json:"disabled,omitempty"`
}

// PutOrgResult answers UpdatePutOrg: the revision now current and the entry the write added to the audit trail
// (nil when it changed nothing).
type PutOrgResult struct {
	Revision int64      `json:"revision"`
	Change   *OrgChange `json:"change,omitempty"`
}
