#!/usr/bin/env bash
# Run one command N times in a row and report how many passed, and how long each took.
#
#   scripts/repeat.sh [--hog] N COMMAND [ARGS...]
#
#   --hog   keep a background CPU hog running (REPEAT_HOGS busy processes, default one per core) for the whole
#           loop, as a CI machine shared with another job would be; it is killed on exit.
#
# Examples:
#   scripts/repeat.sh --hog 10 .venv/bin/python -m pytest -q tests/kafka/test_faults.py \
#       tests/kafka/test_startup.py tests/kafka/test_ownership.py tests/kafka/test_edge_buffer.py
#   scripts/repeat.sh 5 bash .ci/run
#
# Logs of each run go to ${REPEAT_LOGS:-build/repeat}/run-K.log; a summary line per run
# is printed and appended to summary.txt there.
set -uo pipefail

hog=0
if [ "${1:-}" = "--hog" ]; then hog=1; shift; fi
if [ $# -lt 2 ] || ! [[ "$1" =~ ^[0-9]+$ ]]; then
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
runs="$1"; shift
logs="${REPEAT_LOGS:-build/repeat}"
mkdir -p "$logs"

hogs=()
cleanup() { [ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null; }
trap cleanup EXIT
if [ "$hog" = 1 ]; then
  for _ in $(seq "${REPEAT_HOGS:-$(nproc)}"); do
    python3 -c 'while True: pass' &
    hogs+=("$!")
  done
  echo "CPU hog running: pids ${hogs[*]}" | tee -a "$logs/summary.txt"
fi

passed=0
for k in $(seq "$runs"); do
  start=$(date +%s)
  "$@" >"$logs/run-$k.log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  [ "$rc" = 0 ] && passed=$((passed + 1))
  line="run $k/$runs: rc=$rc ${took}s $(grep -Eo '[0-9]+ (passed|failed)[^=]*' "$logs/run-$k.log" | tail -1)"
  echo "$line" | tee -a "$logs/summary.txt"
done
echo "passed $passed of $runs (hog=$hog): $*" | tee -a "$logs/summary.txt"
[ "$passed" = "$runs" ]
