#!/usr/bin/env python3
"""A set of 20 installable plugins for the start-up benchmark (bench/lib/first_start.py): the
Rust example tool once (tool ids must be unique: a second copy is refused at install), and the
Python provider, the JavaScript provider and the Python INI formatter several times each, under
different file names (the install name comes from the file name: `oai-py-03.wasm` installs as
`oai-py-03`).

Every copy's content is made distinct, so that each is compiled (and cached) separately, as 20
real plugins would be: a top-level custom section naming the copy is appended to the component
(id 0x00, a LEB128 u32 size, then the LEB128 name length, the name and the payload; a custom
section may end a component).

usage: plugin_set.py --out DIR [--examples DIR] [--tool WASM] [--py-providers N]
                     [--js-providers N] [--formatters N] [--bin WASMCODE]
--examples: where the other-language examples were built (the newest `provider-openai-py-*`,
`provider-openai-js-*`, `formatter-ini-py-*` there); --tool: the Rust example tool.
--bin: check that one copy of each kind still installs (`plugin install`, into throw-away XDG
directories) and that `plugin inspect` reads it.
"""
import argparse, glob, os, shutil, subprocess, sys, tempfile

TARGET = os.path.join(os.environ.get("HOME", "/root"), ".cache", "wasmcode", "target")
SECTION = b"wasmcode-bench-copy"


def newest(directory, pattern):
    found = glob.glob(os.path.join(directory, pattern))
    if not found:
        raise SystemExit(f"no {pattern} in {directory}")
    return max(found, key=os.path.getmtime)


def leb128(n):
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def custom_section(name, payload):
    body = leb128(len(name)) + name + payload
    return b"\x00" + leb128(len(body)) + body


def is_component(data):
    # `\0asm`, then version 0x0d and layer 1 (a module is version 1, layer 0).
    return data[:4] == b"\0asm" and data[6:8] == b"\x01\x00"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--examples", default=os.path.join(TARGET, "other-language-examples"))
    ap.add_argument("--tool", default=os.path.join(
        TARGET, "wasm-guests", "examples-main", "wasm32-wasip2", "release",
        "wasmcode_example_wordcount.wasm"))
    ap.add_argument("--py-providers", type=int, default=7)
    ap.add_argument("--js-providers", type=int, default=6)
    ap.add_argument("--formatters", type=int, default=6)
    ap.add_argument("--bin")
    a = ap.parse_args()

    sources = [
        ("wordcount", a.tool, 1),
        ("oai-py", newest(a.examples, "provider-openai-py-*.wasm"), a.py_providers),
        ("oai-js", newest(a.examples, "provider-openai-js-*.wasm"), a.js_providers),
        ("ini-py", newest(a.examples, "formatter-ini-py-*.wasm"), a.formatters),
    ]
    if os.path.isdir(a.out):
        shutil.rmtree(a.out)
    os.makedirs(a.out)
    written = []
    for stem, source, count in sources:
        with open(source, "rb") as f:
            data = f.read()
        if not is_component(data):
            raise SystemExit(f"{source} is not a component")
        print(f"{stem}: {count} x {source} ({len(data):,} bytes)")
        for i in range(1, count + 1):
            name = f"{stem}-{i:02}.wasm" if count > 1 else f"{stem}.wasm"
            path = os.path.join(a.out, name)
            with open(path, "wb") as f:
                f.write(data + custom_section(SECTION, name.encode()))
            written.append(path)
    print(f"{len(written)} components in {a.out}")

    if a.bin:
        # One copy of each kind: the appended section must leave it installable and inspectable.
        root = tempfile.mkdtemp(prefix="wasmcode-plugin-set-")
        env = dict(os.environ, XDG_DATA_HOME=os.path.join(root, "data"),
                   XDG_CONFIG_HOME=os.path.join(root, "config"),
                   XDG_CACHE_HOME=os.path.join(root, "cache"), RUST_LOG="warn")
        try:
            for stem, _, count in sources:
                if count == 0:
                    continue
                path = os.path.join(a.out, f"{stem}-01.wasm" if count > 1 else f"{stem}.wasm")
                for command in (["plugin", "install", path], ["plugin", "inspect", path]):
                    run = subprocess.run([a.bin, *command], cwd=root, env=env,
                                         capture_output=True, text=True)
                    if run.returncode != 0:
                        sys.exit(f"`wasmcode {' '.join(command)}` failed:\n{run.stderr}")
                    print(f"$ wasmcode {' '.join(command[:2])} {os.path.basename(path)}: "
                          f"{run.stdout.strip().splitlines()[0]}")
        finally:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
