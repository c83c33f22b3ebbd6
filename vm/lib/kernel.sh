# SPDX-License-Identifier: GPL-2.0
# Lane kernels. Two kinds (LANE_KIND in vm/lanes/LANE):
#   build  fetch a Debian linux-source package, configure it with our
#          fragments and build it once into a cache keyed on package
#          version + config (the default);
#   stock  Debian's packaged kernel as users run it: linux-image + matching
#          linux-headers, unpacked (never installed) into a private root.
# A build lane with LANE_MUTANT=1 is a mutant: another build lane's kernel
# (LANE_FROM) with a fix reverted by each patch in vm/mutants/LANE/, in
# name order. It is built incrementally from LANE_FROM's object tree, so it
# costs the files the patches touch and a link, not a cold build.
# Sourced after common.sh.

# Bump when the build steps below change in a way that changes the output.
KERNEL_RECIPE=1

lane_load() {
	local f="$HMM_MOCK_ROOT/vm/lanes/$1"
	[ -f "$f" ] || die "unknown lane '$1' (lanes: $(ls "$HMM_MOCK_ROOT/vm/lanes" |
		grep -vE '\.(skips|env)$' | tr '\n' ' '))"
	LANE=$1
	LANE_KIND=build
	LANE_FRAGMENTS=base
	LANE_KMEMLEAK=0
	LANE_STOCK_KREL=
	LANE_BASE=
	LANE_MUTANT=0
	LANE_FROM=
	# The test VM's hardware (vm/run's --swap, --numa, --movable): swap
	# and NUMA need kernel options (vm/kconfig/vm-features.config),
	# memory that can be offlined only a kernel argument.
	LANE_VM_SWAP=0
	LANE_VM_NUMA=1
	LANE_VM_MOVABLE=1024
	# QEMU's CPU model, if not its default (qemu64 under TCG).
	LANE_QEMU_CPU=
	# shellcheck source=/dev/null
	. "$f"
	case $LANE_KIND in
	build) ;;
	stock) [ -n "$LANE_STOCK_KREL" ] || die "lane $LANE: LANE_KIND=stock needs LANE_STOCK_KREL" ;;
	*) die "lane $LANE: unknown LANE_KIND '$LANE_KIND' (build or stock)" ;;
	esac
	if [ "$LANE_MUTANT" = 1 ]; then
		[ -n "$LANE_FROM" ] || die "lane $LANE: a mutant lane names its clean lane in LANE_FROM"
		compgen -G "$HMM_MOCK_ROOT/vm/mutants/$LANE/*.patch" >/dev/null ||
			die "lane $LANE: no patches in vm/mutants/$LANE"
	fi
	_lane_declared "$LANE"
}

# What a lane declares about its kernel: the skips its suite run may have
# (vm/lanes/LANE.skips) and the behaviour the tests hold it to (LANE.env).
# A lane with LANE_BASE=OTHER in its file declares all that OTHER declares
# (OTHER's own LANE_BASE included), then its own additions, if it has
# .skips or .env files of its own. Sets LANE_SKIPS_FILES and LANE_ENV_FILES
# to the files in that order (an .env file read later wins).
_lane_declared() {
	local d="$HMM_MOCK_ROOT/vm/lanes" l=$1 chain=()
	while [ -n "$l" ]; do
		[ -f "$d/$l" ] || die "lane $1: unknown base lane '$l'"
		[[ " ${chain[*]} " != *" $l "* ]] || die "lane $1: LANE_BASE loops through lane $l"
		chain=("$l" "${chain[@]}")
		# shellcheck source=/dev/null
		l=$(LANE_BASE= && . "$d/$l" && echo "$LANE_BASE") || die "cannot read lane $l"
	done
	LANE_SKIPS_FILES=() LANE_ENV_FILES=()
	for l in "${chain[@]}"; do
		if [ -f "$d/$l.skips" ]; then LANE_SKIPS_FILES+=("$d/$l.skips"); fi
		if [ -f "$d/$l.env" ]; then LANE_ENV_FILES+=("$d/$l.env"); fi
	done
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

# Refresh the private package lists of LANE_ARCHIVE at most once a day.
_lane_apt_lists() {
	[ "$LANE_ARCHIVE" = host ] && return 0
	if [ -z "$(find "$HMM_MOCK_CACHE/apt/$LANE_ARCHIVE/lists" -name '*Packages*' -mmin -1440 2>/dev/null)" ]; then
		say "updating private apt lists for $LANE_ARCHIVE in $HMM_MOCK_CACHE/apt"
		_private_apt apt-get "$LANE_ARCHIVE" update >&2 ||
			die "apt-get update for $LANE_ARCHIVE failed"
	fi
}

# _lane_apt apt-get|apt-cache ARGS...: the host's apt for LANE_ARCHIVE=host
# (read-only use: queries and "download" into the current directory),
# otherwise the private configuration above.
_lane_apt() {
	local tool=$1; shift
	if [ "$LANE_ARCHIVE" = host ]; then
		# Downloads land in the cache under $HOME, which apt's sandbox
		# user cannot write.
		"$tool" -q -o APT::Sandbox::User=root "$@"
	else
		_private_apt "$tool" "$LANE_ARCHIVE" "$@"
	fi
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
	_lane_apt_lists
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

# The lane's kernel source (LANE_PACKAGE), unpacked once per package
# version into the cache. Sets LANE_SRC, LANE_VERSION and LANE_TARBALL.
_lane_source() {
	_lane_fetch_source
	LANE_SRC="$HMM_MOCK_CACHE/src/${LANE_PACKAGE}_${LANE_VERSION//[^A-Za-z0-9.-]/_}"
	with_lock "src-$LANE_PACKAGE" _lane_extract "$LANE_SRC" || exit 1
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

# --- mutant lanes ----------------------------------------------------------

# _mutant_build SRC BUILD FROM_BUILD: the patched source is a hard-link copy
# of SRC (patch replaces the files it edits, so SRC stays clean). Kbuild
# records SRC's absolute path in every object's command line, so the build
# runs in a private mount namespace where the patched copy is mounted over
# SRC: FROM_BUILD's objects then match, and only what the patches touch is
# compiled again. Patches may touch .c files only: modules are built
# outside the namespace, against SRC's headers. Without mount namespaces
# it is a cold build of the copy, which then stays beside the build.
_mutant_build() {
	local s=$1 b=$2 from=$3 log=$2.log t0=$SECONDS p ps=$2.src ns=
	[ -f "$b/.complete" ] && return 0
	# Older patch sets of this lane are of no more use (under its lock).
	local base
	base=$(basename "$b")	# LANE-VERSION-KEY
	find "$(dirname "$b")" -maxdepth 1 -name "${base%-*}-*" ! -name "$base*" -exec rm -rf {} +
	say "building mutant lane $LANE from $(basename "$from") (log: $log)"
	rm -rf "$b" "$ps"
	cp -al "$s" "$ps" || die "cannot copy $s"
	: >"$log"
	for p in "$HMM_MOCK_ROOT/vm/mutants/$LANE"/*.patch; do
		! grep -qE '^\+\+\+ b/.*\.h$' "$p" ||
			die "lane $LANE: $(basename "$p") edits a header, which modules would not see"
		echo "applying $(basename "$p")" >>"$log"
		patch -p1 --batch --forward --fuzz=0 -d "$ps" <"$p" >>"$log" 2>&1 ||
			{ tail -n 20 "$log" >&2; die "lane $LANE: $(basename "$p") does not apply"; }
	done
	# In place, as _lane_build (Kbuild writes the output path into the
	# tree), without FROM_BUILD's marker: .complete comes last.
	mkdir -p "$b"
	tar -C "$from" --exclude=./.complete --exclude=./.build-seconds --exclude=./modroot -cf - . |
		tar -C "$b" -xf - || die "cannot copy $from"
	if unshare -m true 2>/dev/null; then
		ns="unshare -m"
	elif unshare -rm true 2>/dev/null; then
		ns="unshare -rm"
	fi
	# Both trees at the clean lane's paths, so every absolute path recorded
	# in FROM's objects still matches (6.x objects depend on objtool's
	# binary, which would otherwise be rebuilt, and with it everything).
	# shellcheck disable=SC2016 # expanded by the inner shell
	if [ -n "$ns" ]; then
		$ns sh -c 'mount --bind "$1" "$2" && mount --bind "$3" "$4" && shift 4 &&
			exec make "$@"' sh "$ps" "$s" "$b" "$from" \
			-C "$s" O="$from" -j"$HMM_MOCK_JOBS" bzImage modules >>"$log" 2>&1
	else
		say "no mount namespaces here: a cold build of the mutant source"
		find "$b" -mindepth 1 -maxdepth 1 ! -name .config -exec rm -rf {} + &&
		make -C "$ps" O="$b" olddefconfig >>"$log" 2>&1 &&
		make -C "$ps" O="$b" -j"$HMM_MOCK_JOBS" bzImage modules >>"$log" 2>&1
	fi || { tail -n 40 "$log" >&2; die "building mutant lane $LANE failed"; }
	# The tree's Makefile names the path it was built at (7.x): B's own.
	[ -z "$ns" ] || make -C "$s" O="$b" outputmakefile >>"$log" 2>&1 ||
		die "lane $LANE: cannot write its Makefile"
	make -C "$s" O="$b" INSTALL_MOD_PATH="$b/modroot" INSTALL_MOD_STRIP=1 \
		modules_install >>"$log" 2>&1 || die "modules_install for lane $LANE failed"
	# The namespace build's tree points at SRC; a cold one at the copy.
	[ -z "$ns" ] || rm -rf "$ps"
	echo "$((SECONDS - t0))" >"$b/.build-seconds"
	touch "$b/.complete"
	say "mutant lane $LANE built in $((SECONDS - t0)) s"
}

# --- stock lanes -----------------------------------------------------------

# Bump when _stock_unpack changes what it leaves in the private root.
STOCK_RECIPE=2

# Pick the newest packaged kernel release matching LANE_STOCK_KREL (an
# extended regex) that has an unsigned image. Sets LANE_KREL, LANE_VERSION.
_stock_pick() {
	_lane_apt_lists
	LANE_KREL=$(_lane_apt apt-cache pkgnames linux-image- 2>/dev/null |
		sed -nE "s/^linux-image-($LANE_STOCK_KREL)-unsigned\$/\1/p" | sort -V | tail -n1)
	[ -n "$LANE_KREL" ] ||
		die "lane $LANE: no linux-image-<$LANE_STOCK_KREL>-unsigned in $LANE_ARCHIVE's package lists"
	LANE_VERSION=$(_lane_apt apt-cache policy "linux-image-$LANE_KREL-unsigned" 2>/dev/null |
		sed -n 's/^ *Candidate: //p')
	[ -n "$LANE_VERSION" ] && [ "$LANE_VERSION" != "(none)" ] ||
		die "lane $LANE: linux-image-$LANE_KREL-unsigned has no candidate version"
}

# _stock_unpack DIR: download image, headers and what the headers need to
# build modules (headers-common, kbuild) into DIR/debs, unpack them into
# DIR/root and make DIR/root/usr/src/linux-headers-KREL a working Kbuild
# tree. Nothing is installed on the host: a kernel package's maintainer
# scripts would touch /boot and the boot loader.
_stock_unpack() {
	local d=$1 t0=$SECONDS root=$1/root deps p l target m
	[ -f "$d/.complete" ] && return 0
	rm -rf "$d" && mkdir -p "$d/debs" "$root"
	# The headers package names its own helpers; version-locked to the image.
	deps=$(_lane_apt apt-cache show "linux-headers-$LANE_KREL=$LANE_VERSION" 2>/dev/null |
		sed -n 's/^Depends: //p' | head -n1 | tr ',|' '\n\n' | sed 's/^ *//; s/ .*//' |
		grep -E '^linux-(headers-.*-common|kbuild-.*)$' | sort -u)
	[ "$(wc -w <<<"$deps")" -eq 2 ] ||
		die "linux-headers-$LANE_KREL: expected a -common and a kbuild dependency, got: ${deps:-nothing}"
	# shellcheck disable=SC2206 # package names have no blanks
	local pkgs=("linux-image-$LANE_KREL-unsigned" "linux-headers-$LANE_KREL" $deps)
	say "downloading ${pkgs[*]} ($LANE_VERSION) and pahole"
	(cd "$d/debs" && _lane_apt apt-get download "${pkgs[@]/%/=$LANE_VERSION}" pahole) >&2 ||
		die "apt-get download of the $LANE_KREL kernel packages failed"
	for p in "$d"/debs/*.deb; do
		dpkg-deb -x "$p" "$root" || die "cannot unpack $p"
	done
	local kb=$root/usr/src/linux-headers-$LANE_KREL
	[ -f "$root/boot/vmlinuz-$LANE_KREL" ] || die "no /boot/vmlinuz-$LANE_KREL in the image package"
	[ -f "$kb/Module.symvers" ] && [ -f "$kb/.config" ] || die "$kb is not a headers tree"
	# The packages assume they live at /: the flavour Makefile includes
	# /usr/src/linux-headers-ABI-common/Makefile and /lib/modules/KREL/{build,source}
	# point to /usr/src. Make them relative to the private root. make -C
	# enters the flavour directory first, so "../" is the root's usr/src.
	sed -i 's|^include /usr/src/|include ../|' "$kb/Makefile"
	! grep -q '^include /' "$kb/Makefile" || die "$kb/Makefile: unexpected absolute include"
	# linux-kbuild depends on pahole (BTF for modules). Use the root's
	# copy rather than installing it on the host: a pahole on PATH makes
	# Kbuild of kernels configured without one (our built lanes, whose
	# CONFIG_PAHOLE_VERSION=0) warn on every module build. .kernelvariables
	# is Debian's per-flavour override file, read by every make level with
	# the flavour directory as CURDIR.
	[ -x "$root/usr/bin/pahole" ] || die "the pahole package has no /usr/bin/pahole"
	echo 'override PAHOLE := $(CURDIR)/../../bin/pahole' >>"$kb/.kernelvariables"
	while IFS= read -r l; do
		target=$(readlink "$l")
		ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$root$target")" "$l"
	done < <(find "$root" -type l -lname '/*')
	# Prove it is a Kbuild tree: build a trivial module against it.
	m=$d/kbuild-check
	mkdir -p "$m"
	printf '#include <linux/module.h>\nMODULE_LICENSE("GPL");\n' >"$m/check.c"
	echo 'obj-m := check.o' >"$m/Kbuild"
	make -C "$kb" M="$m" modules >"$d/kbuild-check.log" 2>&1 ||
		{ tail -n 20 "$d/kbuild-check.log" >&2; die "$kb cannot build a module (see $d/kbuild-check.log)"; }
	# What the guest gets of /lib/modules/KREL: the module metadata only.
	# The stock kernel's ~100 MiB of xz modules would make every boot
	# slow, and hmm_mock.ko needs none of them (everything it uses is
	# built in; insmod would fail loudly otherwise). A job that modprobes
	# a stock module fails with "not found", never silently.
	local mr=$d/modroot/lib/modules/$LANE_KREL
	mkdir -p "$mr"
	cp -a "$root/lib/modules/$LANE_KREL"/modules.{builtin,builtin.modinfo,order} "$mr/"
	depmod -b "$d/modroot" "$LANE_KREL" || die "depmod for $LANE_KREL failed"
	echo "$((SECONDS - t0))" >"$d/.build-seconds"
	touch "$d/.complete"
	say "lane $LANE: stock kernel $LANE_KREL ready in $((SECONDS - t0)) s"
}

# Stock lane: LANE_SRC is the matching linux-source (LANE_PACKAGE) for the
# kselftest harness, LANE_BUILD the packaged headers tree.
_stock_prepare() {
	# gcc-12 is the compiler the headers name; pahole (unpacked into the
	# private root, see _stock_unpack) needs libdw and libbpf.
	need_packages $HOST_PACKAGES gcc-12 libdw1 libbpf1
	_stock_pick
	local krel=$LANE_KREL kver=$LANE_VERSION
	_lane_source
	LANE_KREL=$krel LANE_VERSION=$kver
	local tag=${LANE_VERSION//[^A-Za-z0-9.-]/_}
	local d="$HMM_MOCK_CACHE/stock/$LANE_KREL-$tag-r$STOCK_RECIPE"
	if [ -f "$d/.complete" ]; then
		say "lane $LANE: cached stock kernel $d"
	else
		with_lock "stock-$LANE_KREL" _stock_unpack "$d" || exit 1
	fi
	LANE_BUILD=$d/root/usr/src/linux-headers-$LANE_KREL
	LANE_BZIMAGE=$d/root/boot/vmlinuz-$LANE_KREL
	LANE_MODDIR=$d/modroot/lib/modules/$LANE_KREL
	LANE_KEY=$LANE-$LANE_KREL-$tag
	LANE_BUILD_SECONDS_FILE=$d/.build-seconds
}

# _lane_build_dir [FROM]: sets LANE_FRAGMENT_FILES and LANE_BUILD, the
# cache directory of the lane's kernel, keyed on the build recipe, the
# compiler, the config fragments and, for a mutant, the clean build FROM
# and the patches. Needs lane_load and _lane_source.
_lane_build_dir() {
	local from=$1 f key
	LANE_FRAGMENT_FILES=()
	for f in $LANE_FRAGMENTS; do
		LANE_FRAGMENT_FILES+=("$HMM_MOCK_ROOT/vm/kconfig/$f.config")
	done
	key=$( { echo "recipe $KERNEL_RECIPE"; gcc --version | head -n1;
		 cat "${LANE_FRAGMENT_FILES[@]}";
		 [ -z "$from" ] || { basename "$from"; cat "$HMM_MOCK_ROOT/vm/mutants/$LANE"/*.patch; }; } |
	       sha256sum | cut -c1-12)
	# Debian versions carry '~' and '+', which make and Kbuild dislike in paths.
	LANE_BUILD="$HMM_MOCK_CACHE/kernels/$LANE-${LANE_VERSION//[^A-Za-z0-9.-]/_}-$key"
}

# lane_cached LANE: LANE is a build lane (not a mutant) whose kernel is in
# the cache already, so preparing it builds nothing.
lane_cached() (
	lane_load "$1"
	[ "$LANE_KIND" = build ] && [ "$LANE_MUTANT" != 1 ] || exit 1
	_lane_source >/dev/null 2>&1 || exit 1
	_lane_build_dir ''
	[ -f "$LANE_BUILD/.complete" ]
)

# Prepare lane $1. Dies (exits) if it cannot; see lane_try. Sets what
# lane_load sets (LANE_KIND, LANE_SKIPS_FILES, LANE_ENV_FILES, ...) and:
#   LANE_SRC      kernel source tree (the kselftest harness, checkpatch)
#   LANE_BUILD    Kbuild tree to build modules against (Module.symvers)
#   LANE_KREL     uname -r of the lane kernel
#   LANE_BZIMAGE  the kernel image to boot
#   LANE_MODDIR   its /lib/modules/KREL for the guest
#   LANE_KEY      a name unique to this kernel (work areas)
#   LANE_BUILD_SECONDS_FILE  how long the cold build (or fetch) took
lane_prepare() {
	lane_load "$1"
	if [ "$LANE_KIND" = stock ]; then
		_stock_prepare
		return
	fi
	need_packages $HOST_PACKAGES
	_lane_source
	local from='' from_src=''
	if [ "$LANE_MUTANT" = 1 ]; then
		read -r from from_src < <(lane_try "$LANE_FROM" && echo "$LANE_BUILD $LANE_SRC")
		[ -n "$from" ] || die "lane $LANE: its clean lane $LANE_FROM is unavailable"
		[ "$from_src" = "$LANE_SRC" ] ||
			die "lane $LANE: its source $LANE_SRC is not its clean lane's ($from_src)"
	fi
	_lane_build_dir "$from"
	if [ -f "$LANE_BUILD/.complete" ]; then
		say "lane $LANE: cached kernel $LANE_BUILD"
	elif [ -n "$from" ]; then
		with_lock "kernel-$LANE" _mutant_build "$LANE_SRC" "$LANE_BUILD" "$from" || exit 1
	else
		with_lock "kernel-$LANE" _lane_build "$LANE_SRC" "$LANE_BUILD" || exit 1
	fi
	LANE_KREL=$(cat "$LANE_BUILD/include/config/kernel.release")
	LANE_BZIMAGE=$LANE_BUILD/arch/x86/boot/bzImage
	LANE_MODDIR=$LANE_BUILD/modroot/lib/modules/$LANE_KREL
	LANE_KEY=$(basename "$LANE_BUILD")
	LANE_BUILD_SECONDS_FILE=$LANE_BUILD/.build-seconds
}

# lane_has_config LINE: the prepared lane kernel's .config has LINE
# ("CONFIG_NUMA=y").
lane_has_config() {
	grep -qxF -- "$1" "$LANE_BUILD/.config" 2>/dev/null
}

# lane_try LANE: lane_prepare LANE in a subshell, so that a lane which
# cannot be prepared returns 1 (its error on stderr) instead of ending the
# caller, who can then report it and go on; on success the caller gets the
# LANE_* variables lane_prepare sets. Its output all goes to stderr.
lane_try() {
	local vars
	vars=$(lane_prepare "$1" >&2 && declare -p "${!LANE@}" _apt_updated |
		sed 's/^declare -/declare -g -/') || return 1
	eval "$vars"
}
