#!/bin/bash
# cruise demo: a throwaway PostgreSQL, cruise-agent with two media, and two worker groups of real
# database clients (pgbench -C: a new connection per transaction) hitting the same server as fast
# as they can. cruisectl top shows, once a second, what each group achieves against its rate:
# first in dry run (counted, not paced: what the workers would take), then enforced; midway,
# `cruisectl set` raises one rate and the change shows. Ends by itself (DEMO_SECONDS,
# default 60) and removes everything it made, also on Ctrl-C or an error. At a normal end it also
# plots each group's connections/s against its rate (scripts/demo-plot.gp, gnuplot) into
# $DEMO_PLOT.png and .svg (default /tmp/cruise-demo-plot.*: kept, overwritten by the next run).
#   usage: scripts/demo.sh [OUTPUT_DIR]    (as root; `make demo` builds first)
set -euo pipefail
out=$(cd "${1:-.output}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
secs=${DEMO_SECONDS:-60}
plot=${DEMO_PLOT:-/tmp/cruise-demo-plot}
die() { echo "demo: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it loads BPF programs and creates cgroups)"
for b in cruise-agent cruisectl; do [ -x "$out/$b" ] || die "$out/$b missing: run make first"; done
command -v pgbench >/dev/null || die "pgbench missing: run scripts/install-deps.sh"
[ "$secs" -ge 20 ] && [ "$secs" -le 110 ] || die "DEMO_SECONDS must be 20 to 110"
cg2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[ -n "$cg2" ] || die "no cgroup2 mount in /proc/mounts"
grep -q ' /sys/fs/bpf bpf ' /proc/mounts || mount -t bpf bpf /sys/fs/bpf ||
	die "cannot mount bpffs on /sys/fs/bpf"

name=cruise-demo-$$
tmp=$(mktemp -d /tmp/$name.XXXX)
chmod 755 "$tmp" # the server and pgbench run as postgres
scope=$cg2/$name
pins=/sys/fs/bpf/$name
pgdir=$tmp/pg
agent_pid= worker_pids=() sampler_pid=

# A TCP port nothing listens on, below the ephemeral range (32768-60999) that clients take.
free_port() {
	local p
	for _ in $(seq 50); do
		p=$((20000 + RANDOM % 12000))
		[ -z "$(ss -Hltn "sport = :$p")" ] && { echo "$p"; return; }
	done
	die "no free TCP port found"
}

cleanup() {
	trap - EXIT INT TERM
	set +e
	for p in "${worker_pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${worker_pids[@]}"; do wait "$p" 2>/dev/null; done
	if [ -n "$sampler_pid" ]; then kill "$sampler_pid" 2>/dev/null; wait "$sampler_pid" 2>/dev/null; fi
	if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; fi
	[ -d "$pins" ] && "$out/cruise-agent" --uninstall --pin-dir "$pins" >/dev/null 2>&1
	rmdir "$pins" 2>/dev/null
	for d in "$scope"/*/ "$scope"; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
	"$here/pg.sh" stop "$pgdir"
	rm -rf "$tmp"
	echo "demo: cleaned up (server, agent, pins, cgroups, $tmp)"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pgport=$(free_port)
metrics=$(free_port)
echo "demo: PostgreSQL on 127.0.0.1:$pgport (data in $pgdir)"
"$here/pg.sh" start "$pgdir" "$pgport"

mkdir "$scope" "$scope/push" "$scope/email"
cat >"$tmp/cruise.yaml" <<YAML
# the demo's config: two media, each bound to its own worker cgroup
scope: /$name
pin_dir: $pins
metrics: 127.0.0.1:$metrics
targets:
  - name: demo-db
    addresses: [127.0.0.1/32, "::1/128"]
    ports: [$pgport]
media:
  - name: push
    rate: 100/s
    burst: 5
    max_wait: 5s
    dry_run: true          # the demo starts unpaced, then turns enforcement on
    cgroups: [$name/push]
  - name: email
    rate: 10/s
    max_wait: 5s
    dry_run: true
    cgroups: [$name/email]
YAML
"$out/cruise-agent" --check "$tmp/cruise.yaml"
"$out/cruise-agent" --config "$tmp/cruise.yaml" --log-format text 2>"$tmp/agent.log" &
agent_pid=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$metrics/healthz" >/dev/null 2>&1 && break
	kill -0 "$agent_pid" 2>/dev/null || { cat "$tmp/agent.log" >&2; die "cruise-agent exited"; }
	sleep 0.1
done
curl -fs "http://127.0.0.1:$metrics/healthz" >/dev/null || die "cruise-agent not healthy in 10 s"
echo "demo: cruise-agent running (pins in $pins, metrics on 127.0.0.1:$metrics/metrics)"

# Workers: plain pgbench, unchanged; only the cgroup they run in says which medium they are.
echo 'SELECT 1;' >"$tmp/job.sql"
chmod 644 "$tmp/job.sql"
start_group() { # cgroup clients
	(
		echo $BASHPID >"$scope/$1/cgroup.procs"
		exec pgbench -n -C -h 127.0.0.1 -p "$pgport" -U postgres -c "$2" -j 1 -T "$secs" \
			-f "$tmp/job.sql" postgres >"$tmp/pgbench-$1.log" 2>&1
	) &
	worker_pids+=($!)
}
start_group push 8
start_group email 4
# For the plot: a second cruisectl top, to a file (plain lines, one a second per medium), for the
# whole run, with the times of the switch and of the `set` (seconds since the workers started).
t0=$(date +%s.%N)
since() { awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
"$out/cruisectl" top --pin-dir "$pins" --count "$secs" >"$tmp/top.log" 2>/dev/null &
sampler_pid=$!
echo "demo: 8 push workers and 4 email workers (pgbench -C, a new connection per job) for ${secs} s"
echo "demo: without cruise they would take what the server gives; watch ACHIEVED against RATE"
echo

dry=6 half=$((secs / 2))
echo "demo: dry run first: cruise counts, paces nothing"
"$out/cruisectl" top --pin-dir "$pins" --count "$dry" || true
echo
echo "demo: $ cruisectl set push dry_run=off; cruisectl set email dry_run=off"
t_on=$(since)
"$out/cruisectl" set --pin-dir "$pins" push dry_run=off >/dev/null 2>&1
"$out/cruisectl" set --pin-dir "$pins" email dry_run=off >/dev/null 2>&1
"$out/cruisectl" top --pin-dir "$pins" --count "$((half - dry))" || true
echo
echo "demo: $ cruisectl set email rate=40/s"
t_set=$(since)
"$out/cruisectl" set --pin-dir "$pins" email rate=40/s 2>/dev/null
echo
"$out/cruisectl" top --pin-dir "$pins" --count $((secs - half - 2)) || true
for p in "${worker_pids[@]}"; do wait "$p" || true; done
worker_pids=()
t_end=$(since)
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
sampler_pid=
echo
for g in push email; do
	printf 'demo: %-5s pgbench over the whole run, dry run included: %s\n' "$g" "$(grep -E '^number of transactions actually|^tps' \
		"$tmp/pgbench-$g.log" | tr '\n' ' ')"
done

# The plot: per medium, its Nth line of the sampler is second N; RATE is the 3rd column ("40/s"),
# CONN/S the 10th.
if command -v gnuplot >/dev/null; then
	for g in push email; do
		awk -v g="$g" '$2 == g && NF >= 10 { n++; r = $3; sub("/s$", "", r); print n, r, $10 }' \
			"$tmp/top.log" >"$tmp/$g.dat"
	done
	if gnuplot -e "dir='$tmp'; out='$plot'; t_on=$t_on; t_set=$t_set; t_end=$t_end" \
		"$here/demo-plot.gp" 2>"$tmp/gnuplot.log"; then
		echo "demo: plot in $plot.png and $plot.svg (connections/s against each rate)"
	else
		cat "$tmp/gnuplot.log" >&2
		echo "demo: the plot failed (gnuplot above)" >&2
	fi
else
	echo "demo: no plot: gnuplot missing (scripts/install-deps.sh installs it)"
fi
