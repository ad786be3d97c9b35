#!/usr/bin/env python3
"""The agent-turn benchmark behind bench/session.sh: drives one running server, then reports.

  session_driver.py run --name ours --base http://127.0.0.1:P --pid PID --fake http://127.0.0.1:F --out DIR
  session_driver.py report --out DIR

`run` does, against a server already started in a project configured for the fake upstream:
  1. warm-up: a session of --warmup turns, untimed (first-prompt initialisation of either server);
  2. short session: --short turns, timed; upstream connections and model calls counted (fake's /stats);
  3. long session: --turns turns, timed (optionally under `perf record`);
  4. list session: enough turns for --list-messages messages, then `wrk` on GET /session/{id}/message.
A turn is one synchronous `POST /session/{id}/message`; the server calls the model twice (a `read`
tool call, then text) and runs the tool. Per turn it records the wall time of the request and the
CPU time the server used meanwhile: utime+stime+cutime+cstime from /proc/PID/stat summed over the
server and its live descendants (clock ticks: 10 ms resolution per reading), and, when a cpuacct
cgroup can be made (cgroup v1, root), the cgroup's cpuacct.usage (ns, exact, exited children
included) with the server moved into it. Each session is checked afterwards: the expected message
count, one completed `read` tool part per turn, no errors; and the fake saw a successful read result
per turn. Results: DIR/NAME.json (summary) and DIR/NAME.{short,long,list}.tsv (per turn).

`report` prints the markdown tables from DIR/ours.json and DIR/ref.json (either may be missing).
"""
import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse

CLK_TCK = os.sysconf("SC_CLK_TCK")
CGROUP_ROOT = "/sys/fs/cgroup/cpuacct"


def die(msg):
    print(f"session_driver: {msg}", file=sys.stderr)
    sys.exit(1)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- CPU accounting

def tree_pids(root):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def proc_cpu(root):
    """Seconds of CPU of root and its descendants (reaped children included via cutime/cstime)."""
    ticks = 0
    for p in tree_pids(root):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # after the comm: state=0 ppid=1 ... utime=11 stime=12 cutime=13 cstime=14
            ticks += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
        except (OSError, IndexError, ValueError):
            if p == root:
                die(f"server process {root} is gone")
    return ticks / CLK_TCK


class Cgroup:
    """A cpuacct cgroup (v1) holding the server, for exact CPU time; None when not possible."""

    def __init__(self, name, root_pid):
        self.path = f"{CGROUP_ROOT}/wasmcode-session-{name}-{os.getpid()}"
        os.mkdir(self.path)
        try:
            for p in tree_pids(root_pid):
                self.move(p, self.path)
        except OSError:
            self.close()
            raise

    @staticmethod
    def move(pid, path):
        try:
            with open(f"{path}/cgroup.procs", "w") as f:
                f.write(str(pid))
        except ProcessLookupError:
            pass

    def read(self):
        with open(f"{self.path}/cpuacct.usage") as f:
            return int(f.read()) / 1e9

    def close(self):
        try:
            with open(f"{self.path}/cgroup.procs") as f:
                pids = [int(x) for x in f.read().split()]
            for p in pids:
                self.move(p, CGROUP_ROOT)
            os.rmdir(self.path)
        except OSError as e:
            log(f"note: could not remove cgroup {self.path}: {e}")

    @classmethod
    def make(cls, mode, name, root_pid):
        if mode == "off":
            return None
        try:
            if not os.path.exists(f"{CGROUP_ROOT}/cpuacct.usage"):
                raise OSError("no cgroup v1 cpuacct hierarchy")
            return cls(name, root_pid)
        except OSError as e:
            if mode == "on":
                die(f"cannot use a cpuacct cgroup: {e}")
            log(f"note: no cpuacct cgroup ({e}); CPU from /proc only (10 ms ticks)")
            return None


class Meter:
    def __init__(self, pid, cgroup):
        self.pid, self.cgroup = pid, cgroup

    def read(self):
        return proc_cpu(self.pid), (self.cgroup.read() if self.cgroup else None)


# ---------------------------------------------------------------- HTTP

class Client:
    def __init__(self, base, timeout=900):
        u = urllib.parse.urlsplit(base)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.conn = None

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=data, headers=headers)
                r = self.conn.getresponse()
                raw = r.read()
                break
            except (ConnectionError, http.client.BadStatusLine, http.client.RemoteDisconnected):
                # a keep-alive connection the server closed while idle: retry once on a new one
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        try:
            obj = json.loads(raw) if raw else None
        except ValueError:
            obj = {"_raw": raw[:500].decode("utf-8", "replace")}
        return r.status, obj, len(raw)


def fake_stats(fake):
    c = Client(fake, timeout=10)
    status, obj, _ = c.request("GET", "/stats")
    c.conn.close()
    if status != 200:
        die(f"fake upstream /stats answered {status}")
    return obj


def stats_delta(before, after):
    return {k: after[k] - before[k] for k in after if isinstance(after[k], int) and k in before}


# ---------------------------------------------------------------- the benchmark

class Bench:
    def __init__(self, a):
        self.a = a
        self.http = Client(a.base)
        self.cgroup = Cgroup.make(a.cgroup, a.name, a.pid)
        self.meter = Meter(a.pid, self.cgroup)
        self.model = {"providerID": a.provider, "modelID": a.model}

    def settle(self, quiet=0.03, window=0.5, limit=30.0):
        """Waits until the server uses less than `quiet` of a core over `window` seconds."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < limit:
            c0 = self.meter.read()
            time.sleep(window)
            c1 = self.meter.read()
            used = (c1[1] - c0[1]) if c1[1] is not None else (c1[0] - c0[0])
            if used < quiet * window:
                return time.perf_counter() - t0
        log(f"note: {self.a.name} still busy after {limit:.0f} s of waiting for it to go quiet")
        return limit

    def new_session(self, title):
        status, obj, _ = self.http.request("POST", "/session", {})  # no title: the server asks the model for one
        if status != 200 or not isinstance(obj, dict) or "id" not in obj:
            die(f"{self.a.name}: POST /session -> {status} {str(obj)[:300]}")
        return obj["id"]

    def turn(self, sid, n):
        body = {"parts": [{"type": "text", "text": f"turn {n}"}], "model": self.model}
        c0 = self.meter.read()
        t0 = time.perf_counter()
        status, obj, _ = self.http.request("POST", f"/session/{sid}/message", body)
        t1 = time.perf_counter()
        c1 = self.meter.read()
        info = obj.get("info", {}) if isinstance(obj, dict) else {}
        if status != 200 or info.get("role") != "assistant" or info.get("error") or info.get("finish") != "stop":
            die(f"{self.a.name}: turn {n} of {sid}: HTTP {status}, finish={info.get('finish')!r}, "
                f"error={info.get('error')!r}: {str(obj)[:400]}")
        return {
            "turn": n,
            "wall_ms": (t1 - t0) * 1000,
            "cpu_ms": (c1[0] - c0[0]) * 1000,
            "cpu_cg_ms": None if c1[1] is None else (c1[1] - c0[1]) * 1000,
        }

    def check_session(self, sid, turns):
        """Messages, completed read parts and errors of a finished session (one untimed GET)."""
        status, msgs, size = self.http.request("GET", f"/session/{sid}/message")
        if status != 200 or not isinstance(msgs, list):
            die(f"{self.a.name}: GET /session/{sid}/message -> {status}")
        roles = {}
        reads_completed, tool_other, errors = 0, {}, []
        for m in msgs:
            info = m.get("info", {})
            roles[info.get("role")] = roles.get(info.get("role"), 0) + 1
            if info.get("error"):
                errors.append(info["error"])
            for p in m.get("parts", []):
                if p.get("type") == "tool":
                    st = p.get("state", {}).get("status")
                    if p.get("tool") == "read" and st == "completed":
                        reads_completed += 1
                    else:
                        key = f"{p.get('tool')}:{st}"
                        tool_other[key] = tool_other.get(key, 0) + 1
        result = {"messages": len(msgs), "roles": roles, "reads_completed": reads_completed,
                  "tool_parts_other": tool_other, "errors": errors[:3], "list_bytes": size}
        problems = []
        if reads_completed != turns:
            problems.append(f"{reads_completed} completed read tool parts for {turns} turns")
        if tool_other:
            problems.append(f"other tool parts: {tool_other}")
        if errors:
            problems.append(f"message errors: {errors[:2]}")
        if problems:
            die(f"{self.a.name}: session {sid}: " + "; ".join(problems))
        return result

    def session(self, label, turns, perf=None):
        sid = self.new_session(f"bench {label}")
        s0 = fake_stats(self.a.fake)
        c0, t0 = self.meter.read(), time.perf_counter()
        perf_proc = None
        if perf:
            perf_proc = subprocess.Popen(["perf", "record", "-F", os.environ.get("PERF_FREQ", "499"), "-e", "cpu-clock", "--call-graph", "dwarf", "-o", perf,
                                          "-p", str(self.a.pid)],
                                         stdout=subprocess.DEVNULL, stderr=open(perf + ".log", "w"))
            time.sleep(1.0)  # let perf attach
            c0, t0 = self.meter.read(), time.perf_counter()
        rows = []
        try:
            for n in range(1, turns + 1):
                rows.append(self.turn(sid, n))
                if n % 50 == 0 or n == turns:
                    r = rows[-1]
                    log(f"  {self.a.name} {label}: turn {n}/{turns}: wall {r['wall_ms']:.1f} ms, "
                        f"cpu {r['cpu_cg_ms'] if r['cpu_cg_ms'] is not None else r['cpu_ms']:.1f} ms")
        finally:
            if perf_proc:
                perf_proc.send_signal(signal.SIGINT)
                perf_proc.wait(60)
        c1, t1 = self.meter.read(), time.perf_counter()
        time.sleep(0.3)  # a title request may still be on its way
        s1 = fake_stats(self.a.fake)
        check = self.check_session(sid, turns)
        upstream = stats_delta(s0, s1)
        upstream["connections"] -= 1  # the /stats request that read s1
        if upstream["tool_results_ok"] < turns or upstream["tool_results_bad"]:
            die(f"{self.a.name}: {label}: the fake saw {upstream['tool_results_ok']} successful and "
                f"{upstream['tool_results_bad']} failed read results for {turns} turns; last bad: "
                f"{s1.get('last_bad_tool_result', '')[:300]!r}")
        with open(f"{self.a.out}/{self.a.name}.{label}.tsv", "w") as f:
            f.write("turn\twall_ms\tcpu_proc_ms\tcpu_cgroup_ms\n")
            for r in rows:
                cg = "" if r["cpu_cg_ms"] is None else f"{r['cpu_cg_ms']:.3f}"
                f.write(f"{r['turn']}\t{r['wall_ms']:.3f}\t{r['cpu_ms']:.0f}\t{cg}\n")
        return {"session": sid, "turns": turns, "rows": rows, "check": check, "upstream": upstream,
                "total_wall_s": t1 - t0, "total_cpu_proc_s": c1[0] - c0[0],
                "total_cpu_cg_s": None if c1[1] is None else c1[1] - c0[1]}

    def list_bench(self, sid):
        path = f"/session/{sid}/message"
        url = f"{self.a.base}{path}"
        raw = f"{self.a.out}/{self.a.name}.list.wrk"
        c0 = self.meter.read()
        with open(raw, "w") as f:
            subprocess.run(["wrk", "-t1", "-c2", f"-d{self.a.wrk_duration}s", "--timeout", "10s", "--latency", url],
                           stdout=f, stderr=subprocess.STDOUT, check=False)
        c1 = self.meter.read()
        return parse_wrk(open(raw).read()), c1[0] - c0[0], (None if c1[1] is None else c1[1] - c0[1])

    def run(self):
        a = self.a
        res = {"name": a.name, "pid": a.pid, "cpu_source": "cgroup" if self.cgroup else "proc",
               "wrk_duration": a.wrk_duration}
        first = fake_stats(a.fake)
        try:
            res["settle_start_s"] = self.settle()
            if a.warmup:
                log(f"== {a.name}: warm-up session, {a.warmup} turns")
                sid = self.new_session("bench warm-up")
                for n in range(1, a.warmup + 1):
                    self.turn(sid, n)
                res["warmup_check"] = self.check_session(sid, a.warmup)
                res["settle_warmup_s"] = self.settle()
            log(f"== {a.name}: short session, {a.short} turns")
            res["short"] = self.session("short", a.short)
            self.settle()
            log(f"== {a.name}: long session, {a.turns} turns" + (" (under perf record)" if a.perf else ""))
            res["long"] = self.session("long", a.turns, perf=a.perf)
            self.settle()
            if a.list_messages:
                per_turn = 3  # user, assistant (tool call), assistant (text)
                lt = -(-a.list_messages // per_turn)
                log(f"== {a.name}: list session, {lt} turns, then wrk on GET /session/{{id}}/message")
                ls = self.session("list", lt)
                res["list_session"] = {k: v for k, v in ls.items() if k != "rows"}
                self.settle()
                wrk, cpu_proc, cpu_cg = self.list_bench(ls["session"])
                res["list"] = {"messages": ls["check"]["messages"], "body_bytes": ls["check"]["list_bytes"],
                               "wanted_messages": a.list_messages, "wrk": wrk,
                               "cpu_proc_s": cpu_proc, "cpu_cg_s": cpu_cg}
                if ls["check"]["messages"] != a.list_messages:
                    log(f"note: {a.name}: the list session has {ls['check']['messages']} messages, "
                        f"not {a.list_messages}")
        finally:
            if self.cgroup:
                self.cgroup.close()
        res["upstream_total"] = stats_delta(first, fake_stats(a.fake))
        with open(f"{a.out}/{a.name}.json", "w") as f:
            json.dump(res, f, indent=1)
        log(f"== {a.name}: done; {a.out}/{a.name}.json")


def parse_wrk(t):
    def ms(s):
        m = re.match(r"([\d.]+)(us|ms|s|m)", s)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[m.group(2)]
    rps = re.search(r"Requests/sec:\s+([\d.]+)", t)
    total = re.search(r"(\d+) requests in", t)
    p50 = re.search(r"^\s+50%\s+(\S+)", t, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", t, re.M)
    non = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    err = re.search(r"Socket errors:.*", t)
    return {"rps": float(rps.group(1)) if rps else 0.0, "requests": int(total.group(1)) if total else 0,
            "p50_ms": ms(p50.group(1)) if p50 else None, "p99_ms": ms(p99.group(1)) if p99 else None,
            "non2xx": int(non.group(1)) if non else 0, "socket_errors": err.group(0) if err else None}


# ---------------------------------------------------------------- report

def cpu_col(row, source):
    return row["cpu_cg_ms"] if source == "cgroup" and row["cpu_cg_ms"] is not None else row["cpu_ms"]


def mean(xs):
    return statistics.fmean(xs) if xs else float("nan")


def report(out):
    runs = {}
    for name in ("ours", "ref"):
        try:
            with open(f"{out}/{name}.json") as f:
                runs[name] = json.load(f)
        except FileNotFoundError:
            pass
    if not runs:
        die(f"no results in {out}")
    names = list(runs)
    heads = {"ours": "ours", "ref": "reference"}
    both = len(names) == 2

    def fmt(v, unit="", nd=1):
        if v is None or v != v:
            return "-"
        return f"{v:,.{nd}f}{unit}"

    def ratio(o, r, nd=1):
        return f"{r / o:.{nd}f}x" if both and o and r and o == o and r == r else "-"

    def table(title, rows, with_ratio=True):
        # the ratio column: how many times better ours is (ref/ours for costs, ours/ref for req/s)
        r = both and with_ratio
        print(f"\n### {title}\n")
        print("| | " + " | ".join(heads[n] for n in names) + (" | ours better by |" if r else " |"))
        print("|---|" + "---:|" * (len(names) + (1 if r else 0)))
        for label, vals, rat in rows:
            print(f"| {label} | " + " | ".join(vals) + (f" | {rat} |" if r else " |"))

    src = {n: runs[n].get("cpu_source", "proc") for n in names}
    meta_src = ", ".join(f"{heads[n]}: {'cpuacct cgroup (ns)' if src[n] == 'cgroup' else '/proc ticks (10 ms)'}"
                         for n in names)
    print(f"CPU time source: {meta_src}. CPU is the server's (and its children's), not the load generator's.")

    # (a) long session
    L = {n: runs[n]["long"] for n in names}
    T = {n: L[n]["turns"] for n in names}
    k = min(10, min(T.values()))

    def window(n, first, key):
        rows = L[n]["rows"]
        sel = rows[:k] if first else rows[-k:]
        return mean([r["wall_ms"] if key == "wall" else cpu_col(r, src[n]) for r in sel])

    vals = {(n, f, key): window(n, f, key) for n in names for f in (True, False) for key in ("wall", "cpu")}
    last = f"{T[names[0]] - k + 1}-{T[names[0]]}"
    rows = []
    for key, lab in (("wall", "wall"), ("cpu", "server CPU")):
        f = [vals[(n, True, key)] for n in names]
        l_ = [vals[(n, False, key)] for n in names]
        rows.append((f"{lab} per turn, turns 1-{k} (mean, ms)", [fmt(x) for x in f], ratio(*f) if both else "-"))
        rows.append((f"{lab} per turn, turns {last} (mean, ms)", [fmt(x) for x in l_], ratio(*l_) if both else "-"))
        g = [b / a_ if a_ else float("nan") for a_, b in zip(f, l_)]
        rows.append((f"{lab} growth: turns {last} / turns 1-{k}", [fmt(x, "x", 2) for x in g], "-"))
    rows.append(("whole session: wall (s)", [fmt(L[n]["total_wall_s"], "", 1) for n in names],
                 ratio(*[L[n]["total_wall_s"] for n in names]) if both else "-"))
    tot_cpu = [L[n]["total_cpu_cg_s"] if src[n] == "cgroup" and L[n]["total_cpu_cg_s"] is not None
               else L[n]["total_cpu_proc_s"] for n in names]
    rows.append(("whole session: server CPU (s)", [fmt(x, "", 2) for x in tot_cpu], ratio(*tot_cpu) if both else "-"))
    rows.append(("messages in the session at the end", [str(L[n]["check"]["messages"]) for n in names], "-"))
    table(f"(a) Turn cost over a long session ({'/'.join(sorted({str(T[n]) for n in names}))} sequential turns, "
          "2 model calls + 1 `read` each)", rows)

    # (b) short session
    S = {n: runs[n]["short"] for n in names}
    cpu_s = [mean([cpu_col(r, src[n]) for r in S[n]["rows"]]) for n in names]
    wall_s = [mean([r["wall_ms"] for r in S[n]["rows"]]) for n in names]
    med_s = [statistics.median([r["wall_ms"] for r in S[n]["rows"]]) for n in names]
    rows = [
        (f"server CPU per turn, turns 1-{S[names[0]]['turns']} (mean, ms)", [fmt(x) for x in cpu_s], ratio(*cpu_s) if both else "-"),
        ("wall per turn (mean, ms)", [fmt(x) for x in wall_s], ratio(*wall_s) if both else "-"),
        ("wall per turn (median, ms)", [fmt(x) for x in med_s], ratio(*med_s) if both else "-"),
    ]
    table(f"(b) Server CPU per turn, short session ({S[names[0]]['turns']} turns, after a warm-up session)", rows)

    # (c) list
    if all("list" in runs[n] for n in names):
        C = {n: runs[n]["list"] for n in names}
        rps = [C[n]["wrk"]["rps"] for n in names]
        cpu_req = []
        for n in names:
            c = C[n]["cpu_cg_s"] if src[n] == "cgroup" and C[n]["cpu_cg_s"] is not None else C[n]["cpu_proc_s"]
            reqs = C[n]["wrk"]["requests"]
            cpu_req.append(c * 1000 / reqs if reqs else None)
        p50 = [C[n]["wrk"]["p50_ms"] for n in names]
        p99 = [C[n]["wrk"]["p99_ms"] for n in names]
        rows = [
            ("messages returned", [str(C[n]["messages"]) for n in names], "-"),
            ("response body (bytes)", [f"{C[n]['body_bytes']:,}" for n in names], "-"),
            ("requests/s", [fmt(x, "", 1) for x in rps], f"{rps[0] / rps[1]:.1f}x" if both and rps[1] else "-"),
            ("latency p50 (ms)", [fmt(x, "", 2) for x in p50], ratio(*p50) if both else "-"),
            ("latency p99 (ms)", [fmt(x, "", 2) for x in p99], ratio(*p99) if both else "-"),
            ("server CPU per request (ms)", [fmt(x, "", 2) for x in cpu_req], ratio(*cpu_req) if both else "-"),
            ("non-2xx / socket errors", [f"{C[n]['wrk']['non2xx']} / {C[n]['wrk']['socket_errors'] or 'none'}"
                                         for n in names], "-"),
        ]
        table(f"(c) GET /session/{{id}}/message of a {C[names[0]]['wanted_messages']}-message session "
              f"(wrk -t1 -c2 -d{runs[names[0]].get('wrk_duration', 5)}s --latency)", rows)

    # (d) upstream
    rows = []
    for label, key in (("short", "short"), ("long", "long")):
        U = {n: runs[n][key]["upstream"] for n in names}
        turns = runs[names[0]][key]["turns"]
        rows.append((f"{label} session ({turns} turns): model calls (of which title)",
                     [f"{U[n]['model_calls']} ({U[n]['title_calls']})" for n in names], "-"))
        rows.append((f"{label} session: TCP connections accepted for model calls",
                     [str(U[n]["model_connections"]) for n in names], "-"))
        rows.append((f"{label} session: model calls per connection",
                     [fmt(U[n]["model_calls"] / U[n]["model_connections"], "", 1) if U[n]["model_connections"] else "-"
                      for n in names], "-"))
    if all("upstream_total" in runs[n] for n in names):
        U = {n: runs[n]["upstream_total"] for n in names}
        rows.append(("whole run (warm-up and every session): model calls / connections for them",
                     [f"{U[n]['model_calls']} / {U[n]['model_connections']}" for n in names], "-"))
    table("(d) Upstream: model calls and TCP connections the fake accepted", rows, with_ratio=False)


# ---------------------------------------------------------------- perf summary

def perf_summary(script_path, top=30):
    """Inclusive shares from `perf script -F comm,ip,sym` output: for each function, the share of
    samples with it anywhere on the stack (once per sample), for our own functions (wasmcode::),
    SQLite's entry points, and Wasm guest code."""
    samples, cur = [], None
    for line in open(script_path, errors="replace"):
        if not line.strip():
            if cur:
                samples.append(cur)
            cur = None
        elif line[0] not in " \t":
            cur = [line.split()[0]]
        elif cur is not None:
            fields = line.strip().split(None, 1)
            cur.append(fields[1] if len(fields) > 1 else "?")
    if cur:
        samples.append(cur)
    if not samples:
        die(f"no samples in {script_path}")
    counts = {}
    for s in samples:
        seen = set()
        for f in s[1:]:
            f = re.sub(r"\+0x[0-9a-f]+$", "", f)
            if f.startswith("wasmcode::") or f.startswith("sqlite3_") or f in ("sqlite3Reprepare", "sqlite3Prepare"):
                key = f
            elif f.startswith("wasm["):
                key = "(Wasm guest code, any function)"
            else:
                continue
            if key not in seen:
                seen.add(key)
                counts[key] = counts.get(key, 0) + 1
    print(f"{len(samples)} samples; share of samples with the function on the stack (inclusive):")
    for k, v in sorted(counts.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{100 * v / len(samples):6.1f}%  {k[:160]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--name", required=True, choices=["ours", "ref"])
    r.add_argument("--base", required=True)
    r.add_argument("--pid", type=int, required=True)
    r.add_argument("--fake", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--provider", default="fake")
    r.add_argument("--model", default="fake-model")
    r.add_argument("--warmup", type=int, default=2)
    r.add_argument("--short", type=int, default=20)
    r.add_argument("--turns", type=int, default=300)
    r.add_argument("--list-messages", type=int, default=600)
    r.add_argument("--wrk-duration", type=int, default=5)
    r.add_argument("--cgroup", choices=["auto", "on", "off"], default="auto")
    r.add_argument("--perf", help="perf.data path: record the server during the long session")
    p = sub.add_parser("report")
    p.add_argument("--out", required=True)
    ps = sub.add_parser("perf-summary", help="inclusive shares from `perf script -F comm,ip,sym` output")
    ps.add_argument("script")
    ps.add_argument("--top", type=int, default=30)
    a = ap.parse_args()
    if a.cmd == "run":
        if a.short < 1 or a.turns < 1:
            die("--short and --turns must be at least 1")
        Bench(a).run()
    elif a.cmd == "perf-summary":
        perf_summary(a.script, a.top)
    else:
        report(a.out)


if __name__ == "__main__":
    main()
