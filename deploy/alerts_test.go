package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/apptnotify/apptnotify/workflows"
)

// ruleFile is a Prometheus rule file (the rule_files format): groups of alerting rules.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

var (
	alertName = regexp.MustCompile(`^[A-Z][A-Za-z0-9]+$`)
	// metricRef is a metric name in an expression: our metrics and the Temporal SDK's (label names, functions
	// and keywords have neither prefix).
	metricRef = regexp.MustCompile(`\b(?:apptnotify|temporal)_[a-z0-9_]+\b`)
	// sdkConst is a metric name constant in the SDK's metrics package: Name = TemporalMetricsPrefix + "suffix".
	sdkConst = regexp.MustCompile(`=\s*TemporalMetricsPrefix\s*\+\s*"([a-z0-9_]+)"`)
)

// sdkMetricNames are the metric names of the pinned Temporal Go SDK (go.temporal.io/sdk's
// internal/common/metrics/constants.go), as its Prometheus reporter exposes them: counters with _total, timers as
// summaries in seconds.
func sdkMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.temporal.io/sdk").Output()
	require.NoError(t, err, "go list -m go.temporal.io/sdk")
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "internal", "common", "metrics", "constants.go"))
	require.NoError(t, err)
	names := map[string]bool{}
	for _, m := range sdkConst.FindAllStringSubmatch(string(src), -1) {
		base := "temporal_" + m[1]
		names[base+"_total"] = true   // a counter
		names[base+"_seconds"] = true // a timer (a summary; _count and _sum too)
		names[base+"_seconds_count"] = true
		names[base+"_seconds_sum"] = true
		names[base] = true // a gauge
	}
	require.Contains(t, names, "temporal_workflow_task_schedule_to_start_latency_seconds", "the SDK's constants file changed shape")
	return names
}

// TestAlertRules checks deploy/prometheus/alerts.yml: a rule file Prometheus loads (groups of rules, each with a
// CamelCase alert name, an expression with balanced brackets, a "for" Prometheus parses, a severity and a summary
// and description); every metric it uses exists in the pinned SDK or is the workflow's notifications counter; and
// it alerts on what docs/production.md promises: schedule-to-start latency, workflow-task failures, skipped_missed
// and failed deliveries.
func TestAlertRules(t *testing.T) {
	b, err := os.ReadFile("prometheus/alerts.yml")
	require.NoError(t, err)
	var f ruleFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(&f))
	require.NotEmpty(t, f.Groups)

	known := sdkMetricNames(t)
	known[workflows.NotificationsMetric+"_total"] = true
	seen := map[string]bool{}
	var exprs []string
	for _, g := range f.Groups {
		require.NotEmpty(t, g.Name)
		require.NotEmpty(t, g.Rules, g.Name)
		for _, r := range g.Rules {
			assert.Empty(t, r.Record, "%s: only alerting rules here", r.Alert)
			assert.Regexp(t, alertName, r.Alert)
			assert.False(t, seen[r.Alert], "%s: alert name used twice", r.Alert)
			seen[r.Alert] = true
			assert.NoError(t, balanced(r.Expr), "%s: %s", r.Alert, r.Expr)
			if r.For != "" {
				d, err := time.ParseDuration(r.For)
				assert.NoError(t, err, "%s: for %q", r.Alert, r.For)
				assert.Positive(t, d, r.Alert)
			}
			assert.Contains(t, []string{"warning", "critical"}, r.Labels["severity"], "%s: severity", r.Alert)
			assert.NotEmpty(t, r.Annotations["summary"], r.Alert)
			assert.NotEmpty(t, r.Annotations["description"], r.Alert)
			assert.NoError(t, balanced(r.Annotations["summary"]), "%s: summary template", r.Alert)
			refs := metricRef.FindAllString(r.Expr, -1)
			for _, m := range refs {
				assert.True(t, known[m], "%s: metric %s is neither the SDK's (go.temporal.io/sdk) nor %s_total", r.Alert, m, workflows.NotificationsMetric)
			}
			exprs = append(exprs, r.Expr)
		}
	}
	all := strings.Join(exprs, "\n")
	for what, want := range map[string]string{
		"schedule-to-start latency": "temporal_workflow_task_schedule_to_start_latency_seconds",
		"workflow-task failures":    "temporal_workflow_task_execution_failed_total",
		"skipped_missed":            `apptnotify_notifications_total{status="skipped_missed"}`,
		"failed deliveries":         `apptnotify_notifications_total{status="failed"}`,
		"a worker down":             `up{job="apptnotify-worker"}`,
	} {
		assert.Contains(t, all, want, "no rule alerts on %s", what)
	}
}

// balanced reports unbalanced (), [], {} in an expression or template, outside quoted strings.
func balanced(s string) error {
	var stack []rune
	pairs := map[rune]rune{')': '(', ']': '[', '}': '{'}
	var quote rune
	for _, c := range s {
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '(' || c == '[' || c == '{':
			stack = append(stack, c)
		case pairs[c] != 0:
			if len(stack) == 0 || stack[len(stack)-1] != pairs[c] {
				return &unbalanced{s}
			}
			stack = stack[:len(stack)-1]
		}
	}
	if len(stack) > 0 || quote != 0 {
		return &unbalanced{s}
	}
	return nil
}

type unbalanced struct{ s string }

func (u *unbalanced) Error() string { return "unbalanced brackets or quotes in " + u.s }

func TestBalanced(t *testing.T) {
	assert.NoError(t, balanced(`sum by (a) (rate(x{s="(("}[5m])) > 0`))
	assert.Error(t, balanced(`sum(rate(x[5m]) > 0`))
	assert.Error(t, balanced(`x{a="b"`))
	assert.Error(t, balanced(`{{ $value }`))
}

// TestAlertRulesPromtool loads deploy/prometheus/alerts.yml with Prometheus's own checker (promtool check rules:
// every expression parses, every template renders) and runs its unit tests, deploy/prometheus/alerts_test.yml
// (promtool test rules): each alert fires on the series that should raise it, with its labels and annotations, and
// stays silent before its "for" or on healthy series. A renamed metric in a rule fails the unit tests.
func TestAlertRulesPromtool(t *testing.T) {
	bin := promtool(t)
	out, err := exec.Command(bin, "check", "rules", "prometheus/alerts.yml").CombinedOutput()
	require.NoError(t, err, "%s", out)
	cmd := exec.Command(bin, "test", "rules", "alerts_test.yml")
	cmd.Dir = "prometheus"
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "SUCCESS")
}
