package devserver

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// registerSearchAttributes makes sure every attribute in want is registered
// on namespace with the given type, through the operator service (with the
// namespace, as SQL visibility requires). Already-registered attributes of
// the same type are fine; a name registered with a different type, or a
// system attribute name, is an error.
//
// When something had to be added, it waits until the frontend accepts a
// query on the new attributes and then one more namespace-cache refresh
// interval, so the history service sees them too.
func registerSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType, refresh time.Duration) error {
	if len(want) == 0 {
		return nil
	}
	op := c.OperatorService()

	var listed *operatorservice.ListSearchAttributesResponse
	err := retryUnavailable(ctx, func(ctx context.Context) error {
		var err error
		listed, err = op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		return err
	})
	if err != nil {
		return fmt.Errorf("devserver: listing search attributes: %w", err)
	}

	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range sortedKeys(want) {
		typ := want[name]
		if _, ok := listed.GetSystemAttributes()[name]; ok {
			return fmt.Errorf("devserver: search attribute %q is a system attribute", name)
		}
		have, ok := listed.GetCustomAttributes()[name]
		switch {
		case !ok:
			missing[name] = typ
		case have != typ:
			return fmt.Errorf("devserver: search attribute %q is already registered on namespace %q as %s, not %s", name, namespace, have, typ)
		}
	}
	if len(missing) == 0 {
		return nil
	}

	err = retryUnavailable(ctx, func(ctx context.Context) error {
		_, err := op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			SearchAttributes: missing,
			Namespace:        namespace,
		})
		var exists *serviceerror.AlreadyExists
		if errors.As(err, &exists) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("devserver: adding search attributes %v to namespace %q: %w", sortedKeys(missing), namespace, err)
	}

	// Wait until the frontend's namespace cache knows the new names.
	for _, name := range sortedKeys(missing) {
		query := fmt.Sprintf("%s IS NOT NULL", quoteSearchAttribute(name))
		for {
			qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := c.WorkflowService().CountWorkflowExecutions(qctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: namespace, Query: query})
			cancel()
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("devserver: search attribute %q not usable yet: %w (last error: %v)", name, ctx.Err(), err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	// The history service refreshes its own namespace cache on the same
	// interval, but not in step with the frontend.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(refresh):
	}
	return nil
}

var plainIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func quoteSearchAttribute(name string) string {
	if plainIdentifier.MatchString(name) {
		return name
	}
	return "`" + strings.ReplaceAll(name, "`", "") + "`"
}

// retryUnavailable retries f while the server reports it is not ready yet.
func retryUnavailable(ctx context.Context, f func(context.Context) error) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := f(actx)
		cancel()
		if err == nil {
			return nil
		}
		var unavailable *serviceerror.Unavailable
		var deadline *serviceerror.DeadlineExceeded
		if !errors.As(err, &unavailable) && !errors.As(err, &deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
