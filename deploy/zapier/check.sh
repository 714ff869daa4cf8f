#!/usr/bin/env bash
# Checks the Zapier integration for real (make zapier-check): installs the
# pinned zapier-platform-core and zapier-platform-schema from the npm
# registry into a temporary directory (never into the repo), starts a
# passhub on a free loopback port with a fresh data dir, and runs
# test/*.js with node's test runner: the schema validation and the app's
# triggers and actions against that passhub. Needs go, node >= 18, npm.
# ZAPIER_DEPS_DIR reuses an install between runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

work=$(mktemp -d)
pid=
cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

deps=${ZAPIER_DEPS_DIR:-$work/deps}
core_v=$(node -p "require('$here/package.json').dependencies['zapier-platform-core']")
schema_v=$(node -p "require('$here/package.json').devDependencies['zapier-platform-schema']")
have=$(node -p "try { require('$deps/node_modules/zapier-platform-core/package.json').version } catch (e) { '' }")
if [ "$have" != "$core_v" ]; then
	mkdir -p "$deps"
	npm install --prefix "$deps" --no-save --no-audit --no-fund --loglevel=error \
		"zapier-platform-core@$core_v" "zapier-platform-schema@$schema_v"
fi
export NODE_PATH="$deps/node_modules"

(cd "$root" && go build -o "$work/passhub" ./cmd/passhub)
port=$(node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })')
key="zapier-check-$(node -p 'require("crypto").randomBytes(16).toString("hex")')"
PASSHUB_BOOTSTRAP_KEY=$key PASSHUB_LOG_LEVEL=warn PASSHUB_WEBHOOKS_ALLOW_PRIVATE=true "$work/passhub" serve \
	--addr "127.0.0.1:$port" --data-dir "$work/data" >"$work/passhub.log" 2>&1 &
pid=$!
url="http://127.0.0.1:$port"
for _ in $(seq 1 120); do
	if curl -fsS "$url/readyz" >/dev/null 2>&1; then break; fi
	if ! kill -0 "$pid" 2>/dev/null; then cat "$work/passhub.log"; exit 1; fi
	sleep 0.5
done
curl -fsS "$url/readyz" >/dev/null || { echo "passhub did not become ready:"; cat "$work/passhub.log"; exit 1; }

cd "$here"
NODE_ENV=test PASSHUB_URL=$url PASSHUB_KEY=$key node --test test/ || { echo "--- passhub log"; cat "$work/passhub.log"; exit 1; }
