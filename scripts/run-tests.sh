#!/bin/bash
# Run every test program (as root: they load BPF programs and create cgroups), then print one
# summary line over all of them. Each program cleans up after itself, also when it fails.
set -uo pipefail
out=${1:-.output}
tests=(test_gcra test_units test_config test_pod_bind test_fleet_units test_manifests test_egress
       test_pacing test_policy test_agent_parts test_agent test_cruisectl test_k8s test_fleet
       test_e2e_pg test_demo)
fuzzers=(units config k8s)
fuzz_seconds=${FUZZ_SECONDS:-15}
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
# each fuzzer briefly from its seed corpus (longer: make fuzz): a crash, leak or UB report fails it
for f in "${fuzzers[@]}"; do
	echo "=== fuzz_$f (${fuzz_seconds}s)"
	corpus=$(mktemp -d)
	cp tests/corpus/$f/* "$corpus"/
	log=$(mktemp)
	"$out/fuzz_$f" -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 "$corpus" >"$log" 2>&1
	rc=$?
	tail -3 "$log"
	rm -rf "$corpus" "$log"
	if [ "$rc" = 0 ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		crashed+=("fuzz_$f (exit $rc)")
	fi
done
[ ${#crashed[@]} = 0 ] || echo "failed: ${crashed[*]}"
echo "tests: $passed passed, $failed failed"
[ "$failed" = 0 ]
