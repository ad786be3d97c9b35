#!/usr/bin/env python3
"""Start a server, time spawn -> first 200 on /global/health, optionally keep one running.

usage: startup.py --port P --cwd DIR [--trials N] [--warmup N] [--keep PIDFILE] [--env K=V ...] -- CMD...
Prints "startup_ms median=... min=... max=... all=..." for the timed trials. Each trial is killed
(whole process group) before the next. With --keep, one more instance is started, waited for and
left running; its PID is written to PIDFILE. Health probes use a fresh connection each time with
a 0.25 s timeout, because the reference accepts connections during start-up and never answers them.
"""
import argparse, os, signal, socket, statistics, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--cwd", required=True)
ap.add_argument("--trials", type=int, default=5)
ap.add_argument("--warmup", type=int, default=0)
ap.add_argument("--keep")
ap.add_argument("--log", default=os.devnull)
ap.add_argument("--timeout", type=float, default=120.0)
ap.add_argument("--env", action="append", default=[])
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
env = dict(os.environ)
for kv in a.env:
    k, _, v = kv.partition("=")
    env[k] = v
REQ = f"GET /global/health HTTP/1.1\r\nHost: 127.0.0.1:{a.port}\r\nConnection: close\r\n\r\n".encode()

def healthy():
    try:
        with socket.create_connection(("127.0.0.1", a.port), timeout=0.25) as s:
            s.settimeout(0.25)
            s.sendall(REQ)
            buf = b""
            while b"\r\n" not in buf:
                chunk = s.recv(4096)
                if not chunk:
                    return False
                buf += chunk
            return buf.split(b"\r\n", 1)[0].split(b" ")[1] == b"200"
    except (OSError, IndexError):
        return False

def start():
    logf = open(a.log, "ab")
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, cwd=a.cwd, env=env, stdin=subprocess.DEVNULL, stdout=logf,
                         stderr=subprocess.STDOUT, start_new_session=True)
    while not healthy():
        if p.poll() is not None:
            sys.exit(f"server exited with {p.returncode} before healthy; log: {a.log}")
        if time.perf_counter() - t0 > a.timeout:
            stop(p)
            sys.exit(f"server not healthy after {a.timeout} s; log: {a.log}")
        time.sleep(0.002)
    return p, (time.perf_counter() - t0) * 1000

def stop(p):
    try:
        os.killpg(p.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    # wait until the port is free again
    for _ in range(500):
        try:
            socket.create_connection(("127.0.0.1", a.port), timeout=0.1).close()
            time.sleep(0.01)
        except OSError:
            break

for i in range(a.warmup):
    p, ms = start(); stop(p)
    print(f"warmup {i + 1}: {ms:.1f} ms", file=sys.stderr)
times = []
for _ in range(a.trials):
    p, ms = start(); stop(p); times.append(ms)
if times:
    print(f"startup_ms median={statistics.median(times):.1f} min={min(times):.1f} max={max(times):.1f} "
          f"all={','.join(f'{t:.1f}' for t in times)}")
if a.keep:
    p, ms = start()
    with open(a.keep, "w") as f:
        f.write(str(p.pid))
