#!/bin/bash
# Install what cruise needs to build, test and demo, from Debian's packages only.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
pkgs=(make clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config libcmocka-dev
      libcyaml-dev libyaml-dev libmicrohttpd-dev libclang-rt-14-dev iproute2 procps kmod curl)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi
