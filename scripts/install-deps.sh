#!/usr/bin/env bash
# Idempotent: installs with apt whatever the build, the tests and the daemon need.
# Only Debian packages are used; nothing is downloaded from anywhere else.
set -euo pipefail

packages=(
	# build
	make clang llvm libclang-rt-14-dev libbpf-dev bpftool libelf-dev zlib1g-dev libmicrohttpd-dev libjson-c-dev libcurl4-openssl-dev libseccomp-dev libcap-dev pkg-config
	# tests and daemon runtime helpers
	curl jq iproute2 nftables procps python3 util-linux passwd
	# benchmarks: the peer tools liveprobe is measured against
	libbpf-tools
	# operator surfaces: the Prometheus server and promtool, and a browser for the dashboard test
	prometheus chromium
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages (${missing[*]}); run as root to install them" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
