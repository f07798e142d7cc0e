#!/usr/bin/env bash
# The whole test suite, as CI runs it: start the real services, then formatting, lints, and
# every test of every crate with every feature. Idempotent; run it as often as you like.
#
#   scripts/test.sh
#
# Under CI=true a test that needs a real backend fails instead of skipping when the backend is
# missing; scripts/services.sh makes sure none is.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*" >&2; }

step "services (scripts/services.sh)"
eval "$(scripts/services.sh start)"

step "cargo fmt --check"
cargo fmt --all --check

step "cargo clippy (all targets, all features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "tests (all features)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-features --locked --profile ci
else
  cargo test --workspace --all-features --locked --lib --bins --tests
fi

step "doc tests"
cargo test --workspace --all-features --locked --doc
