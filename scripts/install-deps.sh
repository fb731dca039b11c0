#!/usr/bin/env bash
# Installs with apt what liveprobe needs, by set, and nothing else; idempotent. Only Debian
# packages are used; nothing is downloaded from anywhere else.
#
#   scripts/install-deps.sh [--list] [SET...]
#
# Sets: runtime (what a running liveprobed and liveprobe link against), build (compilers, headers,
# bpftool, help2man for the man pages), test (what `make test` and `make bench` drive: network tools, the peer BPF tools,
# Prometheus, Alertmanager, Chromium, clang's sanitizer and fuzzer runtime). Default: runtime
# build. `make run` installs runtime and build; `make test` and `make bench` add test.
# --list prints the packages of those sets that are missing, one per line, and installs nothing.
set -euo pipefail

# curl, jq, iproute2 and python3 drive `make demo`, which needs only what `make run` installs.
runtime=(libbpf1 libelf1 zlib1g libmicrohttpd12 libjson-c5 libcurl4 libseccomp2 libcap2 procps
	curl jq iproute2 python3)
build=(make clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libmicrohttpd-dev libjson-c-dev
	libcurl4-openssl-dev libseccomp-dev libcap-dev pkg-config help2man)
test=(libclang-rt-14-dev nftables util-linux passwd libbpf-tools
	prometheus prometheus-alertmanager chromium wrk)
# The dashboard tests drive Chromium from Node (playwright-core, which they fetch with npm).
# Debian's nodejs and npm, unless a node and an npm are already installed some other way: those
# packages would conflict with them.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	test+=(nodejs npm)
fi

list=false
sets=()
for arg in "$@"; do
	case $arg in
	--list) list=true ;;
	runtime | build | test) sets+=("$arg") ;;
	*)
		echo "install-deps: unknown argument '$arg' (sets: runtime build test; --list)" >&2
		exit 64
		;;
	esac
done
[ ${#sets[@]} -gt 0 ] || sets=(runtime build)

packages=()
for set in "${sets[@]}"; do
	declare -n names=$set
	packages+=("${names[@]}")
done

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if $list; then
	[ ${#missing[@]} -eq 0 ] || printf '%s\n' "${missing[@]}"
	exit 0
fi
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
