# SPDX-License-Identifier: GPL-2.0
# Lane kernels: fetch a Debian linux-source package, configure it with our
# fragments and build it once into a cache keyed on package version + config.
# Sourced after common.sh.

# Bump when the build steps below change in a way that changes the output.
KERNEL_RECIPE=1

lane_load() {
	local f="$HMM_MOCK_ROOT/vm/lanes/$1"
	[ -f "$f" ] || die "unknown lane '$1' (lanes: $(ls "$HMM_MOCK_ROOT/vm/lanes" | tr '\n' ' '))"
	LANE=$1
	LANE_FRAGMENTS=base
	# shellcheck source=/dev/null
	. "$f"
}

# A private apt configuration for archives the host does not use; it never
# touches /etc/apt or the host's package lists.
# Usage: _private_apt apt-get|apt-cache SUITE ARGS...
_private_apt() {
	local tool=$1 suite=$2; shift 2
	local d="$HMM_MOCK_CACHE/apt/$suite"
	mkdir -p "$d/lists/partial" "$d/archives/partial"
	printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian %s main\n' \
		"$suite" >"$d/sources.list"
	"$tool" -q \
		-o APT::Sandbox::User=root \
		-o Dir::Etc::SourceList="$d/sources.list" \
		-o Dir::Etc::SourceParts=/nonexistent \
		-o Dir::State::Lists="$d/lists" \
		-o Dir::Cache="$d" \
		-o Dir::Cache::Archives="$d/archives" \
		-o Dir::State::Status=/dev/null \
		-o Debug::NoLocking=1 \
		"$@"
}

# Sets LANE_TARBALL and LANE_VERSION.
_lane_fetch_source() {
	if [ "$LANE_ARCHIVE" = host ]; then
		need_packages "$LANE_PACKAGE"
		LANE_VERSION=$(dpkg-query -W -f='${Version}' "$LANE_PACKAGE")
		LANE_TARBALL=$(dpkg-query -L "$LANE_PACKAGE" | grep -E '/usr/src/linux-source-.*\.tar\.xz$' | head -n1)
		[ -f "$LANE_TARBALL" ] || die "$LANE_PACKAGE ships no source tarball"
		return
	fi
	local d="$HMM_MOCK_CACHE/debs"
	mkdir -p "$d"
	# Refresh the private package lists at most once a day.
	if [ -z "$(find "$HMM_MOCK_CACHE/apt/$LANE_ARCHIVE/lists" -name '*Packages*' -mmin -1440 2>/dev/null)" ]; then
		say "updating private apt lists for $LANE_ARCHIVE in $HMM_MOCK_CACHE/apt"
		_private_apt apt-get "$LANE_ARCHIVE" update >&2 ||
			die "apt-get update for $LANE_ARCHIVE failed"
	fi
	LANE_VERSION=$(_private_apt apt-cache "$LANE_ARCHIVE" policy "$LANE_PACKAGE" 2>/dev/null |
		sed -n 's/^ *Candidate: //p')
	[ "$LANE_VERSION" != "(none)" ] || LANE_VERSION=
	[ -n "$LANE_VERSION" ] || die "$LANE_PACKAGE not found in $LANE_ARCHIVE"
	local x="$d/${LANE_PACKAGE}_${LANE_VERSION//[^A-Za-z0-9.-]/_}"
	if [ ! -f "$x/.complete" ]; then
		say "downloading $LANE_PACKAGE $LANE_VERSION"
		rm -rf "$x" && mkdir -p "$x"
		(cd "$x" && _private_apt apt-get "$LANE_ARCHIVE" download "$LANE_PACKAGE=$LANE_VERSION") >&2 ||
			die "apt-get download $LANE_PACKAGE failed"
		dpkg-deb -x "$x"/*.deb "$x/root" || die "cannot unpack $LANE_PACKAGE"
		touch "$x/.complete"
	fi
	LANE_TARBALL=$(ls "$x"/root/usr/src/linux-source-*.tar.xz | head -n1)
	[ -f "$LANE_TARBALL" ] || die "$LANE_PACKAGE ships no source tarball"
}

_lane_extract() {
	local s=$1
	[ -f "$s/.complete" ] && return 0
	say "unpacking $(basename "$LANE_TARBALL") ($LANE_VERSION)"
	rm -rf "$s" && mkdir -p "$s"
	tar -xf "$LANE_TARBALL" -C "$s" --strip-components=1 || die "cannot unpack $LANE_TARBALL"
	touch "$s/.complete"
}

# Every option of every fragment must survive olddefconfig unchanged. A
# symbol this kernel does not define at all (renamed over the years, e.g.
# PROC_SYSCTL -> SYSCTL) is only mentioned.
_lane_check_config() {
	local s=$1 b=$2 frag line sym bad=0 known
	known=$(grep -rhoE '^[[:space:]]*(menu)?config[[:space:]]+[A-Za-z0-9_]+' \
		--include='Kconfig*' "$s" | awk '{ print "CONFIG_" $2 }' | sort -u)
	for frag in "${LANE_FRAGMENT_FILES[@]}"; do
		while IFS= read -r line; do
			case "$line" in
			CONFIG_*=*) sym=${line%%=*} ;;
			"# CONFIG_"*" is not set") sym=${line#\# }; sym=${sym%% *} ;;
			*) continue ;;
			esac
			if ! grep -qxF -- "$sym" <<<"$known"; then
				say "config: $sym does not exist in this kernel; ignored"
				continue
			fi
			if ! grep -qxF -- "$line" "$b/.config" &&
			   ! { [[ $line == "# "* ]] && ! grep -q "^$sym=" "$b/.config"; }; then
				say "config: wanted '$line', got '$(grep -E "^(# )?$sym[= ]" "$b/.config" || echo unset)'"
				bad=1
			fi
		done <"$frag"
	done
	return $bad
}

_lane_build() {
	local s=$1 b=$2 log=$2.log
	local t0=$SECONDS
	[ -f "$b/.complete" ] && return 0
	say "building lane $LANE kernel in $b (log: $log); this takes a while on a cold cache"
	mkdir -p "$b"
	{
		make -C "$s" O="$b" tinyconfig &&
		"$s/scripts/kconfig/merge_config.sh" -m -O "$b" "$b/.config" "${LANE_FRAGMENT_FILES[@]}" &&
		make -C "$s" O="$b" olddefconfig
	} >"$log" 2>&1 || { tail -n 30 "$log" >&2; die "configuring lane $LANE failed"; }
	_lane_check_config "$s" "$b" || die "lane $LANE: Kconfig dropped fragment options (see above)"
	make -C "$s" O="$b" -j"$HMM_MOCK_JOBS" bzImage modules >>"$log" 2>&1 ||
		{ tail -n 40 "$log" >&2; die "building lane $LANE failed"; }
	rm -rf "$b/modroot"
	make -C "$s" O="$b" INSTALL_MOD_PATH="$b/modroot" INSTALL_MOD_STRIP=1 \
		modules_install >>"$log" 2>&1 || die "modules_install for lane $LANE failed"
	echo "$((SECONDS - t0))" >"$b/.build-seconds"
	touch "$b/.complete"
	say "lane $LANE kernel built in $((SECONDS - t0)) s"
}

# Prepare lane $1: sets LANE_SRC (kernel source tree), LANE_BUILD (O= tree
# with bzImage, Module.symvers and modroot/), LANE_KREL (uname -r).
lane_prepare() {
	lane_load "$1"
	need_packages $HOST_PACKAGES
	_lane_fetch_source
	local f
	LANE_FRAGMENT_FILES=()
	for f in $LANE_FRAGMENTS; do
		LANE_FRAGMENT_FILES+=("$HMM_MOCK_ROOT/vm/kconfig/$f.config")
	done
	# Debian versions carry '~' and '+', which make and Kbuild dislike in paths.
	local tag=${LANE_VERSION//[^A-Za-z0-9.-]/_}
	LANE_SRC="$HMM_MOCK_CACHE/src/${LANE_PACKAGE}_$tag"
	with_lock "src-$LANE_PACKAGE" _lane_extract "$LANE_SRC" || exit 1
	local key
	key=$( { echo "recipe $KERNEL_RECIPE"; gcc --version | head -n1;
		 cat "${LANE_FRAGMENT_FILES[@]}"; } | sha256sum | cut -c1-12)
	LANE_BUILD="$HMM_MOCK_CACHE/kernels/$LANE-$tag-$key"
	if [ -f "$LANE_BUILD/.complete" ]; then
		say "lane $LANE: cached kernel $LANE_BUILD"
	else
		with_lock "kernel-$LANE" _lane_build "$LANE_SRC" "$LANE_BUILD" || exit 1
	fi
	LANE_KREL=$(cat "$LANE_BUILD/include/config/kernel.release")
}
