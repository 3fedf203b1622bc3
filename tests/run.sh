#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds once, runs every test project,
# and ends with one line of totals over all of them: "N passed, M failed".
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bash tests/setup.sh || { echo "setup failed"; echo "0 passed, 1 failed"; exit 1; }

results="$root/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"
if ! dotnet build SiteRecovery.sln -c Release -nologo -v q; then
  echo "build failed"; echo "0 passed, 1 failed"; exit 1
fi

filter="${SR_TEST_FILTER:-}"
status=0
for proj in $(find tests -name '*.Tests.csproj' | sort); do
  name="$(basename "$proj" .csproj)"
  args=(test "$proj" -c Release --no-build --nologo --logger "trx;LogFileName=$name.trx" --results-directory "$results")
  if [ -n "$filter" ]; then args+=(--filter "$filter"); fi
  echo "=== $name"
  dotnet "${args[@]}" || status=1
done

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [ -f "$trx" ] || continue
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -1)"
  get() { echo "$counters" | grep -o " $1=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
  p=$(get passed); f=$(get failed); e=$(get error); t=$(get total); x=$(get executed)
  passed=$((passed + p)); failed=$((failed + f + e)); skipped=$((skipped + t - x))
done
projects=$(find tests -name '*.Tests.csproj' | wc -l)
trxs=$(ls "$results"/*.trx 2>/dev/null | wc -l)
if [ "$trxs" -lt "$projects" ]; then
  echo "only $trxs of $projects test projects produced results"; failed=$((failed + projects - trxs)); status=1
fi
if [ "$passed" -eq 0 ]; then status=1; fi
if [ "$failed" -gt 0 ]; then status=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
