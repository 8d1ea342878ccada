package startercli

import (
	"fmt"

	"github.com/apptnotify/apptnotify/internal/seal"
)

// verbSealPublicKey prints the public key of the workers' seal keys, for APPTNOTIFY_SEAL_PUBLIC_KEY on the API and
// the starter (docs/security.md#seal-keys).
const verbSealPublicKey = "seal-public-key"

// sealPublicKey prints the public key of the first private key in APPTNOTIFY_SEAL_KEYS (what the worker seals
// open with, and logs at start), so that a deployment can give the API and the starter the public key without a
// worker running. It dials nothing. Exit 2 when the variable is unset or malformed, naming it, never its value.
func sealPublicKey(args []string, env Env) (int, error) {
	if len(args) > 0 {
		return ExitBadInput, usagef("%s takes no arguments: it reads %s", verbSealPublicKey, seal.PrivateKeysEnv)
	}
	v := env.Getenv(seal.PrivateKeysEnv)
	if v == "" {
		return ExitBadInput, usagef("%s is not set: set it to the workers' seal keys (head -c 32 /dev/urandom | base64)", seal.PrivateKeysEnv)
	}
	o, err := seal.ParsePrivateKeys(v)
	if err != nil {
		return ExitBadInput, usagef("%v", err)
	}
	fmt.Fprintln(env.Stdout, o.PublicKey())
	return ExitOK, nil
}
