# Sourced by the benchmarks: `ephemail_bin` sets BIN to the ephemail to measure: BIN= as given;
# else, with CEILING= (none or spool), the committed HEAD built with bench/ingest-ceiling.patch
# (bench/ceiling-build); else the release build of this checkout. With CEILING= it also exports
# EPHEMAIL_CEILING, which tells the patched writer what to stand in for storing.
ephemail_bin() {
  if [ -n "${CEILING:-}" ]; then
    export EPHEMAIL_CEILING=$CEILING
    BIN=${BIN:-$(bash bench/ceiling-build)}
  elif [ -z "${BIN:-}" ]; then
    cargo build --release --locked -q
    BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/ephemail"
  fi
}
