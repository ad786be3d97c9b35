#!/usr/bin/env python3
"""Start-up with an empty compile cache and with a warm one (issue 12): for each trial a fresh
data dir, and for the cold trials a fresh cache dir; the time from spawn to the first 200 on
`/global/health` (the server answers) and to the first 200 on `/experimental/tool/ids` (the
project's plugins are loaded: compiled on a cold start, read from the cache on a warm one). The
second is what a start cost before the server listened first, so it is the baseline of the run.

usage: first_start.py --bin WASMCODE [--trials N] [--plugins DIR]
--plugins: a directory of .wasm components installed (`plugin install`) into every trial's
data dir before it starts.
"""
import argparse, glob, http.client, os, socket, statistics, subprocess, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--trials", type=int, default=5)
ap.add_argument("--plugins")
a = ap.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ok(port, path):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status == 200
    except OSError:
        return False


def trial(cache):
    root = tempfile.mkdtemp(prefix="wasmcode-bench-start-")
    project = os.path.join(root, "project")
    os.makedirs(project)
    env = dict(os.environ, XDG_DATA_HOME=os.path.join(root, "data"),
               XDG_CONFIG_HOME=os.path.join(root, "config"), XDG_CACHE_HOME=cache,
               RUST_LOG="warn")
    for component in sorted(glob.glob(os.path.join(a.plugins, "*.wasm"))) if a.plugins else []:
        subprocess.run([a.bin, "plugin", "install", component], cwd=project, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port = free_port()
    began = time.perf_counter()
    proc = subprocess.Popen([a.bin, "serve", "--port", str(port)], cwd=project, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        health = tools = None
        while tools is None:
            if time.perf_counter() - began > 120:
                raise SystemExit("the server did not start")
            now = time.perf_counter() - began
            if health is None and ok(port, "/global/health"):
                health = now
            elif health is not None and ok(port, "/experimental/tool/ids"):
                tools = time.perf_counter() - began
            else:
                time.sleep(0.002)
        return health * 1000, tools * 1000
    finally:
        proc.kill()
        proc.wait()


def report(name, results):
    health = [h for h, _ in results]
    tools = [t for _, t in results]
    print(f"{name}: healthy median {statistics.median(health):.0f} ms (min {min(health):.0f}, "
          f"max {max(health):.0f}); plugins loaded median {statistics.median(tools):.0f} ms "
          f"(min {min(tools):.0f}, max {max(tools):.0f})")


cold = [trial(tempfile.mkdtemp(prefix="wasmcode-bench-cache-")) for _ in range(a.trials)]
warm_cache = tempfile.mkdtemp(prefix="wasmcode-bench-cache-")
trial(warm_cache)
warm = [trial(warm_cache) for _ in range(a.trials)]
report("empty compile cache", cold)
report("warm compile cache", warm)
