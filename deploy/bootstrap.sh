#!/usr/bin/env bash
# Installs what building Lambda needs on a fresh Debian/Ubuntu machine and
# does nothing when it is already there. Called by `make run` and `make test`.
#
# - libclang (bindgen generates RocksDB's Rust bindings with it)
# - a C++ compiler (RocksDB itself is C++)
# - chromium (Debian's package): the dashboard's end-to-end test drives it
#   headless (crates/lambda-devnet/tests/dashboard.rs)
# The protobuf compiler is vendored (protoc-bin-vendored), so none is needed.
set -euo pipefail

need=()
if ! ls /usr/lib/llvm-*/lib/libclang*.so* >/dev/null 2>&1 && ! ls /usr/lib/*/libclang*.so* >/dev/null 2>&1; then
  need+=(libclang-dev)
fi
command -v g++ >/dev/null 2>&1 || need+=(g++)
command -v make >/dev/null 2>&1 || need+=(make)
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ ${#need[@]} -gt 0 ]; then
  echo "bootstrap: installing ${need[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "bootstrap: need root or sudo to install ${need[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

command -v cargo >/dev/null 2>&1 || { echo "bootstrap: cargo not found; install Rust from https://rustup.rs" >&2; exit 1; }
