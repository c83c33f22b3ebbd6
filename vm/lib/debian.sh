# SPDX-License-Identifier: GPL-2.0
# The Debian packages (debian/): built, checked by lintian, and the DKMS
# package installed for a lane kernel in a private root. Sourced by
# vm/test-all after common.sh.

DEBIAN_PACKAGES="git debhelper dh-dkms lintian linux-source-6.12"
# The hmm-mock-tests tree deb_build unpacked, once it succeeded.
DEB_TESTS_TREE=

# deb_build DIR: dpkg-buildpackage -b -us -uc on a copy of the checkout
# (tracked and new files), the .debs and .changes in DIR, then lintian
# over them with warnings as failures (debian/*.lintian-overrides says
# why each remaining tag does not apply); hmm-mock-tests unpacked in
# DIR/tests.
deb_build() {
	local d=$1
	rm -rf "$d"
	mkdir -p "$d/src"
	(cd "$HMM_MOCK_ROOT" && git -c safe.directory='*' ls-files -co --exclude-standard -z |
		xargs -0 cp --parents -t "$d/src") || return 1
	(cd "$d/src" && dpkg-buildpackage -b -us -uc) || return 1
	ls "$d"/hmm-mock-dkms_*_all.deb "$d"/hmm-mock-tests_*.deb || return 1
	lintian --fail-on error,warning "$d"/hmm-mock_*.changes || return 1
	dpkg-deb -x "$d"/hmm-mock-tests_*.deb "$d/tests" || return 1
	[ -x "$d/tests/usr/lib/hmm-mock/kselftest/hmm-mock/hmm_mock.sh" ] || return 1
	DEB_TESTS_TREE=$d/tests/usr/lib/hmm-mock/kselftest
}

# deb_unpack_dkms DIR ROOT: hmm-mock-dkms's files in ROOT; prints the
# package version.
deb_unpack_dkms() {
	rm -rf "$2"
	mkdir -p "$2/var/lib/dkms"
	dpkg-deb -x "$1"/hmm-mock-dkms_*_all.deb "$2" || return 1
	sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$2"/usr/src/hmm-mock-*/dkms.conf
}

# DKMS with every tree in ROOT, never the host's; a signing key, if the
# kernel wants one, there too.
deb_dkms() {
	local root=$1; shift
	mok_signing_key=$root/mok.key mok_certificate=$root/mok.pub \
		dkms "$@" --sourcetree "$root/usr/src" --dkmstree "$root/var/lib/dkms" \
		--installtree "$root/lib/modules"
}

# deb_dkms_install DIR KREL KERNEL_SOURCE_DIR: hmm-mock-dkms unpacked in
# DIR/root, DKMS building and installing the module there for KREL,
# "installed" in dkms status. Sets DEB_KO.
deb_dkms_install() {
	local d=$1 krel=$2 ksrc=$3 root=$1/root ver st
	DEB_KO=
	ver=$(deb_unpack_dkms "$d" "$root") && [ -n "$ver" ] || return 1
	mkdir -p "$root/lib/modules/$krel"
	deb_dkms "$root" install -m hmm-mock -v "$ver" -k "$krel" --kernelsourcedir "$ksrc" \
		--no-depmod || return 1
	st=$(deb_dkms "$root" status -m hmm-mock -v "$ver" -k "$krel")
	echo "dkms status: $st"
	[[ $st == *": installed"* ]] || return 1
	DEB_KO=$(find "$root/lib/modules/$krel" -name 'hmm_mock.ko*' | head -n 1)
	[ -n "$DEB_KO" ]
}

# deb_dkms_skips DIR: on a kernel whose .config lacks CONFIG_ZONE_DEVICE,
# DKMS skips the package's module with exit status 77 rather than failing
# (dkms.conf's BUILD_EXCLUSIVE_CONFIG).
deb_dkms_skips() {
	local d=$1/no-zone-device ver rc=0
	ver=$(deb_unpack_dkms "$1" "$d/root") && [ -n "$ver" ] || return 1
	printf 'CONFIG_MMU_NOTIFIER=y\nCONFIG_HMM_MIRROR=y\nCONFIG_MIGRATION=y\n' >"$d/.config"
	deb_dkms "$d/root" build -m hmm-mock -v "$ver" -k 0.0.0-no-zone-device \
		--kernelsourcedir "$d" --no-depmod || rc=$?
	echo "dkms build exited $rc"
	[ $rc -eq 77 ]
}
