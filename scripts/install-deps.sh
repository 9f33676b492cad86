#!/bin/bash
# Install what cruise needs to build, test and demo (scripts/packages.txt), from Debian's packages
# only; apt runs only when something is missing, so `make demo` can call this every time.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
cd "$(dirname "$0")"
mapfile -t pkgs < <(sed -e 's/#.*//' packages.txt | tr -s ' \t' '\n' | sed '/^$/d')
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt-get update
	apt-get install -y --no-install-recommends "${missing[@]}"
fi
