#!/usr/bin/env bash
# Installs everything shopd needs to build, test and benchmark, from Debian
# packages (and the npm registry for the OpenAPI validator and the browser
# test driver). Idempotent: when
# everything is present it only checks and exits. Uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(
  build-essential pkg-config clang libclang-rt-dev
  libmicrohttpd-dev libjansson-dev libsodium-dev libsqlite3-dev sqlite3
  libpq-dev postgresql postgresql-contrib haproxy
  libstemmer-dev libcurl4-openssl-dev libcriterion-dev libcsv-dev
  python3 python3-pytest python3-pytest-xdist python3-jsonschema python3-yaml
  python3-psycopg2 python3-aiosmtpd
  curl wrk nginx-light nodejs npm
  chromium fonts-dejavu-core
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A machine may carry its own node/npm outside Debian's packages; accept those.
if command -v node >/dev/null && command -v npm >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || tmp+=("$p"); done
  missing=("${tmp[@]}")
fi

if ((${#missing[@]})); then
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm tools, each pinned by its package-lock.json and installed again
# whenever the lock file is newer than the installed tree:
#   tests/openapi   the OpenAPI tools (the schema validator, redocly's linter,
#                   Stoplight Prism's validating proxy)
#   tests/webhooks  the Standard Webhooks reference library, which checks the
#                   signatures of the webhooks shopd sends
#   tests/web       the browser tests' driver (playwright-core, which drives
#                   Debian's chromium: it downloads no browser) and axe-core
for dir in tests/openapi tests/webhooks tests/web; do
  lock=$dir/package-lock.json
  if [[ -f $lock && ( ! -f $dir/node_modules/.package-lock.json ||
        $lock -nt $dir/node_modules/.package-lock.json ) ]]; then
    echo "install-deps: installing $dir's npm packages (npm ci)"
    (cd "$dir" && npm ci --silent --no-audit --no-fund && touch node_modules/.package-lock.json)
  fi
done
exit 0
