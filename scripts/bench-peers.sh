#!/bin/bash
# make bench-peers (as root): cruise against nginx limit_req, iptables hashlimit, no limiter and a
# sleep schedule, on the same work against a throwaway PostgreSQL (bench/bench_peers.c; results in
# BENCHMARKS.md). The benchmark removes what it made; this script removes the server, and whatever
# a benchmark killed hard left behind (exactly the names of that run), also on Ctrl-C.
set -euo pipefail
out=${1:-.output}
shift || true
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
die() { echo "bench-peers: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it loads BPF programs, creates cgroups, adds iptables rules)"
for tool in nginx iptables; do
	command -v "$tool" >/dev/null || die "no $tool: run scripts/install-deps.sh"
done

pgdir=$(mktemp -u /tmp/cruise-peers-pg-XXXXXX)
port=$(bench_free_port 20000 60000) || die "no free port"
bench=

cleanup() {
	trap - EXIT INT TERM
	set +e
	if [ -n "$bench" ]; then
		# still running only after Ctrl-C or TERM: it cleans up itself on either
		kill "$bench" 2>/dev/null && wait "$bench" 2>/dev/null || true
		name=cruise-peers-$bench
		# only what carries this run's name: our jump rule, our chain, our pins, our cgroups
		iptables -w -S OUTPUT 2>/dev/null | grep -F -- "--comment $name " | sed 's/^-A/-D/' |
			while read -r rule; do eval iptables -w "$rule"; done
		chain=CRUISEPEERS$bench
		if iptables -w -S "$chain" >/dev/null 2>&1; then
			iptables -w -F "$chain" && iptables -w -X "$chain"
		fi
		bench_uninstall_pins "$out/cruise-agent" "$name"
		cgroot=$(bench_cgroup2_root)
		[ -n "$cgroot" ] && rmdir "$cgroot/$name/workers" "$cgroot/$name" 2>/dev/null
		rm -rf /tmp/"$name"-*
	fi
	scripts/pg.sh stop "$pgdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

scripts/pg.sh start "$pgdir" "$port"
"$out/bench_peers" --pg-dir "$pgdir" --pg-port "$port" --agent "$out/cruise-agent" "$@" &
bench=$!
rc=0
wait "$bench" || rc=$?
exit "$rc"
