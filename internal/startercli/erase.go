package startercli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"text/tabwriter"
	"time"

	"github.com/apptnotify/apptnotify/api"
	"github.com/apptnotify/apptnotify/internal/addrhash"
	"github.com/apptnotify/apptnotify/internal/appt"
)

// addressHasher returns the hasher of the address key (APPTNOTIFY_ADDRESS_KEY, else the local worker's
// <data-dir>/address-key), or nil when there is none: appointments are then scheduled without their address hashes,
// and an erasure by address is refused (api.ErrNoAddressKey). Error (exit 2, naming the variable, never its value):
// a key that is there but malformed, which would otherwise schedule without hashes silently.
func addressHasher(env Env, dataDir string) (*addrhash.Hasher, error) {
	key, err := addrhash.Load(env.Getenv, dataDir, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	h, err := addrhash.New(key)
	if err != nil {
		return nil, &usageError{msg: err.Error()}
	}
	return h, nil
}

func (c *command) erasure() *api.Erasure {
	return &api.Erasure{Org: c.org, Email: c.email, Phone: c.phone, AppointmentIDs: c.appointmentIDs}
}

// erase runs the erasure and prints its receipt: no personal data, only counts and when each step finished.
func (c *command) erase(ctx context.Context, cl *api.Client, out io.Writer) error {
	r, erased, err := cl.Erase(ctx, c.erasure())
	if err != nil {
		return err
	}
	if c.asJSON {
		return printJSON(out, r)
	}
	printReceipt(out, r)
	if !erased {
		fmt.Fprintf(out, "the erasure goes on; run the same command again for its receipt\n")
	}
	return nil
}

// printJSON prints v as indented JSON, as every --json verb does.
func printJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printReceipt(out io.Writer, r *appt.ErasureReceipt) {
	fmt.Fprintf(out, "Erasure %s (%s), requested %s\n", r.ErasureID, r.Org, r.RequestedAt.UTC().Format(time.RFC3339))
	fmt.Fprintf(out, "  appointments %d  executions deleted %d  data keys destroyed %d  tombstones %d\n",
		r.Appointments, r.Executions, r.DataKeysDestroyed, r.Tombstones)
	fmt.Fprintf(out, "  SMS %d  redacted %d  not redacted %d\n", r.SMSMessages, r.SMSRedacted, r.SMSRedactionFailed)
	tw := tabwriter.NewWriter(out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tFINISHED")
	for _, s := range []struct {
		name string
		at   *time.Time
	}{{"found", r.Steps.Found}, {"stopped", r.Steps.Stopped}, {"keys destroyed", r.Steps.KeysDestroyed},
		{"executions deleted", r.Steps.ExecutionsDeleted}, {"tombstoned", r.Steps.Tombstoned}, {"SMS redacted", r.Steps.SMSRedacted}} {
		at := "pending"
		if s.at != nil {
			at = s.at.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\n", s.name, at)
	}
	tw.Flush()
}
