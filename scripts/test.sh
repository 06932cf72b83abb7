#!/usr/bin/env bash
# The test command of README.md: sets the machine up (scripts/setup.sh), then runs the unit and
# integration tests for real (root, namespaces, Docker, the real control plane), and ends with one
# plain line "N passed, N failed[, N skipped]". Exits non-zero on any failure.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
bash scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

export PATH="$repo/node_modules/.bin:$PATH"
rm -f .test-results.json
status=0
tsc -p tsconfig.json || { echo "typecheck failed" >&2; status=1; }
eslint . || { echo "lint failed" >&2; status=1; }
vitest run "$@" || status=1

# shellcheck disable=SC2016 # JavaScript in single quotes: nothing for the shell to expand
summary=$(node -e '
  const fs = require("node:fs");
  let r; try { r = JSON.parse(fs.readFileSync(".test-results.json", "utf8")); } catch { console.log("0 passed, 1 failed"); process.exit(); }
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // A file that failed to load counts as a failure even though no test in it ran.
  const brokenFiles = (r.testResults ?? []).filter((f) => f.status === "failed" && (f.assertionResults ?? []).length === 0).length;
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests + brokenFiles} failed${skipped ? `, ${skipped} skipped` : ""}`);
')
[ "$status" = 0 ] || case "$summary" in *", 0 failed"*) summary="${summary/, 0 failed/, 1 failed}";; esac
echo "$summary"
exit "$status"
