package deploy_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/apptnotify/apptnotify/deploy/grafana"
	"github.com/apptnotify/apptnotify/internal/metrics"
	"github.com/apptnotify/apptnotify/internal/receipts"
	"github.com/apptnotify/apptnotify/internal/testenv"
	"github.com/apptnotify/apptnotify/workflows"
)

const dashboardFile = "grafana/apptnotify.json"

func dashboardQueries(t *testing.T) []grafana.Query {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	qs, err := grafana.Queries(b)
	require.NoError(t, err)
	require.NotEmpty(t, qs)
	return qs
}

// TestDashboardIsGenerated: deploy/grafana/apptnotify.json is exactly what deploy/grafana builds (regenerate it with
// go run ./deploy/grafana/gen), so the Go code is the dashboard's one source.
func TestDashboardIsGenerated(t *testing.T) {
	want, err := grafana.JSON()
	require.NoError(t, err)
	got, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "deploy/grafana/apptnotify.json is stale: go run ./deploy/grafana/gen")
}

// promtool returns the path of Prometheus's promtool (Debian's package prometheus), or skips (fails under CI).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		testenv.Missing(t, "promtool not found (apt-get install prometheus)")
	}
	return p
}

// checkQueries parses PromQL expressions with Prometheus's own parser: promtool check rules over a rule file with
// one recording rule per expression. It returns promtool's output and error.
func checkQueries(t *testing.T, exprs []string) (string, error) {
	t.Helper()
	type rec struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	var rules []rec
	for i, e := range exprs {
		rules = append(rules, rec{Record: "dashboard:query_" + strconv.Itoa(i), Expr: e})
	}
	b, err := yaml.Marshal(map[string]any{"groups": []map[string]any{{"name": "dashboard", "rules": rules}}})
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "queries.yml")
	require.NoError(t, os.WriteFile(path, b, 0o600))
	out, err := exec.Command(promtool(t), "check", "rules", path).CombinedOutput()
	return string(out), err
}

// TestDashboardQueriesParse: every panel's PromQL and every variable's query parses with Prometheus's parser
// (promtool, once Grafana's variables are replaced); a broken expression fails the same check.
func TestDashboardQueriesParse(t *testing.T) {
	qs := dashboardQueries(t)
	var exprs []string
	for _, q := range qs {
		exprs = append(exprs, q.PromQL())
	}
	out, err := checkQueries(t, exprs)
	require.NoError(t, err, out)
	assert.Contains(t, out, "SUCCESS: "+strconv.Itoa(len(exprs))+" rules found")

	out, err = checkQueries(t, []string{`sum by (le) (rate(apptnotify_notification_lateness_seconds_bucket[5m])`})
	assert.Error(t, err, "an unclosed bracket must fail the check: %s", out)
}

// constValues are the values of the string constants of a package file whose type is typ, or, with typ "", the
// untyped ones whose name starts with prefix.
func constValues(t *testing.T, file, typ, prefix string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
	require.NoError(t, err)
	var out []string
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			id, _ := vs.Type.(*ast.Ident)
			if (typ != "" && (id == nil || id.Name != typ)) || (typ == "" && (vs.Type != nil || !strings.HasPrefix(vs.Names[0].Name, prefix))) {
				continue
			}
			for _, v := range vs.Values {
				if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					s, err := strconv.Unquote(lit.Value)
					require.NoError(t, err)
					out = append(out, s)
				}
			}
		}
	}
	require.NotEmpty(t, out, "no %s constants in %s", typ+prefix, file)
	return out
}

var matcher = regexp.MustCompile(`\b(status|type|channel|error_type|receipt)(=~|!~|=|!=)"([^"]*)"`)

// TestDashboardLayout: the rows the operator reads (on time, outcomes, providers, receipts and suppressions, worker
// health), the organisation and channel variables used by every apptnotify panel that has those labels, and label
// values that exist: each status a query names is one of appt's delivery statuses, each type, channel and error
// type one of appt's and activities' constants. The outcomes panel groups by status without naming any, so every
// delivery status shows, one added later (suppressed) included.
func TestDashboardLayout(t *testing.T) {
	qs := dashboardQueries(t)
	var rows []string
	for _, q := range qs {
		if q.Row != "" && !slices.Contains(rows, q.Row) {
			rows = append(rows, q.Row)
		}
	}
	require.Len(t, rows, 5)
	for i, prefix := range []string{"On time", "Outcomes", "Providers", "Receipts and suppressions", "Worker health"} {
		assert.True(t, strings.HasPrefix(rows[i], prefix), "row %d is %q, want %s…", i+1, rows[i], prefix)
	}
	vars := map[string]bool{}
	for _, q := range qs {
		if strings.HasPrefix(q.Panel, "$") {
			vars[q.Panel] = true
		}
	}
	assert.Equal(t, map[string]bool{"$org": true, "$channel": true}, vars)

	known := map[string][]string{
		"status":     constValues(t, "../internal/appt/types.go", "DeliveryStatus", ""),
		"type":       constValues(t, "../internal/appt/types.go", "NotificationType", ""),
		"channel":    constValues(t, "../internal/appt/types.go", "Channel", ""),
		"error_type": constValues(t, "../activities/types.go", "", "Err"),
		"receipt":    {"delivered", "undelivered", "failed"},
	}
	generic := false
	for _, q := range qs {
		for _, m := range matcher.FindAllStringSubmatch(q.Expr, -1) {
			for _, v := range strings.Split(m[3], "|") {
				if v == "$channel" {
					continue
				}
				assert.Contains(t, known[m[1]], v, "%s: %s=%q is no value the code records", q.Panel, m[1], v)
			}
		}
		if strings.Contains(q.Expr, metrics.Notifications+"_total") && !strings.HasPrefix(q.Panel, "$") {
			assert.Contains(t, q.Expr, `org=~"$org"`, "%s: filtered by the organisation variable", q.Panel)
			assert.Contains(t, q.Expr, `channel=~"$channel"`, "%s: filtered by the channel variable", q.Panel)
			if strings.Contains(q.Expr, "sum by (status)") && !strings.Contains(q.Expr, "status=") && !strings.Contains(q.Expr, "status!") {
				generic = true
			}
		}
	}
	assert.True(t, generic, "a panel shows every status: sum by (status) with no status matcher")
}

// TestDashboardMetricsAreDefined: each metric a panel names is apptnotify's (internal/metrics, served with _total,
// or a histogram's _bucket and _count) or the pinned Temporal SDK's. e2e TestDashboardMetricsExported checks the
// same names on a real worker's /metrics.
func TestDashboardMetricsAreDefined(t *testing.T) {
	known := sdkMetricNames(t)
	for _, c := range []string{metrics.Notifications, metrics.ProviderErrors, metrics.ManualRetries} {
		known[c+"_total"] = true
	}
	for _, h := range []metrics.Histogram{workflows.LatenessHistogram(), workflows.ReceiptLagHistogram()} {
		known[h.Served()+"_bucket"], known[h.Served()+"_count"], known[h.Served()+"_sum"] = true, true, true
	}
	known[receipts.SpoolPendingMetric] = true
	names := grafana.MetricNames(dashboardQueries(t))
	require.NotEmpty(t, names)
	for _, n := range names {
		assert.True(t, known[n], "the dashboard names %s, which nothing records", n)
	}
}
