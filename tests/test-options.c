/* SPDX-License-Identifier: MIT */
/*
 * test-options.c - options: defaults, validation, UPAGER_* variables and
 * extensible-struct compatibility.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "core/options.h"

/* Handler threads by default: one per CPU the process may use. */
static unsigned int default_threads(void)
{
	cpu_set_t cpus;
	unsigned int n;

	cr_assert_eq(sched_getaffinity(0, sizeof(cpus), &cpus), 0);
	n = (unsigned int)CPU_COUNT(&cpus);
	return n > OPT_DEFAULT_THREADS_MAX ? OPT_DEFAULT_THREADS_MAX : n;
}

Test(options, defaults)
{
	struct upager_options o, swap = UPAGER_OPTS(.max_resident = 64 << 20);
	cpu_set_t one;

	cr_assert_eq(options_resolve(NULL, &o), 0);
	cr_assert_eq(o.handler_threads, default_threads());
	cr_assert(o.flags & OPT_SPREAD, "defaulted handlers are spread over the CPUs");
	cr_assert_eq(o.fault_around_max, OPT_DEFAULT_FAULT_AROUND);
	cr_assert_eq(o.swap_readahead_max, OPT_MAX_SWAP_READAHEAD);
	cr_assert_eq(o.compress, UPAGER_COMPRESS_OFF, "the compressed tier is off by default");
	cr_assert_eq(o.compress_pool_pct, OPT_DEFAULT_COMPRESS_POOL_PCT);
	/* One more with swap (one may wait for I/O while another reads). */
	cr_assert_eq(options_resolve(&swap, &o), 0);
	cr_assert_eq(o.handler_threads, default_threads() + 1);
	/* On one CPU: one handler, two with swap. */
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	cr_assert_eq(options_resolve(NULL, &o), 0);
	cr_assert_eq(o.handler_threads, 1);
	cr_assert_eq(options_resolve(&swap, &o), 0);
	cr_assert_eq(o.handler_threads, 2);
}

Test(options, environment_fills_unset_members)
{
	struct upager_options in = UPAGER_OPTS(.flags = UPAGER_OPEN_FROM_ENV, .fault_around_max = 8);
	struct upager_options o;

	setenv("UPAGER_THREADS", "3", 1);
	setenv("UPAGER_FAULT_AROUND", "64", 1);
	setenv("UPAGER_HANDLER_CPU", "1", 1);
	setenv("UPAGER_SWAP_READAHEAD", "8", 1);
	cr_assert_eq(options_resolve(&in, &o), 0);
	cr_assert_eq(o.swap_readahead_max, 8);
	cr_assert_eq(o.handler_threads, 3);
	cr_assert(!(o.flags & OPT_SPREAD), "handlers asked for are not spread");
	cr_assert_eq(o.fault_around_max, 8, "an explicit member wins over the environment");
	cr_assert(o.flags & UPAGER_OPEN_PIN_HANDLERS);
	cr_assert_eq(o.handler_cpu, 1);
}

Test(options, environment_is_ignored_unless_asked)
{
	struct upager_options in = UPAGER_OPTS();
	struct upager_options o;

	setenv("UPAGER_THREADS", "3", 1);
	cr_assert_eq(options_resolve(&in, &o), 0);
	cr_assert_eq(o.handler_threads, default_threads());
}

Test(options, bad_values_are_refused)
{
	struct upager_options in = UPAGER_OPTS(.flags = UPAGER_OPEN_FROM_ENV);
	struct upager_options o;
	const char *bad[] = { "", "-1", "x", "3x", "99999999999999999999", "65" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("UPAGER_THREADS", bad[i], 1);
		cr_assert_eq(options_resolve(&in, &o), -EINVAL, "UPAGER_THREADS=\"%s\"", bad[i]);
	}
	unsetenv("UPAGER_THREADS");
	setenv("UPAGER_LOG", "loud", 1);
	cr_assert_eq(options_resolve(&in, &o), -EINVAL);
	unsetenv("UPAGER_LOG");
	in = UPAGER_OPTS(.handler_threads = OPT_MAX_THREADS + 1);
	cr_assert_eq(options_resolve(&in, &o), -EINVAL);
	in = UPAGER_OPTS(.fault_around_max = OPT_MAX_FAULT_AROUND + 1);
	cr_assert_eq(options_resolve(&in, &o), -EINVAL);
	in = UPAGER_OPTS(.swap_readahead_max = OPT_MAX_SWAP_READAHEAD + 1);
	cr_assert_eq(options_resolve(&in, &o), -EINVAL);
	in = UPAGER_OPTS(.flags = UPAGER_OPEN_FROM_ENV);
	setenv("UPAGER_SWAP_READAHEAD", "129", 1);
	cr_assert_eq(options_resolve(&in, &o), -EINVAL, "UPAGER_SWAP_READAHEAD=129");
	unsetenv("UPAGER_SWAP_READAHEAD");
	in = UPAGER_OPTS(.flags = 1u << 30);
	cr_assert_eq(options_resolve(&in, &o), -EINVAL);
	in = UPAGER_OPTS();
	in.sz = 2;
	cr_assert_eq(options_resolve(&in, &o), -EINVAL, "sz not set is refused");
}

Test(options, older_and_newer_struct_sizes)
{
	/* A newer caller: its struct is larger. Zero tail: accepted. */
	struct {
		struct upager_options o;
		unsigned int future;
	} newer = { .o = UPAGER_OPTS(.handler_threads = 2) };
	struct upager_options o;

	newer.o.sz = sizeof(newer);
	cr_assert_eq(options_resolve(&newer.o, &o), 0);
	cr_assert_eq(o.handler_threads, 2);
	newer.future = 1;
	cr_assert_eq(options_resolve(&newer.o, &o), -EINVAL, "an unknown non-zero member is refused");

	/* An older caller: only the members up to handler_threads. */
	struct upager_options older = UPAGER_OPTS(.handler_threads = 2, .fault_around_max = 77);
	older.sz = offsetof(struct upager_options, fault_around_max);
	cr_assert_eq(options_resolve(&older, &o), 0);
	cr_assert_eq(o.handler_threads, 2);
	cr_assert_eq(o.fault_around_max, OPT_DEFAULT_FAULT_AROUND, "members past sz are not read");
}

Test(options, compression_from_the_environment)
{
	struct upager_options in = UPAGER_OPTS(.flags = UPAGER_OPEN_FROM_ENV), o;
	const char *bad_codec[] = { "", "LZ4", "lz4 ", "gzip", "1" };
	const char *bad_pct[] = { "", "0", "91", "-5", "20%%", "x", "%" };

	setenv("UPAGER_COMPRESS", "lz4", 1);
	setenv("UPAGER_COMPRESS_POOL", "35", 1);
	cr_assert_eq(options_resolve(&in, &o), 0);
	cr_assert_eq(o.compress, UPAGER_COMPRESS_LZ4);
	cr_assert_eq(o.compress_pool_pct, 35);
	setenv("UPAGER_COMPRESS", "zstd", 1);
	setenv("UPAGER_COMPRESS_POOL", "90%", 1);
	cr_assert_eq(options_resolve(&in, &o), 0);
	cr_assert_eq(o.compress, UPAGER_COMPRESS_ZSTD);
	cr_assert_eq(o.compress_pool_pct, 90);
	setenv("UPAGER_COMPRESS", "off", 1);
	cr_assert_eq(options_resolve(&in, &o), 0);
	cr_assert_eq(o.compress, UPAGER_COMPRESS_OFF);
	/* An explicit member wins over the environment. */
	in.compress = UPAGER_COMPRESS_LZ4;
	cr_assert_eq(options_resolve(&in, &o), 0);
	cr_assert_eq(o.compress, UPAGER_COMPRESS_LZ4);
	in.compress = 0;
	unsetenv("UPAGER_COMPRESS_POOL");
	for (size_t i = 0; i < sizeof(bad_codec) / sizeof(bad_codec[0]); i++) {
		setenv("UPAGER_COMPRESS", bad_codec[i], 1);
		cr_assert_eq(options_resolve(&in, &o), -EINVAL, "UPAGER_COMPRESS=\"%s\"",
			     bad_codec[i]);
	}
	unsetenv("UPAGER_COMPRESS");
	for (size_t i = 0; i < sizeof(bad_pct) / sizeof(bad_pct[0]); i++) {
		setenv("UPAGER_COMPRESS_POOL", bad_pct[i], 1);
		cr_assert_eq(options_resolve(&in, &o), -EINVAL, "UPAGER_COMPRESS_POOL=\"%s\"",
			     bad_pct[i]);
	}
	unsetenv("UPAGER_COMPRESS_POOL");
	in = UPAGER_OPTS(.compress = UPAGER_COMPRESS_ZSTD + 1);
	cr_assert_eq(options_resolve(&in, &o), -EINVAL);
	in = UPAGER_OPTS(.compress_pool_pct = OPT_MAX_COMPRESS_POOL_PCT + 1);
	cr_assert_eq(options_resolve(&in, &o), -EINVAL);
}

/* A member a newer header adds in today's tail padding leaves sizeof as
 * it is: it must still be seen, and refused. The last member is named
 * here, not through OPTS_KNOWN_END, so that a member added without
 * moving OPTS_KNOWN_END shows. (A caller built before store_ops had 4
 * bytes of tail padding there: they are now padding before store_ops,
 * which its sz leaves out.) */
Test(options, a_member_in_todays_tail_padding_is_refused)
{
	const size_t end = offsetof(struct upager_options, compress_pool_pct) +
			   sizeof(unsigned int); /* the last member's end */
	const size_t old_end = offsetof(struct upager_options, swap_readahead_max) +
			       sizeof(unsigned int);
	struct upager_options in = UPAGER_OPTS(), o;

	cr_assert_eq(end, OPTS_KNOWN_END, "OPTS_KNOWN_END names the last member");
	for (size_t i = end; i < sizeof(in); i++) {
		((unsigned char *)&in)[i] = 1;
		cr_assert_eq(options_resolve(&in, &o), -EINVAL, "tail byte %zu", i);
		((unsigned char *)&in)[i] = 0;
	}
	in.store_ctx = &in;
	in.compress_pool_pct = 30;
	cr_assert_eq(options_resolve(&in, &o), 0, "the last members are known");
	cr_assert_eq(o.store_ctx, &in);
	cr_assert_eq(o.compress_pool_pct, 30);
	/* A caller built before store_ops: its struct ended at old_end,
	 * rounded up to 8. */
	in = UPAGER_OPTS(.handler_threads = 3);
	in.sz = (old_end + 7) & ~(size_t)7;
	cr_assert_eq(options_resolve(&in, &o), 0);
	cr_assert_eq(o.handler_threads, 3);
	cr_assert_null(o.store_ops);
}

static char last_log[512];

static void keep_log(enum upager_log_level level, const char *fmt, va_list args)
{
	(void)level;
	vsnprintf(last_log, sizeof(last_log), fmt, args);
}

/* strtoull skips blanks and takes a sign: " -1" would be 2^64 - 1. */
Test(options, numbers_start_with_a_digit)
{
	struct upager_options in = UPAGER_OPTS(.flags = UPAGER_OPEN_FROM_ENV), o;
	const char *bad[] = { " -1", "  1", "\t5", "\n1M", "+1", "-0" };
	uint64_t v;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(options_parse_size(bad[i], &v), -EINVAL, "size \"%s\"", bad[i]);
		setenv("UPAGER_THREADS", bad[i], 1);
		cr_assert_eq(options_resolve(&in, &o), -EINVAL, "UPAGER_THREADS=\"%s\"", bad[i]);
	}
	unsetenv("UPAGER_THREADS");
	cr_assert_eq(options_parse_size("1M", &v), 0);
	cr_assert_eq(v, 1 << 20);
}

/* upager-run's -m 0 is refused; the variable set to 0 is too (unset, it
 * means no budget), saying the least budget. */
Test(options, a_zero_budget_variable_is_refused)
{
	struct upager_options in = UPAGER_OPTS(.flags = UPAGER_OPEN_FROM_ENV), o;
	upager_log_fn old = upager_set_log(keep_log);

	setenv("UPAGER_MAX_RESIDENT", "0", 1);
	cr_assert_eq(options_resolve(&in, &o), -EINVAL);
	cr_assert(strstr(last_log, "UPAGER_MAX_RESIDENT") && strstr(last_log, "256 KiB"),
		  "message: %s", last_log);
	unsetenv("UPAGER_MAX_RESIDENT");
	cr_assert_eq(options_resolve(&in, &o), 0);
	cr_assert_eq(o.max_resident, 0, "unset: no budget");
	upager_set_log(old);
}

/* A swap store smaller than one cluster cannot hold a slot: say so, and
 * the least size, before any file is made. */
Test(options, a_swap_store_below_one_cluster_names_the_minimum)
{
	struct upager_options in = UPAGER_OPTS(.max_resident = 16 << 20, .swap_size = 128 << 10), o;
	upager_log_fn old = upager_set_log(keep_log);

	last_log[0] = 0;
	cr_assert_eq(options_resolve(&in, &o), -EINVAL);
	cr_assert(strstr(last_log, "swap_size") && strstr(last_log, "256 KiB"),
		  "message: %s", last_log);
	in.swap_size = 256 << 10;
	cr_assert_eq(options_resolve(&in, &o), 0);
	upager_set_log(old);
}
