# SPDX-License-Identifier: GPL-2.0
# Shared helpers for the hmm-mock VM tooling. Sourced, never executed.

HMM_MOCK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
_home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
HMM_MOCK_CACHE=${HMM_MOCK_CACHE:-${XDG_CACHE_HOME:-$_home/.cache}/hmm-mock}
HMM_MOCK_JOBS=${HMM_MOCK_JOBS:-$(nproc)}

say() { printf '[hmm-mock] %s\n' "$*" >&2; }
die() { printf '[hmm-mock] error: %s\n' "$*" >&2; exit 1; }

# Install Debian packages that are missing: as root do it, otherwise print
# the exact command and stop.
_apt_updated=
need_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		die "missing packages; run: sudo apt-get install -y ${missing[*]}"
	fi
	say "installing Debian packages: ${missing[*]}"
	if [ -z "$_apt_updated" ]; then
		apt-get update -qq >&2 || die "apt-get update failed"
		_apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
}

# What the module is built from (copied, so builds never write into the tree).
MODULE_SOURCES=(Kbuild src include conftest)

# Tools every lane needs on the host.
HOST_PACKAGES="build-essential bc bison flex libelf-dev libssl-dev xz-utils cpio
kmod rsync busybox-static qemu-system-x86 perl python3 gzip"

# Run "$@" with an exclusive lock on NAME, so two runners sharing a cache
# never build the same thing at once.
with_lock() {
	local name=$1; shift
	mkdir -p "$HMM_MOCK_CACHE/locks"
	(
		flock 9
		"$@"
	) 9>"$HMM_MOCK_CACHE/locks/$name.lock"
}
