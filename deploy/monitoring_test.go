package deploy_test

import (
	"os"
	"os/exec"
	"path"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/apptnotify/apptnotify/deploy/grafana"
	"github.com/apptnotify/apptnotify/internal/workerapp"
)

type monitoringService struct {
	Image       string            `yaml:"image"`
	Volumes     []string          `yaml:"volumes"`
	Environment map[string]string `yaml:"environment"`
	Command     []string          `yaml:"command"`
}

// mounts maps a service's container paths to the repository files mounted there (bind mounts only).
func (s monitoringService) mounts() map[string]string {
	out := map[string]string{}
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && strings.HasPrefix(parts[0], "./") {
			out[parts[1]] = strings.TrimPrefix(parts[0], "./")
		}
	}
	return out
}

// TestMonitoringProvisioned: docker-compose.yml runs Prometheus and Grafana (their images pinned like every other,
// TestComposeFile) so that the dashboard is there at start. Prometheus gets deploy/prometheus/prometheus.yml, which
// promtool accepts, loads the alert rules, and scrapes the worker service on the port of its --metrics flag as job
// "apptnotify-worker" (the job the alerts name); Grafana gets the data source pointed at that Prometheus and the
// generated dashboard at the path its dashboard provider reads.
func TestMonitoringProvisioned(t *testing.T) {
	b, err := os.ReadFile("../docker-compose.yml")
	require.NoError(t, err)
	var c struct {
		Services map[string]monitoringService `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(b, &c))
	prom, graf := c.Services["prometheus"], c.Services["grafana"]
	require.NotEmpty(t, prom.Image, "a prometheus service")
	require.NotEmpty(t, graf.Image, "a grafana service")
	assert.True(t, strings.HasPrefix(prom.Image, "prom/prometheus:"), prom.Image)
	assert.True(t, strings.HasPrefix(graf.Image, "grafana/grafana:"), graf.Image)

	// Prometheus: its config and the alert rules it names.
	pm := prom.mounts()
	assert.Contains(t, prom.Command, "--config.file=/etc/prometheus/prometheus.yml")
	require.Equal(t, "deploy/prometheus/prometheus.yml", pm["/etc/prometheus/prometheus.yml"])
	out, err := exec.Command(promtool(t), "check", "config", "--syntax-only", "prometheus/prometheus.yml").CombinedOutput()
	require.NoError(t, err, "%s", out)
	cb, err := os.ReadFile("prometheus/prometheus.yml")
	require.NoError(t, err)
	var pc struct {
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(cb, &pc))
	require.Len(t, pc.RuleFiles, 1)
	assert.Equal(t, "deploy/prometheus/alerts.yml", pm[pc.RuleFiles[0]], "the alert rules are mounted where prometheus.yml loads them")
	workerArgs := c.Services["worker"].Command
	o, err := workerapp.ParseFlags(workerArgs, func(string) string { return "" })
	require.NoError(t, err)
	_, port, _ := strings.Cut(o.Metrics, ":")
	found := false
	for _, sc := range pc.ScrapeConfigs {
		if sc.JobName != "apptnotify-worker" {
			continue
		}
		for _, d := range sc.DNSSDConfigs {
			found = found || (len(d.Names) == 1 && d.Names[0] == "worker" && port == strconv.Itoa(d.Port))
		}
	}
	assert.True(t, found, "job apptnotify-worker finds every worker replica by name on the --metrics port %s", port)

	// Grafana: the data source, the provider and the dashboard file.
	gm := graf.mounts()
	require.Equal(t, "deploy/grafana/provisioning", gm["/etc/grafana/provisioning"])
	ds, err := os.ReadFile("grafana/provisioning/datasources/prometheus.yml")
	require.NoError(t, err)
	assert.Contains(t, string(ds), "url: http://prometheus:9090")
	pb, err := os.ReadFile("grafana/provisioning/dashboards/apptnotify.yml")
	require.NoError(t, err)
	var prov struct {
		Providers []struct {
			Options struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	require.NoError(t, yaml.Unmarshal(pb, &prov))
	require.Len(t, prov.Providers, 1)
	dir := prov.Providers[0].Options.Path
	assert.Equal(t, "deploy/grafana/apptnotify.json", gm[path.Join(dir, grafana.UID+".json")], "the dashboard is mounted in the provider's directory")
	assert.NotEmpty(t, graf.Environment["GF_SECURITY_ADMIN_PASSWORD"])
	assert.True(t, strings.HasPrefix(graf.Environment["GF_SECURITY_ADMIN_PASSWORD"], "${"), "the admin password comes from the environment")
}
