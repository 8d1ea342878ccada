package startercli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/httpapi"
	"github.com/apptnotify/apptnotify/internal/tokens"
)

// verbToken manages issued API tokens (docs/api.md#tokens).
const verbToken = "token"

// tokenIssuer is the issuedBy and revokedBy of the starter: it acts with Temporal access, not with a token.
const tokenIssuer = "starter"

const tokenUsage = `usage: starter token issue (--org ORG | --all) [--expires 720h]   prints the token, once
       starter token list [--json]
       starter token revoke ID`

// token runs `token issue|list|revoke`. Like every verb it validates everything before it dials; bad input exits 2
// naming the field (org, expires, id), an unknown token ID exits 3.
func token(ctx context.Context, args []string, env Env) (int, error) {
	if len(args) == 0 || (args[0] != "issue" && args[0] != "list" && args[0] != "revoke") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(env.Stdout, tokenUsage)
			return ExitOK, nil
		}
		return ExitBadInput, usagef("token: issue, list or revoke is required\n%s", tokenUsage)
	}
	sub := args[0]
	fs := flag.NewFlagSet(verbToken+" "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfgPath, org, expires string
	var all, asJSON bool
	keys := &command{verb: verbToken}
	fs.StringVar(&cfgPath, "config", "", "config file")
	fs.StringVar(&keys.dataDir, "data-dir", ".data", "the local worker's data directory, for its encryption-keys file")
	fs.BoolVar(&keys.plaintext, codec.PlaintextFlag, false, "write payloads to Temporal unencrypted")
	switch sub {
	case "issue":
		fs.StringVar(&org, "org", "", "the organisation the token may act for")
		fs.BoolVar(&all, "all", false, "the token may act for every organisation")
		fs.StringVar(&expires, "expires", "", "lifetime, such as 720h; none never expires")
	case "list":
		fs.BoolVar(&asJSON, "json", false, "print JSON")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.Stdout, tokenUsage)
			return ExitOK, nil
		}
		return ExitBadInput, usagef("token %s: %v", sub, err)
	}
	var id string
	switch {
	case sub == "revoke" && fs.NArg() == 0:
		return ExitBadInput, &appt.FieldError{Field: "id", Msg: "is required: starter token revoke ID"}
	case sub == "revoke" && fs.NArg() == 1:
		id = fs.Arg(0)
		if !appt.ValidTokenID(id) {
			return ExitBadInput, &appt.FieldError{Field: "id", Msg: fmt.Sprintf("%q is not a token ID (%d lowercase hex digits)", id, appt.TokenIDLength)}
		}
	case fs.NArg() > 0:
		return ExitBadInput, usagef("token %s: unexpected argument %q", sub, fs.Arg(fs.NArg()-1))
	}
	cfg, err := config.Resolve(cfgPath, env.Getenv)
	if err != nil {
		return ExitBadInput, &usageError{msg: err.Error()}
	}
	req := api.TokenRequest{Org: org, IssuedBy: tokenIssuer}
	if sub == "issue" {
		switch {
		case all && org != "":
			return ExitBadInput, &appt.FieldError{Field: "org", Msg: "give --org or --all, not both"}
		case all:
			req.Org = appt.TokenScopeAll
		case org == "":
			return ExitBadInput, &appt.FieldError{Field: "org", Msg: "is required: --org ORG, or --all"}
		case org == appt.TokenScopeAll:
			return ExitBadInput, &appt.FieldError{Field: "org", Msg: "use --all for every organisation"}
		}
		if expires != "" {
			if req.Lifetime, err = time.ParseDuration(expires); err != nil {
				return ExitBadInput, &appt.FieldError{Field: "expires", Msg: fmt.Sprintf("%q is not a duration such as 720h", expires)}
			}
			if err := tokens.ValidLifetime(req.Lifetime); err != nil {
				return ExitBadInput, &appt.FieldError{Field: "expires", Msg: err.(*appt.FieldError).Msg}
			}
		}
		if errs := (&api.Client{Config: cfg}).TokenRequestErrors(req); len(errs) > 0 {
			return ExitBadInput, errs[0]
		}
	}
	ring, err := keys.keysNow(env)
	if err != nil {
		return ExitBadInput, err
	}
	c, err := dialClient(env, ring, cfg)
	if err != nil {
		return ExitOther, err
	}
	defer c.Temporal.Close()
	err = execToken(ctx, c, sub, req, id, asJSON, env)
	switch {
	case err == nil:
		return ExitOK, nil
	case errors.Is(err, api.ErrTokenNotFound):
		return ExitNotFound, &appt.FieldError{Field: "id", Msg: fmt.Sprintf("no token %s", id)}
	case unreachable(err):
		return ExitOther, connectionError(env.address(), err)
	}
	return exitCode(err), err
}

func execToken(ctx context.Context, c *api.Client, sub string, req api.TokenRequest, id string, asJSON bool, env Env) error {
	switch sub {
	case "issue":
		tok, rec, err := c.IssueToken(ctx, req)
		if err != nil {
			return err
		}
		// The token alone on stdout, for TOKEN=$(starter token issue …); what it is on stderr.
		fmt.Fprintln(env.Stdout, tok)
		exp := "never expires"
		if !rec.Expires.IsZero() {
			exp = "expires " + rec.Expires.Format(time.RFC3339)
		}
		fmt.Fprintf(env.Stderr, "issued token %s for %s, %s; it is shown only now\n", rec.ID, scopeText(rec.Org), exp)
		return nil
	case "revoke":
		rec, err := c.RevokeToken(ctx, id, tokenIssuer)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "revoked token %s at %s; every API process refuses it within %s\n", rec.ID, rec.Revoked.Format(time.RFC3339), tokens.MaxAge)
		return nil
	}
	recs, err := c.ListTokens(ctx)
	if err != nil {
		return err
	}
	now := c.Now()
	infos := make([]httpapi.TokenInfo, 0, len(recs))
	for _, r := range recs {
		infos = append(infos, httpapi.NewTokenInfo(r, now))
	}
	if asJSON {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(httpapi.TokenList{Tokens: infos})
	}
	if len(infos) == 0 {
		fmt.Fprintln(env.Stdout, "no token was issued")
		return nil
	}
	tw := tabwriter.NewWriter(env.Stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tORG\tSTATE\tCREATED\tEXPIRES\tLAST USED\tISSUED BY")
	for _, i := range infos {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, i.Org, i.State, rfc3339(&i.Created), rfc3339(i.Expires),
			rfc3339(i.LastUsed), i.IssuedBy)
	}
	return tw.Flush()
}

// keysNow is keys for a verb that parsed its own flags: it sets c.now from env's clock first.
func (c *command) keysNow(env Env) (*codec.KeyRing, error) {
	c.now = time.Now()
	if env.Now != nil {
		c.now = env.Now()
	}
	return c.keys(env)
}

func rfc3339(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func scopeText(org string) string {
	if org == appt.TokenScopeAll {
		return "every organisation"
	}
	return "organisation " + org
}

// startTokenTable reads the token table once (for up to tokens.RefreshTimeout), then runs serve's copy of it
// (refreshed every tokens.RefreshInterval) until the returned stop is called, which reports the last uses still
// noted before it returns.
func startTokenTable(ctx context.Context, c *api.Client, logger *slog.Logger) (*tokens.Table, func()) {
	t := tokens.NewTable(c, nil, logger)
	_ = t.Refresh(ctx) // before serving, so that issued tokens work from the first request; a failure is logged
	tctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { t.Run(tctx); close(done) }()
	return t, func() { cancel(); <-done }
}
