# shellcheck shell=bash
# Sourced by scripts/bench-peers.sh and scripts/bench-adaptive.sh (from the repository root): what
# both do the same way around a benchmark on a throwaway PostgreSQL.

# A TCP port from LO-HI that no socket uses (50 random tries), on stdout; fails if none is free.
#   usage: port=$(bench_free_port LO HI) || die "no free port"
bench_free_port() {
	local p
	for p in $(shuf -i "$1-$2" -n 50); do
		if [ -z "$(ss -Htan "sport = :$p")" ]; then echo "$p"; return 0; fi
	done
	return 1
}

# Uninstall, with the agent AGENT, what a killed run's agents left pinned as /sys/fs/bpf/NAME-*.
#   usage: bench_uninstall_pins AGENT NAME
bench_uninstall_pins() {
	local pin
	for pin in /sys/fs/bpf/"$2"-*; do
		if [ -d "$pin" ]; then "$1" --uninstall --pin-dir "$pin"; fi
	done
}

# The cgroup2 mount point, on stdout (empty if none).
bench_cgroup2_root() {
	awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts
}
