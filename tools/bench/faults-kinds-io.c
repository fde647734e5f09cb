/* SPDX-License-Identifier: MIT */
/*
 * faults-kinds-io.c - the kinds of upager-bench faults that need a file or
 * the swap store: swapin, fileread, minor, cow and refault, and the file
 * they read (faults-kinds.c says what each kind is and compares).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "faults.h"
#include "upager-internal.h"

/* ---- the file ------------------------------------------------------------------------- */

int faults_file_create(struct bench *b)
{
	char path[] = FILE_DIR "/upager-bench-XXXXXX", self[64];
	size_t chunk = 4 * MIB, len = b->file_pages * b->page;
	char *buf;
	int err = 0;

	b->fd = mkostemp(path, O_CLOEXEC);
	if (b->fd < 0)
		return -errno;
	/* Unlinked at once: nothing to clean up however the run ends. */
	unlink(path);
	buf = malloc(chunk);
	if (!buf)
		return -ENOMEM;
	memset(buf, 0x5a, chunk);
	for (size_t off = 0; off < len && !err; off += chunk) {
		size_t n = min_size(chunk, len - off);

		for (size_t p = 0; p < n; p += b->page)
			pattern_write(buf + p, b->page, (off + p) / b->page);
		if (pwrite(b->fd, buf, n, (off_t)off) != (ssize_t)n)
			err = errno ? -errno : -EIO;
	}
	free(buf);
	if (!err && fdatasync(b->fd))
		err = -errno;
	if (err)
		return err;
	snprintf(self, sizeof(self), "/proc/self/fd/%d", b->fd);
	b->fd_direct = open(self, O_RDONLY | O_DIRECT | O_CLOEXEC);
	return b->fd_direct < 0 ? -errno : 0;
}

/* Make the next pass read the file from the disk. */
static void cache_drop(struct bench *b)
{
	size_t len = b->file_pages * b->page;
	uint64_t cached = 0;
	void *m;

	fdatasync(b->fd);
	posix_fadvise(b->fd, 0, 0, POSIX_FADV_DONTNEED);
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, b->fd, 0);
	if (m == MAP_FAILED)
		return;
	if (!mincore(m, len, b->vec))
		for (size_t i = 0; i < b->file_pages; i++)
			cached += b->vec[i] & 1;
	munmap(m, len);
	if (cached > b->cached_max)
		b->cached_max = cached;
}

/* The first @n pages of a fixed permutation of the file's pages. */
static size_t file_order(struct bench *b, enum kind kind, size_t n)
{
	for (size_t i = 0; i < b->file_pages; i++)
		b->scratch[i] = (uint32_t)i;
	shuffle(b->scratch, b->file_pages, RAND_SEED + kind);
	return min_size(n, b->file_pages);
}

static int measure_iouring(struct ctx *c)
{
	struct bench *b = c->b;
	struct touch t;
	int err;

	touch_init(b, &t, NULL, b->scratch, file_order(b, c->kind, kind_touches(b, c->kind)),
		   ACC_IO, c->tc);
	t.deadline = deadline_of(b);
	err = touch_run(&t);
	if (err)
		return err;
	report_bad(c, t.bad, "blocks read wrong");
	c->s->served = c->s->io = (double)t.total;
	sample_from(c, b->lat, t.total, t.ns);
	return 0;
}

/* ---- swap-in ------------------------------------------------------------------------- */

int measure_swapin(struct ctx *c)
{
	struct bench *b = c->b;
	size_t rp = REGION_BUDGETS * b->budget_pages, len = rp * b->page, m = 0, mapped = 0, skip;
	struct upager_stats a = UPAGER_STATS(), z = UPAGER_STATS();
	struct upager *p;
	struct touch t;
	void *addr;
	char *base;
	int err;

	if (c->impl == IMPL_IOURING)
		return measure_iouring(c);
	err = bench_pager_open(c, 0, b->budget, &p);
	if (err)
		return err;
	err = upager_map(p, NULL, len, UPAGER_PROT_READ | UPAGER_PROT_WRITE, UPAGER_MAP_PRIVATE,
			 &addr);
	if (err)
		goto out_close;
	base = addr;
	for (size_t i = 0; i < rp; i++)
		pattern_write(base + i * b->page, b->page, i);
	bench_pager_settle(p);
	upager_stats_read(p, &a);
	if (mincore(base, len, b->vec)) {
		err = -errno;
		goto out_close;
	}
	/* Not mapped: in the swap store, or staged. Staged pages are the
	 * last written of those: leave them out, with a margin. */
	for (size_t i = 0; i < rp; i++) {
		if (b->vec[i] & 1)
			mapped++;
		else
			b->scratch[m++] = (uint32_t)i;
	}
	skip = (a.pages_resident > mapped ? a.pages_resident - mapped : 0) + b->budget_pages / 16;
	m = m > skip ? m - skip : 0;
	if (!b->swapin_seq)
		shuffle(b->scratch, m, RAND_SEED + K_SWAPIN);
	touch_init(b, &t, base, b->scratch, min_size(kind_touches(b, K_SWAPIN), m), ACC_READ, c->tc);
	t.deadline = deadline_of(b);
	err = touch_run(&t);
	upager_stats_read(p, &z);
	upager_counts(c, &a, &z);
	report_bad(c, t.bad, "pages read back wrong");
	if (!err)
		sample_from(c, b->lat, t.total, t.ns);
out_close:
	bench_pager_close(p);
	return err;
}

/* ---- file read-in ---------------------------------------------------------------------- */

/* The first @len bytes of the benchmark's file, mapped by @p as the
 * kernel's side maps them: shared, read-only. */
static int map_file_read(struct upager *p, const struct bench *b, size_t len, void **out)
{
	return upager_map_file(p, NULL, len, UPAGER_PROT_READ, UPAGER_MAP_SHARED, b->fd, 0, out);
}

int measure_fileread(struct ctx *c)
{
	struct bench *b = c->b;
	size_t len = b->file_pages * b->page;
	struct upager_stats a = UPAGER_STATS();
	struct upager *p = NULL;
	struct touch t;
	void *base;
	size_t n;
	int err;

	cache_drop(b);
	if (c->impl == IMPL_IOURING)
		return measure_iouring(c);
	n = file_order(b, K_FILEREAD, kind_touches(b, K_FILEREAD));
	if (c->impl == IMPL_KERNEL) {
		base = mmap(NULL, len, PROT_READ, MAP_SHARED, b->fd, 0);
		if (base == MAP_FAILED)
			return -errno;
		/* No read-around: one page per fault, as upager's random faults. */
		madvise(base, len, MADV_RANDOM);
	} else {
		err = bench_pager_open(c, 0, 0, &p);
		if (err)
			return err;
		err = map_file_read(p, b, len, &base);
		if (err)
			goto out;
		upager_stats_read(p, &a);
	}
	touch_init(b, &t, base, b->scratch, n, ACC_READ, c->tc);
	err = touch_counted(c, &t, p, &a);
	report_bad(c, t.bad, "pages read back wrong");
	if (!err)
		sample_from(c, b->lat, t.total, t.ns);
out:
	if (p)
		bench_pager_close(p);
	else
		munmap(base, len);
	return err;
}

/* ---- minor ------------------------------------------------------------------------------ */

/* raw-uffd's minor faults: a memfd holding the touched pages, mapped
 * shared, registered MINOR. */
static int minor_raw(struct ctx *c, struct touch *t, size_t len)
{
	struct bench *b = c->b;
	struct raw_uffd raw;
	uint64_t faults;
	int fd, err, close_err;
	char *buf, *m;

	fd = memfd_create("upager-bench", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = -ENOMEM;
	buf = malloc(b->page);
	if (!buf)
		goto out_close;
	err = ftruncate(fd, (off_t)len) ? -errno : 0;
	memset(buf, 0x5a, b->page);
	for (size_t i = 0; i < t->n && !err; i++) {
		pattern_write(buf, b->page, t->order[i]);
		if (pwrite(fd, buf, b->page, (off_t)t->order[i] * (off_t)b->page) != (ssize_t)b->page)
			err = -EIO;
	}
	free(buf);
	if (err)
		goto out_close;
	m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		err = -errno;
		goto out_close;
	}
	err = raw_open(&raw, RAW_MINOR, RAW_PER_THREAD, m, len, b->page, c->tc, &b->cpus);
	if (err)
		goto out_unmap;
	t->base = m;
	t->deadline = deadline_of(b);
	err = touch_run(t);
	close_err = raw_close(&raw, &faults);
	err = err ? err : close_err;
	c->s->faults = c->s->served = (double)faults;
out_unmap:
	munmap(m, len);
out_close:
	close(fd);
	return err;
}

int measure_minor(struct ctx *c)
{
	struct bench *b = c->b;
	size_t n = min_size(kind_touches(b, K_MINOR), b->file_pages / MINOR_STRIDE);
	size_t len = n * MINOR_STRIDE * b->page;
	struct upager_stats a = UPAGER_STATS();
	struct upager *p = NULL;
	void *first = MAP_FAILED, *second = MAP_FAILED;
	struct touch t;
	int err = 0;

	for (size_t i = 0; i < n; i++)
		b->scratch[i] = (uint32_t)(i * MINOR_STRIDE);
	shuffle(b->scratch, n, RAND_SEED + K_MINOR);
	touch_init(b, &t, NULL, b->scratch, n, ACC_READ, c->tc);
	if (c->impl == IMPL_RAW) {
		err = minor_raw(c, &t, len);
		goto out_sample;
	}
	/* The first mapping reads only the pages touched, one at a time: the
	 * kernel's page cache then holds them in single pages. Read ahead
	 * into large folios, they would be mapped up to 2 MiB (a PMD) per
	 * fault, whatever madvise says, and a touch would not be a fault. */
	if (c->impl == IMPL_KERNEL) {
		cache_drop(b);
		first = mmap(NULL, len, PROT_READ, MAP_SHARED, b->fd, 0);
		second = mmap(NULL, len, PROT_READ, MAP_SHARED, b->fd, 0);
		if (first == MAP_FAILED || second == MAP_FAILED) {
			err = -errno;
		} else {
			madvise(first, len, MADV_RANDOM);
			read_pages(first, b->scratch, n, b->page);
		}
	} else {
		err = bench_pager_open(c, 0, 0, &p);
		if (err)
			return err;
		err = map_file_read(p, b, len, &first);
		if (!err) {
			read_pages(first, b->scratch, n, b->page);
			err = map_file_read(p, b, len, &second);
		}
		upager_stats_read(p, &a);
	}
	if (!err) {
		t.base = second;
		err = touch_counted(c, &t, p, &a);
	}
	if (p) {
		bench_pager_close(p);
	} else {
		if (first != MAP_FAILED)
			munmap(first, len);
		if (second != MAP_FAILED)
			munmap(second, len);
	}
out_sample:
	report_bad(c, t.bad, "pages read back wrong");
	if (!err)
		sample_from(c, b->lat, t.total, t.ns);
	return err;
}

/* ---- copy-on-write ------------------------------------------------------------------------- */

int measure_cow(struct ctx *c)
{
	struct bench *b = c->b;
	size_t n = min_size(kind_touches(b, K_COW), b->file_pages), len = n * b->page;
	struct upager_stats a = UPAGER_STATS(), z = UPAGER_STATS();
	struct upager *p = NULL;
	struct raw_uffd raw;
	uint64_t faults;
	struct touch t;
	void *base = MAP_FAILED;
	int err = 0;

	for (size_t i = 0; i < n; i++)
		b->scratch[i] = (uint32_t)i;
	shuffle(b->scratch, n, RAND_SEED + K_COW);
	switch (c->impl) {
	case IMPL_KERNEL:
		base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, b->fd, 0);
		if (base == MAP_FAILED)
			return -errno;
		read_all(base, n, b->page);
		break;
	case IMPL_RAW:
		base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (base == MAP_FAILED)
			return -errno;
		for (size_t i = 0; i < n; i++)
			pattern_write((char *)base + i * b->page, b->page, i);
		err = raw_open(&raw, RAW_WP, RAW_PER_THREAD, base, len, b->page, c->tc, &b->cpus);
		if (err) {
			munmap(base, len);
			return err;
		}
		break;
	default:
		err = bench_pager_open(c, 0, 0, &p);
		if (err)
			return err;
		err = upager_map_file(p, NULL, len, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
				      UPAGER_MAP_PRIVATE, b->fd, 0, &base);
		if (err) {
			bench_pager_close(p);
			return err;
		}
		read_all(base, n, b->page);
		upager_stats_read(p, &a);
		break;
	}
	touch_init(b, &t, base, b->scratch, n, ACC_WRITE_NEW, c->tc);
	t.deadline = deadline_of(b);
	err = touch_run(&t);
	report_bad(c, check_cow(&t), "pages wrong after their copy-on-write");
	switch (c->impl) {
	case IMPL_KERNEL:
		kernel_counts(c, &t);
		munmap(base, len);
		break;
	case IMPL_RAW: {
		int close_err = raw_close(&raw, &faults);

		err = err ? err : close_err;
		c->s->faults = c->s->served = (double)faults;
		munmap(base, len);
		break;
	}
	default:
		upager_stats_read(p, &z);
		upager_counts(c, &a, &z);
		bench_pager_close(p);
		break;
	}
	if (!err)
		sample_from(c, b->lat, t.total, t.ns);
	return err;
}

/* ---- re-fault ---------------------------------------------------------------------------- */

/*
 * Cycles of: write a block of fresh pages larger than the budget (the
 * pages before it all leave memory, and the block's own oldest pages are
 * evicted or staged, in the order written), then touch the staged ones.
 * Staged pages are the not-mapped pages just below the mapped ones; how
 * many there are is pages in memory (stats.pages_resident) less pages
 * mapped (mincore). Three quarters of them are touched, the newest: a
 * margin for reclaim that moved on since. The stats say what each pass
 * really was (reactivations, and pages read: none).
 */
int measure_refault(struct ctx *c)
{
	struct bench *b = c->b;
	size_t bp = b->budget_pages, w = bp + bp / 8, want = kind_touches(b, K_REFAULT);
	size_t collected = 0, next = 0;
	uint64_t ns = 0, deadline;
	struct upager *p;
	void *addr;
	char *base;
	int err;

	err = bench_pager_open(c, 0, b->budget, &p);
	if (err)
		return err;
	err = upager_map(p, NULL, b->region_pages * b->page, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
			 UPAGER_MAP_PRIVATE, &addr);
	if (err)
		goto out_close;
	base = addr;
	deadline = deadline_of(b);
	for (unsigned int cycle = 0; collected < want && next + w <= b->region_pages; cycle++) {
		struct upager_stats a = UPAGER_STATS(), z = UPAGER_STATS();
		size_t mapped = 0, staged, m = 0;
		struct touch t;

		if (deadline && now_ns() >= deadline)
			break;
		for (size_t i = next; i < next + w; i++)
			pattern_write(base + i * b->page, b->page, i);
		next += w;
		bench_pager_settle(p);
		upager_stats_read(p, &a);
		/* Resident and not mapped is staged. Earlier cycles' pages
		 * may still be mapped: those a soft fault brought back go
		 * round the active list once more (docs/ARCHITECTURE.md,
		 * Policy). The latest cycle's last, so b->vec keeps it. */
		for (size_t from = 0; from < next; from += w) {
			size_t len = min_size(w, next - from);

			if (mincore(base + from * b->page, len * b->page, b->vec)) {
				err = -errno;
				break;
			}
			for (size_t i = 0; i < len; i++)
				mapped += b->vec[i] & 1;
		}
		if (err)
			break;
		staged = a.pages_resident > mapped ? a.pages_resident - mapped : 0;
		staged = min_size(staged * 3 / 4, want - collected);
		/* One page per aligned UPAGER_INTERNAL_REACTIVATE_AROUND window: a soft
		 * fault brings back the pages staged beside it there, and a
		 * touch of one of those would time no fault at all. */
		for (size_t i = w, unmapped = 0; i-- > 0 && unmapped < staged;) {
			uintptr_t at = (uintptr_t)(base + (next - w + i) * b->page);

			if (b->vec[i] & 1)
				continue;
			unmapped++;
			if (at / b->page % UPAGER_INTERNAL_REACTIVATE_AROUND ==
			    UPAGER_INTERNAL_REACTIVATE_AROUND / 2)
				b->scratch[m++] = (uint32_t)(next - w + i);
		}
		if (!m)
			break;
		shuffle(b->scratch, m, RAND_SEED + K_REFAULT + cycle);
		touch_init(b, &t, base, b->scratch, m, ACC_READ, c->tc);
		t.lat = b->lat + collected;
		t.deadline = deadline;
		err = touch_run(&t);
		upager_stats_read(p, &z);
		upager_counts(c, &a, &z);
		report_bad(c, t.bad, "pages read back wrong");
		collected += t.total;
		ns += t.ns;
		if (err)
			break;
	}
	if (!err)
		sample_from(c, b->lat, collected, ns);
out_close:
	bench_pager_close(p);
	return err;
}
