#!/usr/bin/env bash
# Regenerates the typed operations of the three SDKs from schema.graphql and
# sdk/operations/*.graphql: TypeScript (graphql-codegen), Python (ariadne-codegen), Rust
# (cynic-querygen). With --check, regenerates into the tree, compares with what was checked in,
# puts the checked-in files back and fails if they differ.
#
# Needs sdk/typescript/node_modules (npm ci) and ariadne-codegen on PATH or in $SDK_VENV.
set -euo pipefail
cd "$(dirname "$0")/.."
SDK_VENV="${SDK_VENV:-/var/cache/ephemail/sdk-venv}"
GENERATED=(
  sdk/typescript/src/generated
  sdk/python/src/ephemail/_generated
  sdk/rust/src/generated.rs
  sdk/rust/schema.graphql
)

generate() {
  (cd sdk/typescript && npx --no-install graphql-codegen --config codegen.yml --silent)
  local ariadne=ariadne-codegen
  [ -x "$SDK_VENV/bin/ariadne-codegen" ] && ariadne="$SDK_VENV/bin/ariadne-codegen"
  (cd sdk/python && "$ariadne" >/dev/null)
  # Python 3.9 evaluates annotations such as `Any | None` at import time unless postponed.
  sed -i '1i from __future__ import annotations\n' sdk/python/src/ephemail/_generated/async_base_client.py
  # Also refreshes the crate's copy of the schema (`cargo package` ships only the crate's files).
  EPHEMAIL_REGENERATE=1 cargo test --quiet --locked -p ephemail-client --test generated >/dev/null
}

if [ "${1:-}" != --check ]; then
  generate
  exit 0
fi

saved="$(mktemp -d)"
trap 'rm -rf "$saved"' EXIT
for path in "${GENERATED[@]}"; do
  mkdir -p "$saved/$(dirname "$path")"
  cp -a "$path" "$saved/$path"
done
generate
drift=0
for path in "${GENERATED[@]}"; do
  if ! diff -r -q "$saved/$path" "$path" >/dev/null; then
    echo "stale: $path (run scripts/gen-sdk.sh)" >&2
    diff -r -u "$saved/$path" "$path" | head -40 >&2 || true
    drift=1
  fi
  rm -rf "$path"
  cp -a "$saved/$path" "$path"
done
exit "$drift"
