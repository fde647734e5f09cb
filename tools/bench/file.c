/* SPDX-License-Identifier: MIT */
/*
 * file.c - "upager-bench file", the file-backed out-of-core benchmark: one file
 * larger than the frame budget, read and written through shared file
 * mappings paged by upager (upager_map_file under a budget) and through
 * plain kernel mmap(MAP_SHARED) of the same file, in the same run.
 *
 * Before every pass of both implementations the kernel's page cache of
 * the file is dropped (fdatasync, POSIX_FADV_DONTNEED, and drop_caches
 * when writable), and every pass gets a fresh mapping: pages a mapping
 * holds would carry over into the next pass otherwise (the kernel has no
 * memory limit here, and neither posix_fadvise nor drop_caches evicts a
 * mapped page), so each pass starts with the file on the disk only.
 *
 * Passes, in order, each timed on its own: seq-read (every page in order
 * through a read-only mapping), rand-read (uniform page reads, every one
 * timed), write (a new pattern into every page through a read-write
 * mapping) and its sync (upager_sync(UPAGER_SYNC_DURABLE); msync(MS_SYNC)
 * + fdatasync), reported alone and together. Then, untimed, verify: the
 * file read back with pread while the written mapping is still in place,
 * so pages a sync failed to write show as bad rather than being written
 * by the unmap. A page's pattern is derived from its index and a
 * generation, in its first and last 8 bytes; reads check it too.
 *
 * Rows report medians over runs; p50/p99 come from the run with the
 * median throughput; max is the slowest access over runs.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "hist.h"
#include "upager-internal.h"

const char *const file_impl_name[NIMPL] = { "upager", "kernel" };
const char *const file_pass_name[NPASS] = { "seq-read", "rand-read", "write", "sync",
					    "write+sync" };

/*
 * What must be undone however the process ends: this tool's one
 * process-wide state, because signal handlers and atexit() reach nothing
 * else. Paths are written before the file they name exists, flags right
 * after it does; cleanup_run() only uses async-signal-safe calls.
 */
static struct {
	struct undo_file file, store;
} cl;

/* ---- cleanup ------------------------------------------------------------------- */

static void cleanup_run(void)
{
	if (!bench_is_main())
		return;
	undo_file_run(&cl.file);
	/* upager_close() removes it; this is for the paths that skip it. */
	undo_file_run(&cl.store);
}

/* ---- patterns -------------------------------------------------------------------- */

static bool page_check(uint64_t idx, uint64_t gen, uint64_t head, uint64_t tail)
{
	return head == pattern_gen_head(idx, gen) && tail == pattern_gen_tail(idx, gen);
}

/* ---- the file ---------------------------------------------------------------------- */

/* Write generation @gen into every page of the file with pwrite, and make
 * it durable. */
static int file_fill(struct bench *b, uint64_t gen)
{
	char *buf = b->io_buf;
	int err;

	memset(buf, 0x5a, IO_CHUNK);
	for (uint64_t off = 0; off < b->file_size; off += IO_CHUNK) {
		size_t len = b->file_size - off < IO_CHUNK ? (size_t)(b->file_size - off) : IO_CHUNK;

		for (size_t p = 0; p < len; p += b->page) {
			uint64_t idx = (off + p) / b->page;
			uint64_t head = pattern_gen_head(idx, gen), tail = pattern_gen_tail(idx, gen);

			memcpy(buf + p, &head, sizeof(head));
			memcpy(buf + p + b->page - sizeof(tail), &tail, sizeof(tail));
		}
		err = pwrite_full(b->fd, buf, len, off);
		if (err)
			return err;
	}
	if (fdatasync(b->fd))
		return -errno;
	b->disk_gen = gen;
	return 0;
}

static int file_create(struct bench *b)
{
	int err;

	b->fd = open(b->file_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (b->fd < 0)
		return -errno;
	undo_file_arm(&cl.file, b->file_path);
	/* Preallocated: the writes below then only fill blocks in. */
	if (fallocate(b->fd, 0, 0, (off_t)b->file_size) && errno != EOPNOTSUPP)
		return -errno;
	err = file_fill(b, 0);
	return err;
}

/* Read the whole file back with pread and count the pages that do not
 * hold generation @gen. Returns the count, or -errno. */
static int64_t file_verify(struct bench *b, uint64_t gen)
{
	char *buf = b->io_buf;
	int64_t bad = 0;

	for (uint64_t off = 0; off < b->file_size; off += IO_CHUNK) {
		size_t len = b->file_size - off < IO_CHUNK ? (size_t)(b->file_size - off) : IO_CHUNK;

		ssize_t n = pread_full(b->fd, buf, len, off);

		if (n < 0 || (size_t)n != len)
			return n < 0 ? n : -EIO;
		for (size_t p = 0; p < len; p += b->page) {
			uint64_t idx = (off + p) / b->page, head, tail;

			memcpy(&head, buf + p, sizeof(head));
			memcpy(&tail, buf + p + b->page - sizeof(tail), sizeof(tail));
			if (!page_check(idx, gen, head, tail)) {
				if (!bad)
					fprintf(stderr, "upager-bench file: verify: page %" PRIu64
						" holds %016" PRIx64 "/%016" PRIx64 ", expected %016"
						PRIx64 "/%016" PRIx64 "\n", idx, head, tail,
						pattern_gen_head(idx, gen), pattern_gen_tail(idx, gen));
				bad++;
			}
		}
	}
	return bad;
}

/* Pages of the file in the kernel's page cache (mincore on a mapping of
 * it that touches nothing). */
static uint64_t file_cached_pages(struct bench *b)
{
	void *m = mmap(NULL, b->file_size, PROT_READ, MAP_SHARED, b->fd, 0);
	uint64_t n = 0;

	if (m == MAP_FAILED)
		return 0;
	if (!mincore(m, b->file_size, b->mincore_vec))
		for (size_t i = 0; i < b->pages; i++)
			n += b->mincore_vec[i] & 1;
	munmap(m, b->file_size);
	return n;
}

/* Make the next pass read the file from the disk: its dirty pages
 * written, then its clean ones dropped from the page cache (all but
 * those a mapping holds). Returns the pages of the file left cached. */
static uint64_t cache_drop(struct bench *b)
{
	int fd;
	fdatasync(b->fd);
	if (posix_fadvise(b->fd, 0, 0, POSIX_FADV_DONTNEED))
		b->drop_failed = true;
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) == 1)
			b->drop_sys = true;
		close(fd);
	}
	return file_cached_pages(b);
}

/* Before a pass: nothing of the file should be left in memory. */
static void cache_drop_pass(struct bench *b)
{
	uint64_t left = cache_drop(b);

	if (left > b->cached_max)
		b->cached_max = left;
}

/* ---- counters ------------------------------------------------------------------------ */

/* read_bytes of /proc/self/io: what the whole process (every thread,
 * upager's handlers too) had the block layer read. */
static bool io_read_bytes(uint64_t *out)
{
	FILE *f = fopen("/proc/self/io", "re");
	char name[32];
	unsigned long long v;
	bool ok = false;

	if (!f)
		return false;
	while (fscanf(f, "%31s %llu", name, &v) == 2) {
		if (!strcmp(name, "read_bytes:")) {
			*out = v;
			ok = true;
			break;
		}
	}
	fclose(f);
	return ok;
}

static void probe_take(struct upager *pager, struct probe *p)
{
	p->st = UPAGER_STATS();
	if (pager)
		upager_stats_read(pager, &p->st);
	getrusage(RUSAGE_SELF, &p->ru);
	p->io_ok = io_read_bytes(&p->io_read);
	p->t = now_ns();
}

/* The counters of @impl over [@a, @z] into @c. */
static void counters_delta(struct bench *b, enum impl impl, struct counters *c,
			   const struct probe *a, const struct probe *z)
{
	memset(c, 0, sizeof(*c));
	if (a->io_ok && z->io_ok)
		c->disk_reads = (z->io_read - a->io_read) / b->page;
	else
		b->io_missing = true;
	if (impl == IMPL_KERNEL) {
		uint64_t maj = (uint64_t)(z->ru.ru_majflt - a->ru.ru_majflt);

		c->minor = (uint64_t)(z->ru.ru_minflt - a->ru.ru_minflt);
		c->faults = maj + c->minor;
		return;
	}
	c->faults = z->st.faults - a->st.faults;
	c->minor = z->st.faults_minor - a->st.faults_minor;
	c->file_reads = z->st.file_reads - a->st.file_reads;
	c->readahead = z->st.readahead_pages - a->st.readahead_pages;
	c->file_writes = z->st.file_writes - a->st.file_writes;
	c->clean_drops = z->st.clean_drops - a->st.clean_drops;
	c->sigbus = z->st.sigbus - a->st.sigbus;
}

/* ---- passes ------------------------------------------------------------------------- */

/* One pass through one mapping, run on a thread of its own while the
 * caller watches its progress. */
struct pass_run {
	enum pass pass;
	char *base;
	size_t pages, page;
	uint64_t ops, gen, seed;
	uint64_t *lat;
	atomic_uint_fast64_t progress;
	atomic_bool done;
	uint64_t t_start, t_end, max_ns, bad;
};

static void seq_read(struct pass_run *r)
{
	uint64_t prev = r->t_start = now_ns();

	for (size_t i = 0; i < r->pages; i++) {
		const char *p = r->base + i * r->page;
		uint64_t head = *(volatile const uint64_t *)p;
		uint64_t tail = *(volatile const uint64_t *)(p + r->page - 8);
		uint64_t t = now_ns();

		if (t - prev > r->max_ns)
			r->max_ns = t - prev;
		prev = t;
		if (!page_check(i, r->gen, head, tail))
			r->bad++;
		atomic_store_explicit(&r->progress, i + 1, memory_order_relaxed);
	}
	r->t_end = now_ns();
}

static void rand_read(struct pass_run *r)
{
	uint64_t state = r->seed;

	r->t_start = now_ns();
	for (uint64_t n = 0; n < r->ops; n++) {
		size_t i = (size_t)(bench_splitmix64(&state) % r->pages);
		uint64_t head, tail;

		r->lat[n] = read_page_timed(r->base + i * r->page, r->page, &head, &tail);
		if (r->lat[n] > r->max_ns)
			r->max_ns = r->lat[n];
		if (!page_check(i, r->gen, head, tail))
			r->bad++;
		atomic_store_explicit(&r->progress, n + 1, memory_order_relaxed);
	}
	r->t_end = now_ns();
}

static void seq_write(struct pass_run *r)
{
	uint64_t prev = r->t_start = now_ns();

	for (size_t i = 0; i < r->pages; i++) {
		char *p = r->base + i * r->page;
		uint64_t t;

		*(volatile uint64_t *)p = pattern_gen_head(i, r->gen);
		*(volatile uint64_t *)(p + r->page - 8) = pattern_gen_tail(i, r->gen);
		t = now_ns();
		if (t - prev > r->max_ns)
			r->max_ns = t - prev;
		prev = t;
		atomic_store_explicit(&r->progress, i + 1, memory_order_relaxed);
	}
	r->t_end = now_ns();
}

static void *pass_main(void *arg)
{
	struct pass_run *r = arg;

	switch (r->pass) {
	case PASS_SEQ_READ:
		seq_read(r);
		break;
	case PASS_RAND_READ:
		rand_read(r);
		break;
	default:
		seq_write(r);
		break;
	}
	atomic_store(&r->done, true);
	return NULL;
}

/* Run @r on a thread and watch it: a progress line on long passes (on a
 * terminal, or with --progress), a warning when no progress is made for
 * STALL_WARN_NS (a pager bug hangs rather than crashes). */
static int pass_watch(struct bench *b, struct pass_run *r, const char *what)
{
	uint64_t total = r->pass == PASS_RAND_READ ? r->ops : r->pages;
	uint64_t t0 = now_ns(), last = 0, last_change = t0, last_print = t0;
	uint64_t every = b->tty ? 500000000ull : 10000000000ull;
	bool warned = false, shown = false;
	pthread_t thread;
	int err;

	err = -pthread_create(&thread, NULL, pass_main, r);
	if (err)
		return err;
	while (!atomic_load(&r->done)) {
		uint64_t t, n;

		sleep_ms(20);
		t = now_ns();
		n = atomic_load_explicit(&r->progress, memory_order_relaxed);
		if (n != last) {
			if (warned)
				fprintf(stderr, "%supager-bench file: %s: progress again after %.1f s\n",
					shown && b->tty ? "\n" : "", what,
					(double)(t - last_change) / 1e9);
			last = n;
			last_change = t;
			warned = false;
		} else if (!warned && t - last_change > STALL_WARN_NS) {
			fprintf(stderr, "%supager-bench file: %s: no progress for %.0f s (%" PRIu64
				" of %" PRIu64 " done)\n", shown && b->tty ? "\n" : "", what,
				(double)(t - last_change) / 1e9, n, total);
			warned = true;
		}
		if ((b->tty || b->co.progress_forced || b->co.verbose) && t - t0 >= PROGRESS_AFTER_NS &&
		    t - last_print >= every) {
			fprintf(stderr, "%supager-bench file: %s: %" PRIu64 "/%" PRIu64
				" (%.0f%%), %.0f pages/s%s", b->tty ? "\r" : "", what, n, total,
				100.0 * (double)n / (double)total, (double)n * 1e9 / (double)(t - t0),
				b->tty ? "\033[K" : "\n");
			last_print = t;
			shown = true;
		}
	}
	pthread_join(thread, NULL);
	if (shown && b->tty)
		fprintf(stderr, "\r\033[K");
	return 0;
}

struct sample *file_sample_at(struct bench *b, enum impl impl, enum pass pass,
			      unsigned int run)
{
	return &b->samples[((size_t)impl * NPASS + pass) * b->runs + run];
}

/* The sample of pass @r over [@a, @z]. */
static void sample_fill(struct bench *b, enum impl impl, struct sample *s,
			const struct pass_run *r, const struct probe *a, const struct probe *z)
{
	uint64_t n = r->pass == PASS_RAND_READ ? r->ops : r->pages;
	uint64_t ns = r->t_end > r->t_start ? r->t_end - r->t_start : 1;

	memset(s, 0, sizeof(*s));
	s->valid = true;
	s->secs = (double)ns / 1e9;
	s->pps = (double)n * 1e9 / (double)ns;
	s->max = (double)r->max_ns;
	s->bad = r->bad;
	if (r->pass == PASS_RAND_READ) {
		qsort(r->lat, r->ops, sizeof(r->lat[0]), bench_cmp_u64);
		s->p50 = bench_percentile(r->lat, r->ops, 500);
		s->p99 = bench_percentile(r->lat, r->ops, 990);
	}
	counters_delta(b, impl, &s->c, a, z);
}

/* A sync row: [@a, @z] took the time of the sync (and of the writes, for
 * PASS_WRITE_SYNC) over the file's pages. */
static void sample_sync(struct bench *b, enum impl impl, struct sample *s, uint64_t ns,
			double max, const struct probe *a, const struct probe *z)
{
	memset(s, 0, sizeof(*s));
	s->valid = true;
	if (!ns)
		ns = 1;
	s->secs = (double)ns / 1e9;
	s->pps = (double)b->pages * 1e9 / (double)ns;
	s->max = max;
	counters_delta(b, impl, &s->c, a, z);
}

/* ---- the two implementations ----------------------------------------------------------- */

/* A mapping of the whole file by one implementation. */
struct mapping {
	enum impl impl;
	struct upager *pager;  /* IMPL_UPAGER */
	char *base;
};

static int mapping_open(struct bench *b, struct mapping *m, bool writable)
{
	int prot = writable ? PROT_READ | PROT_WRITE : PROT_READ;
	void *base;
	int err;

	if (m->impl == IMPL_UPAGER) {
		err = upager_map_file(m->pager, NULL, b->file_size,
				      writable ? UPAGER_PROT_READ | UPAGER_PROT_WRITE :
				      UPAGER_PROT_READ, UPAGER_MAP_SHARED, b->fd, 0, &base);
		if (err) {
			fprintf(stderr, "upager-bench file: upager_map_file: %s\n", strerror(-err));
			return err;
		}
	} else {
		base = mmap(NULL, b->file_size, prot, MAP_SHARED, b->fd, 0);
		if (base == MAP_FAILED) {
			err = -errno;
			fprintf(stderr, "upager-bench file: mmap: %s\n", strerror(-err));
			return err;
		}
	}
	m->base = base;
	return 0;
}

static void mapping_close(struct bench *b, struct mapping *m)
{
	if (m->impl == IMPL_UPAGER)
		upager_unmap(m->pager, m->base, b->file_size);
	else
		munmap(m->base, b->file_size);
	m->base = NULL;
}

/* The write pass's sync: to the device, as the caller of each would. */
static int mapping_sync(struct bench *b, struct mapping *m)
{
	int err;

	if (m->impl == IMPL_UPAGER) {
		err = upager_sync(m->pager, m->base, b->file_size, UPAGER_SYNC_DURABLE);
		if (err)
			fprintf(stderr, "upager-bench file: upager_sync: %s\n", strerror(-err));
		return err;
	}
	if (msync(m->base, b->file_size, MS_SYNC) || fdatasync(b->fd)) {
		err = -errno;
		fprintf(stderr, "upager-bench file: msync/fdatasync: %s\n", strerror(-err));
		return err;
	}
	return 0;
}

static void pass_init(struct bench *b, struct pass_run *r, enum pass pass, char *base,
		      uint64_t gen, unsigned int run)
{
	memset(r, 0, sizeof(*r));
	r->pass = pass;
	r->base = base;
	r->pages = b->pages;
	r->page = b->page;
	r->ops = b->ops;
	r->gen = gen;
	/* The same stream for both implementations in a run. */
	r->seed = bench_mix64(RAND_SEED + run);
	r->lat = b->lat;
}

static void report_bad(struct bench *b, enum impl impl, enum pass pass, unsigned int run,
		       const struct sample *s)
{
	if (!s->bad && !s->c.sigbus)
		return;
	fprintf(stderr, "upager-bench file: %s %s run %u: %" PRIu64 " pages failed verification, %"
		PRIu64 " SIGBUS\n", file_impl_name[impl], file_pass_name[pass], run + 1, s->bad, s->c.sigbus);
	b->data_error = true;
}

/* One read pass (@pass) on a fresh read-only mapping. */
static int read_pass(struct bench *b, struct mapping *m, enum pass pass, unsigned int run)
{
	struct sample *s = file_sample_at(b, m->impl, pass, run);
	char what[64];
	struct pass_run r;
	struct probe a, z;
	int err;

	snprintf(what, sizeof(what), "run %u %s %s", run + 1, file_impl_name[m->impl], file_pass_name[pass]);
	cache_drop_pass(b);
	if ((err = mapping_open(b, m, false)))
		return err;
	pass_init(b, &r, pass, m->base, b->disk_gen, run);
	cleanup_pass = what;
	probe_take(m->pager, &a);
	err = pass_watch(b, &r, what);
	probe_take(m->pager, &z);
	cleanup_pass = NULL;
	mapping_close(b, m);
	if (err)
		return err;
	sample_fill(b, m->impl, s, &r, &a, &z);
	report_bad(b, m->impl, pass, run, s);
	return 0;
}

/* The write pass, its sync, and the verification of what reached the
 * file, before the unmap could write anything the sync missed. */
static int write_pass(struct bench *b, struct mapping *m, unsigned int run)
{
	uint64_t gen = 1 + (uint64_t)run * NIMPL + m->impl;
	struct probe a, z, y, u;
	struct pass_run r;
	char what[64];
	int64_t bad;
	int err;

	snprintf(what, sizeof(what), "run %u %s write", run + 1, file_impl_name[m->impl]);
	cache_drop_pass(b);
	if ((err = mapping_open(b, m, true)))
		return err;
	pass_init(b, &r, PASS_WRITE, m->base, gen, run);
	cleanup_pass = what;
	probe_take(m->pager, &a);
	err = pass_watch(b, &r, what);
	probe_take(m->pager, &z);
	if (!err) {
		snprintf(what, sizeof(what), "run %u %s sync", run + 1, file_impl_name[m->impl]);
		err = mapping_sync(b, m);
	}
	probe_take(m->pager, &y);
	cleanup_pass = NULL;
	if (err)
		goto out_unmap;
	sample_fill(b, m->impl, file_sample_at(b, m->impl, PASS_WRITE, run), &r, &a, &z);
	sample_sync(b, m->impl, file_sample_at(b, m->impl, PASS_SYNC, run), y.t - z.t,
		    (double)(y.t - z.t), &z, &y);
	sample_sync(b, m->impl, file_sample_at(b, m->impl, PASS_WRITE_SYNC, run),
		    y.t - z.t + r.t_end - r.t_start,
		    (double)(y.t - z.t > r.max_ns ? y.t - z.t : r.max_ns), &a, &y);
	report_bad(b, m->impl, PASS_WRITE_SYNC, run, file_sample_at(b, m->impl, PASS_WRITE_SYNC, run));

	/* Verify from the disk, not the page cache: what the sync made
	 * durable. The kernel's mapped pages stay cached (and coherent). */
	if (b->co.verbose)
		fprintf(stderr, "upager-bench file: run %u %s verify (pread)\n", run + 1,
			file_impl_name[m->impl]);
	cache_drop(b);
	bad = file_verify(b, gen);
	if (bad < 0) {
		err = (int)bad;
		fprintf(stderr, "upager-bench file: verify: pread: %s\n", strerror(-err));
		goto out_unmap;
	}
	b->verify_bad[m->impl] += (uint64_t)bad;
	if (bad) {
		fprintf(stderr, "upager-bench file: %s run %u: %" PRId64 " of %zu pages do not hold "
			"what was written and synced\n", file_impl_name[m->impl], run + 1, bad, b->pages);
		b->data_error = true;
	}
	probe_take(m->pager, &y);
	mapping_close(b, m);
	probe_take(m->pager, &u);
	b->unmap_writes[m->impl] += u.st.file_writes - y.st.file_writes;
	if (bad) {
		/* Start the next passes from a known file. */
		err = file_fill(b, gen);
		if (err)
			fprintf(stderr, "upager-bench file: rewriting the file: %s\n", strerror(-err));
		return err;
	}
	b->disk_gen = gen;
	return 0;

out_unmap:
	mapping_close(b, m);
	return err;
}

static int impl_measure(struct bench *b, enum impl impl, unsigned int run)
{
	struct upager_options opts = UPAGER_OPTS(.max_resident = b->budget,
						 .swap_path = b->store_path,
						 .swap_size = b->file_size,
						 .handler_threads = b->co.handlers);
	struct mapping m = { .impl = impl };
	int err = 0;

	if (impl == IMPL_UPAGER) {
		undo_file_arm(&cl.store, b->store_path);
		err = upager_open(&opts, &m.pager);
		if (err) {
			fprintf(stderr, "upager-bench file: upager_open: %s\n", strerror(-err));
			cl.store.live = 0;
			return err;
		}
	}
	err = read_pass(b, &m, PASS_SEQ_READ, run);
	if (!err)
		err = read_pass(b, &m, PASS_RAND_READ, run);
	if (!err)
		err = write_pass(b, &m, run);
	if (impl == IMPL_UPAGER) {
		upager_close(m.pager);
		cl.store.live = 0;
	}
	return err;
}

/* ---- command line -------------------------------------------------------------------- */

static void usage(void)
{
	printf("usage: upager-bench file [options]\n"
	       "File-backed out-of-core paging: a file larger than the frame budget, read and\n"
	       "written through upager_map_file (MAP_SHARED, frame budget) and through a plain\n"
	       "kernel mmap(MAP_SHARED) of the same file, the page cache dropped before every pass.\n"
	       "Passes: seq-read, rand-read, write + sync, then a pread verification.\n\n"
	       "  --file-size SIZE   file size (default 2G)\n"
	       "  --budget SIZE      upager's frame budget (default 256M)\n"
	       "  --ops N            rand-read accesses per pass (default %u)\n"
	       "  --runs N           runs, medians reported (default %u)\n"
	       "  --handlers N       upager handler threads (default: the library's)\n"
	       "  --dir DIR          the file and upager's swap store (default /var/tmp)\n"
	       "  --quick            file 64M, budget 16M, ops %u, runs %u (a smoke test)\n",
	       DEFAULT_OPS, DEFAULT_RUNS, QUICK_OPS, QUICK_RUNS);
	opt_help_common(21, "a page read or synced wrong, or upager failed");
}

enum { OPT_FILE_SIZE = 256 };

static int file_option(int c, const char *arg, void *file_size)
{
	if (c != OPT_FILE_SIZE)
		return -ENOENT;
	return opt_size("file-size", arg, 1, 1ull << 44, file_size);
}

/* Returns 0 to run, 1 after --help or --version, or -EINVAL (said). */
static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option longopts[] = {
		{ "file-size", required_argument, NULL, OPT_FILE_SIZE },
		BENCH_LONGOPTS_COMMON,
		BENCH_LONGOPTS_PAGER,
		{ NULL, 0, NULL, 0 },
	};
	uint64_t file_size = 0;
	int err;

	b->co.dir = "/var/tmp";
	err = opt_parse(argc, argv, longopts, file_option, &file_size, MAX_RUNS, usage, &b->co);
	if (err)
		return err;
	err = opt_sizes(&b->co, "file", (const uint64_t[]){ file_size, QUICK_FILE_SIZE,
			DEFAULT_FILE_SIZE }, (const uint64_t[]){ QUICK_BUDGET, DEFAULT_BUDGET },
			b->page, true, &b->file_size, &b->budget);
	b->pages = b->file_size / b->page;
	b->ops = opt_pick(&b->co, b->co.ops, QUICK_OPS, DEFAULT_OPS);
	b->runs = (unsigned int)opt_pick(&b->co, b->co.runs, QUICK_RUNS, DEFAULT_RUNS);
	return err;
}

static int bench_alloc(struct bench *b)
{
	b->lat = malloc(b->ops * sizeof(uint64_t));
	b->mincore_vec = malloc(b->pages);
	b->io_buf = malloc(IO_CHUNK);
	b->samples = calloc((size_t)NIMPL * NPASS * b->runs, sizeof(struct sample));
	if (!b->lat || !b->mincore_vec || !b->io_buf || !b->samples) {
		fprintf(stderr, "upager-bench file: allocating buffers: %s\n", strerror(ENOMEM));
		return -ENOMEM;
	}
	/* Touched now, so none of its first touches lands in a pass. */
	memset(b->lat, 0, b->ops * sizeof(uint64_t));
	return 0;
}

static void bench_free(struct bench *b)
{
	free(b->lat);
	free(b->mincore_vec);
	free(b->io_buf);
	free(b->samples);
	if (b->fd >= 0)
		close(b->fd);
}

int file_main(int argc, char **argv)
{
	struct bench b = { .page = (size_t)sysconf(_SC_PAGESIZE), .fd = -1 };
	int err;

	err = parse_args(argc, argv, &b);
	if (err)
		return err > 0 ? BENCH_EXIT_OK : BENCH_EXIT_FAIL;
	cleanup_install(cleanup_run, true);
	if (bench_alloc(&b))
		goto out_fail;
	bench_file_name(b.file_path, sizeof(b.file_path), b.co.dir, "data");
	bench_file_name(b.store_path, sizeof(b.store_path), b.co.dir, "store");
	if (b.co.verbose)
		fprintf(stderr, "upager-bench file: writing %s (%" PRIu64 " MiB)\n", b.file_path,
			b.file_size / MIB);
	err = file_create(&b);
	if (err) {
		fprintf(stderr, "upager-bench file: creating %s: %s\n", b.file_path, strerror(-err));
		goto out_fail;
	}
	progress_start(&b.progress, b.runs * NIMPL, b.co.progress_forced, b.co.verbose);
	/* A pass's own progress line (pass_watch()) only where the step's
	 * line is not kept. */
	b.tty = b.progress.tty && !b.co.progress_forced && !b.co.verbose;
	for (unsigned int run = 0; run < b.runs && !err; run++) {
		/* The order alternates per run, so drift in the machine hits
		 * both alike. */
		for (unsigned int k = 0; k < NIMPL && !err; k++) {
			enum impl impl = (enum impl)((k + run) % NIMPL);

			progress_step(&b.progress, "run %u/%u: %s", run + 1, b.runs,
				      file_impl_name[impl]);
			err = impl_measure(&b, impl, run);
		}
	}
	progress_end(&b.progress);
	if (err)
		b.run_error = true;
	if (b.co.json) {
		if (file_print_json(&b) && !err)
			goto out_fail;
	} else {
		file_print_table(&b);
	}
	if (b.data_error)
		fprintf(stderr, "upager-bench file: DATA VERIFICATION FAILED (see above)\n");
	bench_free(&b);
	cleanup_run();
	return err || b.data_error ? BENCH_EXIT_BAD : BENCH_EXIT_OK;

out_fail:
	bench_free(&b);
	cleanup_run();
	return BENCH_EXIT_FAIL;
}
