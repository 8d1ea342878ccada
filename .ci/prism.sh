#!/usr/bin/env bash
# Installs Prism and Twilio's OpenAPI description (shipped in @twilio/cli-core) into DIR, for the SMS contract test:
#   bash .ci/prism.sh DIR && APPTNOTIFY_PRISM_DIR=DIR go test ./activities -run Prism
# It does nothing when both are already there. node_modules is gitignored.
set -euo pipefail

dir="${1:?usage: .ci/prism.sh DIR}"
prism_version="5.16.0"
twilio_core_version="9.0.0"
spec="node_modules/@twilio/cli-core/src/services/twilio-api/twilio_api_v2010.json"

mkdir -p "$dir"
cd "$dir"
if [[ -x node_modules/.bin/prism && -f "$spec" ]] &&
	grep -q "\"version\": \"$prism_version\"" node_modules/@stoplight/prism-cli/package.json; then
	exit 0
fi
[[ -f package.json ]] || echo '{"name": "apptnotify-prism", "private": true}' >package.json
npm install --no-audit --no-fund --loglevel=error \
	"@stoplight/prism-cli@$prism_version" "@twilio/cli-core@$twilio_core_version"
test -x node_modules/.bin/prism
test -f "$spec"
echo "prism: installed in $dir"
