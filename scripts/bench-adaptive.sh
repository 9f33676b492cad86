#!/bin/bash
# make bench-adaptive (as root): does adaptive pacing protect the database? A throwaway PostgreSQL
# (pgbench -i), then bench/bench_adaptive.c: batch pgbench -C paced by no, fixed and adaptive rates
# beside an unpaced interactive pgbench; then the plot (bench/adaptive.gp, gnuplot). Results in
# OUTPUT/bench-adaptive: table.md (stdout too), adaptive.csv, phases.csv, adaptive.svg, the
# agents' configs and logs, pgbench's summaries. The benchmark removes what it made; this script
# removes the server, and what a benchmark killed hard left behind (exactly the names of that
# run), also on Ctrl-C.
#   usage: scripts/bench-adaptive.sh OUTPUT_DIR [bench_adaptive options, e.g. --scale 0.5]
set -euo pipefail
out=$(cd "${1:-.output}" && pwd)
shift || true
cd "$(dirname "$0")/.."
. scripts/bench-lib.sh
die() { echo "bench-adaptive: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (it loads BPF programs and creates cgroups)"
for tool in pgbench gnuplot; do
	command -v "$tool" >/dev/null || die "no $tool: run scripts/install-deps.sh"
done
for b in bench_adaptive cruise-agent; do [ -x "$out/$b" ] || die "$out/$b missing: run make"; done

res=$out/bench-adaptive
pgdir=$(mktemp -u /tmp/cruise-adaptive-pg-XXXXXX)
port=$(bench_free_port 20000 32000) || die "no free port"
bench=

cleanup() {
	trap - EXIT INT TERM
	set +e
	if [ -n "$bench" ]; then
		# still running only after Ctrl-C or TERM: it cleans up itself on either
		kill "$bench" 2>/dev/null
		wait "$bench" 2>/dev/null
		name=cruise-adaptive-$bench
		bench_uninstall_pins "$out/cruise-agent" "$name" >/dev/null 2>&1
		cgroot=$(bench_cgroup2_root)
		if [ -n "$cgroot" ] && [ -d "$cgroot/$name" ]; then
			for d in "$cgroot/$name"/*/; do
				[ -d "$d" ] && { xargs -r kill -9 <"$d/cgroup.procs"; rmdir "$d"; }
			done
			rmdir "$cgroot/$name"
		fi
		rm -rf /tmp/"$name"-*
	fi
	scripts/pg.sh stop "$pgdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -rf "$res"
mkdir -p "$res"
scripts/pg.sh start "$pgdir" "$port"
# scale 10: 1,000,000 accounts (about 160 MB), read by every select-only transaction
pgbench -i -q -s 10 -h 127.0.0.1 -p "$port" -U postgres postgres >"$res/pgbench-init.out" 2>&1 ||
	die "pgbench -i failed: $(tail -n 2 "$res/pgbench-init.out")"
"$out/bench_adaptive" --pg-dir "$pgdir" --pg-port "$port" --agent "$out/cruise-agent" \
	--out "$res" "$@" >"$res/table.md" &
bench=$!
rc=0
wait "$bench" || rc=$?
cat "$res/table.md"
[ "$rc" = 0 ] || exit "$rc"
gnuplot -e "dir='$res'" bench/adaptive.gp
echo "bench-adaptive: table, CSV and plot in $res (adaptive.svg)"
