#!/bin/bash
# A throwaway PostgreSQL on loopback, for the demo, the end-to-end tests and the benchmarks.
#   scripts/pg.sh start DIR PORT   initdb in DIR (created, must not exist), listen on 127.0.0.1
#                                  and ::1 at PORT, socket dir DIR; prints nothing on success
#   scripts/pg.sh stop DIR         stop the server started in DIR and remove DIR
#   scripts/pg.sh halt DIR         stop the server (immediate), keep DIR: a server that went away
#   scripts/pg.sh restart DIR      start a halted server again, same port and options
# PG_EXTRA_OPTS adds server options at start ("-c log_connections=on", say).
# The server runs as the "postgres" user of Debian's package (PostgreSQL refuses to run as root),
# with trust authentication on loopback only and no fsync: it holds no data worth keeping.
set -euo pipefail
die() { echo "pg.sh: $*" >&2; exit 1; }
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || die "no PostgreSQL server under /usr/lib/postgresql (apt-get install postgresql)"
id postgres >/dev/null 2>&1 || die "no postgres user (apt-get install postgresql)"
as_pg() { runuser -u postgres -- "$@"; }

case "${1:-}" in
start)
	[ $# -eq 3 ] || die "usage: pg.sh start DIR PORT"
	dir=$2 port=$3
	[ ! -e "$dir" ] || die "$dir exists"
	mkdir -p "$dir" && chown postgres: "$dir" && chmod 700 "$dir"
	as_pg "$bindir/initdb" -D "$dir/data" -A trust -U postgres --no-sync -E UTF8 >"$dir/initdb.log" 2>&1 ||
		die "initdb failed: $(tail -n 1 "$dir/initdb.log")"
	# max_connections above what any test opens, so that the server never refuses first
	as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
		-o "-c listen_addresses='127.0.0.1,::1' -p $port -k $dir -c fsync=off \
		    -c max_connections=300 -c shared_buffers=32MB ${PG_EXTRA_OPTS:-}" start >/dev/null ||
		die "server did not start: $(tail -n 2 "$dir/server.log" | tr '\n' ' ')"
	;;
stop)
	[ $# -eq 2 ] || die "usage: pg.sh stop DIR"
	dir=$2
	[ -d "$dir/data" ] || exit 0
	as_pg "$bindir/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
	rm -rf "$dir"
	;;
halt)
	[ $# -eq 2 ] || die "usage: pg.sh halt DIR"
	as_pg "$bindir/pg_ctl" -D "$2/data" -m immediate -w -t 30 stop >/dev/null ||
		die "server did not stop: $(tail -n 2 "$2/server.log" | tr '\n' ' ')"
	;;
restart)
	[ $# -eq 2 ] || die "usage: pg.sh restart DIR"
	# on a stopped server, pg_ctl restart starts it with the options of its last start
	# (data/postmaster.opts)
	as_pg "$bindir/pg_ctl" -D "$2/data" -l "$2/server.log" -w -t 30 restart >/dev/null 2>&1 ||
		die "server did not start: $(tail -n 2 "$2/server.log" | tr '\n' ' ')"
	;;
*)
	die "usage: pg.sh start DIR PORT | stop DIR | halt DIR | restart DIR"
	;;
esac
