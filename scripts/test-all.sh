#!/usr/bin/env bash
# The full CI job. Dependencies are installed before this runs
# (`pnpm install --frozen-lockfile`, see .ci/run).
set -euo pipefail

cd "$(dirname "$0")/.."

PNPM="${PNPM:-npx --yes pnpm@10.34.9}"
export TURBO_TELEMETRY_DISABLED=1
export TURBO_NO_UPDATE_NOTIFIER=1
export DO_NOT_TRACK=1

section() {
  printf '\n==================== %s ====================\n' "$1"
}

section "lint (biome ci)"
$PNPM exec biome ci .

section "build"
$PNPM run build

section "typecheck"
$PNPM run typecheck

section "check:packages (publint + attw)"
$PNPM run check:packages

section "docs:check"
$PNPM run docs:check

section "tests (vitest run: unit, property, conformance)"
results="$(mktemp -d)/vitest.json"
status=0
$PNPM exec vitest run --reporter=default --reporter=json --outputFile="$results" || status=$?
# The counts, printed again as the very last line of the run.
summary="$(node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
' "$results" || echo "vitest: no results")"
[ "$status" -eq 0 ] || { echo "$summary"; exit "$status"; }

section "test beds"
# Later issues add testbeds/*/start here (none yet).

section "test:all OK"
echo "$summary"
