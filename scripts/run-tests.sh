#!/bin/bash
# Run every test program (as root: they load BPF programs and create cgroups), then print one
# summary line over all of them. Each program cleans up after itself, also when it fails.
set -uo pipefail
out=${1:-.output}
tests=(test_gcra test_egress test_pacing test_policy)
passed=0 failed=0 crashed=()

if [ "$(id -u)" != 0 ]; then
	echo "run-tests: the tests load BPF programs and create cgroups: run them as root" >&2
	exit 1
fi
for t in "${tests[@]}"; do
	echo "=== $t"
	log=$(mktemp)
	"$out/$t" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	p=$(grep -E '^\[  PASSED  \] [0-9]+ test' "$log" | awk '{s += $4} END {print s + 0}')
	f=$(grep -E '^\[  FAILED  \] [0-9]+ test' "$log" | awk '{s += $4} END {print s + 0}')
	rm -f "$log"
	passed=$((passed + p))
	failed=$((failed + f))
	# a program that died before its summary counts as one failure
	if [ "$rc" != 0 ] && [ "$f" = 0 ]; then
		failed=$((failed + 1))
		crashed+=("$t (exit $rc)")
	fi
done
[ ${#crashed[@]} = 0 ] || echo "crashed: ${crashed[*]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
