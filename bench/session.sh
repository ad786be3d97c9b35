#!/usr/bin/env bash
# The agent's turn path, wasmcode vs the reference OpenCode server, against one fake upstream.
#   bash bench/session.sh
# Each server (one at a time, same project content, same fake OpenAI upstream) gets a warm-up
# session, a short session (SHORT_TURNS), a long one (TURNS) and one of LIST_MESSAGES messages that
# `wrk` then lists; see bench/README.md, "Session benchmark", and bench/lib/session_driver.py.
# Env: WASMCODE_BIN (default: this checkout's release build, $CARGO_TARGET_DIR/release/wasmcode, built
#      when missing; CARGO_TARGET_DIR defaults to ~/.cache/wasmcode/target),
#      BENCH_DIR (default ~/.cache/wasmcode/bench; results in $BENCH_DIR/session-results/<time>/),
#      TURNS (long session, default 300), SHORT_TURNS (20), WARMUP_TURNS (2), LIST_MESSAGES (600),
#      WRK_DURATION (5), SKIP_REF=1 (ours only), SKIP_OURS=1 (reference only),
#      PERF=1 (`perf record` our server during its long session: slows it, so not for the numbers;
#      PERF_FREQ sets its sampling rate, default 499 Hz),
#      CGROUP=auto|on|off (exact CPU time from a cpuacct cgroup, default auto: when one can be made).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
BENCH_DIR=${BENCH_DIR:-$HOME/.cache/wasmcode/bench}
target=${CARGO_TARGET_DIR:-$HOME/.cache/wasmcode/target}
WASMCODE_BIN=${WASMCODE_BIN:-$target/release/wasmcode}
TURNS=${TURNS:-300}
SHORT_TURNS=${SHORT_TURNS:-20}
WARMUP_TURNS=${WARMUP_TURNS:-2}
LIST_MESSAGES=${LIST_MESSAGES:-600}
WRK_DURATION=${WRK_DURATION:-5}
CGROUP=${CGROUP:-auto}
REF_SCRIPT=${REF_SCRIPT:-$repo/../shared/tools/opencode-reference.sh}
REF_HOME=${REF_HOME:-$HOME/.cache/opencode-reference}
REF_BIN=$REF_HOME/npm/node_modules/opencode-linux-x64/bin/opencode

die() { echo "session.sh: $*" >&2; exit 1; }

# ---------- prerequisites ----------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v curl >/dev/null || need_apt+=(curl)
command -v git >/dev/null || need_apt+=(git)
if [ "${SKIP_REF:-0}" != 1 ]; then command -v rg >/dev/null || need_apt+=(ripgrep); fi
if ((${#need_apt[@]})); then
  echo "installing ${need_apt[*]} with apt-get" >&2
  apt-get install -y "${need_apt[@]}" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "${need_apt[@]}" >/dev/null; }
fi
if [ "${SKIP_OURS:-0}" != 1 ] && [ ! -x "$WASMCODE_BIN" ]; then
  [ "$WASMCODE_BIN" = "$target/release/wasmcode" ] || die "no wasmcode binary at $WASMCODE_BIN"
  echo "building wasmcode in release mode into $target" >&2
  (cd "$repo" && CARGO_TARGET_DIR=$target cargo build --release -p wasmcode)
fi
if [ "${PERF:-0}" = 1 ] && ! command -v perf >/dev/null; then die "PERF=1 but perf is not installed"; fi

run_id=$(date -u +%Y%m%dT%H%M%SZ)
out=$BENCH_DIR/session-results/$run_id
mkdir -p "$out"
ln -sfn "$run_id" "$BENCH_DIR/session-results/latest"
project=$BENCH_DIR/session-project
homes=$BENCH_DIR/session-home

# ---------- process hygiene ----------
# shellcheck source=lib/procs.sh
. "$here/lib/procs.sh"
cleanup() {
  kill_tracked 0.5
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------- the fake upstream (one for both servers; its counters are read as differences) ----------
# The project's path is fixed, so the fake's read tool call names the same file for both servers.
fport=$(free_port)
setsid python3 "$here/lib/fake_upstream.py" --port "$fport" --readme "$project/README.md" >"$out/fake.log" 2>&1 &
fpid=$!; pids+=("$fpid")
for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 0.2 "http://127.0.0.1:$fport/stats" && break; sleep 0.05; done
curl -sf -o /dev/null "http://127.0.0.1:$fport/stats" || die "the fake upstream did not start; see $out/fake.log"

# ---------- the project (recreated before each server: both start from the same content) ----------
make_project() {
  rm -rf "$project"
  mkdir -p "$project/src"
  cat >"$project/README.md" <<'EOF'
# bench project
SESSION-BENCH-README-MARKER
A small project for the session benchmark.
Each turn the fake model asks to read this file.
It stays short so that neither server prunes
old tool output within 300 turns.
EOF
  cat >"$project/src/main.rs" <<'EOF'
fn main() {
    println!("{}", bench::greeting("world"));
}
EOF
  cat >"$project/src/lib.rs" <<'EOF'
pub fn greeting(name: &str) -> String {
    format!("hello, {name}")
}
EOF
  printf '[package]\nname = "bench"\nversion = "0.1.0"\nedition = "2021"\n' >"$project/Cargo.toml"
  printf 'target/\n' >"$project/.gitignore"
  cat >"$project/opencode.json" <<EOF
{"\$schema": "https://opencode.ai/config.json",
 "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
   "options": {"baseURL": "http://127.0.0.1:$fport/v1", "apiKey": "sk-fake"},
   "models": {"fake-model": {"name": "Fake Model", "tool_call": true,
                             "limit": {"context": 128000, "output": 4096}}}}},
 "model": "fake/fake-model", "small_model": "fake/fake-model",
 "share": "disabled", "autoupdate": false}
EOF
  git -C "$project" init -q
  git -C "$project" add -A
  git -C "$project" -c user.name=bench -c user.email=bench@localhost commit -q -m "bench project"
}

driver_args=(--fake "http://127.0.0.1:$fport" --out "$out" --warmup "$WARMUP_TURNS" --short "$SHORT_TURNS"
             --turns "$TURNS" --list-messages "$LIST_MESSAGES" --wrk-duration "$WRK_DURATION" --cgroup "$CGROUP")
{
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(uname -srm), $(nproc) cpus, load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  [ "${SKIP_OURS:-0}" = 1 ] || echo "ours: $WASMCODE_BIN (built $(stat -c %y "$WASMCODE_BIN" | cut -d. -f1), sha256 $(sha256sum "$WASMCODE_BIN" | cut -c1-12))"
  [ "${SKIP_REF:-0}" = 1 ] || echo "reference: opencode-ai $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$REF_HOME/npm/node_modules/opencode-ai/package.json" 2>/dev/null || echo '?') ($REF_BIN)"
  echo "bench: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "turns: warm-up $WARMUP_TURNS, short $SHORT_TURNS, long $TURNS, list session $LIST_MESSAGES messages; wrk ${WRK_DURATION}s"
} >"$out/meta.txt"

# ---------- ours ----------
if [ "${SKIP_OURS:-0}" != 1 ]; then
  make_project
  oh=$homes/ours
  rm -rf "$oh/data" "$oh/state" "$oh/config" "$oh/home"  # fresh sessions; the plugin cache (cache/) is kept
  mkdir -p "$oh"/{data,cache,config,state,home}
  port=$(free_port)
  echo "== wasmcode ($WASMCODE_BIN) on port $port" >&2
  python3 "$here/lib/startup.py" --port "$port" --cwd "$project" --trials 0 --keep "$out/ours.pid" --log "$out/ours.log" \
    --env "HOME=$oh/home" --env "XDG_DATA_HOME=$oh/data" --env "XDG_CACHE_HOME=$oh/cache" \
    --env "XDG_CONFIG_HOME=$oh/config" --env "XDG_STATE_HOME=$oh/state" \
    -- "$WASMCODE_BIN" serve --port "$port" --hostname 127.0.0.1 || die "our server did not start; see $out/ours.log"
  pid=$(cat "$out/ours.pid"); pids+=("$pid")
  perf_args=()
  [ "${PERF:-0}" = 1 ] && perf_args=(--perf "$out/ours.perf.data")
  python3 "$here/lib/session_driver.py" run --name ours --base "http://127.0.0.1:$port" --pid "$pid" \
    "${driver_args[@]}" "${perf_args[@]}"
  echo "ours: RSS at the end $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")" >>"$out/meta.txt"
  stop_server "$pid" "$port"
  if [ "${PERF:-0}" = 1 ]; then
    # Self time by object and by symbol, and inclusive shares of our functions (from the stacks).
    # --no-inline: perf's addr2line lookups for inlined frames can hang.
    rep=(timeout 600 perf report -i "$out/ours.perf.data" --no-inline --stdio -g none)
    "${rep[@]}" --no-children --sort dso 2>/dev/null | grep -v '^$' | sed -E 's/ +$//' | head -n 40 >"$out/ours.perf.dso.txt" || true
    "${rep[@]}" --no-children --sort dso,symbol --percent-limit 0.3 2>/dev/null | grep -v '^$' \
      | sed -E 's/ {2,}/  /g; s/ +$//' | head -n 120 >"$out/ours.perf.self.txt" || true
    timeout 600 perf script -i "$out/ours.perf.data" --no-inline -F comm,ip,sym 2>/dev/null >"$out/ours.perf.script" || true
    python3 "$here/lib/session_driver.py" perf-summary "$out/ours.perf.script" >"$out/ours.perf.inclusive.txt" || true
    echo "perf: $out/ours.perf.{dso,self,inclusive}.txt" >&2
  fi
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
  # The shared script's environment, with a home of our own: sessions start empty; the config dir
  # (where the reference npm-installs its plugin package at its first start) and caches are kept.
  rh=$homes/ref/home
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
  python3 "$here/lib/session_driver.py" run --name ref --base "http://127.0.0.1:$port" --pid "$pid" "${driver_args[@]}"
  echo "ref: RSS at the end $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")" >>"$out/meta.txt"
  stop_server "$pid" "$port"
fi

echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/meta.txt"
python3 "$here/lib/session_driver.py" report --out "$out" >"$out/report.md"
{ cat "$out/meta.txt"; echo; cat "$out/report.md"; echo; echo "raw: $out"; }
