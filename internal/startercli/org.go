package startercli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apptnotify/apptnotify/activities"
	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/appt"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/seal"
)

const verbOrg = "org"

// useOrgs makes a starter or API client see organisations written through the API and seal secrets with the
// worker's public key: APPTNOTIFY_SEAL_PUBLIC_KEY, else <data-dir>/seal-public-key. Without one, a write that
// carries a secret is refused with the field named; everything else works.
func useOrgs(c *api.Client, getenv func(string) string, dataDir string) {
	s, err := seal.ClientKey(getenv, dataDir)
	if err != nil {
		s = nil
	}
	c.UseOrgDirectory(s, activities.CheckWebhookURL)
}

// runOrg runs `starter org get|list|disable|enable|apply` (docs/operations.md, "Onboarding a tenant").
func runOrg(ctx context.Context, args []string, env Env) (int, error) {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return ExitBadInput, usagef("org: get, list, disable, enable or apply is required")
	}
	sub := args[0]
	fs := flag.NewFlagSet("org "+sub, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfgPath, dataDir, org, file string
	var plaintext, dryRun bool
	fs.StringVar(&cfgPath, "config", "", "config file")
	fs.StringVar(&dataDir, "data-dir", ".data", "the local worker's data directory")
	fs.BoolVar(&plaintext, codec.PlaintextFlag, false, "write payloads to Temporal unencrypted")
	fs.StringVar(&org, "org", "", "organisation")
	fs.StringVar(&file, "f", "", "file in the config's organizations: format")
	fs.BoolVar(&dryRun, "dry-run", false, "print the difference, change nothing")
	if err := fs.Parse(args[1:]); err != nil {
		return ExitBadInput, usagef("org %s: %v", sub, err)
	}
	switch sub {
	case "get", "disable", "enable":
		if err := appt.ValidateParticipantID("org", org); err != nil {
			return ExitBadInput, err
		}
	case "apply":
		if file == "" {
			return ExitBadInput, usagef("org apply: -f FILE is required")
		}
	case "list":
	default:
		return ExitBadInput, usagef("org: %q is not get, list, disable, enable or apply", sub)
	}
	cfg, err := config.Resolve(cfgPath, env.Getenv)
	if err != nil {
		return ExitBadInput, err
	}
	var docs []config.Org
	if sub == "apply" {
		if docs, err = readApplyFile(file, env.Getenv); err != nil {
			return ExitBadInput, err
		}
	}
	cmd := &command{plaintext: plaintext, dataDir: dataDir, now: now(env), cfg: cfg}
	c, code, err := cmd.connect(env)
	if err != nil {
		return code, err
	}
	defer c.Temporal.Close()
	who := "starter"
	if u := env.Getenv("USER"); u != "" {
		who = "starter:" + u
	}
	out := env.Stdout
	switch sub {
	case "list":
		l, err := c.ListOrgs(ctx)
		if err != nil {
			return ExitOther, err
		}
		for _, o := range l {
			fmt.Fprintf(out, "%s\trevision %d\t%s\t%s\n", o.ID, o.Revision, o.Source, map[bool]string{true: "disabled", false: "enabled"}[o.Disabled])
		}
	case "get":
		info, err := c.GetOrg(ctx, org)
		if err != nil {
			return orgExit(err), err
		}
		b, _ := json.MarshalIndent(info, "", "  ")
		fmt.Fprintln(out, string(b))
	case "disable", "enable":
		res, err := c.SetOrgDisabled(ctx, who, org, sub == "disable")
		if err != nil {
			return orgExit(err), err
		}
		fmt.Fprintf(out, "%s: %sd (revision %d)\n", org, sub, res.Revision)
	case "apply":
		for i := range docs {
			if err := applyOne(ctx, c, who, &docs[i], dryRun, out); err != nil {
				return orgExit(err), err
			}
		}
	}
	return ExitOK, nil
}

func orgExit(err error) int {
	if errors.Is(err, api.ErrOrgNotFound) {
		return ExitNotFound
	}
	var pe *api.PreconditionError
	if errors.As(err, &pe) {
		return ExitOther
	}
	return exitCode(err)
}

// applyOne writes one organisation if it differs, printing what changes: "created", the changed fields, or
// "unchanged". The write carries If-Match, so a change made by someone else since the plan is not overwritten.
func applyOne(ctx context.Context, c *api.Client, who string, doc *config.Org, dryRun bool, out io.Writer) error {
	if errs := c.CheckOrgDocument(doc.ID, doc); len(errs) > 0 {
		return errs[0]
	}
	plan, rev, err := c.PlanOrg(ctx, doc)
	if err != nil {
		return err
	}
	switch {
	case len(plan) == 0:
		fmt.Fprintf(out, "%s: unchanged (revision %d)\n", doc.ID, rev)
		return nil
	case dryRun:
		fmt.Fprintf(out, "%s: would change %s (dry run: nothing written)\n", doc.ID, strings.Join(plan, ", "))
		return nil
	}
	res, err := c.PutOrg(ctx, who, doc, &rev)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: changed %s (revision %d)\n", doc.ID, strings.Join(plan, ", "), res.Revision)
	return nil
}

// readApplyFile reads a file in the config's organizations: format for `org apply`: every secret_env is read from
// the applying shell's environment (and then sent only sealed), and every templates_dir is read into templates.
func readApplyFile(path string, getenv func(string) string) ([]config.Org, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("org apply: %w", err)
	}
	docs, err := config.ParseOrgs(b)
	if err != nil {
		return nil, err
	}
	for i := range docs {
		o := &docs[i]
		for j := range o.Webhooks {
			w := &o.Webhooks[j]
			w.Secret = getenv(w.SecretEnv)
			if w.Secret == "" {
				return nil, &appt.FieldError{Field: fmt.Sprintf("organizations[%d].webhooks[%d].secret_env", i, j),
					Msg: fmt.Sprintf("environment variable %s is not set", w.SecretEnv)}
			}
			w.SecretEnv = ""
			if err := w.ResolveAuthEnv(fmt.Sprintf("organizations[%d].webhooks[%d]", i, j), getenv); err != nil {
				return nil, err
			}
		}
		if o.TemplatesDir != "" {
			if o.Templates, err = readTemplatesDir(o.TemplatesDir, o.Templates); err != nil {
				return nil, fmt.Errorf("organizations[%d].templates_dir: %w", i, err)
			}
			o.TemplatesDir = ""
		}
	}
	return docs, nil
}

// readTemplatesDir reads a templates_dir (its files and its language subdirectories) into templates as data;
// entries already in m win.
func readTemplatesDir(dir string, m map[string]string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.Count(rel, string(filepath.Separator)) > 1 || !(strings.HasSuffix(rel, ".txt") || strings.HasSuffix(rel, ".html")) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	for k, v := range m {
		out[k] = v
	}
	return out, err
}

func now(env Env) time.Time {
	if env.Now != nil {
		return env.Now()
	}
	return time.Now()
}

// connect finds the key ring, dials Temporal and returns the Go API client every verb uses: encrypting with the
// ring, decoding histories and memos with it, and seeing organisations written through the API (useOrgs). On
// failure it returns the exit code.
func (c *command) connect(env Env) (*api.Client, int, error) {
	ring, err := c.keys(env)
	if err != nil {
		return nil, ExitBadInput, err
	}
	hasher, err := addressHasher(env, c.dataDir)
	if err != nil {
		return nil, ExitBadInput, err
	}
	cl, err := dialClient(env, ring, c.cfg)
	if err != nil {
		return nil, ExitOther, err
	}
	cl.Namespace = env.namespace()
	cl.Addresses = hasher
	if ring != nil {
		cl.DataConverter = codec.DataConverter(ring, nil) // Differences and the organisation list read from Temporal
	}
	useOrgs(cl, env.Getenv, c.dataDir)
	return cl, ExitOK, nil
}
