#!/usr/bin/env bash
# Instructions per request (callgrind) of tablecast's CORS hook and session-cookie read against
# @fastify/cors + @fastify/cookie doing the same for the same request (README › Development, "Why
# CORS and the session cookie are not plugins"). Installs fastify and the two plugins into a temporary
# directory, runs app.mjs under valgrind for 2,000 and 20,000 requests per variant (autocannon, 10
# connections, Origin and a five-cookie Cookie header) and prints the difference over 18,000.
# Needs valgrind (Debian package). Takes about three minutes.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
AUTOCANNON="$HERE/../../node_modules/.bin/autocannon"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cp "$HERE/app.mjs" "$WORK/"
cd "$WORK"
echo '{"name":"library-check","private":true,"type":"module"}' > package.json
npm i --silent --no-audit --no-fund fastify@5.12.8 @fastify/cors@11.4.3 @fastify/cookie@11.1.0 >/dev/null
COOKIE='_ga=GA1.2.123456789.1700000000; theme=dark; lang=en-GB; tablecast_session=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl; _gid=GA1.2.987654321.1700000000'
count() { # variant requests -> total instructions
  local port=$((30000 + RANDOM % 10000)) out="$WORK/cg.$1.$2"
  VARIANT=$1 PORT=$port valgrind --tool=callgrind --callgrind-out-file="$out" node app.mjs >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$port/x" && break; sleep 0.5; done
  "$AUTOCANNON" -c 10 -a "$2" -H 'origin=https://app.example' -H "cookie=$COOKIE" "http://127.0.0.1:$port/x" >/dev/null 2>&1
  kill -TERM "$pid"; wait "$pid" || true
  grep -E '^summary' "$out" | cut -d' ' -f2
}
for variant in ours plugins; do
  a=$(count "$variant" 2000); b=$(count "$variant" 20000)
  echo "$variant: $(( (b - a) / 18000 )) instructions per request"
done
