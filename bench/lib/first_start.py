#!/usr/bin/env python3
"""Start-up with an empty compile cache and with a warm one (issue 12): for each trial a fresh
data dir, and for the cold trials a fresh cache dir; the time from spawn to the first 200 on
`/global/health` (the server answers), to the first 200 on `GET /file?path=.` (a request for the
project that needs no plugin) and to the first 200 on `/experimental/tool/ids` (the project's
plugins are loaded: compiled on a cold start, read from the cache on a warm one). The last is what
a start cost before the server listened first, so it is the baseline of the run.

usage: first_start.py --bin WASMCODE [--trials N] [--plugins DIR] [--give-up SECONDS]
--plugins: a directory of .wasm components (bench/lib/plugin_set.py writes one) installed
(`plugin install`) into every trial's data dir before it starts. For the cold trials they are
installed with a throw-away cache dir, so the server starts with nothing compiled, as on a first
run after an upgrade; for the warm trials into the warm cache. They are installed once per cache
into a template data dir that each trial copies (the same files `plugin install` would write):
install time is not part of any measurement.
--give-up: a trial fails when a measurement has no answer this long after the spawn (cold starts
with many plugins take minutes).
"""
import argparse, glob, http.client, os, shutil, socket, statistics, subprocess, tempfile, threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--trials", type=int, default=5)
ap.add_argument("--plugins")
ap.add_argument("--give-up", type=float, default=1800)
a = ap.parse_args()

# What is measured, in the order reported: name, path.
PROBES = [("healthy", "/global/health"), ("project request", "/file?path=."),
          ("plugins loaded", "/experimental/tool/ids")]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status(port, path, timeout):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def environment(root, cache):
    return dict(os.environ, XDG_DATA_HOME=os.path.join(root, "data"),
                XDG_CONFIG_HOME=os.path.join(root, "config"), XDG_CACHE_HOME=cache,
                RUST_LOG="warn")


def installed(cache):
    """A template root whose data dir has every component of --plugins installed, the installs
    compiling into `cache`; None without --plugins."""
    components = sorted(glob.glob(os.path.join(a.plugins, "*.wasm"))) if a.plugins else []
    if not components:
        return None
    root = tempfile.mkdtemp(prefix="wasmcode-bench-installed-")
    project = os.path.join(root, "project")
    os.makedirs(project)
    env = environment(root, cache)
    began = time.perf_counter()
    for component in components:
        run = subprocess.run([a.bin, "plugin", "install", component], cwd=project, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if run.returncode != 0:
            raise SystemExit(f"plugin install {component} failed:\n{run.stderr}")
    print(f"  ({len(components)} plugins installed in {time.perf_counter() - began:.0f} s, "
          f"not measured)", flush=True)
    return root


def trial(cache, template):
    root = tempfile.mkdtemp(prefix="wasmcode-bench-start-")
    project = os.path.join(root, "project")
    os.makedirs(project)
    if template:
        shutil.copytree(os.path.join(template, "data"), os.path.join(root, "data"))
    env = environment(root, cache)
    port = free_port()
    times = {}
    done, listening = threading.Event(), threading.Event()

    def probe(name, path):
        # One probe polls until the server listens (refused at once, tried again every 2 ms);
        # the others then ask once: requests for the project wait for its instance, and are
        # answered when it is ready.
        if path != PROBES[0][1]:
            listening.wait(a.give_up)
        while not done.is_set():
            left = a.give_up - (time.perf_counter() - began)
            if left <= 0:
                return
            if status(port, path, left) == 200:
                times[name] = (time.perf_counter() - began) * 1000
                listening.set()
                return
            time.sleep(0.002)

    began = time.perf_counter()
    proc = subprocess.Popen([a.bin, "serve", "--port", str(port)], cwd=project, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    threads = [threading.Thread(target=probe, args=p, daemon=True) for p in PROBES]
    try:
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            if proc.poll() is not None:
                raise SystemExit(f"the server exited ({proc.returncode}) before it was ready")
            for t in threads:
                t.join(0.05)
        missing = [name for name, _ in PROBES if name not in times]
        if missing:
            raise SystemExit(f"no answer in {a.give_up:.0f} s: {', '.join(missing)}")
        return times
    finally:
        done.set()
        listening.set()
        proc.kill()
        proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def report(name, results):
    parts = []
    for probe, _ in PROBES:
        values = [r[probe] for r in results]
        parts.append(f"{probe} median {statistics.median(values):,.0f} ms "
                     f"(min {min(values):,.0f}, max {max(values):,.0f})")
    print(f"{name}: " + "; ".join(parts), flush=True)


def run(name, cache, template):
    times = trial(cache, template)
    print(f"  {name}: " + ", ".join(f"{p} {times[p]:,.0f} ms" for p, _ in PROBES), flush=True)
    return times


caches = []
try:
    print("empty compile cache", flush=True)
    install_cache = tempfile.mkdtemp(prefix="wasmcode-bench-cache-")
    caches.append(install_cache)
    template = installed(install_cache)
    shutil.rmtree(install_cache, ignore_errors=True)
    cold = []
    for _ in range(a.trials):
        cache = tempfile.mkdtemp(prefix="wasmcode-bench-cache-")
        caches.append(cache)
        cold.append(run("cold", cache, template))
        shutil.rmtree(cache, ignore_errors=True)
    if template:
        shutil.rmtree(template, ignore_errors=True)

    print("warm compile cache", flush=True)
    warm_cache = tempfile.mkdtemp(prefix="wasmcode-bench-cache-")
    caches.append(warm_cache)
    template = installed(warm_cache)
    run("warm-up (not counted)", warm_cache, template)
    warm = [run("warm", warm_cache, template) for _ in range(a.trials)]
    if template:
        shutil.rmtree(template, ignore_errors=True)

    report("empty compile cache", cold)
    report("warm compile cache", warm)
finally:
    for cache in caches:
        shutil.rmtree(cache, ignore_errors=True)
