#!/usr/bin/env bash
# Windows: cross-compiles kinoyubot for x86_64-pc-windows-gnu and runs the
# .exe under wine64: --help, check-items on a good and a bad file (exit 0
# and 2), and `run` against the local PostgreSQL (DATABASE_URL) answering
# /healthz. Called by .ci/run; needs the target, Debian's
# gcc-mingw-w64-x86-64 and wine64 (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

target=x86_64-pc-windows-gnu
target_dir="${CARGO_TARGET_DIR:-target}"
cargo build --locked --target "$target"
exe="$target_dir/$target/debug/kinoyubot.exe"
test -f "$exe"

wine=$(command -v wine64 || echo /usr/lib/wine/wine64)
work=$(mktemp -d)
export WINEPREFIX="$work/prefix" WINEDEBUG=-all
cleanup() {
  [ -n "${bot:-}" ] && kill "$bot" 2>/dev/null || true
  wineserver -k 2>/dev/null || true
  [ -n "${database:-}" ] && psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $database" postgres >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
cp "$exe" "$work/kinoyubot.exe"
# Debian 12's wine 8.0 lacks bcryptprimitives.dll, which Rust's std needs on
# Windows 10+ (ProcessPrng); a test-only stand-in goes next to the .exe.
x86_64-w64-mingw32-gcc -shared -O2 -o "$work/bcryptprimitives.dll" scripts/wine/bcryptprimitives.c -ladvapi32
cd "$work"
"$wine" wineboot --init >/dev/null 2>&1 || true

expect_exit() {
  local want=$1; shift
  set +e
  "$wine" ./kinoyubot.exe "$@" >out.txt 2>err.txt
  local got=$?
  set -e
  if [ "$got" != "$want" ]; then
    echo "kinoyubot.exe $*: exit $got, expected $want" >&2
    cat out.txt err.txt >&2
    exit 1
  fi
}

expect_exit 0 --help
grep -q 'check-items' out.txt

printf '[[items]]\nname = "Key"\nprobability = 0.5\n' > good.toml
expect_exit 0 check-items good.toml
grep -q 'Key' out.txt
printf '[[items]]\nname = "Key"\nprobability = 5\n' > bad.toml
expect_exit 2 check-items bad.toml
grep -q 'write 0.05 for 5 %' err.txt

database="kb_wine_$$"
psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $database" postgres
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$database" HTTP_ADDR="127.0.0.1:$port" \
  ITEMS_FILE=good.toml DATA_DIR=data "$wine" ./kinoyubot.exe run >run.out 2>run.err &
bot=$!
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    echo "kinoyubot.exe run answers /healthz under wine"
    curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null
    migrated=$(psql -h 127.0.0.1 -U postgres -tAc "SELECT count(*) FROM schema_migrations" "$database")
    echo "migrations applied by the Windows build: $migrated"
    exit 0
  fi
  if ! kill -0 "$bot" 2>/dev/null; then
    echo "kinoyubot.exe run exited early" >&2
    cat run.out run.err >&2
    exit 1
  fi
  sleep 1
done
echo "kinoyubot.exe run did not answer /healthz within 120 s" >&2
cat run.out run.err >&2
exit 1
