#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/, clang, -DYOLK_FUZZ=ON) and runs each for a bounded time:
#   spec/fuzz/run.sh [name...]        every spec/fuzz/fuzz_<name>.c, or only those named
# YOLK_FUZZ_SECONDS (default 30) per target; YOLK_FUZZ_BUILD_DIR (default build-fuzz);
# YOLK_FUZZ_PARALLEL (default: the number of CPUs) targets run at once, each on one core;
# YOLK_FUZZ_ARGS: extra libFuzzer flags (e.g. -max_len=8192).
#
# Per target: first every saved crash input in spec/fuzz/regressions/<name>/ is run once, then the
# fuzzer runs from the seeds in spec/fuzz/corpus/<name>/ plus a scratch corpus in
# <build>/corpus-<name>/ (kept between runs, outside the tree), with spec/fuzz/<name>.dict if present.
# A crash, leak, timeout or out-of-memory fails the run; its input is copied to
# spec/fuzz/regressions/<name>/ (commit it with the fix). The summary gives executions and
# libFuzzer's final coverage (cov: edges, ft: features) per target.
set -uo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER=${YOLK_FUZZ_SECONDS:-30}
BUILD=${YOLK_FUZZ_BUILD_DIR:-build-fuzz}
JOBS=$(nproc)

if [ ! -f "$BUILD/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DYOLK_FUZZ=ON >/dev/null ||
    { echo "fuzz: cannot configure $BUILD (clang and libclang-rt-14-dev installed? .ci/deps installs them)"; exit 1; }
fi
cmake --build "$BUILD" -j "$JOBS" --target fuzzers -- --no-print-directory >/dev/null || {
  echo "fuzz: build failed"; cmake --build "$BUILD" --target fuzzers 2>&1 | tail -30; exit 1; }

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for src in spec/fuzz/fuzz_*.c; do names+=("$(basename "$src" .c | sed 's/^fuzz_//')"); done
fi

# Sanitizer reports abort (libFuzzer then saves the input); leaks are checked after each input.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
FMT='%-14s %12s %8s %6s %7s %-14s %6s'
PARALLEL=${YOLK_FUZZ_PARALLEL:-$JOBS}
out="$BUILD/fuzz-run"
rm -rf "$out"
mkdir -p "$out"

# One target: its messages go to $out/<name>.msg, its summary line to $out/<name>.line,
# and $out/<name>.fail exists when it failed.
run_one() {
  local name=$1
  local bin="$BUILD/fuzz_$name" msg="$out/$name.msg"
  exec >"$msg" 2>&1
  if [ ! -x "$bin" ]; then
    echo "fuzz: no target $bin"
    printf "$FMT  %s\n" "$name" - - - - - - "FAILED: no such target" >"$out/$name.line"
    touch "$out/$name.fail"
    return
  fi
  local log="$BUILD/fuzz-$name.log"
  local regdir="spec/fuzz/regressions/$name"
  local artifacts="$BUILD/artifacts-$name/"
  mkdir -p "$BUILD/corpus-$name" "$artifacts"

  # 1. saved crash inputs: each must now pass
  shopt -s nullglob
  local regs=("$regdir"/*)
  shopt -u nullglob
  if [ ${#regs[@]} -gt 0 ]; then
    if ! "$bin" "${regs[@]}" >"$log" 2>&1; then
      echo "fuzz_$name: a regression input fails again:"; tail -40 "$log"
      printf "$FMT  %s\n" "$name" - - - - - - "FAILED: a regression input fails ($log)" >"$out/$name.line"
      touch "$out/$name.fail"
      return
    fi
  fi

  # 2. fuzzing
  local dict=() seeds=()
  [ -f "spec/fuzz/$name.dict" ] && dict=(-dict="spec/fuzz/$name.dict")
  [ -d "spec/fuzz/corpus/$name" ] && seeds=("spec/fuzz/corpus/$name")
  local t0=$SECONDS
  # shellcheck disable=SC2086
  "$bin" -max_total_time="$SECONDS_PER" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts" "${dict[@]}" ${YOLK_FUZZ_ARGS:-} "$BUILD/corpus-$name" "${seeds[@]}" >"$log" 2>&1
  local rc=$?
  local execs rate last cov ft corp line
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  line=$(printf "$FMT" "$name" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$((SECONDS - t0)) s")
  if [ $rc -ne 0 ]; then
    touch "$out/$name.fail"
    mkdir -p "$regdir"
    local found=() a
    for a in "$artifacts"crash-* "$artifacts"leak-* "$artifacts"timeout-* "$artifacts"oom-*; do
      [ -f "$a" ] || continue
      cp "$a" "$regdir/" && found+=("$regdir/$(basename "$a")")
      rm -f "$a"
    done
    echo "fuzz_$name: FAILED (exit $rc), log $log:"
    grep -v -E '^#[0-9]+|^INFO:|^\s+NEW_FUNC' "$log" | head -60
    [ ${#found[@]} -gt 0 ] && echo "fuzz_$name: input saved as ${found[*]} (reproduce: $bin ${found[0]})"
    echo "$line  FAILED" >"$out/$name.line"
  else
    echo "$line  ok" >"$out/$name.line"
  fi
}

t_all=$SECONDS
running=0
for name in "${names[@]}"; do
  if [ "$running" -ge "$PARALLEL" ]; then
    wait -n
    running=$((running - 1))
  fi
  run_one "$name" &
  running=$((running + 1))
done
wait

for name in "${names[@]}"; do
  [ -s "$out/$name.msg" ] && cat "$out/$name.msg"
  [ -f "$out/$name.fail" ] && failed=1
done
echo "fuzzing, $SECONDS_PER s per target, $PARALLEL at once (cov: edges reached, ft: libFuzzer features):"
printf "$FMT  %s\n" target executions "execs/s" cov ft corpus time result
for name in "${names[@]}"; do cat "$out/$name.line"; done
echo "${#names[@]} targets in $((SECONDS - t_all)) s"
exit $failed
