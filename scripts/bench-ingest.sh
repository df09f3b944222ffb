#!/usr/bin/env bash
# Chat ingest benchmark (see benches/ingest.rs): release build, real
# listener + tracker + PostgreSQL, Twitch IRC stand-in over loopback.
#
#   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
#   BENCH_MESSAGES=1000000 BENCH_USERS=10000 scripts/bench-ingest.sh
#
# DATABASE_URL is an admin URL: a throwaway database is created and dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench ingest "$@"
