/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers of the randomised programs, hmm_mock_stress and hmm_mock_fuzz:
 * a seeded random number generator, numeric knobs from the environment, a
 * clock and the names of the commands. Include after kselftest_harness.h
 * (ARRAY_SIZE) and hmm_mock_test.h.
 */
#ifndef _HMM_MOCK_CHAOS_H
#define _HMM_MOCK_CHAOS_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* xorshift64*: the same sequence for the same seed on every machine. */
static inline uint64_t chaos_next(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A number below @n (0 when @n is 0). */
static inline uint64_t chaos_below(uint64_t *s, uint64_t n)
{
	return n ? chaos_next(s) % n : 0;
}

/* A generator state for @seed; different @stream give unrelated sequences. */
static inline uint64_t chaos_state(uint64_t seed, uint64_t stream)
{
	uint64_t s = (seed ^ (stream * 0x9E3779B97F4A7C15ULL)) | 1;
	int i;

	for (i = 0; i < 4; i++)
		chaos_next(&s);
	return s;
}


/* Environment knob @name, clamped to [@min, @max]; @def when unset or bad. */
static inline unsigned long long chaos_env(const char *name, unsigned long long def,
					   unsigned long long min, unsigned long long max)
{
	const char *s = getenv(name);
	unsigned long long v;
	char *end;

	if (!s || !*s)
		return def;
	v = strtoull(s, &end, 0);
	if (*end)
		return def;
	return v < min ? min : v > max ? max : v;
}

/* A seed from @name, or a fresh one when it is unset. */
static inline uint64_t chaos_seed(const char *name)
{
	const char *s = getenv(name);

	if (s && *s)
		return strtoull(s, NULL, 0);
	return ((uint64_t)time(NULL) << 20) ^ (uint64_t)getpid() ^
	       (uint64_t)(hmm_mock_now() * 1e6);
}

/* Name of HMM_DMIRROR_* or HMM_MOCK_STATS command @op, or NULL. */
static inline const char *chaos_op_name(unsigned long op)
{
	static const struct { unsigned long op; const char *name; } names[] = {
		{ HMM_DMIRROR_READ, "READ" },
		{ HMM_DMIRROR_WRITE, "WRITE" },
		{ HMM_DMIRROR_MIGRATE_TO_DEV, "MIGRATE_TO_DEV" },
		{ HMM_DMIRROR_MIGRATE_TO_SYS, "MIGRATE_TO_SYS" },
		{ HMM_DMIRROR_SNAPSHOT, "SNAPSHOT" },
		{ HMM_DMIRROR_EXCLUSIVE, "EXCLUSIVE" },
		{ HMM_DMIRROR_CHECK_EXCLUSIVE, "CHECK_EXCLUSIVE" },
		{ HMM_DMIRROR_RELEASE, "RELEASE" },
		{ HMM_DMIRROR_FLAGS, "FLAGS" },
		{ HMM_DMIRROR_READ_UNLOCKED, "READ_UNLOCKED" },
		{ HMM_MOCK_STATS, "STATS" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (names[i].op == op)
			return names[i].name;
	return NULL;
}

/* The ten HMM_DMIRROR_* commands, in ioctl number order. */
static const unsigned long chaos_dmirror_ops[] = {
	HMM_DMIRROR_READ, HMM_DMIRROR_WRITE, HMM_DMIRROR_MIGRATE_TO_DEV,
	HMM_DMIRROR_MIGRATE_TO_SYS, HMM_DMIRROR_SNAPSHOT, HMM_DMIRROR_EXCLUSIVE,
	HMM_DMIRROR_CHECK_EXCLUSIVE, HMM_DMIRROR_RELEASE, HMM_DMIRROR_FLAGS,
	HMM_DMIRROR_READ_UNLOCKED,
};

#define CHAOS_NR_DMIRROR_OPS	ARRAY_SIZE(chaos_dmirror_ops)

#endif /* _HMM_MOCK_CHAOS_H */
