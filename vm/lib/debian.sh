# SPDX-License-Identifier: GPL-2.0
# The Debian packages (debian/): built, checked by lintian, and the DKMS
# package installed for a lane kernel in a private root. Sourced by
# vm/test-all after common.sh.

DEBIAN_PACKAGES="debhelper dh-dkms lintian linux-source-6.12"
# Where deb_build DIR unpacks hmm-mock-tests: DIR/tests plus this.
DEB_TESTS_TREE=

# deb_build DIR: dpkg-buildpackage -b -us -uc on a copy of the checkout
# (tracked and new files), the .debs and .changes in DIR, then lintian
# over them with warnings as failures (debian/*.lintian-overrides says
# why each remaining tag does not apply).
deb_build() {
	local d=$1
	DEB_TESTS_TREE=$d/tests/usr/lib/hmm-mock/kselftest
	rm -rf "$d"
	mkdir -p "$d/src"
	(cd "$HMM_MOCK_ROOT" && git ls-files -co --exclude-standard -z |
		xargs -0 cp --parents -t "$d/src") || return 1
	(cd "$d/src" && dpkg-buildpackage -b -us -uc) || return 1
	ls "$d"/hmm-mock-dkms_*_all.deb "$d"/hmm-mock-tests_*.deb || return 1
	lintian --fail-on error,warning "$d"/hmm-mock_*.changes || return 1
	dpkg-deb -x "$d"/hmm-mock-tests_*.deb "$d/tests" &&
		[ -x "$DEB_TESTS_TREE/hmm-mock/hmm_mock.sh" ]
}

# deb_dkms_install DIR KREL KERNEL_SOURCE_DIR: hmm-mock-dkms's files in
# DIR/root, DKMS building and installing the module there for KREL (trees
# in DIR/root, never the host's), "installed" in dkms status. Sets DEB_KO.
deb_dkms_install() {
	local d=$1 krel=$2 ksrc=$3 root=$1/root ver st
	local trees=(--sourcetree "$root/usr/src" --dkmstree "$root/var/lib/dkms"
		     --installtree "$root/lib/modules")
	rm -rf "$root"
	mkdir -p "$root/var/lib/dkms" "$root/lib/modules/$krel"
	dpkg-deb -x "$d"/hmm-mock-dkms_*_all.deb "$root" || return 1
	ver=$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' "$root"/usr/src/hmm-mock-*/dkms.conf)
	dkms install -m hmm-mock -v "$ver" -k "$krel" --kernelsourcedir "$ksrc" "${trees[@]}" \
		--no-depmod || return 1
	st=$(dkms status -m hmm-mock -v "$ver" -k "$krel" "${trees[@]}")
	echo "dkms status: $st"
	[[ $st == *": installed"* ]] || return 1
	DEB_KO=$(find "$root/lib/modules/$krel" -name hmm_mock.ko | head -n 1)
	[ -n "$DEB_KO" ]
}

# deb_dkms_skips DIR: on a kernel whose .config lacks CONFIG_ZONE_DEVICE,
# DKMS skips the package's module with exit status 77 rather than failing
# (dkms.conf's BUILD_EXCLUSIVE_CONFIG). Needs deb_dkms_install's root.
deb_dkms_skips() {
	local d=$1 fake=$1/no-zone-device rc=0
	rm -rf "$fake"
	mkdir -p "$fake/dkms"
	printf 'CONFIG_MMU_NOTIFIER=y\nCONFIG_HMM_MIRROR=y\nCONFIG_MIGRATION=y\n' >"$fake/.config"
	dkms build -m hmm-mock -v "$(sed -n 's/^PACKAGE_VERSION="\(.*\)"/\1/p' \
		"$d"/root/usr/src/hmm-mock-*/dkms.conf)" -k 0.0.0-no-zone-device \
		--kernelsourcedir "$fake" --sourcetree "$d/root/usr/src" --dkmstree "$fake/dkms" \
		--no-depmod || rc=$?
	echo "dkms build exited $rc"
	[ $rc -eq 77 ]
}
