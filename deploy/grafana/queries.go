package grafana

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Query is one PromQL expression of the dashboard JSON: a panel's target, or a variable's query.
type Query struct {
	Row, Panel string // the row it is under and the panel's title; Panel is "$name" for a variable
	Expr       string
}

// Queries reads every PromQL expression from a dashboard's JSON, as Grafana would: the targets of every panel
// (rows' nested panels included) and the query variables' queries.
func Queries(dashboardJSON []byte) ([]Query, error) {
	var d struct {
		Panels     []panelJSON `json:"panels"`
		Templating struct {
			List []struct {
				Type  string          `json:"type"`
				Name  string          `json:"name"`
				Query json.RawMessage `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(dashboardJSON, &d); err != nil {
		return nil, err
	}
	var out []Query
	row := ""
	var walk func(ps []panelJSON)
	walk = func(ps []panelJSON) {
		for _, p := range ps {
			if p.Type == "row" {
				row = p.Title
				walk(p.Panels)
				continue
			}
			for _, t := range p.Targets {
				out = append(out, Query{Row: row, Panel: p.Title, Expr: t.Expr})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		out = append(out, Query{Panel: "$" + v.Name, Expr: q.Query})
	}
	return out, nil
}

type panelJSON struct {
	Type    string      `json:"type"`
	Title   string      `json:"title"`
	Panels  []panelJSON `json:"panels"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
}

// grafanaVars are the dashboard's variables and Grafana's built-in interval variables, with values that make the
// expression plain PromQL.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h", "$org", ".*", "$channel", ".*")

// labelValues is Grafana's label_values(metric, label) variable query.
var labelValues = regexp.MustCompile(`^label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)$`)

// PromQL returns the query as plain PromQL: Grafana's variables replaced by values, and a label_values(metric,
// label) variable query reduced to its metric.
func (q Query) PromQL() string {
	if m := labelValues.FindStringSubmatch(q.Expr); m != nil {
		return m[1]
	}
	return grafanaVars.Replace(q.Expr)
}

// metricName finds metric names in PromQL: apptnotify's own and the Temporal SDK's (labels, functions and
// keywords have neither prefix).
var metricName = regexp.MustCompile(`\b(?:apptnotify|temporal)_[a-z0-9_]+\b`)

// MetricNames are the distinct metric names the queries use, sorted, as they are served (a histogram's _bucket and
// _count series included).
func MetricNames(qs []Query) []string {
	var names []string
	for _, q := range qs {
		for _, m := range metricName.FindAllString(q.Expr, -1) {
			if !slices.Contains(names, m) {
				names = append(names, m)
			}
		}
	}
	slices.Sort(names)
	return names
}
