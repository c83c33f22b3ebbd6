// SPDX-License-Identifier: GPL-2.0
/*
 * Canary for the [kmemleak] step of kmemleak lanes (vm/test-all): a module
 * named hmm_mock that leaks two allocations when it is unloaded: one made
 * directly in its __init function (whose code is gone after init), one
 * through a helper in core text. After the unload kmemleak prints both
 * return addresses as bare hex; the check must attribute both to hmm_mock.
 */
#include <linux/module.h>
#include <linux/slab.h>

static void *from_init, *from_core;

static noinline void *canary_alloc(size_t size)
{
	void *p = kmalloc(size, GFP_KERNEL);

	barrier();	/* no tail call: keep this frame in the backtrace */
	return p;
}

static int __init canary_init(void)
{
	from_init = kmalloc(192, GFP_KERNEL);
	from_core = canary_alloc(320);
	return from_init && from_core ? 0 : -ENOMEM;
}

static void __exit canary_exit(void)
{
	/* The planted leaks: forget both pointers without kfree(). */
	from_init = NULL;
	from_core = NULL;
}

module_init(canary_init);
module_exit(canary_exit);
MODULE_DESCRIPTION("hmm-mock test canary: leaks on unload");
MODULE_LICENSE("GPL");
