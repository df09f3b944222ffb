#!/usr/bin/env bash
# Many channels on one instance, then several instances on one database
# (see benches/scale.rs): release build, the real `kinoyubot run` binary,
# the Twitch IRC stand-in serving every channel, PostgreSQL.
#
#   DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \
#   BENCH_CHANNELS=10000 BENCH_INTERVAL=60 BENCH_CHAT_CHANNELS=1000 \
#   BENCH_INSTANCES=3 scripts/bench-scale.sh
#
# DATABASE_URL is an admin URL: throwaway databases are created and dropped.
# The instances get JOIN_RATE=$BENCH_JOIN_RATE (default 20000 per 10 s) so
# the run need not wait for Twitch's pace (20 per 10 s).
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --bench scale "$@"
