# Sourced by the benchmarks that take BUCKETS= (hours of expiry partitions beside the load, made
# by bench/api-inboxes.py --over-hours), after they set its default: it must be 1 to 168.
case "$BUCKETS" in
  ''|*[!0-9]*|0) echo "BUCKETS is a number of hours from 1 to 168, not $BUCKETS" >&2; exit 2 ;;
esac
[ "$BUCKETS" -le 168 ] || { echo "BUCKETS is at most 168 (--max-ttl's week), not $BUCKETS" >&2; exit 2; }
