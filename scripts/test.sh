#!/usr/bin/env bash
# The whole test suite, with its set-up: installs what the tests need when it is missing
# (PostgreSQL's server binaries for the throwaway test cluster, the diesel CLI for the schema
# drift test, Node.js with the graphql-ws, playwright-core and axe-core npm packages, headless
# Chromium for the XSS rendering and web inbox tests, the web inbox's build tools for its
# stale-bundle test, swaks and Python 3 as SMTP clients, the standardwebhooks package for the webhook tests, systemd-analyze for the systemd
# unit's check, promtool to lint the /metrics exposition), then checks formatting and lints and
# runs every test, then fuzzes the mail crate briefly (scripts/fuzz.sh, which installs
# cargo-fuzz), then the SDKs' tests (scripts/test-sdk.sh, which installs their own tools).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; exit 1
  fi
}
apt_install() {
  [ -n "${APT_UPDATED:-}" ] || { as_root apt-get update -qq; APT_UPDATED=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && ! command -v initdb >/dev/null; then
  echo "# installing PostgreSQL server packages"
  apt_install postgresql
fi
if ! command -v diesel >/dev/null; then
  echo "# installing the diesel CLI (checks crates/ephemail-store/src/schema.rs against the migrations)"
  [ -e /usr/include/postgresql/libpq-fe.h ] || apt_install libpq-dev
  cargo install diesel_cli --version '^2.3' --no-default-features --features postgres --locked
fi

if ! command -v swaks >/dev/null || ! command -v python3 >/dev/null; then
  echo "# installing swaks and Python 3 (real SMTP clients, with and without TLS)"
  apt_install swaks libnet-ssleay-perl python3
fi
if ! command -v systemd-analyze >/dev/null; then
  echo "# installing systemd's tools (systemd-analyze verifies deploy/ephemail.service)"
  apt_install systemd
fi
# Prometheus's own linter for the /metrics test (tests/api/metrics_smtp.rs looks for it here,
# then on PATH): unpacked from Debian's prometheus package, whose server is neither installed
# nor started.
PROMTOOL_DIR=/var/cache/ephemail/promtool
if ! command -v promtool >/dev/null && [ ! -x "$PROMTOOL_DIR/usr/bin/promtool" ]; then
  echo "# unpacking promtool from the prometheus package into $PROMTOOL_DIR"
  [ -n "${APT_UPDATED:-}" ] || { as_root apt-get update -qq; APT_UPDATED=1; }
  download="$(mktemp -d)"
  (cd "$download" && apt-get download -qq prometheus)
  mkdir -p "$PROMTOOL_DIR"
  dpkg-deb -x "$download"/prometheus_*.deb "$PROMTOOL_DIR"
  rm -rf "$download"
fi
if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  echo "# installing python3-venv (the Python SDK is tested from its wheel in a fresh venv)"
  apt_install python3-venv
fi
# The Standard Webhooks specification's own Python library, which checks our signatures in
# tests/api/webhooks.rs and runs the receiver of docs/webhooks.md.
WEBHOOK_VENV=/var/cache/ephemail/webhook-venv
if [ ! -x "$WEBHOOK_VENV/bin/python" ] || ! "$WEBHOOK_VENV/bin/python" -c 'import standardwebhooks' 2>/dev/null; then
  echo "# installing the standardwebhooks Python package into $WEBHOOK_VENV"
  python3 -m venv "$WEBHOOK_VENV"
  "$WEBHOOK_VENV/bin/pip" install -q --disable-pip-version-check 'standardwebhooks==1.3.0'
fi
if ! command -v node >/dev/null; then
  echo "# installing Node.js (the graphql-ws client test)"
  apt_install nodejs npm
fi
if ! command -v chromium >/dev/null; then
  echo "# installing Chromium (renders the sanitized XSS corpus headless)"
  apt_install chromium
fi
# The public graphql-ws npm client, playwright-core (drives Chromium) and axe-core (the web
# inbox's accessibility check), exactly as locked.
if [ ! -d tests/node/node_modules/graphql-ws ] || [ ! -d tests/node/node_modules/playwright-core ] \
  || [ ! -d tests/node/node_modules/axe-core ]; then
  npm ci --prefix tests/node --no-fund --no-audit
fi
# The web inbox's build tools (Vite, Preact, GraphiQL), for the test that rebuilds web/dist and
# compares it with the checked-in bundle. Packages come from a cache outside the clone.
if ! cmp -s web/package-lock.json web/node_modules/.installed-lock.json; then
  echo "# installing the web inbox's build tools (npm ci --prefix web)"
  npm ci --prefix web --no-fund --no-audit --loglevel=error --cache /var/cache/ephemail/npm >/dev/null
  cp web/package-lock.json web/node_modules/.installed-lock.json
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The layering of docs/architecture.md: no import cycles, no overlong files.
python3 scripts/check-layers.py src crates/ephemail-store/src crates/ephemail-mail/src
# bench/ingest-ceiling's stand-ins for the writer still apply to it and compile.
bash bench/ceiling-build --check
cargo test --workspace --locked
echo "# fuzzing ephemail-mail briefly (scripts/fuzz.sh, FUZZ_RUNS per target)"
bash scripts/fuzz.sh
bash scripts/test-sdk.sh
