#!/usr/bin/env bash
# End-to-end run of the Postman collection against a fresh API.
#
#   scripts/newman.sh                 # API on 127.0.0.1:5000, in-memory database
#   PORT=5055 scripts/newman.sh       # another port (baseUrl follows)
#   scripts/newman.sh --bail          # extra arguments go to `newman run`
#   POSTMAN_COLLECTION=... POSTMAN_ENVIRONMENT=... scripts/newman.sh   # other files
#
# Installs newman (npm ci) when node_modules/.bin/newman is missing, starts
# `.venv/bin/python run.py` in the background on the in-memory database with
# the banker of postman/local.postman_environment.json, waits for GET /health,
# runs the collection and stops the server whatever happens. Exits non-zero
# when any request or test fails; the server log is printed then.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

COLLECTION="${POSTMAN_COLLECTION:-postman/bank.postman_collection.json}"
ENVIRONMENT="${POSTMAN_ENVIRONMENT:-postman/local.postman_environment.json}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-5000}"
HEALTH_TIMEOUT="${HEALTH_TIMEOUT:-30}"

case "$HOST" in
    0.0.0.0) CLIENT_HOST=127.0.0.1 ;;
    ::) CLIENT_HOST='[::1]' ;;
    *:*) CLIENT_HOST="[$HOST]" ;;
    *) CLIENT_HOST="$HOST" ;;
esac
BASE_URL="http://${CLIENT_HOST}:${PORT}"

command -v node >/dev/null || { echo "error: node is required (https://nodejs.org)" >&2; exit 2; }
command -v curl >/dev/null || { echo "error: curl is required" >&2; exit 2; }

if [ ! -x node_modules/.bin/newman ]; then
    echo "==> npm ci (installing newman)"
    npm ci --no-audit --no-fund
fi

# The Makefile's stamp target: creates .venv, or refreshes it when the
# requirements changed; a no-op otherwise.
make --no-print-directory -s .venv/.runtime-installed

# A value of the Postman environment file.
env_value() {
    node -e '
        const env = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const item = (env.values || []).find((v) => v.key === process.argv[2] && v.enabled !== false);
        if (!item || item.value === undefined || item.value === "") process.exit(1);
        process.stdout.write(String(item.value));
    ' "$ENVIRONMENT" "$1" || { echo "error: $ENVIRONMENT has no value for $1" >&2; exit 2; }
}
BANKER_USERNAME="$(env_value bankerUsername)"
BANKER_PASSWORD="$(env_value bankerPassword)"
CURRENCY_CODE="$(env_value currency)"

# Refuse to test whatever already listens there (e.g. a `make run` started earlier).
if curl -s -o /dev/null --max-time 2 "$BASE_URL/"; then
    echo "error: something already answers on $BASE_URL; stop it or choose another PORT" >&2
    exit 2
fi

SERVER_LOG="$(mktemp "${TMPDIR:-/tmp}/bank-api-newman.XXXXXX")"
SERVER_PID=""
NEWMAN_PID=""

stop() {
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}

cleanup() {
    local status=$?
    trap - EXIT INT TERM
    stop "$NEWMAN_PID"
    stop "$SERVER_PID"
    if [ "$status" -ne 0 ]; then
        echo >&2
        echo "==> failed (exit $status); server log ($SERVER_LOG):" >&2
        cat "$SERVER_LOG" >&2 || true
    else
        rm -f "$SERVER_LOG"
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> starting the API on $BASE_URL (in-memory database, banker '$BANKER_USERNAME')"
# Settings the collection relies on win over a .env file (real environment beats .env).
APP_ENV=development \
MONGO_URI=mongomock:// \
HOST="$HOST" \
PORT="$PORT" \
CURRENCY="$CURRENCY_CODE" \
BOOTSTRAP_BANKER_USERNAME="$BANKER_USERNAME" \
BOOTSTRAP_BANKER_PASSWORD="$BANKER_PASSWORD" \
    .venv/bin/python run.py >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!

deadline=$((SECONDS + HEALTH_TIMEOUT))
until curl -fs -o /dev/null --max-time 2 "$BASE_URL/health"; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "error: the API exited during start-up" >&2
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "error: $BASE_URL/health did not answer within ${HEALTH_TIMEOUT}s" >&2
        exit 1
    fi
    sleep 0.3
done
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "error: the API exited during start-up (another server on $BASE_URL?)" >&2
    exit 1
fi
echo "==> API is up"

# In the background so that INT/TERM reach the trap at once; `wait` returns
# newman's exit status (non-zero when any test failed), which set -e passes on.
node_modules/.bin/newman run "$COLLECTION" \
    --environment "$ENVIRONMENT" \
    --env-var "baseUrl=$BASE_URL" \
    --timeout-request 15000 \
    "$@" &
NEWMAN_PID=$!
wait "$NEWMAN_PID"
