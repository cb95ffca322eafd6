#!/usr/bin/env bash
# Fuzzes ephemail-mail (parse, sanitize, links, codes; addresses): a fixed count of inputs per
# target (FUZZ_RUNS sets it for each; 0 skips), starting from the checked-in seeds and, when
# present, the shared MIME and XSS corpora. Fails on any panic, failed invariant or input slower
# than FUZZ_TIMEOUT seconds.
# libFuzzer's seed is the commit's (FUZZ_SEED overrides) and the count of runs is fixed, so a CI
# run does the same amount of fuzzing on any machine and starts where every run of its commit
# starts; each commit explores anew. Runs of one commit still drift apart (hash maps seeded per
# process change which inputs add coverage), so a finding may show in one and not another: it is
# a bug all the same. FUZZ_SECONDS only stops a machine far slower than this one (the counts
# take 15 to 60 s a target here, by load).
# Runs on stable Rust: `-s none` builds without a sanitizer, so cargo-fuzz passes no -Z flag.
# `-O`: dependencies as in release (the fuzz crate's profile keeps ephemail-mail's assertions).
# Longer local runs: crates/ephemail-mail/fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# An input of the mail pipeline costs about a thousand times one of the address parser.
declare -A runs=([mail_pipeline]="${FUZZ_RUNS:-15000}" [address]="${FUZZ_RUNS:-5000000}")
seconds="${FUZZ_SECONDS:-180}"
timeout="${FUZZ_TIMEOUT:-20}"
# libFuzzer reads -runs=0 as "no limit": 0 skips instead.
if [ "${FUZZ_RUNS:-}" = 0 ]; then
  echo "# FUZZ_RUNS=0: not fuzzing"
  exit 0
fi
commit="$(git rev-parse HEAD 2>/dev/null | cut -c1-7 || true)"
seed="${FUZZ_SEED:-$((16#${commit:-1}))}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "# installing cargo-fuzz"
  cargo install cargo-fuzz --version '^0.13' --locked
fi
# Instrumented builds share nothing with the test builds: a cache of their own beside theirs.
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="$CARGO_TARGET_DIR-fuzz"
fi

cd crates/ephemail-mail
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Extra seeds, read only: the shared corpora's mails, and its XSS vectors as HTML mails.
corpora=../../../shared/corpora
extra=()
if [ -d "$corpora/mime" ]; then
  extra+=("$corpora/mime")
fi
if [ -f "$corpora/xss/vectors.jsonl" ] && command -v python3 >/dev/null; then
  mkdir "$work/xss"
  python3 - "$corpora/xss/vectors.jsonl" "$work/xss" <<'EOF'
import json, sys
for i, line in enumerate(open(sys.argv[1], encoding="utf-8")):
    with open(f"{sys.argv[2]}/{i}.eml", "w", encoding="utf-8") as mail:
        mail.write("Content-Type: text/html; charset=utf-8\r\n\r\n" + json.loads(line)["payload"])
EOF
  extra+=("$work/xss")
fi

# Not a member of the root workspace, so `cargo fmt --all` does not see it.
cargo fmt --manifest-path fuzz/Cargo.toml --check
cargo fuzz build -O -s none
for target in mail_pipeline address; do
  echo "# fuzzing $target: ${runs[$target]} runs from seed $seed (at most ${seconds}s)"
  seeds=("fuzz/seeds/$target")
  [ "$target" = mail_pipeline ] && seeds+=("${extra[@]}")
  # New inputs go to the first directory, a scratch one: the checked-in seeds stay as they are.
  # -max_len bounds inputs, for throughput (the corpora's 1 MB mails are read truncated).
  mkdir "$work/$target"
  cargo fuzz run -O -s none "$target" "$work/$target" "${seeds[@]}" -- \
    -seed="$seed" -runs="${runs[$target]}" -max_total_time="$seconds" -timeout="$timeout" -max_len=65536 -print_final_stats=1 \
    2>&1 | { grep -Ev '^(#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)|"|###### |[[:space:]]+NEW_FUNC)' || true; }
done
