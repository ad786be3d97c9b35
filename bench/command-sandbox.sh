#!/usr/bin/env bash
# The cost of confining the agent's commands inside the real server (issue 17): `true` run
# COMMANDS times through `POST /session/{id}/shell` unconfined, confined, and confined without
# network, over ROUNDS alternating rounds; see bench/README.md, "Command sandbox".
#   bash bench/command-sandbox.sh
# Env: WASMCODE_BIN (default: this checkout's release build, built when missing),
#      COMMANDS (default 100), ROUNDS (default 3).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")
target=${CARGO_TARGET_DIR:-$HOME/.cache/wasmcode/target}
WASMCODE_BIN=${WASMCODE_BIN:-$target/release/wasmcode}
if [ ! -x "$WASMCODE_BIN" ]; then
  echo "building wasmcode in release mode into $target" >&2
  (cd "$repo" && CARGO_TARGET_DIR=$target cargo build --release -p wasmcode)
fi
exec python3 "$here/lib/command_sandbox.py" --bin "$WASMCODE_BIN" \
  --commands "${COMMANDS:-100}" --rounds "${ROUNDS:-3}"
