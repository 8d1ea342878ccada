// Package deploy holds no code: its tests hold the deployment files to their rules. compose_test.go checks
// docker-compose.yml (maintained images pinned to the versions the project embeds, health-checked dependencies, an
// HTTP API without worker secrets) and deploy/temporal/dynamicconfig.yaml (loaded with the Temporal server's own
// loader); alerts_test.go checks deploy/prometheus/alerts.yml. docs/production.md explains the files.
package deploy
