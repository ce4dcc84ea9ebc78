#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs what is missing, builds, runs the .NET
# tests (real Kestrel servers on loopback) and the JS client's tests, and ends with one line
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

passed=0
failed=0
log() { printf '\n== %s\n' "$*"; }

need_apt=()
command -v dotnet >/dev/null || { echo "dotnet SDK 10 is required (see README)"; exit 1; }
# The Redis engine's tests start their own redis-server on a free loopback port.
command -v redis-server >/dev/null || need_apt+=(redis-server)
# Node runs the JS client's tests and the benchmark's Node peer; Chromium the browser tests (JS client
# and the dashboard, through Playwright with the system browser: no browser is ever downloaded).
command -v node >/dev/null || need_apt+=(nodejs npm)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  log "installing ${need_apt[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}") >/dev/null || echo "apt-get install failed"
fi

log "dotnet build"
dotnet restore MoltBeat.slnx --verbosity quiet || exit 1
dotnet build MoltBeat.slnx -c Release --no-restore --verbosity quiet -nologo || exit 1

log "dotnet test"
results=$(mktemp)
dotnet test MoltBeat.slnx -c Release --no-build --nologo 2>&1 | tee "$results"
# One summary line per test assembly: "Passed!  - Failed: 0, Passed: 11, Skipped: 0, Total: 11".
read -r p f < <(grep -E '(Passed|Failed)! +- +Failed: +[0-9]+, Passed: +[0-9]+' "$results" \
  | sed -E 's/.*Failed: +([0-9]+), Passed: +([0-9]+).*/\2 \1/' | awk '{p+=$1; f+=$2} END {print p+0, f+0}')
passed=$((passed + p)); failed=$((failed + f))
if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
  echo "dotnet test ran no test or did not finish"; failed=$((failed + 1))
fi

log "benchmark --quick (correctness only: no loss, no duplicates; never timings)"
npm ci --prefix bench/peers/node-ws --no-audit --no-fund --loglevel=error >/dev/null || echo "npm ci for the Node peer failed"
if timeout 300 dotnet bench/MoltBeat.Bench/bin/Release/net10.0/MoltBeat.Bench.dll all --quick --peers moltbeat,naive,signalr,node-ws; then
  passed=$((passed + 1))
else
  echo "benchmark --quick failed"; failed=$((failed + 1))
fi

if [ -f clients/js/package.json ] && [ -x clients/js/test.sh ]; then
  log "JS client"
  js=$(mktemp)
  clients/js/test.sh 2>&1 | tee "$js"
  # A skipped JS test counts as failed: nothing here may pass by not running.
  read -r p f < <(grep -E '^# (pass|fail|skipped) [0-9]+' "$js" | awk '$2=="pass"{p+=$3} $2!="pass"{f+=$3} END {print p+0, f+0}')
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    echo "JS tests ran no test or did not finish"; failed=$((failed + 1))
  fi
fi

log "packages: NuGet, the dotnet tool and npm, installed and used from scratch"
pk=$(mktemp)
timeout 900 tests/packages/test.sh 2>&1 | tee "$pk"
p=; f=
read -r p f < <(sed -nE 's/^packages: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$pk" | tail -1)
if [ -z "${p:-}" ]; then
  echo "the package checks did not finish"; p=0; f=1
fi
passed=$((passed + p)); failed=$((failed + f))

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
