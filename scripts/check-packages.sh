#!/usr/bin/env bash
# Lint the publishable shape of every non-private package under packages/:
#   - publint --strict: package.json fields, exports map and packed files.
#   - attw --pack .:    "Are the types wrong?" on the packed tarball.
#
# attw runs with its default (strict) profile, which checks node10, node16
# (from CJS and from ESM) and bundler resolution. Our dual exports map plus the
# top-level main/module/types fields make a correct dual ESM/CJS package pass
# every one of them, node10 included, so no weaker profile is needed.
#
# Packages must be built first (`pnpm run build`): both tools read dist/.
# Binaries are called from the root node_modules/.bin on purpose: `npx` inside a
# package directory would not find them (pnpm links only direct dependencies)
# and would try to download them instead.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/node_modules/.bin"
failed=()

for dir in "$ROOT"/packages/*/; do
  dir="${dir%/}"
  [ -f "$dir/package.json" ] || continue
  name="$(node -p "require('$dir/package.json').name")"
  if [ "$(node -p "Boolean(require('$dir/package.json').private)")" = "true" ]; then
    echo "== skip $name (private)"
    continue
  fi
  if [ ! -d "$dir/dist" ]; then
    echo "== $name: no dist/ — run the build first" >&2
    failed+=("$name (not built)")
    continue
  fi

  echo "== publint: $name"
  # publint packs with the repository's package manager; pnpm is on PATH under `pnpm run`, and
  # npm packs the same files when the script is run by hand.
  pack=pnpm
  command -v pnpm >/dev/null 2>&1 || pack=npm
  if ! (cd "$dir" && "$BIN/publint" --strict --pack "$pack"); then
    failed+=("$name (publint)")
  fi

  echo "== attw: $name"
  if ! (cd "$dir" && "$BIN/attw" --pack . --format ascii); then
    failed+=("$name (attw)")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "check:packages FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "check:packages: all packages OK"
