/* SPDX-License-Identifier: MIT */
/*
 * options.c - the pager's options: defaults, validation, and the UPAGER_*
 * environment variables tools use to set them.
 */
#define _GNU_SOURCE
#include "core/options.h"

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

/* strtoull skips leading blanks and takes a sign ("  -1" is ULLONG_MAX):
 * a number here starts with a digit, nothing before it. */
static bool starts_with_digit(const char *s)
{
	return s && *s >= '0' && *s <= '9';
}

/* Strict unsigned parse: decimal digits only, no sign, no overflow. */
static int parse_uint(const char *s, unsigned long long *out)
{
	char *end;
	unsigned long long v;

	if (!starts_with_digit(s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int options_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	unsigned int shift = 0;

	if (!starts_with_digit(s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	default: break;
	}
	if ((*end == 'i' || *end == 'I') && shift)
		end++;
	if ((*end == 'b' || *end == 'B'))
		end++;
	if (*end || (shift && v > (UINT64_MAX >> shift)))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int env_size(const char *name, uint64_t *value)
{
	const char *s = getenv(name);

	if (!s)
		return 0;
	if (options_parse_size(s, value)) {
		log_error("options: %s=\"%s\" is not a size (bytes, or a number with K, M, G or T)",
			  name, s);
		return -EINVAL;
	}
	return 0;
}

static int env_uint(const char *name, unsigned int max, unsigned int *value)
{
	const char *s = getenv(name);
	unsigned long long v;

	if (!s)
		return 0;
	if (parse_uint(s, &v) || v > max) {
		log_error("options: %s=\"%s\" is not a number in [0, %u]", name, s, max);
		return -EINVAL;
	}
	*value = (unsigned int)v;
	return 0;
}

static int env_compress(unsigned int *value)
{
	static const char *const names[] = {
		[UPAGER_COMPRESS_OFF] = "off",
		[UPAGER_COMPRESS_LZ4] = "lz4",
		[UPAGER_COMPRESS_ZSTD] = "zstd",
	};
	const char *s = getenv("UPAGER_COMPRESS");

	if (!s)
		return 0;
	for (unsigned int c = UPAGER_COMPRESS_OFF; c <= UPAGER_COMPRESS_ZSTD; c++) {
		if (!strcmp(s, names[c])) {
			*value = c;
			return 0;
		}
	}
	log_error("options: UPAGER_COMPRESS=\"%s\" is not off, lz4 or zstd", s);
	return -EINVAL;
}

/* A share in percent, 1..max, with or without its '%'. */
static int env_percent(const char *name, unsigned int max, unsigned int *value)
{
	const char *s = getenv(name);
	unsigned long long v;
	char buf[24];
	size_t len;

	if (!s)
		return 0;
	len = strlen(s);
	if (len && len < sizeof(buf) && s[len - 1] == '%') {
		memcpy(buf, s, len - 1);
		buf[len - 1] = 0;
	} else if (len < sizeof(buf)) {
		memcpy(buf, s, len + 1);
	} else {
		buf[0] = 0;
	}
	if (parse_uint(buf, &v) || !v || v > max) {
		log_error("options: %s=\"%s\" is not a percentage in [1, %u]", name, s, max);
		return -EINVAL;
	}
	*value = (unsigned int)v;
	return 0;
}

int upager_options_from_env(struct upager_options *opts)
{
	struct upager_options o = { .sz = sizeof(o) };
	const char *lvl = getenv("UPAGER_LOG");
	unsigned int cpu = UINT_MAX;
	size_t sz;
	int err;

	if (!opts || opts->sz < offsetof(struct upager_options, handler_threads)) {
		log_error("options: no options, or sz not set (use UPAGER_OPTS())");
		return -EINVAL;
	}
	/* Work on a full-size copy; a caller built against an older, smaller
	 * struct gets back only the members it has. */
	sz = opts->sz < sizeof(o) ? opts->sz : sizeof(o);
	memcpy(&o, opts, sz);
	if (lvl && log_level_parse(lvl) < 0) {
		log_error("options: UPAGER_LOG=\"%s\" is not error, warn, info or debug", lvl);
		return -EINVAL;
	}
	if (!o.handler_threads &&
	    (err = env_uint("UPAGER_THREADS", OPT_MAX_THREADS, &o.handler_threads)))
		return err;
	if (!o.fault_around_max &&
	    (err = env_uint("UPAGER_FAULT_AROUND", OPT_MAX_FAULT_AROUND, &o.fault_around_max)))
		return err;
	if ((err = env_uint("UPAGER_HANDLER_CPU", OPT_MAX_CPU, &cpu)))
		return err;
	if (!o.max_resident && (err = env_size("UPAGER_MAX_RESIDENT", &o.max_resident)))
		return err;
	/* In the struct 0 can only mean "no budget"; a variable set to 0
	 * asks for a cap of nothing, which upager-run's -m 0 refuses too:
	 * unset, it means no budget. */
	if (!o.max_resident && getenv("UPAGER_MAX_RESIDENT")) {
		log_error("options: UPAGER_MAX_RESIDENT=\"%s\" is no budget; it takes %u KiB at "
			  "least (unset it to run without one)", getenv("UPAGER_MAX_RESIDENT"),
			  OPT_MIN_RESIDENT >> 10);
		return -EINVAL;
	}
	if (!o.swap_size && (err = env_size("UPAGER_SWAP_SIZE", &o.swap_size)))
		return err;
	if (!o.swap_readahead_max &&
	    (err = env_uint("UPAGER_SWAP_READAHEAD", OPT_MAX_SWAP_READAHEAD,
			    &o.swap_readahead_max)))
		return err;
	if (!o.compress && (err = env_compress(&o.compress)))
		return err;
	if (!o.compress_pool_pct &&
	    (err = env_percent("UPAGER_COMPRESS_POOL", OPT_MAX_COMPRESS_POOL_PCT,
			       &o.compress_pool_pct)))
		return err;
	if (!o.swap_path)
		o.swap_path = getenv("UPAGER_SWAP");
	if (cpu != UINT_MAX && !(o.flags & UPAGER_OPEN_PIN_HANDLERS) &&
	    sz >= offsetof(struct upager_options, handler_cpu) + sizeof(o.handler_cpu)) {
		o.flags |= UPAGER_OPEN_PIN_HANDLERS;
		o.handler_cpu = cpu;
	}
	o.sz = opts->sz;
	memcpy(opts, &o, sz);
	return 0;
}

int options_resolve(const struct upager_options *in, struct upager_options *out)
{
	struct upager_options o = { .sz = sizeof(o) };
	size_t sz = in ? in->sz : sizeof(o);
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int err;

	if (in) {
		if (sz < offsetof(struct upager_options, handler_threads)) {
			log_error("options: sz %zu is too small (use UPAGER_OPTS())", sz);
			return -EINVAL;
		}
		/* A newer caller's struct may be larger: its extra members
		 * must be zero, as they ask for what this library lacks.
		 * They start where the last member known here ends, not at
		 * sizeof: a member added in today's tail padding keeps the
		 * size (libbpf's offsetofend). */
		for (size_t i = OPTS_KNOWN_END; i < sz; i++) {
			if (((const unsigned char *)in)[i]) {
				log_error("options: member at offset %zu is unknown to this libupager", i);
				return -EINVAL;
			}
		}
		memcpy(&o, in, sz < sizeof(o) ? sz : sizeof(o));
		o.sz = sizeof(o);
	}
	if (o.flags & ~(UPAGER_OPEN_FROM_ENV | UPAGER_OPEN_PIN_HANDLERS |
			UPAGER_OPEN_SWAP_KEEP | UPAGER_OPEN_SWAP_PREALLOCATE |
			UPAGER_OPEN_BUDGET_PROCESS)) {
		log_error("options: unknown flags 0x%x", o.flags);
		return -EINVAL;
	}
	if ((o.flags & UPAGER_OPEN_FROM_ENV) && (err = upager_options_from_env(&o)))
		return err;
	if (!o.handler_threads) {
		cpu_set_t cpus;
		unsigned int n = 1;

		if (!sched_getaffinity(0, sizeof(cpus), &cpus))
			n = (unsigned int)CPU_COUNT(&cpus);
		if (n > OPT_DEFAULT_THREADS_MAX)
			n = OPT_DEFAULT_THREADS_MAX;
		/* With swap, a handler waits for I/O, and the last free
		 * handler never waits (it defers to the worker, one fault at
		 * a time): one more than the CPUs lets every CPU's thread
		 * wait for its own swap-in (docs/BENCHMARKS.md, "Design
		 * figures": one handler more under a budget). */
		if (o.max_resident)
			n++;
		o.handler_threads = n ? n : 1;
		if (!(o.flags & UPAGER_OPEN_PIN_HANDLERS))
			o.flags |= OPT_SPREAD;
	}
	if (o.store_ops && !o.max_resident) {
		log_error("options: store_ops without a budget (max_resident): nothing would "
			  "ever be evicted to it");
		return -EINVAL;
	}
	if (o.max_resident && !o.swap_size)
		o.swap_size = OPT_DEFAULT_SWAP_SIZE;
	if (o.max_resident && (o.max_resident < OPT_MIN_RESIDENT ||
			       o.max_resident / 4096 > UINT32_MAX - 1)) {
		log_error("options: max_resident of %llu bytes; it takes %u KiB at least",
			  (unsigned long long)o.max_resident, OPT_MIN_RESIDENT >> 10);
		return -EINVAL;
	}
	if (o.max_resident &&
	    o.swap_size < (uint64_t)sysconf(_SC_PAGESIZE) * OPT_MIN_SWAP_PAGES) {
		log_error("options: swap_size of %llu bytes; it takes %llu KiB at least (one "
			  "cluster of %u pages)", (unsigned long long)o.swap_size,
			  (unsigned long long)sysconf(_SC_PAGESIZE) * OPT_MIN_SWAP_PAGES >> 10,
			  OPT_MIN_SWAP_PAGES);
		return -EINVAL;
	}
	if (!o.fault_around_max)
		o.fault_around_max = OPT_DEFAULT_FAULT_AROUND;
	if (!o.compress)
		o.compress = OPT_DEFAULT_COMPRESS;
	if (o.compress > UPAGER_COMPRESS_ZSTD) {
		log_error("options: compress %u is not a UPAGER_COMPRESS_* value", o.compress);
		return -EINVAL;
	}
	if (!o.compress_pool_pct)
		o.compress_pool_pct = OPT_DEFAULT_COMPRESS_POOL_PCT;
	if (o.compress_pool_pct > OPT_MAX_COMPRESS_POOL_PCT) {
		log_error("options: a compressed pool of %u%% of the budget, at most %u%%",
			  o.compress_pool_pct, OPT_MAX_COMPRESS_POOL_PCT);
		return -EINVAL;
	}
	if (o.handler_threads > OPT_MAX_THREADS) {
		log_error("options: %u handler threads, at most %u", o.handler_threads,
			  OPT_MAX_THREADS);
		return -EINVAL;
	}
	if (o.fault_around_max > OPT_MAX_FAULT_AROUND) {
		log_error("options: fault-around of %u pages, at most %u",
			  o.fault_around_max, OPT_MAX_FAULT_AROUND);
		return -EINVAL;
	}
	if (!o.swap_readahead_max)
		o.swap_readahead_max = OPT_MAX_SWAP_READAHEAD;
	if (o.swap_readahead_max > OPT_MAX_SWAP_READAHEAD) {
		log_error("options: swap read-ahead of %u pages, at most %u", o.swap_readahead_max,
			  OPT_MAX_SWAP_READAHEAD);
		return -EINVAL;
	}
	if (o.handler_cpu > OPT_MAX_CPU) {
		log_error("options: handler CPU %u, at most %u", o.handler_cpu, OPT_MAX_CPU);
		return -EINVAL;
	}
	/* The handlers are pinned from that CPU on, wrapping around: a CPU
	 * the machine lacks would silently pin them elsewhere. */
	if ((o.flags & UPAGER_OPEN_PIN_HANDLERS) && ncpu > 0 && o.handler_cpu >= (unsigned int)ncpu) {
		log_error("options: handler CPU %u%s, but CPUs 0-%ld are online here", o.handler_cpu,
			  (o.flags & UPAGER_OPEN_FROM_ENV) && getenv("UPAGER_HANDLER_CPU") ?
			  " (UPAGER_HANDLER_CPU)" : "", ncpu - 1);
		return -EINVAL;
	}
	*out = o;
	return 0;
}
