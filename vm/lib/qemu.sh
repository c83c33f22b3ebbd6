# SPDX-License-Identifier: GPL-2.0
# Booting the test VM. Sourced after guest.sh; vm/peer sources it for the
# memory layout below only, which upstream's test_hmm.ko is given too.

# Guest physical layout: 3 GiB of RAM (vm/run --mem: more), of which 1 GiB at 1.5 GiB is kept
# from the page allocator with memmap= and handed to the coherent devices,
# 512 MiB each. The upstream 7.3 suite needs more than 256 MiB per device.
VM_MEM=3G
VM_SPM_BASE0=0x60000000
VM_SPM_BASE1=0x80000000
VM_SPM_SIZE=0x20000000
VM_SPM_RESERVE='memmap=1G$0x60000000'

# vm_hardware_args SWAP_MIB NUMA_NODES MOVABLE_MIB: the numbers are valid
# (before any build).
vm_hardware_args() {
	local num='^[0-9]+$'
	[[ $1 =~ $num && $3 =~ $num ]] || die "--swap and --movable take MiB, a whole number"
	[[ $2 == [12] ]] || die "--numa: 1 or 2 nodes"
}

# vm_hardware SWAP_MIB NUMA_NODES MOVABLE_MIB: the guest's swap disk, NUMA
# nodes and offlinable memory (vm/run's --swap, --numa, --movable). Sets
# VM_SWAP_MIB, VM_APPEND, VM_QEMU_ARGS and VM_SMP_TOPOLOGY; refuses what
# the lane kernel cannot use rather than booting a VM that silently lacks
# it.
vm_hardware() {
	local swap=$1 nodes=$2 movable=$3
	vm_hardware_args "$swap" "$nodes" "$movable"
	VM_SWAP_MIB=$swap VM_APPEND='' VM_QEMU_ARGS=() VM_SMP_TOPOLOGY=''
	if [ "$swap" -gt 0 ]; then
		lane_has_config CONFIG_VIRTIO_BLK=y ||
			die "--swap: lane $LANE's kernel has no CONFIG_VIRTIO_BLK (vm/kconfig/vm-features.config)"
		VM_QEMU_ARGS+=(-drive "file=@RUN@/swap.img,if=virtio,format=raw,cache=unsafe")
	fi
	case $nodes in
	2)
		lane_has_config CONFIG_NUMA=y ||
			die "--numa: lane $LANE's kernel has no CONFIG_NUMA (vm/kconfig/vm-features.config)"
		[ "$VM_SMP" -eq 1 ] || [ $((VM_SMP % 2)) -eq 0 ] ||
			die "--numa 2: give an even --smp (or 1), half the CPUs for each node"
		# 1 GiB of page-allocator memory each: node 0 the first GiB,
		# node 1 the rest, with the coherent devices' reserved GiB.
		# Each node is a socket of its own, or the scheduler warns
		# about a cache shared across nodes.
		VM_QEMU_ARGS+=(-object memory-backend-ram,id=node0,size=1G
			       -object memory-backend-ram,id=node1,size=$(( ${VM_MEM%G} - 1 ))G)
		if [ "$VM_SMP" -eq 1 ]; then
			VM_QEMU_ARGS+=(-numa node,nodeid=0,memdev=node0,cpus=0
				       -numa node,nodeid=1,memdev=node1)
		else
			VM_SMP_TOPOLOGY=",sockets=2"
			VM_QEMU_ARGS+=(-numa "node,nodeid=0,memdev=node0,cpus=0-$((VM_SMP / 2 - 1))"
				       -numa "node,nodeid=1,memdev=node1,cpus=$((VM_SMP / 2))-$((VM_SMP - 1))")
		fi
		;;
	esac
	# The firmware's tables take the top of memory, and offlining refuses
	# a block with a hole: the last 128 MiB block (x86's block size here)
	# stays out of the page allocator, so that ZONE_MOVABLE, which
	# movablecore= takes from the top of each node, has none.
	[ "$movable" -eq 0 ] ||
		VM_APPEND="movablecore=${movable}M memmap=128M\$$(( ${VM_MEM%G} * 1024 - 128 ))M"
}

# vm_died_early CONSOLE REACHED: the kernel in CONSOLE died before user
# space (no line matching REACHED, a report line) and prints that report.
# Seen on Debian's stock 6.12 under TCG: an int3 Oops in sched_clock_cpu()
# while a static key is patched, before any hmm-mock code runs; vm/run and
# vm/kselftest boot once more then.
vm_died_early() {
	! grep -qE "$2" "$1" && grep -m1 -E 'Oops|BUG:|Kernel panic|WARNING:' "$1"
}

VM_CMDLINE_BASE="console=ttyS0,115200 printk.devkmsg=on panic=-1 rdinit=/init"

# KVM on some hosts is a nested hypervisor that hangs ordinary guests: trust
# it only after a short boot of the lane kernel reaches user space. The
# answer is remembered until the host reboots.
vm_pick_accel() {
	local want=$1 probe
	if [ "$want" != auto ]; then
		VM_ACCEL=$want
		return
	fi
	VM_ACCEL=tcg
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || { say "accelerator: tcg (no usable /dev/kvm)"; return; }
	probe="$HMM_MOCK_CACHE/accel-probe-$(cat /proc/sys/kernel/random/boot_id)"
	if [ ! -f "$probe" ]; then
		local d
		d=$(mktemp -d)
		mkdir -p "$d/root/bin"
		cp /bin/busybox "$d/root/bin/"
		printf '#!/bin/busybox sh\n/bin/busybox echo HMM_MOCK_KVM_OK\n/bin/busybox poweroff -f\n' >"$d/root/init"
		chmod +x "$d/root/init"
		(cd "$d/root" && find . | cpio -o -H newc --quiet) | gzip -1 >"$d/probe.gz"
		say "probing KVM with a short boot (falls back to TCG)"
		timeout -k 5 20 qemu-system-x86_64 -nodefaults -no-reboot -display none -machine pc \
			-accel kvm -m 512M -kernel "$LANE_BZIMAGE" \
			-initrd "$d/probe.gz" -serial "file:$d/console" \
			-append "console=ttyS0 panic=-1 rdinit=/init" >/dev/null 2>&1 || true
		if grep -q HMM_MOCK_KVM_OK "$d/console" 2>/dev/null; then
			echo kvm >"$probe"
		else
			echo tcg >"$probe"
		fi
		rm -rf "$d"
	fi
	VM_ACCEL=$(cat "$probe")
	say "accelerator: $VM_ACCEL"
}

# vm_boot RUN_DIR APPEND TIMEOUT: boot the lane kernel with RUN_DIR's
# initramfs; the console goes to RUN_DIR/console.log, the job's output to
# RUN_DIR/output.log and, live, to stdout.
vm_boot() {
	local run=$1 append=$2 limit=$3 qpid rc a args=()
	[ -n "${LANE_QEMU_CPU:-}" ] && args+=(-cpu "$LANE_QEMU_CPU")
	: >"$run/console.log"
	: >"$run/output.log"
	for a in "${VM_QEMU_ARGS[@]}"; do
		args+=("${a//@RUN@/"$run"}")
	done
	if [ "${VM_SWAP_MIB:-0}" -gt 0 ]; then
		rm -f "$run/swap.img"
		truncate -s "${VM_SWAP_MIB}M" "$run/swap.img"
	fi
	timeout -k 10 "$limit" qemu-system-x86_64 -nodefaults -no-reboot -display none \
		-machine pc -accel "$VM_ACCEL" -smp "$VM_SMP${VM_SMP_TOPOLOGY:-}" -m "$VM_MEM" \
		-kernel "$LANE_BZIMAGE" -initrd "$run/initramfs.gz" \
		-serial "file:$run/console.log" -serial "file:$run/output.log" \
		"${args[@]}" -append "$VM_CMDLINE_BASE $append" </dev/null >"$run/qemu.log" 2>&1 &
	qpid=$!
	tail -n +1 -f --pid="$qpid" "$run/output.log" 2>/dev/null
	wait "$qpid"
	rc=$?
	[ $rc -eq 124 ] && say "the VM did not finish within $limit s"
	return $rc
}
