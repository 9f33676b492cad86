#!/bin/bash
# Regenerate vmlinux.h from the running kernel's BTF (commit the result).
set -euo pipefail
cd "$(dirname "$0")/.."
btf=${1:-/sys/kernel/btf/vmlinux}
[ -r "$btf" ] || { echo "gen-vmlinux: $btf not readable: kernel without BTF?" >&2; exit 1; }
bpftool btf dump file "$btf" format c > vmlinux.h.tmp
mv vmlinux.h.tmp vmlinux.h
echo "vmlinux.h regenerated from $btf"
