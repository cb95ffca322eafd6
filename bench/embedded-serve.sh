# Sourced by the benchmarks that need ephemail on its embedded PostgreSQL (bench/storage,
# bench/age-sweep): `serve_embedded NAME PORT [serve flags...]` uses the release build (or BIN=),
# starts it with a fresh data directory under /tmp, waits for its SMTP port, removes everything
# on exit, and leaves DATA set; `psql_q` then queries its database.
serve_embedded() {
  local name=$1 port=$2
  shift 2
  source bench/ephemail-bin.sh
  ephemail_bin
  DATA="/tmp/ephemail-$name-$$"
  rm -rf "$DATA"; mkdir -p "$DATA"; chmod 755 "$DATA"
  "$BIN" serve --data-dir "$DATA" --http-addr 127.0.0.1:0 --smtp-addr "127.0.0.1:$port" "$@" \
    >"$DATA/serve.log" 2>&1 &
  SERVER=$!
  trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DATA"' EXIT
  for _ in $(seq 1 300); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.2; done
}

psql_q() { runuser -u postgres -- psql -X -qAt -h "$DATA/postgres" -U ephemail -d ephemail "$@"; }
