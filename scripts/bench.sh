#!/bin/bash
# Run the datapath benchmark as root; it restores kernel.bpf_stats_enabled and removes what it made.
set -euo pipefail
out=${1:-.output}
[ "$(id -u)" = 0 ] || { echo "bench: run as root (it loads BPF programs)" >&2; exit 1; }
exec "$out/bench_datapath"
