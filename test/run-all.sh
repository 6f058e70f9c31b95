#!/usr/bin/env bash
# The one test command: system packages, typecheck + build, lint, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash test/ensure-system-packages.sh
echo "== typecheck and build (tsc)"
npx tsc -p tsconfig.json
echo "== lint (eslint)"
npx eslint .
echo "== tests (vitest)"
npx vitest run "$@"
