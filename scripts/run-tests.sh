#!/bin/bash
# Run the test programs named (as root: they load BPF programs and create cgroups), then print one
# summary line over all of them: `tests: N passed, N failed`. `make test` names them: its TESTS,
# then fuzz_TARGET for each fuzzer, which runs briefly from tests/corpus/TARGET. Each program
# cleans up after itself, also when it fails.
#   scripts/run-tests.sh OUTPUT PROGRAM...
set -uo pipefail
if [ $# -lt 2 ]; then
	echo "usage: run-tests.sh OUTPUT PROGRAM... (make test gives the Makefile's list)" >&2
	exit 2
fi
out=$1
shift
fuzz_seconds=${FUZZ_SECONDS:-15}
passed=0 failed=0 crashed=()

if [ "$(id -u)" != 0 ]; then
	echo "run-tests: the tests load BPF programs and create cgroups: run them as root" >&2
	exit 1
fi

# a cmocka program: its own counts; one that died before its summary counts as one failure
run_test() {
	local t=$1 log rc p f
	echo "=== $t"
	log=$(mktemp)
	"$out/$t" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	p=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$log" | awk '{s += $4} END {print s + 0}')
	f=$(grep -E '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s += $4} END {print s + 0}')
	rm -f "$log"
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		failed=$((failed + 1))
		crashed+=("$t (exit $rc)")
	fi
}

# a fuzzer, briefly from its seed corpus (longer: make fuzz): a crash, leak or UB report fails it
run_fuzzer() {
	local t=$1 corpus log rc
	echo "=== $t (${fuzz_seconds}s)"
	corpus=$(mktemp -d)
	cp tests/corpus/"${t#fuzz_}"/* "$corpus"/
	log=$(mktemp)
	"$out/$t" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 "$corpus" >"$log" 2>&1
	rc=$?
	tail -3 "$log"
	rm -rf "$corpus" "$log"
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		crashed+=("$t (exit $rc)")
	fi
}

for t in "$@"; do
	case "$t" in
	fuzz_*) run_fuzzer "$t" ;;
	*) run_test "$t" ;;
	esac
done
[ ${#crashed[@]} = 0 ] || echo "failed: ${crashed[*]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
