#!/usr/bin/env bash
# The one test command: system packages, typecheck + build, lint and format, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/ensure-system-packages.sh
echo "== typecheck and build (tsc)"
npx tsc -p tsconfig.json
echo "== lint (eslint) and format (prettier --check)"
npx eslint .
npx prettier --check . --log-level warn
echo "== tests (vitest)"
npx vitest run "$@"
