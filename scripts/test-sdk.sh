#!/usr/bin/env bash
# The SDKs' tests, run by scripts/test.sh after the Rust build (it uses the debug ephemail
# binary): the generated layers must match the schema; the TypeScript and Python suites run
# against real servers; then the packages are tested as users get them: the npm tarball and
# the wheel installed into empty folders / a fresh venv, `cargo package` for the crate; and
# the examples run against one ephemail and the signup demo: the quick starts of docs/sdk.md
# (each prints the code of a mail sent after its wait started), the pytest, Rust and
# Playwright (headless Chromium) sign-up examples.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
CACHE="${SDK_CACHE:-/var/cache/ephemail}"
export SDK_VENV="$CACHE/sdk-venv"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export EPHEMAIL_BIN="${EPHEMAIL_BIN:-$CARGO_TARGET_DIR/debug/ephemail}"
NPM=(npm --cache "$CACHE/npm" --no-fund --no-audit --loglevel=error)
PIP=(--quiet --disable-pip-version-check --cache-dir "$CACHE/pip")
WORK="$(mktemp -d /tmp/ephemail-sdk-test.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
step() { echo "# sdk: $*"; }

# Tools, installed once and kept in the cache.
if [ ! -x "$SDK_VENV/bin/ariadne-codegen" ] || [ ! -x "$SDK_VENV/bin/pyproject-build" ]; then
  step "installing ariadne-codegen and build into $SDK_VENV"
  python3 -m venv "$SDK_VENV"
  "$SDK_VENV/bin/pip" install "${PIP[@]}" 'ariadne-codegen==0.19.0' 'build==1.6.1'
fi
if [ ! -d sdk/typescript/node_modules/@graphql-codegen/cli ]; then
  "${NPM[@]}" ci --prefix sdk/typescript
fi

step "generated layers match schema.graphql"
bash scripts/gen-sdk.sh --check

step "TypeScript: build and node --test"
(cd sdk/typescript && npx --no-install tsc --noEmit && npx --no-install tsup --silent >/dev/null && node --test --test-concurrency=1 --test-reporter=dot test/*.test.mjs)
TARBALL="$WORK/$(cd sdk/typescript && npm pack --silent --pack-destination "$WORK" 2>/dev/null | tail -n 1)"

step "Python: wheel into a fresh venv, pytest"
"$SDK_VENV/bin/pyproject-build" --wheel --outdir "$WORK/dist" sdk/python >"$WORK/build.log" 2>&1 ||
  { cat "$WORK/build.log" >&2; exit 1; }
WHEEL="$(ls "$WORK"/dist/ephemail-*.whl)"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install "${PIP[@]}" "$WHEEL" 'pytest==9.2.0' 'pytest-asyncio==1.3.0'
(cd sdk/python/tests && "$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider)

step "Rust: cargo package"
cargo package --quiet --locked -p ephemail-client --allow-dirty
cargo build --quiet --locked -p ephemail-client --examples

step "examples against one ephemail and the signup demo"
mkdir "$WORK/server"
chmod 755 "$WORK/server"
SMTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HTTP_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DEMO_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
RUST_LOG=warn "$EPHEMAIL_BIN" serve --data-dir "$WORK/server" --smtp-addr "127.0.0.1:$SMTP_PORT" \
  --http-addr "127.0.0.1:$HTTP_PORT" >"$WORK/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 900); do grep -q "ephemail is ready" "$WORK/server.log" && break; sleep 0.1; done
grep -q "ephemail is ready" "$WORK/server.log" || { cat "$WORK/server.log" >&2; exit 1; }
export EPHEMAIL_URL="http://127.0.0.1:$HTTP_PORT"
EPHEMAIL_API_KEY="$(sed -n 's/^api key *\([^ ]*\).*/\1/p' "$WORK/server.log")"
export EPHEMAIL_API_KEY
SMTP_PORT=$SMTP_PORT DEMO_PORT=$DEMO_PORT python3 examples/signup-demo/app.py >/dev/null &
PIDS+=($!)
export DEMO_URL="http://127.0.0.1:$DEMO_PORT"

# Runs a quick start in the background, sends a mail to the address it prints once it waits,
# and checks that it prints that mail's code.
quickstart() {
  local name="$1"; shift
  # Made before the quick start starts: its redirection may open the file after the first look,
  # and a sed on a missing file would end this script (set -e).
  : >"$WORK/$name.out"
  "$@" >>"$WORK/$name.out" 2>&1 &
  local pid=$!
  local address=""
  for _ in $(seq 1 600); do
    address="$(sed -n 's/^send the mail to \(.*\)$/\1/p' "$WORK/$name.out")"
    [ -n "$address" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$address" ] || { cat "$WORK/$name.out" >&2; echo "$name printed no address" >&2; return 1; }
  sleep 0.5
  python3 - "$SMTP_PORT" "$address" <<'PY'
import smtplib, sys
from email.message import EmailMessage
message = EmailMessage()
message["From"], message["To"], message["Subject"] = "app@example.com", sys.argv[2], "Your code"
message.set_content("Your verification code is 482 913.")
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as smtp:
    smtp.send_message(message)
PY
  wait "$pid" || { cat "$WORK/$name.out" >&2; return 1; }
  tail -n 1 "$WORK/$name.out" | grep -qx 482913 || { cat "$WORK/$name.out" >&2; echo "$name: wrong code" >&2; return 1; }
}

# Each quick start exactly as docs/sdk.md shows it, in an empty folder with the packed package.
doc_block() { awk -v lang="$1" '$0 == "```" lang " quickstart" {on=1; next} on && /^```/ {exit} on' docs/sdk.md; }
mkdir "$WORK/ts-quickstart"
(cd "$WORK/ts-quickstart" && echo '{"type":"module"}' >package.json && "${NPM[@]}" install --silent "$TARBALL")
doc_block js >"$WORK/ts-quickstart/quickstart.mjs"
# The CommonJS build, with its type declarations, next to the ESM one.
(cd "$WORK/ts-quickstart" && node -e 'const { Ephemail, EphemailError } = require("@ephemail/client");
  if (typeof Ephemail !== "function" || typeof EphemailError !== "function") process.exit(1)' &&
  test -f node_modules/@ephemail/client/dist/index.d.cts && test -f node_modules/@ephemail/client/dist/playwright.d.ts)
quickstart ts node "$WORK/ts-quickstart/quickstart.mjs"
doc_block python >"$WORK/quickstart.py"
quickstart python "$WORK/venv/bin/python" "$WORK/quickstart.py"
doc_block rust | diff - sdk/rust/examples/quickstart.rs >/dev/null || { echo "docs/sdk.md's Rust quick start differs from sdk/rust/examples/quickstart.rs" >&2; exit 1; }
quickstart rust "$CARGO_TARGET_DIR/debug/examples/quickstart"

"$WORK/venv/bin/python" -m pytest -q -p no:cacheprovider -p no:asyncio examples/signup-demo/python
"$CARGO_TARGET_DIR/debug/examples/signup" >/dev/null
mkdir "$WORK/playwright"
cp examples/signup-demo/playwright/{package.json,playwright.config.mjs,signup.spec.mjs} "$WORK/playwright/"
(cd "$WORK/playwright" && "${NPM[@]}" install --silent "$TARBALL" && npx --no-install playwright test)
