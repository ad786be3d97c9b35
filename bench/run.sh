#!/usr/bin/env bash
# Benchmark wasmcode against the reference OpenCode server on the same generated tree.
#   bash bench/run.sh
# Env: BENCH_DIR (cache for tree and server homes, default ~/.cache/wasmcode/bench),
#      DURATION (seconds of load per endpoint per server, default 5),
#      CONNS (connection counts, one table each, default "2 16"),
#      WASMCODE_BIN (default: the release build under $CARGO_TARGET_DIR or ~/.cache/wasmcode/target),
#      SKIP_REF=1 to benchmark only ours.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
BENCH_DIR=${BENCH_DIR:-$HOME/.cache/wasmcode/bench}
DURATION=${DURATION:-5}
CONNS=${CONNS:-2 16}
target=${CARGO_TARGET_DIR:-$HOME/.cache/wasmcode/target}
WASMCODE_BIN=${WASMCODE_BIN:-$target/release/wasmcode}
REF_SCRIPT=${REF_SCRIPT:-$repo/../shared/tools/opencode-reference.sh}
REF_HOME=${REF_HOME:-$HOME/.cache/opencode-reference}
tree=$BENCH_DIR/tree
out=$BENCH_DIR/results
mkdir -p "$BENCH_DIR" "$out"

# ---------- prerequisites ----------
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v rg  >/dev/null || need_apt+=(ripgrep)
command -v curl >/dev/null || need_apt+=(curl)
if ((${#need_apt[@]})); then
  echo "installing ${need_apt[*]} with apt-get" >&2
  apt-get install -y "${need_apt[@]}" >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y "${need_apt[@]}" >/dev/null; }
fi
if [ ! -x "$WASMCODE_BIN" ]; then
  echo "building wasmcode (release)" >&2
  (cd "$repo" && CARGO_TARGET_DIR=$target cargo build --release -p wasmcode)
fi
# The floor: the same HTTP stack with one route (bench/floor), for what /global/health can reach here.
FLOOR_BIN=$BENCH_DIR/floor-target/release/bench-floor
(cd "$here/floor" && CARGO_TARGET_DIR=$BENCH_DIR/floor-target cargo build --release --quiet)

# ---------- process hygiene ----------
# shellcheck source=lib/procs.sh
. "$here/lib/procs.sh"
cleanup() {
  kill_tracked 0.3
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------- the tree ----------
if [ ! -f "$BENCH_DIR/tree.ok" ]; then
  rm -rf "$tree"
  python3 "$here/lib/gentree.py" "$tree"
  touch "$BENCH_DIR/tree.ok"
fi
nfiles=$(git -C "$tree" ls-files | wc -l)
nbytes=$(git -C "$tree" ls-files -z | (cd "$tree" && xargs -0 cat) | wc -c)
BIG=src/pkg_07/data/fixture_100k.txt
PATTERN=zq9xk7_never_matches
# Matches nothing either, but has no three consecutive literal bytes: the trigram index cannot
# narrow it, so /find scans the whole tree (the fallback, compared with rg below).
SCAN_PATTERN=z.q.9.x.k.7
QUERY=handler_07
ENDPOINTS=(
  "/global/health"
  "/file/content?path=$BIG"
  "/find?pattern=$PATTERN"
  "/find/file?query=$QUERY"
  "/find?pattern=$SCAN_PATTERN"
)
# The fallback scan against ripgrep on the same tree, one search at a time (both use every core).
SCAN_VS_RG=("$SCAN_PATTERN" '[A-Z]{5}[0-9]' 'handler_07')

rss_kib() { # sum of VmRSS over pid and its descendants
  python3 - "$1" <<'PY'
import os, sys
root = int(sys.argv[1]); kids = {}
for d in os.listdir("/proc"):
    if d.isdigit():
        try:
            ppid = int(open(f"/proc/{d}/stat").read().rsplit(")", 1)[1].split()[1])
            kids.setdefault(ppid, []).append(int(d))
        except (OSError, IndexError, ValueError):
            pass
tot, todo = 0, [root]
while todo:
    p = todo.pop()
    todo += kids.get(p, [])
    try:
        for l in open(f"/proc/{p}/status"):
            if l.startswith("VmRSS:"):
                tot += int(l.split()[1])
    except OSError:
        pass
print(tot)
PY
}

# Parse wrk --latency output: prints "rps p50_ms p99_ms non2xx errors"
parse_wrk() {
  python3 - "$1" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)", s)
    v, u = float(m.group(1)), m.group(2)
    return v * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[u]
rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
p50 = re.search(r"^\s+50%\s+(\S+)", t, re.M)
p99 = re.search(r"^\s+99%\s+(\S+)", t, re.M)
non = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
err = re.search(r"Socket errors:.*", t)
print(rps.group(1) if rps else "0",
      f"{ms(p50.group(1)):.2f}" if p50 else "-", f"{ms(p99.group(1)):.2f}" if p99 else "-",
      non.group(1) if non else "0", "err" if err else "ok")
PY
}

# bench_endpoints NAME PORT [ENDPOINT...]: checks and loads every endpoint (default: all) at every
# connection count, writes $out/NAME.<conns>.<i>
bench_endpoints() {
  local name=$1 port=$2 i=0 code c
  shift 2
  local eps=("$@")
  ((${#eps[@]})) || eps=("${ENDPOINTS[@]}")
  for ep in "${eps[@]}"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 "http://127.0.0.1:$port$ep" || echo 000)
    for c in $CONNS; do
      if [ "$code" != 200 ]; then
        echo "  $name $ep -> HTTP $code, skipped" >&2
        echo "skip $code" >"$out/$name.$c.$i"
      else
        wrk -t1 -c"$c" -d"${DURATION}s" --timeout 10s --latency "http://127.0.0.1:$port$ep" >"$out/$name.$c.$i.wrk" 2>&1 || true
        parse_wrk "$out/$name.$c.$i.wrk" >"$out/$name.$c.$i"
        echo "  $name $ep, $c connections: $(cat "$out/$name.$c.$i")" >&2
      fi
    done
    i=$((i + 1))
  done
}

# scan_vs_rg PORT: median wall time of rg and of one /find request (curl, sequential) per pattern
scan_vs_rg() {
  python3 - "$1" "$tree" "${SCAN_VS_RG[@]}" <<'PY'
import statistics, subprocess, sys, time, urllib.parse, urllib.request
port, tree, patterns = sys.argv[1], sys.argv[2], sys.argv[3:]
RUNS = 15
def median_ms(run):
    run()  # warm the page cache and any lazy state
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter(); run(); times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)
print("| pattern | rg (ms, median of 15) | ours /find (ms, median of 15, HTTP included) | ours / rg |")
print("|---|---:|---:|---:|")
for pat in patterns:
    rg = median_ms(lambda: subprocess.run(["rg", "--hidden", "--glob", "!.git", "--no-messages", "-e", pat, "."],
                                          cwd=tree, stdout=subprocess.DEVNULL))
    url = f"http://127.0.0.1:{port}/find?limit=100&pattern=" + urllib.parse.quote(pat, safe="")
    ours = median_ms(lambda: urllib.request.urlopen(url, timeout=60).read())
    print(f"| `{pat}` | {rg:.1f} | {ours:.1f} | {ours / rg:.2f} |")
PY
}

# ---------- the floor ----------
port=$(free_port)
echo "== floor ($FLOOR_BIN) on port $port" >&2
setsid "$FLOOR_BIN" "$port" >/dev/null 2>&1 &
pid=$!; pids+=("$pid")
for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 0.2 "http://127.0.0.1:$port/global/health" && break; sleep 0.05; done
bench_endpoints floor "$port" /global/health
stop_server "$pid" "$port"

# ---------- ours ----------
ours_home=$BENCH_DIR/ours-home
mkdir -p "$ours_home"/{data,cache,config,home}
ours_env=(--env "HOME=$ours_home/home" --env "XDG_DATA_HOME=$ours_home/data" --env "XDG_CACHE_HOME=$ours_home/cache"
          --env "XDG_CONFIG_HOME=$ours_home/config" --env "XDG_STATE_HOME=$ours_home/state")
port=$(free_port)
echo "== wasmcode ($WASMCODE_BIN) on port $port" >&2
python3 "$here/lib/startup.py" --port "$port" --cwd "$tree" --warmup 1 --trials 5 --keep "$out/ours.pid" \
  --log "$out/ours.log" "${ours_env[@]}" -- "$WASMCODE_BIN" serve --port "$port" >"$out/ours.startup"
pid=$(cat "$out/ours.pid"); pids+=("$pid")
sleep 3
echo "$(rss_kib "$pid")" >"$out/ours.rss"
bench_endpoints ours "$port"
echo "$(rss_kib "$pid")" >"$out/ours.rss_load"
scan_vs_rg "$port" >"$out/scan_vs_rg"
stop_server "$pid" "$port"

# ---------- reference ----------
if [ "${SKIP_REF:-0}" != 1 ]; then
  port=$(free_port)
  echo "== reference (opencode via $REF_SCRIPT) on port $port" >&2
  # First start through the shared script: installs opencode-ai if needed and warms the project (snapshot, .git/opencode).
  pid=$(REF_HOME=$REF_HOME bash "$REF_SCRIPT" "$tree" "$port" | tail -1); pids+=("$pid")
  stop_server "$pid" "$port"
  # Timed starts: the same binary and environment as the script, launched directly so the timer sees the spawn.
  bin=$REF_HOME/npm/node_modules/opencode-linux-x64/bin/opencode
  rh=$REF_HOME/home
  ref_env=(--env "PATH=$REF_HOME/deb/usr/bin:$PATH" --env "HOME=$rh" --env "XDG_CONFIG_HOME=$rh/.config"
           --env "XDG_DATA_HOME=$rh/.local/share" --env "XDG_CACHE_HOME=$rh/.cache" --env "XDG_STATE_HOME=$rh/.local/state"
           --env OPENCODE_DISABLE_AUTOUPDATE=1 --env OPENCODE_DISABLE_MODELS_FETCH=1)
  python3 "$here/lib/startup.py" --port "$port" --cwd "$tree" --trials 5 --keep "$out/ref.pid" \
    --log "$out/ref.log" "${ref_env[@]}" -- "$bin" serve --port "$port" --hostname 127.0.0.1 >"$out/ref.startup"
  pid=$(cat "$out/ref.pid"); pids+=("$pid")
  sleep 3
  echo "$(rss_kib "$pid")" >"$out/ref.rss"
  # first request on each endpoint can be slow (lazy init); one untimed pass
  for ep in "${ENDPOINTS[@]}"; do curl -s -o /dev/null --max-time 30 "http://127.0.0.1:$port$ep" || true; done
  bench_endpoints ref "$port"
  stop_server "$pid" "$port"
else
  for c in $CONNS; do for i in "${!ENDPOINTS[@]}"; do echo "skip -" >"$out/ref.$c.$i"; done; done
  echo "startup_ms median=-" >"$out/ref.startup"; echo 0 >"$out/ref.rss"
fi

# ---------- report ----------
python3 - "$out" "$DURATION" "$CONNS" "$nfiles" "$nbytes" "${ENDPOINTS[@]}" <<'PY'
import re, sys
out, dur, conns, nfiles, nbytes, eps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6:]
def row(name, c, i):
    f = open(f"{out}/{name}.{c}.{i}").read().split()
    if f[0] == "skip":
        return None, f"HTTP {f[1]}"
    rps, p50, p99, non2xx, err = f
    note = (f" ({non2xx} non-2xx)" if non2xx != "0" else "") + (" (socket errors)" if err != "ok" else "")
    return float(rps), f"{p50} / {p99} ms{note}"
print(f"tree: {nfiles} tracked files, {nbytes / 1e6:.1f} MB; load: wrk -t1, {dur} s per endpoint per server")
for c in conns.split():
    print()
    print(f"{c} connections:")
    print()
    print("| endpoint | ours req/s | ref req/s | ratio | ours p50/p99 | ref p50/p99 |")
    print("|---|---:|---:|---:|---|---|")
    for i, ep in enumerate(eps):
        (o, ol), (r, rl) = row("ours", c, i), row("ref", c, i)
        ratio = f"{o / r:.1f}x" if o and r else "-"
        print(f"| `{ep}` | {'-' if o is None else f'{o:,.0f}'} | {'-' if r is None else f'{r:,.0f}'} | {ratio} | {ol} | {rl} |")
    f, fl = row("floor", c, 0)
    r = row("ref", c, 0)[0]
    ratio = f"{f / r:.1f}x" if f and r else "-"
    print(f"| floor: `/global/health` on bare axum (bench/floor) | {'-' if f is None else f'{f:,.0f}'} | | {ratio} | {fl} | |")
print()
for name, label in (("ours", "ours"), ("ref", "ref ")):
    s = open(f"{out}/{name}.startup").read().strip()
    m = re.search(r"median=(\S+)", s)
    rss = int(open(f"{out}/{name}.rss").read()) / 1024
    print(f"{label}: start-up to first healthy response (median of 5) {m.group(1) if m else '-'} ms [{s}]; idle RSS after 3 s {rss:.1f} MiB")
print(f"ours: RSS after the load above (search index built) {int(open(f'{out}/ours.rss_load').read()) / 1024:.1f} MiB")
built = [l for l in open(f"{out}/ours.log", errors="replace") if "search index built" in l]
if built:  # the log is appended to across runs: this run's is the last
    print("ours: " + re.sub(r"\x1b\[[0-9;]*m", "", built[-1].strip()))
print()
print("Fallback scan (a pattern the index cannot narrow) and an indexed one, against ripgrep:")
print()
print(open(f"{out}/scan_vs_rg").read().rstrip())
PY
