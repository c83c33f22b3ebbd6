# SPDX-License-Identifier: GPL-2.0
# Out-of-tree build of hmm_mock.ko. Kbuild itself reads ./Kbuild; this file
# is only the front door for people:
#   make [KDIR=/lib/modules/<release>/build]   build hmm_mock.ko
#   make check                                 W=1 + sparse + checkpatch
#   make modules_install udev_install          install (as root)
#   make selftests KSRC=/path/to/linux         build the test suite
#   make selftests_install [INSTALL_PATH=DIR]  the suite and hmm_mock.ko as a
#                                              kselftest tree (run_kselftest.sh)
# Testing in a VM, with our own kernels: see vm/run and README.md.
KDIR ?= /lib/modules/$(shell uname -r)/build
KSRC ?= $(if $(wildcard $(KDIR)/source),$(KDIR)/source,$(KDIR))
UDEVDIR ?= /lib/udev

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

modules_install: modules
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install

udev_install:
	install -D -m 0644 udev/70-hmm-mock.rules $(DESTDIR)$(UDEVDIR)/rules.d/70-hmm-mock.rules

# Warnings are errors here: W=1 and sparse must stay clean.
check:
	$(MAKE) -C $(KDIR) M=$(CURDIR) W=1 C=2 CHECK="sparse -Wsparse-error" \
		KCFLAGS=-Werror modules
	$(KSRC)/scripts/checkpatch.pl --strict --no-tree --terse --show-types -f src/*.c src/*.h include/uapi/*.h

selftests:
	$(MAKE) -C selftests KSRC=$(KSRC)

# The tree defaults to selftests/build/kselftest_install.
selftests_install: modules
	$(MAKE) -C selftests KSRC=$(KSRC) KO=$(CURDIR)/hmm_mock.ko \
		$(if $(INSTALL_PATH),INSTALL_PATH=$(abspath $(INSTALL_PATH))) install

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	$(MAKE) -C selftests clean

.PHONY: all modules modules_install udev_install check selftests selftests_install clean
