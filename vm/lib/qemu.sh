# SPDX-License-Identifier: GPL-2.0
# Booting the test VM. Sourced after guest.sh; vm/peer sources it for the
# memory layout below only, which upstream's test_hmm.ko is given too.

# Guest physical layout: 3 GiB of RAM, of which 1 GiB at 1.5 GiB is kept
# from the page allocator with memmap= and handed to the coherent devices,
# 512 MiB each. The upstream 7.3 suite needs more than 256 MiB per device.
VM_MEM=3G
VM_SPM_BASE0=0x60000000
VM_SPM_BASE1=0x80000000
VM_SPM_SIZE=0x20000000
VM_SPM_RESERVE='memmap=1G$0x60000000'

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
	local run=$1 append=$2 limit=$3 qpid rc
	: >"$run/console.log"
	: >"$run/output.log"
	timeout -k 10 "$limit" qemu-system-x86_64 -nodefaults -no-reboot -display none \
		-machine pc -accel "$VM_ACCEL" -smp "$VM_SMP" -m "$VM_MEM" \
		-kernel "$LANE_BZIMAGE" -initrd "$run/initramfs.gz" \
		-serial "file:$run/console.log" -serial "file:$run/output.log" \
		-append "$VM_CMDLINE_BASE $append" </dev/null >"$run/qemu.log" 2>&1 &
	qpid=$!
	tail -n +1 -f --pid="$qpid" "$run/output.log" 2>/dev/null
	wait "$qpid"
	rc=$?
	[ $rc -eq 124 ] && say "the VM did not finish within $limit s"
	return $rc
}
