/* SPDX-License-Identifier: MIT */
/*
 * upager-filebench.c - the file-backed out-of-core benchmark: one file
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

#include "benchutil.h"
#include "core/options.h"
#include "upager.h"

#define MIB ((uint64_t)1 << 20)
#define DEFAULT_FILE_SIZE (2048 * MIB)
#define DEFAULT_BUDGET (256 * MIB)
#define DEFAULT_OPS 65536u
#define DEFAULT_RUNS 3u
#define QUICK_FILE_SIZE (64 * MIB)
#define QUICK_BUDGET (16 * MIB)
#define QUICK_OPS 2048u
#define QUICK_RUNS 1u
#define MAX_RUNS 100u
#define MAX_OPS (1ull << 30)
#define RAND_SEED 0xf11ebe7cull
/* What LLNL's umap managed on a file-backed out-of-core sequential read,
 * and the target: ten times that. */
#define UMAP_SEQ_PPS 5600.0
#define TARGET_SEQ_PPS (10 * UMAP_SEQ_PPS)
/* Generation and verification I/O size. */
#define IO_CHUNK (4 * MIB)
/* No progress for this long prints a warning while the pass goes on. */
#define STALL_WARN_NS (10ull * 1000000000u)
/* A pass running this long gets a progress line. */
#define PROGRESS_AFTER_NS (2ull * 1000000000u)

enum impl { IMPL_UPAGER, IMPL_KERNEL, NIMPL };
/* PASS_SYNC and PASS_WRITE_SYNC are the write pass's sync, alone and
 * with the writes: rows of the report, not passes of their own. */
enum pass { PASS_SEQ_READ, PASS_RAND_READ, PASS_WRITE, PASS_SYNC, PASS_WRITE_SYNC, NPASS };

static const char *const impl_name[NIMPL] = { "upager", "kernel" };
static const char *const pass_name[NPASS] = { "seq-read", "rand-read", "write", "sync",
					      "write+sync" };

/* Counters over one pass. Which means what differs per implementation
 * (see print_legend()). */
struct counters {
	uint64_t disk_reads;  /* pages the process read from the device (/proc/self/io) */
	uint64_t faults;      /* upager: faults; kernel: ru_majflt + ru_minflt */
	uint64_t minor;       /* upager: faults_minor; kernel: ru_minflt */
	uint64_t file_reads, readahead, file_writes, clean_drops, sigbus; /* upager */
};

/* One pass (or row) of one implementation in one run. */
struct sample {
	bool valid;
	double pps;       /* pages (accesses) per second */
	double secs;      /* wall time of the pass */
	double p50, p99;  /* per-access ns: rand-read only */
	double max;       /* slowest single access (sync: the sync), ns */
	uint64_t bad;     /* pages that failed verification */
	struct counters c;
};

/* A snapshot of everything a pass's counters are the difference of. */
struct probe {
	uint64_t t;
	struct upager_stats st;
	struct rusage ru;
	uint64_t io_read;
	bool io_ok;
};

struct bench {
	/* configuration */
	uint64_t file_size, budget, ops;
	size_t page, pages;
	unsigned int runs, handlers;
	bool json, progress, tty;
	const char *dir;
	/* state */
	int fd;
	uint64_t disk_gen;           /* the pattern generation the file holds */
	uint64_t *lat;               /* [ops]: one sample per rand-read access */
	unsigned char *mincore_vec;  /* [pages] */
	char *io_buf;                /* [IO_CHUNK] */
	char file_path[PATH_MAX];
	char store_path[PATH_MAX];
	bool drop_failed, drop_sys;  /* posix_fadvise failed; drop_caches written */
	uint64_t cached_max;         /* most pages of the file cached after a drop */
	bool io_missing;             /* no /proc/self/io */
	/* results */
	struct sample *samples;      /* [impl][pass][run] */
	uint64_t verify_bad[NIMPL];  /* over runs */
	uint64_t unmap_writes[NIMPL]; /* upager: pages the unmap wrote after the sync */
	bool data_error, run_error;
};

/*
 * What must be undone however the process ends: this tool's one
 * process-wide state, because signal handlers and atexit() reach nothing
 * else. Paths are written before the file they name exists, flags right
 * after it does; cleanup_run() only uses async-signal-safe calls.
 */
static struct {
	pid_t main_pid;
	volatile sig_atomic_t file, store;
	char file_path[PATH_MAX];
	char store_path[PATH_MAX];
	const char *volatile pass;
} cl;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- cleanup ------------------------------------------------------------------- */

static void cleanup_run(void)
{
	if (getpid() != cl.main_pid)
		return;
	if (cl.file) {
		unlink(cl.file_path);
		cl.file = 0;
	}
	if (cl.store) {
		/* upager_close() removes it; this is for the paths that skip it. */
		unlink(cl.store_path);
		cl.store = 0;
	}
}

static void say(const char *s)
{
	ssize_t n = write(STDERR_FILENO, s, strlen(s));

	(void)n;
}

static void on_fatal_signal(int sig)
{
	int saved = errno;

	if (getpid() == cl.main_pid) {
		say("\nupager-filebench: ");
		say(strsignal(sig) ? strsignal(sig) : "signal");
		if (cl.pass) {
			say(" during ");
			say(cl.pass);
		}
		say(", cleaning up\n");
	}
	cleanup_run();
	signal(sig, SIG_DFL);
	errno = saved;
	raise(sig);
}

static void cleanup_install(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGBUS, SIGSEGV,
				    SIGABRT, SIGFPE, SIGILL };
	struct sigaction sa = { .sa_handler = on_fatal_signal };

	cl.main_pid = getpid();
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	atexit(cleanup_run);
}

/* ---- patterns -------------------------------------------------------------------- */

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* What the first and last 8 bytes of page @idx hold in generation @gen.
 * The tail differs from the head, so a page shifted or swapped with
 * another fails, and so does a page from another generation. */
static uint64_t pattern_head(uint64_t idx, uint64_t gen)
{
	return mix64(idx * 0x9e3779b97f4a7c15ull + (gen << 1) + 1);
}

static uint64_t pattern_tail(uint64_t idx, uint64_t gen)
{
	return ~pattern_head(idx, gen) ^ (idx << 8) ^ 0xa5;
}

static bool page_check(uint64_t idx, uint64_t gen, uint64_t head, uint64_t tail)
{
	return head == pattern_head(idx, gen) && tail == pattern_tail(idx, gen);
}

/* ---- the file ---------------------------------------------------------------------- */

/* Write generation @gen into every page of the file with pwrite, and make
 * it durable. */
static int file_fill(struct bench *b, uint64_t gen)
{
	char *buf = b->io_buf;

	memset(buf, 0x5a, IO_CHUNK);
	for (uint64_t off = 0; off < b->file_size; off += IO_CHUNK) {
		size_t len = b->file_size - off < IO_CHUNK ? (size_t)(b->file_size - off) : IO_CHUNK;

		for (size_t p = 0; p < len; p += b->page) {
			uint64_t idx = (off + p) / b->page;
			uint64_t head = pattern_head(idx, gen), tail = pattern_tail(idx, gen);

			memcpy(buf + p, &head, sizeof(head));
			memcpy(buf + p + b->page - sizeof(tail), &tail, sizeof(tail));
		}
		for (size_t done = 0; done < len;) {
			ssize_t n = pwrite(b->fd, buf + done, len - done, (off_t)(off + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			done += (size_t)n;
		}
	}
	if (fdatasync(b->fd))
		return -errno;
	b->disk_gen = gen;
	return 0;
}

static int file_create(struct bench *b)
{
	int err;

	snprintf(cl.file_path, sizeof(cl.file_path), "%s", b->file_path);
	b->fd = open(b->file_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (b->fd < 0)
		return -errno;
	cl.file = 1;
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

		for (size_t done = 0; done < len;) {
			ssize_t n = pread(b->fd, buf + done, len - done, (off_t)(off + done));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
			done += (size_t)n;
		}
		for (size_t p = 0; p < len; p += b->page) {
			uint64_t idx = (off + p) / b->page, head, tail;

			memcpy(&head, buf + p, sizeof(head));
			memcpy(&tail, buf + p + b->page - sizeof(tail), sizeof(tail));
			if (!page_check(idx, gen, head, tail)) {
				if (!bad)
					fprintf(stderr, "upager-filebench: verify: page %" PRIu64
						" holds %016" PRIx64 "/%016" PRIx64 ", expected %016"
						PRIx64 "/%016" PRIx64 "\n", idx, head, tail,
						pattern_head(idx, gen), pattern_tail(idx, gen));
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
		const char *p = r->base + i * r->page;
		uint64_t t0, head, tail;

		t0 = now_ns();
		__asm__ volatile("" ::: "memory");
		head = *(volatile const uint64_t *)p;
		tail = *(volatile const uint64_t *)(p + r->page - 8);
		__asm__ volatile("" ::: "memory");
		r->lat[n] = now_ns() - t0;
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

		*(volatile uint64_t *)p = pattern_head(i, r->gen);
		*(volatile uint64_t *)(p + r->page - 8) = pattern_tail(i, r->gen);
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
				fprintf(stderr, "%supager-filebench: %s: progress again after %.1f s\n",
					shown && b->tty ? "\n" : "", what,
					(double)(t - last_change) / 1e9);
			last = n;
			last_change = t;
			warned = false;
		} else if (!warned && t - last_change > STALL_WARN_NS) {
			fprintf(stderr, "%supager-filebench: %s: no progress for %.0f s (%" PRIu64
				" of %" PRIu64 " done)\n", shown && b->tty ? "\n" : "", what,
				(double)(t - last_change) / 1e9, n, total);
			warned = true;
		}
		if ((b->tty || b->progress) && t - t0 >= PROGRESS_AFTER_NS &&
		    t - last_print >= every) {
			fprintf(stderr, "%supager-filebench: %s: %" PRIu64 "/%" PRIu64
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

static struct sample *sample_at(struct bench *b, enum impl impl, enum pass pass,
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
			fprintf(stderr, "upager-filebench: upager_map_file: %s\n", strerror(-err));
			return err;
		}
	} else {
		base = mmap(NULL, b->file_size, prot, MAP_SHARED, b->fd, 0);
		if (base == MAP_FAILED) {
			err = -errno;
			fprintf(stderr, "upager-filebench: mmap: %s\n", strerror(-err));
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
			fprintf(stderr, "upager-filebench: upager_sync: %s\n", strerror(-err));
		return err;
	}
	if (msync(m->base, b->file_size, MS_SYNC) || fdatasync(b->fd)) {
		err = -errno;
		fprintf(stderr, "upager-filebench: msync/fdatasync: %s\n", strerror(-err));
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
	r->seed = mix64(RAND_SEED + run);
	r->lat = b->lat;
}

static void report_bad(struct bench *b, enum impl impl, enum pass pass, unsigned int run,
		       const struct sample *s)
{
	if (!s->bad && !s->c.sigbus)
		return;
	fprintf(stderr, "upager-filebench: %s %s run %u: %" PRIu64 " pages failed verification, %"
		PRIu64 " SIGBUS\n", impl_name[impl], pass_name[pass], run + 1, s->bad, s->c.sigbus);
	b->data_error = true;
}

/* One read pass (@pass) on a fresh read-only mapping. */
static int read_pass(struct bench *b, struct mapping *m, enum pass pass, unsigned int run)
{
	struct sample *s = sample_at(b, m->impl, pass, run);
	char what[64];
	struct pass_run r;
	struct probe a, z;
	int err;

	snprintf(what, sizeof(what), "run %u %s %s", run + 1, impl_name[m->impl], pass_name[pass]);
	cache_drop_pass(b);
	if ((err = mapping_open(b, m, false)))
		return err;
	pass_init(b, &r, pass, m->base, b->disk_gen, run);
	cl.pass = what;
	probe_take(m->pager, &a);
	err = pass_watch(b, &r, what);
	probe_take(m->pager, &z);
	cl.pass = NULL;
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

	snprintf(what, sizeof(what), "run %u %s write", run + 1, impl_name[m->impl]);
	cache_drop_pass(b);
	if ((err = mapping_open(b, m, true)))
		return err;
	pass_init(b, &r, PASS_WRITE, m->base, gen, run);
	cl.pass = what;
	probe_take(m->pager, &a);
	err = pass_watch(b, &r, what);
	probe_take(m->pager, &z);
	if (!err) {
		snprintf(what, sizeof(what), "run %u %s sync", run + 1, impl_name[m->impl]);
		err = mapping_sync(b, m);
	}
	probe_take(m->pager, &y);
	cl.pass = NULL;
	if (err)
		goto out_unmap;
	sample_fill(b, m->impl, sample_at(b, m->impl, PASS_WRITE, run), &r, &a, &z);
	sample_sync(b, m->impl, sample_at(b, m->impl, PASS_SYNC, run), y.t - z.t,
		    (double)(y.t - z.t), &z, &y);
	sample_sync(b, m->impl, sample_at(b, m->impl, PASS_WRITE_SYNC, run),
		    y.t - z.t + r.t_end - r.t_start,
		    (double)(y.t - z.t > r.max_ns ? y.t - z.t : r.max_ns), &a, &y);
	report_bad(b, m->impl, PASS_WRITE_SYNC, run, sample_at(b, m->impl, PASS_WRITE_SYNC, run));

	/* Verify from the disk, not the page cache: what the sync made
	 * durable. The kernel's mapped pages stay cached (and coherent). */
	if (b->progress)
		fprintf(stderr, "upager-filebench: run %u %s verify (pread)\n", run + 1,
			impl_name[m->impl]);
	cache_drop(b);
	bad = file_verify(b, gen);
	if (bad < 0) {
		err = (int)bad;
		fprintf(stderr, "upager-filebench: verify: pread: %s\n", strerror(-err));
		goto out_unmap;
	}
	b->verify_bad[m->impl] += (uint64_t)bad;
	if (bad) {
		fprintf(stderr, "upager-filebench: %s run %u: %" PRId64 " of %zu pages do not hold "
			"what was written and synced\n", impl_name[m->impl], run + 1, bad, b->pages);
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
			fprintf(stderr, "upager-filebench: rewriting the file: %s\n", strerror(-err));
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
						 .handler_threads = b->handlers);
	struct mapping m = { .impl = impl };
	int err = 0;

	if (b->progress)
		fprintf(stderr, "upager-filebench: run %u/%u: %s\n", run + 1, b->runs,
			impl_name[impl]);
	if (impl == IMPL_UPAGER) {
		snprintf(cl.store_path, sizeof(cl.store_path), "%s", b->store_path);
		cl.store = 1;
		err = upager_open(&opts, &m.pager);
		if (err) {
			fprintf(stderr, "upager-filebench: upager_open: %s\n", strerror(-err));
			cl.store = 0;
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
		cl.store = 0;
	}
	return err;
}

/* ---- report --------------------------------------------------------------------------- */

/* One row: medians over the valid runs; p50/p99 from the run with the
 * median throughput; max over runs; bad pages summed over runs. */
struct row {
	bool valid;
	unsigned int n;
	double pps, secs, p50, p99, max, bad;
	double c[8];
};

/* The counters of a row, in column order. */
static const char *const counter_name[8] = { "disk_reads", "faults", "faults_minor",
					     "file_reads", "readahead_pages", "file_writes",
					     "clean_drops", "sigbus" };

static void counters_get(const struct counters *c, double *v)
{
	v[0] = (double)c->disk_reads;
	v[1] = (double)c->faults;
	v[2] = (double)c->minor;
	v[3] = (double)c->file_reads;
	v[4] = (double)c->readahead;
	v[5] = (double)c->file_writes;
	v[6] = (double)c->clean_drops;
	v[7] = (double)c->sigbus;
}

static void row_get(struct bench *b, enum impl impl, enum pass pass, struct row *r)
{
	const struct sample *runs = sample_at(b, impl, pass, 0);
	const struct sample *valid[MAX_RUNS];
	double pps[MAX_RUNS], secs[MAX_RUNS], v[8][MAX_RUNS];
	unsigned int n = 0;

	memset(r, 0, sizeof(*r));
	for (unsigned int i = 0; i < b->runs; i++) {
		const struct sample *s = &runs[i];
		double c[8];

		if (!s->valid)
			continue;
		valid[n] = s;
		pps[n] = s->pps;
		secs[n] = s->secs;
		counters_get(&s->c, c);
		for (int k = 0; k < 8; k++)
			v[k][n] = c[k];
		if (s->max > r->max)
			r->max = s->max;
		r->bad += (double)s->bad;
		n++;
	}
	if (!n)
		return;
	r->valid = true;
	r->n = n;
	r->pps = bench_median(pps, n);
	r->secs = bench_median(secs, n);
	/* The median-throughput run: lower middle for even counts. */
	for (unsigned int i = 0; i < n; i++) {
		if (valid[i]->pps == pps[(n - 1) / 2]) {
			r->p50 = valid[i]->p50;
			r->p99 = valid[i]->p99;
			break;
		}
	}
	for (int k = 0; k < 8; k++)
		r->c[k] = bench_median(v[k], n);
}

static double ratio_get(struct bench *b, enum pass pass, bool *ok)
{
	struct row up, kern;

	row_get(b, IMPL_UPAGER, pass, &up);
	row_get(b, IMPL_KERNEL, pass, &kern);
	*ok = up.valid && kern.valid;
	return bench_ratio(up.pps, kern.pps);
}

/* The device's read-ahead for the file's block device, or "?". */
static void read_ahead_kb(struct bench *b, char *buf, size_t len)
{
	/* A partition has its queue in its disk's directory. */
	static const char *const queue[] = { "queue", "../queue" };
	struct stat st;

	snprintf(buf, len, "?");
	if (fstat(b->fd, &st))
		return;
	for (size_t i = 0; i < sizeof(queue) / sizeof(queue[0]); i++) {
		char path[128];
		FILE *f;

		snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/%s/read_ahead_kb",
			 major(st.st_dev), minor(st.st_dev), queue[i]);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, (int)len, f))
			buf[strcspn(buf, "\n")] = '\0';
		fclose(f);
		return;
	}
}

static void print_header(struct bench *b)
{
	char handlers[16], ra[32];

	snprintf(handlers, sizeof(handlers), "%u", b->handlers);
	read_ahead_kb(b, ra, sizeof(ra));
	printf("upager-filebench: file %s, %" PRIu64 " MiB (%zu pages), budget %" PRIu64
	       " MiB, ops %" PRIu64 ", runs %u, upager handlers %s\n", b->file_path,
	       b->file_size / MIB, b->pages, b->budget / MIB, b->ops, b->runs,
	       b->handlers ? handlers : "library default");
	printf("upager: upager_map_file(MAP_SHARED), max_resident = budget, swap store %s\n",
	       b->store_path);
	printf("kernel: mmap(MAP_SHARED), no memory limit, device read_ahead_kb %s\n", ra);
	printf("every pass on a fresh mapping, after fdatasync + POSIX_FADV_DONTNEED%s; "
	       "file pages still in the page cache after a drop: at most %" PRIu64 "\n",
	       b->drop_sys ? " + drop_caches=1" : " (drop_caches not writable)", b->cached_max);
	if (b->drop_failed)
		printf("warning: posix_fadvise(POSIX_FADV_DONTNEED) failed\n");
}

static void print_legend(void)
{
	printf("pages/s: pages (rand-read: accesses) / pass wall time, median over runs; time: "
	       "median pass seconds;\np50/p99: every access timed, from the median-throughput run; "
	       "max: slowest access over runs (sync: the sync call)\n");
	printf("disk rd: pages the process read from the device (/proc/self/io read_bytes); "
	       "faults/minor: upager faults/faults_minor, kernel ru_majflt+ru_minflt/ru_minflt;\n"
	       "file rd, ra, file wr, clean: upager file_reads, readahead_pages, file_writes, "
	       "clean_drops; bad: pages failing verification, over runs\n\n");
}

static void print_count(double v, bool show)
{
	if (show)
		printf(" %8.0f", v);
	else
		printf(" %8s", "-");
}

static void print_row(struct bench *b, enum impl impl, enum pass pass)
{
	bool up = impl == IMPL_UPAGER, ok;
	double ratio = ratio_get(b, pass, &ok);
	struct row r;

	row_get(b, impl, pass, &r);
	if (!r.valid)
		return;
	printf("%-10s %-6s %10.0f %7.2f", pass_name[pass], impl_name[impl], r.pps, r.secs);
	if (pass == PASS_RAND_READ)
		printf(" %8.1f %8.1f", r.p50 / 1e3, r.p99 / 1e3);
	else
		printf(" %8s %8s", "-", "-");
	printf(" %8.1f", r.max / 1e6);
	print_count(r.c[0], !b->io_missing);
	print_count(r.c[1], true);
	print_count(r.c[2], true);
	for (int k = 3; k < 7; k++)
		print_count(r.c[k], up);
	if (pass == PASS_SYNC)
		printf(" %5s", "-");
	else
		printf(" %5.0f", r.bad);
	if (up && ok)
		printf(" %7.2fx\n", ratio);
	else
		printf(" %8s\n", "-");
}

static void print_targets(struct bench *b)
{
	struct row up;
	bool ok;

	printf("\ntargets (reported, not asserted):\n");
	row_get(b, IMPL_UPAGER, PASS_SEQ_READ, &up);
	printf("  seq-read upager pages/s vs 56k (10x the 5.6k pages/s LLNL's umap managed on such "
	       "a workload): ");
	if (up.valid)
		printf("%.0f (%.2fx of 56k)  %s\n", up.pps, up.pps / TARGET_SEQ_PPS,
		       up.pps >= TARGET_SEQ_PPS ? "MET" : "MISSED");
	else
		printf("n/a (no valid run)\n");
	for (int pass = 0; pass < NPASS; pass++) {
		double ratio = ratio_get(b, pass, &ok);
		char what[48];

		snprintf(what, sizeof(what), "%s upager/kernel pages/s", pass_name[pass]);
		if (ok)
			printf("  %-34s %.2fx\n", what, ratio);
		else
			printf("  %-34s n/a (no valid run)\n", what);
	}
}

static void print_table(struct bench *b)
{
	print_header(b);
	print_legend();
	printf("%-10s %-6s %10s %7s %8s %8s %8s %8s %8s %8s %8s %8s %8s %8s %5s %8s\n", "pass",
	       "impl", "pages/s", "time s", "p50 us", "p99 us", "max ms", "disk rd", "faults",
	       "minor", "file rd", "ra", "file wr", "clean", "bad", "up/kern");
	for (int pass = 0; pass < NPASS; pass++)
		for (int impl = 0; impl < NIMPL; impl++)
			print_row(b, impl, pass);
	printf("\nverify (pread from the disk after the sync, mapping still in place): upager %"
	       PRIu64 " bad pages, kernel %" PRIu64 " bad pages; upager pages written by the "
	       "unmap after the sync: %" PRIu64 "\n", b->verify_bad[IMPL_UPAGER],
	       b->verify_bad[IMPL_KERNEL], b->unmap_writes[IMPL_UPAGER]);
	print_targets(b);
}

static void print_json(struct bench *b)
{
	bool first = true, ok;
	struct row up;

	printf("{\n  \"file_bytes\": %" PRIu64 ", \"budget_bytes\": %" PRIu64 ", \"pages\": %zu, "
	       "\"page_size\": %zu, \"ops\": %" PRIu64 ", \"runs\": %u, \"handlers\": %u, "
	       "\"seed\": %llu,\n", b->file_size, b->budget, b->pages, b->page, b->ops, b->runs,
	       b->handlers, (unsigned long long)RAND_SEED);
	printf("  \"aggregate\": \"median over valid runs; p50/p99 from the median-throughput run; "
	       "max over runs; bad summed over runs\",\n");
	printf("  \"drop_caches\": %s, \"cached_pages_after_drop_max\": %" PRIu64 ",\n",
	       b->drop_sys ? "true" : "false", b->cached_max);
	printf("  \"verify_bad\": {\"upager\": %" PRIu64 ", \"kernel\": %" PRIu64 "}, "
	       "\"upager_unmap_writes\": %" PRIu64 ", \"data_error\": %s,\n  \"rows\": [",
	       b->verify_bad[IMPL_UPAGER], b->verify_bad[IMPL_KERNEL],
	       b->unmap_writes[IMPL_UPAGER], b->data_error ? "true" : "false");
	for (int pass = 0; pass < NPASS; pass++) {
		for (int impl = 0; impl < NIMPL; impl++) {
			double ratio = ratio_get(b, pass, &ok);
			struct row r;

			row_get(b, impl, pass, &r);
			if (!r.valid)
				continue;
			printf("%s\n    {\"impl\": \"%s\", \"pass\": \"%s\", \"runs\": %u, "
			       "\"pages_per_s\": %.1f, \"secs\": %.4f, ", first ? "" : ",",
			       impl_name[impl], pass_name[pass], r.n, r.pps, r.secs);
			if (pass == PASS_RAND_READ)
				printf("\"p50_us\": %.3f, \"p99_us\": %.3f, ", r.p50 / 1e3,
				       r.p99 / 1e3);
			else
				printf("\"p50_us\": null, \"p99_us\": null, ");
			printf("\"max_ms\": %.3f, ", r.max / 1e6);
			if (pass == PASS_SYNC)
				printf("\"bad\": null, ");
			else
				printf("\"bad\": %.0f, ", r.bad);
			for (int k = 0; k < 8; k++) {
				if ((k == 0 && b->io_missing) ||
				    (k >= 3 && impl == IMPL_KERNEL))
					printf("\"%s\": null, ", counter_name[k]);
				else
					printf("\"%s\": %.0f, ", counter_name[k], r.c[k]);
			}
			if (impl == IMPL_UPAGER && ok)
				printf("\"vs_kernel\": %.4f}", ratio);
			else
				printf("\"vs_kernel\": null}");
			first = false;
		}
	}
	printf("\n  ],\n  \"targets\": [");
	row_get(b, IMPL_UPAGER, PASS_SEQ_READ, &up);
	printf("\n    {\"what\": \"seq-read upager pages/s\", \"value\": ");
	if (up.valid)
		printf("%.1f, \"bound\": %.0f, \"met\": %s}", up.pps, TARGET_SEQ_PPS,
		       up.pps >= TARGET_SEQ_PPS ? "true" : "false");
	else
		printf("null, \"bound\": %.0f, \"met\": null}", TARGET_SEQ_PPS);
	for (int pass = 0; pass < NPASS; pass++) {
		double ratio = ratio_get(b, pass, &ok);

		printf(",\n    {\"what\": \"%s upager/kernel pages/s\", \"value\": ", pass_name[pass]);
		if (ok)
			printf("%.4f}", ratio);
		else
			printf("null}");
	}
	printf("\n  ]\n}\n");
}

/* ---- command line -------------------------------------------------------------------- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [options]\n"
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
		"  --quick            file 64M, budget 16M, ops %u, runs %u (a smoke test;\n"
		"                     exits nonzero if any verification fails)\n"
		"  --json             one JSON object on stdout\n"
		"  -v, --progress     say what runs, on stderr\n"
		"  -h, --help         this text\n",
		prog, DEFAULT_OPS, DEFAULT_RUNS, QUICK_OPS, QUICK_RUNS);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

enum { OPT_FILE_SIZE = 256, OPT_BUDGET, OPT_OPS, OPT_RUNS, OPT_HANDLERS, OPT_DIR, OPT_QUICK,
       OPT_JSON };

/* Returns 0 to run, 1 after --help, or -EINVAL (already explained). */
static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option longopts[] = {
		{ "file-size", required_argument, NULL, OPT_FILE_SIZE },
		{ "budget", required_argument, NULL, OPT_BUDGET },
		{ "ops", required_argument, NULL, OPT_OPS },
		{ "runs", required_argument, NULL, OPT_RUNS },
		{ "handlers", required_argument, NULL, OPT_HANDLERS },
		{ "dir", required_argument, NULL, OPT_DIR },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "progress", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t file_size = 0, budget = 0, ops = 0, runs = 0, v;
	bool quick = false;
	int c;

	b->dir = "/var/tmp";
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hv", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_FILE_SIZE:
			if (options_parse_size(optarg, &file_size) || !file_size)
				goto bad_value;
			break;
		case OPT_BUDGET:
			if (options_parse_size(optarg, &budget) || !budget)
				goto bad_value;
			break;
		case OPT_OPS:
			if (parse_u64(optarg, 1, MAX_OPS, &ops))
				goto bad_value;
			break;
		case OPT_RUNS:
			if (parse_u64(optarg, 1, MAX_RUNS, &runs))
				goto bad_value;
			break;
		case OPT_HANDLERS:
			if (parse_u64(optarg, 1, 64, &v))
				goto bad_value;
			b->handlers = (unsigned int)v;
			break;
		case OPT_DIR:
			b->dir = optarg;
			break;
		case OPT_QUICK:
			quick = true;
			break;
		case OPT_JSON:
			b->json = true;
			break;
		case 'v':
			b->progress = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		default:
			fprintf(stderr, "upager-filebench: unknown option or missing value: %s\n",
				argv[optind - 1]);
			goto bad;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "upager-filebench: unexpected argument: %s\n", argv[optind]);
		goto bad;
	}
	/* Explicit values win over --quick, whatever their order. */
	b->file_size = (file_size ? file_size : quick ? QUICK_FILE_SIZE : DEFAULT_FILE_SIZE) /
		b->page * b->page;
	b->budget = (budget ? budget : quick ? QUICK_BUDGET : DEFAULT_BUDGET) / b->page * b->page;
	b->pages = b->file_size / b->page;
	if (b->pages < 64 || b->pages > UINT32_MAX) {
		fprintf(stderr, "upager-filebench: the file must hold 64 pages at least\n");
		goto bad;
	}
	if (b->budget < (256u << 10)) {
		fprintf(stderr, "upager-filebench: the budget must be 256 KiB at least\n");
		goto bad;
	}
	if (b->budget >= b->file_size)
		fprintf(stderr, "upager-filebench: warning: budget >= file size: nothing will be "
			"evicted\n");
	b->ops = ops ? ops : quick ? QUICK_OPS : DEFAULT_OPS;
	b->runs = (unsigned int)(runs ? runs : quick ? QUICK_RUNS : DEFAULT_RUNS);
	return 0;

bad_value:
	for (const struct option *o = longopts; o->name; o++)
		if (o->val == c)
			fprintf(stderr, "upager-filebench: invalid value for --%s: \"%s\"\n",
				o->name, optarg);
bad:
	fprintf(stderr, "Try '%s --help'.\n", argv[0]);
	return -EINVAL;
}

static int bench_alloc(struct bench *b)
{
	b->lat = malloc(b->ops * sizeof(uint64_t));
	b->mincore_vec = malloc(b->pages);
	b->io_buf = malloc(IO_CHUNK);
	b->samples = calloc((size_t)NIMPL * NPASS * b->runs, sizeof(struct sample));
	if (!b->lat || !b->mincore_vec || !b->io_buf || !b->samples)
		return -ENOMEM;
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

int main(int argc, char **argv)
{
	struct bench b = { .page = (size_t)sysconf(_SC_PAGESIZE), .fd = -1 };
	int err;

	err = parse_args(argc, argv, &b);
	if (err)
		return err > 0 ? 0 : 2;
	b.tty = isatty(STDERR_FILENO);
	cleanup_install();
	err = bench_alloc(&b);
	if (err) {
		fprintf(stderr, "upager-filebench: allocating buffers: %s\n", strerror(-err));
		goto out_free;
	}
	snprintf(b.file_path, sizeof(b.file_path), "%s/upager-filebench-%d.data", b.dir,
		 (int)getpid());
	snprintf(b.store_path, sizeof(b.store_path), "%s/upager-filebench-%d.store", b.dir,
		 (int)getpid());
	if (b.progress)
		fprintf(stderr, "upager-filebench: writing %s (%" PRIu64 " MiB)\n", b.file_path,
			b.file_size / MIB);
	err = file_create(&b);
	if (err) {
		fprintf(stderr, "upager-filebench: creating %s: %s\n", b.file_path, strerror(-err));
		goto out_free;
	}
	for (unsigned int run = 0; run < b.runs && !err; run++) {
		/* The order alternates per run, so drift in the machine hits
		 * both alike. */
		for (unsigned int k = 0; k < NIMPL && !err; k++)
			err = impl_measure(&b, (enum impl)((k + run) % NIMPL), run);
	}
	if (err)
		b.run_error = true;
	if (b.json)
		print_json(&b);
	else
		print_table(&b);
	if (b.data_error)
		fprintf(stderr, "upager-filebench: DATA VERIFICATION FAILED (see above)\n");
out_free:
	bench_free(&b);
	cleanup_run();
	return err || b.data_error ? 1 : 0;
}
