#!/usr/bin/env bash
# Coverage-guided fuzzing of the parsers that take bytes from outside (AFL++ driving SharpFuzz-instrumented assemblies).
#   fuzz/run.sh [--seconds N] [target...]      targets: nbd frame delta regkey (default: all)
# N seconds per target: 25 by default (the CI run), FUZZ_SECONDS or --seconds for a longer one (e.g. --seconds 600).
# Installs afl++ and the sharpfuzz tool if missing, builds fuzz/SiteRecovery.Fuzz, copies its output to fuzz/out/bin and
# instruments the copies there (never the shared bin/ folders), then fuzzes each target from its seeds in fuzz/corpus/.
# Prints per target the executions, corpus and coverage reached, crashes and hangs; a crashing or hanging input is saved
# to fuzz/crashes/<target>/ (replay it: dotnet fuzz/out/bin/SiteRecovery.Fuzz.dll <target> --replay <file>).
# Ends with "fuzz: P passed, F failed" (a target that ran its time clean passes) and exits 1 if anything failed.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
all_targets=(nbd frame delta regkey)
seconds="${FUZZ_SECONDS:-25}"
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
case "$seconds" in ''|*[!0-9]*) echo "fuzz: --seconds must be a whole number, got '$seconds'"; exit 2 ;; esac
for t in "${targets[@]}"; do
  case " ${all_targets[*]} " in *" $t "*) ;; *) echo "fuzz: unknown target '$t' (known: ${all_targets[*]})"; exit 2 ;; esac
done

fail_all() { echo "fuzz: $1"; echo "fuzz: 0 passed, ${#targets[@]} failed"; exit 1; }

# Tools: afl++ from Debian, the sharpfuzz instrumenter as a local dotnet tool (fuzz/.config/dotnet-tools.json).
if ! command -v afl-fuzz >/dev/null 2>&1; then
  echo "fuzz: installing afl++"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq afl++ >/dev/null \
    || fail_all "could not install afl++"
fi
(cd "$here" && dotnet tool restore >/dev/null) || fail_all "could not restore the sharpfuzz tool"

out="$here/out"
mkdir -p "$out"
if ! dotnet build "$here/SiteRecovery.Fuzz/SiteRecovery.Fuzz.csproj" -c Release -nologo -v q >"$out/build.log" 2>&1; then
  tail -30 "$out/build.log"; fail_all "build failed"
fi
rm -rf "$out/bin"
cp -r "$here/SiteRecovery.Fuzz/bin/Release/net10.0" "$out/bin"
# The assemblies holding the parsers; for the large ones only the namespaces fuzzed, so the coverage map stays small.
instrument=(
  "SiteRecovery.Contracts.dll"
  "SiteRecovery.Capture.dll"
  "SiteRecovery.Journal.dll SiteRecovery.Journal.Compression"
  "SiteRecovery.Actors.dll SiteRecovery.Actors.Control.Registration"
)
for spec in "${instrument[@]}"; do
  set -- $spec
  dll="$1"; shift
  (cd "$here" && dotnet tool run sharpfuzz "$out/bin/$dll" "$@") >/dev/null || fail_all "sharpfuzz could not instrument $dll"
done

stat_of() { grep -E "^$1 *:" "$2" 2>/dev/null | head -1 | sed 's/^[^:]*: *//'; }

passed=0; failed=0
for t in "${targets[@]}"; do
  findings="$out/findings/$t"
  rm -rf "$findings"; mkdir -p "$out/findings"
  dict=(); [ -f "$here/dict/$t.dict" ] && dict=(-x "$here/dict/$t.dict")
  # dotnet is not an AFL-compiled binary (SKIP_BIN_CHECK); no UI in logs; the machine's core_pattern and CPU governor
  # are not ours to change; cores are shared, so no pinning. -t: ms per input before it counts as a hang (the NBD
  # target gives up on a session itself after 10 s and reports that as a crash with its reason).
  AFL_SKIP_BIN_CHECK=1 AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 \
    timeout $((seconds + 180)) afl-fuzz -i "$here/corpus/$t" -o "$findings" "${dict[@]}" -V "$seconds" -t 30000 -m none \
    -- dotnet "$out/bin/SiteRecovery.Fuzz.dll" "$t" >"$out/afl-$t.log" 2>&1
  rc=$?
  stats="$findings/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then
    echo "fuzz $t: afl-fuzz did not run (exit $rc); last lines of $out/afl-$t.log:"
    tail -15 "$out/afl-$t.log" | sed 's/\x1b\[[0-9;?]*[A-Za-z]//g'
    failed=$((failed + 1)); continue
  fi
  crashes=$(stat_of saved_crashes "$stats"); crashes=${crashes:-$(stat_of unique_crashes "$stats")}
  hangs=$(stat_of saved_hangs "$stats"); hangs=${hangs:-$(stat_of unique_hangs "$stats")}
  printf 'fuzz %s: %s execs (%s/s) in %ss, corpus %s (from %s seeds), edges %s, bitmap %s, stability %s, crashes %s, hangs %s\n' \
    "$t" "$(stat_of execs_done "$stats")" "$(stat_of execs_per_sec "$stats")" "$seconds" "$(stat_of corpus_count "$stats")" \
    "$(ls "$here/corpus/$t" | wc -l)" "$(stat_of edges_found "$stats")" "$(stat_of bitmap_cvg "$stats")" \
    "$(stat_of stability "$stats")" "${crashes:-?}" "${hangs:-?}"
  saved=0
  for kind in crashes hangs; do
    for f in "$findings/default/$kind"/id:*; do
      [ -f "$f" ] || continue
      mkdir -p "$here/crashes/$t"
      # Named by content, so the same input found twice is kept once.
      name="${kind%es}"; name="${name%s}-$(sha1sum "$f" | cut -c1-12)"
      cp "$f" "$here/crashes/$t/$name"
      echo "fuzz $t: saved fuzz/crashes/$t/$name"
      saved=$((saved + 1))
    done
  done
  if [ "$rc" -ne 0 ] || [ "$saved" -gt 0 ] || [ "${crashes:-0}" != 0 ] || [ "${hangs:-0}" != 0 ]; then
    [ "$rc" -ne 0 ] && echo "fuzz $t: afl-fuzz exited $rc (log: $out/afl-$t.log)"
    failed=$((failed + 1))
  else
    passed=$((passed + 1))
  fi
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
