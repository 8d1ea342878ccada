// Command gen writes the operator's Grafana dashboard to deploy/grafana/apptnotify.json (or the path given):
//
//	go run ./deploy/grafana/gen
package main

import (
	"fmt"
	"os"

	"github.com/apptnotify/apptnotify/deploy/grafana"
)

func main() {
	path := "deploy/grafana/apptnotify.json"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	b, err := grafana.JSON()
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
