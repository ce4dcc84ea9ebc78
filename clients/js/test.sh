#!/usr/bin/env bash
# The JS client's tests: unit tests, then integration tests in Node and headless Chromium against the
# real C# server (built in Release by ../../test.sh). Needs node/npm and Debian's chromium.
set -uo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --loglevel=error || exit 1
status=0
npm test || status=1
MOLTBEAT_REQUIRE_SERVER=1 CHROMIUM_PATH="${CHROMIUM_PATH:-/usr/bin/chromium}" npm run test:integration || status=1
exit $status
