#!/usr/bin/env bash
# Terminal output throughput and input round trip, wasmcode vs the reference OpenCode server.
#   bash bench/terminal.sh
# Each server in turn (never both at once), started in the same small temporary project, gets one
# run of bench/lib/terminal.mjs: a `bash --norc --noprofile` terminal (POST /pty) read and typed
# into over its connect WebSocket; RUNS times BYTES of output (median MB/s), then PINGS round trips
# of `echo $((n+1000000))` one at a time (p50, p99 ms). Before the client starts, the server's
# instance is made and its plugins loaded (GET /experimental/tool/ids) and the server is let go idle.
# Ours keeps its compiled-plugin cache in $BENCH_DIR/terminal-home/ours/cache (its other XDG dirs
# are temporary); the reference gets the shared script's environment with a home of its own under
# $BENCH_DIR/terminal-home/ref (data and state wiped each run). See bench/README.md, "Terminal benchmark".
# Env: WASMCODE_BIN (default: this checkout's release build, $CARGO_TARGET_DIR/release/wasmcode, built
#      when missing; CARGO_TARGET_DIR defaults to ~/.cache/wasmcode/target),
#      BENCH_DIR (default ~/.cache/wasmcode/bench; results in $BENCH_DIR/terminal-results/<time>/),
#      BYTES (output per throughput run, default 20000000), RUNS (3), PINGS (200),
#      SKIP_REF=1 (ours only), SKIP_OURS=1 (reference only).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
BENCH_DIR=${BENCH_DIR:-$HOME/.cache/wasmcode/bench}
target=${CARGO_TARGET_DIR:-$HOME/.cache/wasmcode/target}
WASMCODE_BIN=${WASMCODE_BIN:-$target/release/wasmcode}
export BYTES=${BYTES:-20000000} RUNS=${RUNS:-3} PINGS=${PINGS:-200}
REF_SCRIPT=${REF_SCRIPT:-$repo/../shared/tools/opencode-reference.sh}
REF_HOME=${REF_HOME:-$HOME/.cache/opencode-reference}
REF_BIN=$REF_HOME/npm/node_modules/opencode-linux-x64/bin/opencode

die() { echo "terminal.sh: $*" >&2; exit 1; }

# ---------- prerequisites ----------
command -v node >/dev/null || die "node (20 or later) is needed"
command -v curl >/dev/null || die "curl is needed"
if [ "${SKIP_OURS:-0}" != 1 ] && [ ! -x "$WASMCODE_BIN" ]; then
  [ "$WASMCODE_BIN" = "$target/release/wasmcode" ] || die "no wasmcode binary at $WASMCODE_BIN"
  echo "building wasmcode in release mode into $target" >&2
  (cd "$repo" && CARGO_TARGET_DIR=$target cargo build --release -p wasmcode)
fi
# Node 20's WebSocket client is behind a flag; its warning is not wanted in the output.
node_ws=(node --experimental-websocket)
if node --experimental-websocket --disable-warning=ExperimentalWarning -e '' 2>/dev/null; then
  node_ws+=(--disable-warning=ExperimentalWarning)
else
  node_ws+=(--no-warnings)
fi

run_id=$(date -u +%Y%m%dT%H%M%SZ)
out=$BENCH_DIR/terminal-results/$run_id
mkdir -p "$out"
ln -sfn "$run_id" "$BENCH_DIR/terminal-results/latest"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/terminal-bench.XXXXXX")
project=$tmp/project

# ---------- process hygiene ----------
# shellcheck source=lib/procs.sh
. "$here/lib/procs.sh"
cleanup() {
  kill_tracked 0.5
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------- the project (the same content for both servers) ----------
make_project() {
  rm -rf "$project"
  mkdir -p "$project"
  printf '# terminal bench project\n' >"$project/README.md"
  printf '{"$schema": "https://opencode.ai/config.json", "share": "disabled", "autoupdate": false}\n' >"$project/opencode.json"
  git -C "$project" init -q
  git -C "$project" add -A
  git -C "$project" -c user.name=bench -c user.email=bench@localhost commit -q -m "bench project"
}

# port pid: the project's instance made and its plugins loaded (/experimental/tool/ids waits for
# them on ours: a fresh instance compiles its plugins in the background, which would share the 2
# cores with the measurement), then the server idle (under 5% of a core over a second) or 30 s.
settle() {
  curl -sf -o /dev/null --max-time 600 "http://127.0.0.1:$1/experimental/tool/ids" || die "/experimental/tool/ids failed on port $1"
  local tck a b
  tck=$(getconf CLK_TCK)
  for _ in $(seq 1 30); do
    a=$(awk '{print $14 + $15}' "/proc/$2/stat"); sleep 1; b=$(awk '{print $14 + $15}' "/proc/$2/stat")
    (( (b - a) * 100 < tck * 5 )) && return 0
  done
  echo "terminal.sh: the server on port $1 did not go idle; measuring anyway" >&2
}

# name port pid: the client against a running server; its JSON line into $out/<name>.json
measure() {
  settle "$2" "$3"
  echo "== $1: terminal.mjs (BYTES=$BYTES RUNS=$RUNS PINGS=$PINGS)" >&2
  local cpu0 cpu1
  cpu0=$(awk '{print $14 + $15}' "/proc/$3/stat")
  "${node_ws[@]}" "$here/lib/terminal.mjs" "http://127.0.0.1:$2" 2>"$out/$1.client.log" | tail -1 >"$out/$1.json" \
    || { cat "$out/$1.client.log" >&2; die "the client failed against $1"; }
  cat "$out/$1.client.log" >&2
  cpu1=$(awk '{print $14 + $15}' "/proc/$3/stat")
  echo "$1: server CPU during the client (its own threads, not the shell) $(( (cpu1 - cpu0) * 1000 / $(getconf CLK_TCK) )) ms," \
       "RSS at the end $(awk '/VmRSS/ {print $2, $3}' "/proc/$3/status")" >>"$out/meta.txt"
}

{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm), $(nproc) cpus, load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  [ "${SKIP_OURS:-0}" = 1 ] || echo "ours: $WASMCODE_BIN (built $(stat -c %y "$WASMCODE_BIN" | cut -d. -f1), sha256 $(sha256sum "$WASMCODE_BIN" | cut -c1-12))"
  [ "${SKIP_REF:-0}" = 1 ] || echo "reference: opencode-ai $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$REF_HOME/npm/node_modules/opencode-ai/package.json" 2>/dev/null || echo '?') ($REF_BIN)"
  echo "bench: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?'), node $(node --version)"
  echo "client: BYTES=$BYTES RUNS=$RUNS PINGS=$PINGS"
} >"$out/meta.txt"

# ---------- ours ----------
if [ "${SKIP_OURS:-0}" != 1 ]; then
  make_project
  oh=$tmp/ours
  mkdir -p "$oh"/{data,config,state,home}
  # The plugin cache is kept between runs (compiled first-party plugins, about 25 MB).
  ocache=$BENCH_DIR/terminal-home/ours/cache
  mkdir -p "$ocache"
  port=$(free_port)
  echo "== wasmcode ($WASMCODE_BIN) on port $port" >&2
  python3 "$here/lib/startup.py" --port "$port" --cwd "$project" --trials 0 --keep "$out/ours.pid" --log "$out/ours.log" \
    --env "HOME=$oh/home" --env "XDG_DATA_HOME=$oh/data" --env "XDG_CACHE_HOME=$ocache" \
    --env "XDG_CONFIG_HOME=$oh/config" --env "XDG_STATE_HOME=$oh/state" \
    -- "$WASMCODE_BIN" serve --port "$port" --hostname 127.0.0.1 || die "our server did not start; see $out/ours.log"
  pid=$(cat "$out/ours.pid"); pids+=("$pid")
  measure ours "$port" "$pid"
  stop_server "$pid" "$port"
fi

# ---------- reference ----------
if [ "${SKIP_REF:-0}" != 1 ]; then
  make_project
  if [ ! -x "$REF_BIN" ]; then
    # The shared script installs opencode-ai from npm into $REF_HOME the first time.
    port=$(free_port)
    pid=$(REF_HOME=$REF_HOME bash "$REF_SCRIPT" "$project" "$port" | tail -1) || die "the reference did not install/start"
    pids+=("$pid"); stop_server "$pid" "$port"
    make_project
  fi
  # The shared script's environment, with a home of our own: its data and state start empty; the
  # config dir (where the reference npm-installs its plugin package at its first start) is kept.
  rh=$BENCH_DIR/terminal-home/ref/home
  rm -rf "$rh/.local/share" "$rh/.local/state"
  mkdir -p "$rh/.config" "$rh/.cache" "$rh/.local/share" "$rh/.local/state"
  port=$(free_port)
  echo "== reference ($REF_BIN) on port $port" >&2
  python3 "$here/lib/startup.py" --port "$port" --cwd "$project" --trials 0 --keep "$out/ref.pid" --log "$out/ref.log" \
    --env "PATH=$REF_HOME/deb/usr/bin:$PATH" --env "HOME=$rh" --env "XDG_CONFIG_HOME=$rh/.config" \
    --env "XDG_DATA_HOME=$rh/.local/share" --env "XDG_CACHE_HOME=$rh/.cache" --env "XDG_STATE_HOME=$rh/.local/state" \
    --env OPENCODE_DISABLE_AUTOUPDATE=1 --env OPENCODE_DISABLE_MODELS_FETCH=1 \
    -- "$REF_BIN" serve --port "$port" --hostname 127.0.0.1 || die "the reference did not start; see $out/ref.log"
  pid=$(cat "$out/ref.pid"); pids+=("$pid")
  measure ref "$port" "$pid"
  stop_server "$pid" "$port"
fi

echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"

# ---------- the table ----------
python3 - "$out" >"$out/report.md" <<'EOF'
import json, os, sys
out = sys.argv[1]
def load(name):
    try:
        with open(os.path.join(out, name + ".json")) as f:
            return json.loads(f.read().strip() or "null")
    except (OSError, ValueError):
        return None
ours, ref = load("ours"), load("ref")
rows = [("output throughput (MB/s, median)", "throughput_mb_s", "higher is better"),
        ("input round trip p50 (ms)", "latency_p50_ms", "lower is better"),
        ("input round trip p99 (ms)", "latency_p99_ms", "lower is better"),
        ("output received (bytes, all runs)", "bytes", ""),
        ("reconnects (cut off as too slow)", "reconnects", ""),
        ("output lost on reconnect (bytes)", "lost_bytes", "")]
def cell(r, k):
    return "-" if r is None or r.get(k) is None else f"{r[k]:,}" if isinstance(r[k], int) else f"{r[k]:,.3f}".rstrip("0").rstrip(".")
print("| metric | ours | reference | ours/reference |")
print("|---|---:|---:|---:|")
for label, key, note in rows:
    ratio = "-"
    if ours and ref and ours.get(key) and ref.get(key) and key not in ("bytes", "reconnects", "lost_bytes"):
        ratio = f"{ours[key] / ref[key]:.2f}x" + (f" ({note})" if note else "")
    print(f"| {label} | {cell(ours, key)} | {cell(ref, key)} | {ratio} |")
for name, r in (("ours", ours), ("reference", ref)):
    if r:
        print(f"\n{name}: runs " + ", ".join(f"{x['mb_s']} MB/s ({x['bytes']:,} B in {x['seconds']} s)" for x in r["runs"])
              + f"; round trip mean {r['latency_mean_ms']} ms, max {r['latency_max_ms']} ms")
EOF
{ cat "$out/meta.txt"; echo; cat "$out/report.md"; echo; echo "raw: $out"; }
