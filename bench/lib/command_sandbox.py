#!/usr/bin/env python3
"""The cost of confining a command inside the real server: `true` run N times through
`POST /session/{id}/shell` (the server's own command runner, the one the `bash` tool's commands
use), unconfined (`wasmcode.sandbox.shell: false`, the baseline) and confined (`shell: true`),
with and without network, alternating servers over several rounds.

usage: command_sandbox.py --bin WASMCODE [--commands N] [--rounds R]
Prints one line per variant and round (ms per command), then the medians and ratios.
"""
import argparse, http.client, json, os, socket, statistics, subprocess, tempfile, time

ap = argparse.ArgumentParser()
ap.add_argument("--bin", required=True)
ap.add_argument("--commands", type=int, default=100)
ap.add_argument("--rounds", type=int, default=3)
a = ap.parse_args()

VARIANTS = {
    "unconfined": {"shell": False},
    "confined": {"shell": True},
    "confined_no_network": {"shell": True, "network": False},
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(sandbox):
    root = tempfile.mkdtemp(prefix="wasmcode-bench-sandbox-")
    project = os.path.join(root, "project")
    os.makedirs(project)
    config = {
        "provider": {"fake": {"npm": "@ai-sdk/openai-compatible", "name": "Fake",
                              "options": {"baseURL": "http://127.0.0.1:9/v1", "apiKey": "sk"},
                              "models": {"m": {"name": "M"}}}},
        "model": "fake/m",
        "wasmcode": {"sandbox": sandbox},
    }
    with open(os.path.join(project, "opencode.json"), "w") as f:
        json.dump(config, f)
    port = free_port()
    env = dict(os.environ, XDG_DATA_HOME=os.path.join(root, "data"),
               XDG_CONFIG_HOME=os.path.join(root, "config"))
    proc = subprocess.Popen([a.bin, "serve", "--port", str(port)], cwd=project, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/global/health")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return proc, conn
        except OSError:
            pass
        if time.time() > deadline:
            proc.kill()
            raise SystemExit("the server did not start")
        time.sleep(0.05)


def call(conn, method, path, body=None):
    conn.request(method, path, body=json.dumps(body) if body is not None else None,
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        raise SystemExit(f"{method} {path}: {response.status} {data[:200]!r}")
    return json.loads(data)


def measure(sandbox):
    proc, conn = start(sandbox)
    try:
        session = call(conn, "POST", "/session", {})["id"]
        body = {"agent": "build", "command": "true"}
        for _ in range(5):  # warm-up
            call(conn, "POST", f"/session/{session}/shell", body)
        began = time.perf_counter()
        for _ in range(a.commands):
            call(conn, "POST", f"/session/{session}/shell", body)
        return (time.perf_counter() - began) * 1000 / a.commands
    finally:
        proc.kill()
        proc.wait()


results = {name: [] for name in VARIANTS}
for round_ in range(1, a.rounds + 1):
    for name, sandbox in VARIANTS.items():
        ms = measure(sandbox)
        results[name].append(ms)
        print(f"round {round_} {name}: {ms:.3f} ms per command")
base = statistics.median(results["unconfined"])
for name, values in results.items():
    median = statistics.median(values)
    print(f"median {name}: {median:.3f} ms per command ({median / base:.2f}x unconfined)")
