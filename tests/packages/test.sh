#!/usr/bin/env bash
# Uses every package from scratch, as a user would: packs the NuGet packages and the .NET tool into a
# folder feed, compiles the README's C# examples (the very text of the README, extracted) in fresh
# projects that reference the packages from that feed, runs the ASP.NET Core example and the client
# example against real servers, and installs, starts and stops the `moltbeat` tool; then packs
# @moltbeat/websocket and uses it from a fresh npm project (ESM in Node, its type declarations, the
# React entry through a bundler, the browser bundle in headless Chromium), against that tool's server.
# Prints one "ok - NAME" or "not ok - NAME" line per check and ends with "packages: N passed, N failed".
# Needs a Release build of the solution and clients/js's npm dependencies (test.sh has both first).
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT
feed="$work/feed"
# A version of its own for each run, so that no package of an earlier run in the NuGet cache stands in for this one.
version="$(tr -d '[:space:]' < VERSION)-ci.$(date +%s)"
passed=0
failed=0

check() {
  local name=$1
  shift
  if "$@" >"$work/$name.log" 2>&1; then
    echo "ok - $name"
    passed=$((passed + 1))
  else
    echo "not ok - $name"
    tail -40 "$work/$name.log" | sed 's/^/    /'
    failed=$((failed + 1))
  fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

wait_http() { # URL: 200 within 30 s
  for _ in $(seq 1 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$1")" = 200 ] && return 0
    sleep 0.2
  done
  return 1
}

# The first ```csharp block after the README heading given (exact line).
snippet() {
  python3 - "$root/README.md" "$1" <<'PY'
import sys
lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
start = lines.index(sys.argv[2])
i = next(n for n in range(start + 1, len(lines)) if lines[n].strip() == "```csharp")
j = next(n for n in range(i + 1, len(lines)) if lines[n].strip() == "```")
print("\n".join(lines[i + 1:j]))
PY
}

# A fresh project referencing MoltBeat.WebSocket from the feed (the machine's own NuGet sources for the rest).
new_project() { # DIR SDK
  mkdir -p "$1"
  cat > "$1/nuget.config" <<XML
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="moltbeat-feed" value="$feed" />
  </packageSources>
</configuration>
XML
  cat > "$1/$(basename "$1").csproj" <<XML
<Project Sdk="$2">
  <PropertyGroup>
    <OutputType>Exe</OutputType>
    <TargetFramework>net10.0</TargetFramework>
    <Nullable>enable</Nullable>
    <ImplicitUsings>enable</ImplicitUsings>
    <TreatWarningsAsErrors>true</TreatWarningsAsErrors>
  </PropertyGroup>
  <ItemGroup>
    <PackageReference Include="MoltBeat.WebSocket" Version="$version" />
  </ItemGroup>
</Project>
XML
}

build_project() { dotnet build "$1" -c Release -nologo --verbosity quiet; }

pack() {
  dotnet pack MoltBeat.slnx -c Release -nologo --verbosity quiet -o "$feed" -p:Version="$version" &&
    for id in MoltBeat.WebSocket MoltBeat.WebSocket.Redis MoltBeat.Server; do
      [ -f "$feed/$id.$version.nupkg" ] && [ -f "$feed/$id.$version.snupkg" ] || { echo "missing $id $version"; return 1; }
    done &&
    # What a package page shows: the license, the README, the repository commit.
    # (Read whole, then grep: with pipefail, grep -q closing the pipe early would fail the unzip.)
    local nuspec files
    nuspec=$(unzip -p "$feed/MoltBeat.WebSocket.$version.nupkg" MoltBeat.WebSocket.nuspec) &&
    files=$(unzip -l "$feed/MoltBeat.WebSocket.$version.nupkg") &&
    grep -q '<license type="expression">MIT</license>' <<<"$nuspec" &&
    grep -q '<readme>README.md</readme>' <<<"$nuspec" &&
    grep -q ' README.md$' <<<"$files" && grep -q ' LICENSE$' <<<"$files" && grep -q 'lib/net10.0/MoltBeat.WebSocket.xml' <<<"$files"
}

standalone_example_compiles() {
  local dir="$work/standalone"
  new_project "$dir" Microsoft.NET.Sdk
  snippet "### Standalone" > "$dir/Program.cs"
  # The example's one function that is the user's own.
  cat > "$dir/Yours.cs" <<'CS'
internal sealed record User(string Id);

internal partial class Program
{
    private static Task<User?> VerifyTokenAsync(string token) => Task.FromResult<User?>(token.Length > 0 ? new User(token) : null);
}
CS
  build_project "$dir"
}

aspnetcore_example_serves_and_broadcasts() {
  local dir="$work/aspnet" port
  new_project "$dir" Microsoft.NET.Sdk.Web
  snippet "### Inside an ASP.NET Core app" > "$dir/Program.cs"
  build_project "$dir" || return 1
  port=$(free_port)
  ASPNETCORE_URLS="http://127.0.0.1:$port" dotnet "$dir/bin/Release/net10.0/aspnet.dll" &
  local pid=$!
  wait_http "http://127.0.0.1:$port/api/health" &&
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{"id":"a1","name":"Agent Smith"}' "http://127.0.0.1:$port/api/agents")" = 200 ]
  local ok=$?
  kill -TERM "$pid"; wait "$pid"
  return $ok
}

tool_installs_serves_the_demo_and_stops_on_sigterm() {
  dotnet tool install --tool-path "$work/tools" --add-source "$feed" --version "$version" MoltBeat.Server || return 1
  tool_port=$(free_port)
  "$work/tools/moltbeat" --port "$tool_port" --demo > "$work/tool-server.log" 2>&1 &
  tool_pid=$!
  wait_http "http://127.0.0.1:$tool_port/api/health" || return 1
}

client_example_receives_the_demo_feed() {
  local dir="$work/client"
  new_project "$dir" Microsoft.NET.Sdk
  # The README's client, pointed at the tool's port; it runs until its standard input ends.
  snippet "## .NET client" | sed "s#ws://localhost:3000/ws#ws://127.0.0.1:$tool_port/ws#" > "$dir/Program.cs"
  build_project "$dir" || return 1
  (sleep 8) | timeout 60 dotnet "$dir/bin/Release/net10.0/client.dll" > "$work/client-output.txt" 2>&1
  cat "$work/client-output.txt"
  grep -q '^Connected$' "$work/client-output.txt" && grep -Eq '^(New agent|Metrics updated)' "$work/client-output.txt"
}

opening_example_gets_the_last_value_and_the_events_after_a_position() {
  local dir="$work/opening"
  new_project "$dir" Microsoft.NET.Sdk
  snippet "### Opening a room: live, on its last events, or from a position" | sed "s#http://localhost:3000/#http://127.0.0.1:$tool_port/#" > "$dir/Program.cs"
  build_project "$dir" || return 1
  timeout 60 dotnet "$dir/bin/Release/net10.0/opening.dll" > "$work/opening-output.txt" 2>&1
  cat "$work/opening-output.txt"
  # The demo feed has published metrics by now: one is replayed at once; the posts subscription recovers.
  grep -q '^analytics:metrics replays 1 event(s)$' "$work/opening-output.txt" \
    && grep -q '^metrics:updated in analytics:metrics (event [0-9]*)$' "$work/opening-output.txt" \
    && grep -Eq '^analytics:posts from [0-9]+: [0-9]+ missed$' "$work/opening-output.txt"
}

tool_stops_on_sigterm() {
  kill -TERM "$tool_pid"
  for _ in $(seq 1 100); do
    kill -0 "$tool_pid" 2>/dev/null || { wait "$tool_pid"; return $?; }
    sleep 0.1
  done
  echo "still running 10 s after SIGTERM"
  return 1
}

npm_version_is_the_dotnet_version() {
  local npm_version
  npm_version=$(node -p "require('$root/clients/js/package.json').version")
  [ "$npm_version" = "$(tr -d '[:space:]' < VERSION)" ] || { echo "clients/js/package.json has $npm_version, VERSION has $(cat VERSION)"; return 1; }
}

npm_package_installs_into_a_fresh_project() {
  local app="$work/npm-app" tarball
  (cd clients/js && npm run build --silent) || return 1
  tarball=$(cd clients/js && npm pack --silent --pack-destination "$work" | tail -1) || return 1
  mkdir -p "$app"
  echo '{"name":"npm-app","private":true,"type":"module"}' > "$app/package.json"
  # Node 20 has no global WebSocket: the client then uses the ws package, as its README says.
  (cd "$app" && npm install --no-audit --no-fund --loglevel=error "$work/$tarball" ws@8) || return 1
  [ -f "$app/node_modules/@moltbeat/websocket/dist/index.d.ts" ] && [ -f "$app/node_modules/@moltbeat/websocket/dist/browser/moltbeat.min.js" ]
}

esm_import_in_node_receives_the_demo_feed() {
  cat > "$work/npm-app/main.mjs" <<JS
import { MoltBeatWSClient, WSRoom } from '@moltbeat/websocket';
const client = new MoltBeatWSClient({ url: 'ws://127.0.0.1:$tool_port/ws' });
const timer = setTimeout(() => { console.error('no event within 15 s'); process.exit(1); }, 15000);
client.on('event', (name) => { console.log('event', name); clearTimeout(timer); client.disconnect(); process.exit(0); });
await client.connect();
client.subscribe(WSRoom.AllEvents);
JS
  (cd "$work/npm-app" && timeout 30 node main.mjs)
}

declarations_type_check_in_a_strict_project() {
  cat > "$work/npm-app/app.ts" <<'TS'
import { MoltBeatWSClient, type WSClientConfig, type EventMeta } from '@moltbeat/websocket';
import { useMoltBeat } from '@moltbeat/websocket/react';
const config: WSClientConfig = { url: 'ws://127.0.0.1:3000/ws', reconnectInterval: 1000 };
const client = new MoltBeatWSClient(config);
client.on('event', (name: string, data: unknown, meta: EventMeta) => console.log(name, data, meta.room));
client.on('unsubscribed', (room: string, reason?: string) => console.log(room, reason));
export const hook: typeof useMoltBeat = useMoltBeat;
TS
  cat > "$work/npm-app/tsconfig.json" <<'JSON'
{ "compilerOptions": { "strict": true, "noEmit": true, "module": "nodenext", "moduleResolution": "nodenext", "target": "es2022", "skipLibCheck": false, "types": [] }, "files": ["app.ts"] }
JSON
  (cd "$work/npm-app" && "$root/clients/js/node_modules/.bin/tsc" -p tsconfig.json)
}

react_entry_bundles_with_esbuild() {
  cat > "$work/npm-app/react-app.js" <<'JS'
import { useMoltBeat } from '@moltbeat/websocket/react';
export function Dashboard() { const { isConnected } = useMoltBeat('ws://127.0.0.1:3000/ws'); return isConnected; }
JS
  # React is the application's (a peer dependency): left out of the bundle, as an app's bundler would share it.
  (cd "$work/npm-app" && "$root/clients/js/node_modules/.bin/esbuild" react-app.js --bundle --format=esm --external:react --outfile=bundle.js --log-level=warning) &&
    grep -q 'from "react"' "$work/npm-app/bundle.js"
}

browser_bundle_receives_the_demo_feed_in_chromium() {
  cat > "$work/npm-app/browser.mjs" <<JS
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { chromium } from '$root/clients/js/node_modules/playwright-core/index.mjs';
const bundle = readFileSync('node_modules/@moltbeat/websocket/dist/browser/moltbeat.min.js', 'utf8');
const html = \`<script type="module">
import { MoltBeatWSClient } from '/moltbeat.min.js';
const client = new MoltBeatWSClient({ url: 'ws://127.0.0.1:$tool_port/ws' });
client.on('event', (name) => { document.title = 'event ' + name; });
await client.connect();
client.subscribe('all');
</script>\`;
// The page comes from a loopback server, as an application's would: Chromium lets it reach a loopback WebSocket.
const pages = http.createServer((req, res) => req.url === '/moltbeat.min.js'
  ? res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
  : res.writeHead(200, { 'content-type': 'text/html' }).end(html));
await new Promise((r) => pages.listen(0, '127.0.0.1', r));
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium', args: ['--no-sandbox', '--disable-gpu'] });
try {
  const page = await browser.newPage();
  page.on('console', (m) => console.log('console:', m.text()));
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.goto('http://127.0.0.1:' + pages.address().port + '/');
  await page.waitForFunction(() => document.title.startsWith('event '), null, { timeout: 15000 });
  console.log(await page.title());
} finally {
  await browser.close();
  pages.close();
}
JS
  (cd "$work/npm-app" && timeout 60 node browser.mjs)
}

check packs_every_package_with_symbols_license_and_readme pack
check readme_standalone_example_compiles_against_the_package standalone_example_compiles
check readme_aspnetcore_example_serves_and_broadcasts aspnetcore_example_serves_and_broadcasts
check tool_installs_and_serves_the_demo_feed tool_installs_serves_the_demo_and_stops_on_sigterm
if [ -n "${tool_port:-}" ]; then
  check readme_client_example_receives_the_demo_feed client_example_receives_the_demo_feed
  check readme_opening_example_gets_the_last_value_and_the_events_after_a_position opening_example_gets_the_last_value_and_the_events_after_a_position
fi
check npm_version_is_the_dotnet_version npm_version_is_the_dotnet_version
check npm_package_installs_into_a_fresh_project npm_package_installs_into_a_fresh_project
if [ -d "$work/npm-app/node_modules/@moltbeat/websocket" ]; then
  check declarations_type_check_in_a_strict_project declarations_type_check_in_a_strict_project
  check react_entry_bundles_with_esbuild react_entry_bundles_with_esbuild
  if [ -n "${tool_port:-}" ]; then
    check esm_import_in_node_receives_the_demo_feed esm_import_in_node_receives_the_demo_feed
    check browser_bundle_receives_the_demo_feed_in_chromium browser_bundle_receives_the_demo_feed_in_chromium
  fi
fi
if [ -n "${tool_port:-}" ]; then
  check tool_stops_on_sigterm tool_stops_on_sigterm
fi
echo "packages: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
