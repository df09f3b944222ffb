#!/usr/bin/env bash
# Runs every benchmark in release mode and prints one table.
#
#   scripts/bench.sh            # uses the local PostgreSQL (127.0.0.1:5432, user postgres)
#   BENCH_DATABASE_URL=postgresql://user@host/postgres scripts/bench.sh
#
# The URL is an admin URL: each benchmark creates and drops its own database.
# Each benchmark also prints its own detailed figures above the table.
set -euo pipefail
cd "$(dirname "$0")/.."

export BENCH_DATABASE_URL="${BENCH_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

echo "==> building (release)"
cargo bench --no-run --bench ingest --bench draw_latency --bench delivery_latency >/dev/null 2>&1 \
  || cargo bench --no-run --bench ingest --bench draw_latency --bench delivery_latency

echo "==> chat ingest: 1,000,000 messages from 10,000 users"
DATABASE_URL="$BENCH_DATABASE_URL" BENCH_MESSAGES=1000000 BENCH_USERS=10000 \
  cargo bench --bench ingest 2>/dev/null | tee -a "$log"
echo "==> memory: 1,000,000 messages from 100,000 users"
DATABASE_URL="$BENCH_DATABASE_URL" BENCH_MESSAGES=1000000 BENCH_USERS=100000 \
  cargo bench --bench ingest 2>/dev/null | sed 's/^RESULT /RESULT big_/' | tee -a "$log"
echo "==> draw latency"
cargo bench --bench draw_latency 2>/dev/null | tee -a "$log"
echo "==> tick-to-webhook latency"
cargo bench --bench delivery_latency 2>/dev/null | tee -a "$log"

value() { grep "^RESULT $1=" "$log" | tail -n1 | cut -d= -f2; }

echo
echo "| measure | value |"
echo "|---|---|"
echo "| chat ingest, messages/s (10k users) | $(value ingest_msgs_per_sec) |"
echo "| naive one-upsert-per-message writer, messages/s | $(value ingest_naive_msgs_per_sec) |"
echo "| ratio batched / naive | $(value ingest_ratio)x |"
echo "| last message -> durable presence, ms | $(value presence_lag_ms) |"
echo "| draw latency p50, 10,000 viewers, ms | $(value draw_p50_ms_10000) |"
echo "| draw latency p50, 100,000 viewers, ms | $(value draw_p50_ms_100000) |"
echo "| draw latency p50, 1,000,000 viewers, ms | $(value draw_p50_ms_1000000) |"
echo "| tick-to-webhook p50, ms | $(value webhook_p50_ms) |"
echo "| tick-to-webhook p99, ms | $(value webhook_p99_ms) |"
echo "| peak RSS, 100,000 active viewers, MiB | $(value big_ingest_peak_rss_mib) |"
echo "| RSS growth per 100,000 active viewers, MiB | $(value big_rss_per_100k_viewers_mib) |"
