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
# The fuzz step: each parser under AFL++ for a short fixed time (fuzz/run.sh, 25 s a target, about 2 minutes with its
# build). A target that ran its time without a crash or hang is one pass, one that did not is one failure (its input is
# saved in fuzz/crashes/). Skipped when a test filter is set; FUZZ_SECONDS lengthens it, except under CI.
if [ -z "$filter" ]; then
  fuzz_seconds="${FUZZ_SECONDS:-25}"; [ "${CI:-}" = true ] && fuzz_seconds=25
  echo "=== fuzz"
  bash fuzz/run.sh --seconds "$fuzz_seconds" 2>&1 | tee "$results/fuzz.log"
  fuzz_line="$(grep -E '^fuzz: [0-9]+ passed, [0-9]+ failed$' "$results/fuzz.log" | tail -1)"
  if [ -z "$fuzz_line" ]; then
    echo "the fuzz step printed no result"; failed=$((failed + 1)); status=1
  else
    fp=$(echo "$fuzz_line" | grep -o '[0-9]* passed' | grep -o '[0-9]*'); ff=$(echo "$fuzz_line" | grep -o '[0-9]* failed' | grep -o '[0-9]*')
    passed=$((passed + fp)); failed=$((failed + ff))
  fi
fi
projects=$(find tests -name '*.Tests.csproj' | wc -l)
trxs=$(ls "$results"/*.trx 2>/dev/null | wc -l)
if [ "$trxs" -lt "$projects" ]; then
  echo "only $trxs of $projects test projects produced results"; failed=$((failed + projects - trxs)); status=1
fi
if [ "$passed" -eq 0 ]; then status=1; fi
if [ "$failed" -gt 0 ]; then status=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
