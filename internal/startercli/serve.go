package startercli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/codec"
	"github.com/apptnotify/apptnotify/internal/config"
	"github.com/apptnotify/apptnotify/internal/httpapi"
)

// verbServe runs the HTTP API.
const verbServe = "serve"

// DefaultListen is where `serve` listens without --listen: loopback only.
const DefaultListen = "127.0.0.1:8088"

// serve runs the HTTP API (docs/api.md) until ctx is done, then shuts down gracefully. It holds client privileges
// only: the config is read as for every verb, without resolving any *_env secret, and it connects with Env.Dial,
// encrypting with the key ring every verb uses (resolved once, at start).
// Bad flags, a bad config, bad tokens, or no tokens on a non-loopback address exit 2 before anything is dialled or
// bound.
func serve(ctx context.Context, args []string, env Env) (int, error) {
	fs := flag.NewFlagSet(verbServe, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var cfgPath, listen string
	keys := &command{verb: verbServe}
	fs.StringVar(&cfgPath, "config", "", "config file")
	fs.StringVar(&listen, "listen", DefaultListen, "host:port to listen on")
	fs.StringVar(&keys.dataDir, "data-dir", ".data", "the local worker's data directory, for its encryption-keys file")
	fs.BoolVar(&keys.plaintext, codec.PlaintextFlag, false, "write payloads to Temporal unencrypted")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(env.Stdout, usage)
			return ExitOK, nil
		}
		return ExitBadInput, usagef("%s: %v", verbServe, err)
	}
	if fs.NArg() > 0 {
		return ExitBadInput, usagef("%s: unexpected argument %q", verbServe, fs.Arg(0))
	}
	if _, _, err := net.SplitHostPort(listen); err != nil {
		return ExitBadInput, usagef("listen: %q is not host:port", listen)
	}
	cfg, err := config.Resolve(cfgPath, env.Getenv)
	if err != nil {
		return ExitBadInput, &usageError{msg: err.Error()}
	}
	tokens, err := httpapi.ParseTokens(env.Getenv(httpapi.TokensEnvVar))
	if err != nil {
		return ExitBadInput, &usageError{msg: err.Error()}
	}
	for _, org := range tokens.Orgs() {
		if _, ok := cfg.Org(org); !ok {
			return ExitBadInput, usagef("%s: organisation %q is not in the config", httpapi.TokensEnvVar, org)
		}
	}
	loopback := httpapi.IsLoopback(listen)
	if tokens.Len() == 0 && !loopback {
		return ExitBadInput, usagef("listen: %s is not a loopback address, so %s must hold at least one token", listen, httpapi.TokensEnvVar)
	}
	ring, err := keys.keysNow(env)
	if err != nil {
		return ExitBadInput, err
	}
	logger := slog.New(slog.NewTextHandler(env.Stderr, nil))
	tc, err := env.Dial(ring)
	if err != nil {
		return ExitOther, fmt.Errorf("connecting to Temporal: %w", err)
	}
	defer tc.Close()
	c := api.New(tc, cfg)
	if c.Addresses, err = addressHasher(env, keys.dataDir); err != nil {
		return ExitBadInput, err
	}
	if env.Now != nil {
		c.Now = env.Now
	}
	if ring != nil {
		c.DataConverter = codec.DataConverter(ring, nil) // the organisation list reads encrypted memos
	}
	useOrgs(c, env.Getenv, keys.dataDir)
	supp, err := suppressionList(cfg, tc, keys.dataDir, env)
	if err != nil {
		return ExitBadInput, err
	}
	if supp != nil {
		supp.Orgs = c.Orgs // organisations written through the API have lists too
	}
	issued, stopIssued := startTokenTable(ctx, c, logger)
	defer stopIssued() // before tc.Close: it reports the last uses still noted
	h, err := httpapi.New(httpapi.Options{Client: c, Tokens: tokens, IssuedTokens: issued, Logger: logger, Suppressions: supp})
	if err != nil {
		return ExitOther, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return ExitOther, fmt.Errorf("listen: %w", err)
	}
	if tokens.Len() == 0 {
		logger.Warn("no API tokens configured: every request is allowed, on loopback only", "env", httpapi.TokensEnvVar)
	}
	fmt.Fprintf(env.Stdout, "apptnotify: HTTP API at http://%s (OpenAPI document at /openapi.yaml)\n", ln.Addr())
	if err := httpapi.Serve(ctx, ln, h, logger); err != nil {
		return ExitOther, fmt.Errorf("serving: %w", err)
	}
	return ExitOK, nil
}
