#!/usr/bin/env bash
# The end-to-end demo: installs the registry if it is missing, builds, and
# runs examples/demo.rs (two local registries, a seeded project, every
# command of the tool).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/run --install-only
cargo build --quiet --bins --examples
exec ./target/debug/examples/demo
