/* SPDX-License-Identifier: MIT */
/*
 * upager-bench.c - the zero-fill benchmark: what a first touch costs when
 * the kernel serves it, when a minimal raw userfaultfd handler serves it,
 * and when upager does (with and without fault-around).
 *
 * Every implementation does the same work: map a fresh region, write one
 * byte to each page once (in order, or in a fixed random permutation), and
 * unmap. The faulting thread is pinned to CPU 0; handler threads run on
 * CPU 0 ("same") or CPU 1 ("cross"). Implementations are interleaved within
 * each run, in an order rotated per run, so machine noise hits all alike;
 * rows report the median over runs.
 *
 * Two passes per configuration and run, each on a fresh mapping:
 *  - an untimed pass gives pages/s: two clock reads per page would cost a
 *    fault-around hit more than the touch itself and flatten the ratios;
 *  - a timed pass brackets each first-touch write with
 *    clock_gettime(CLOCK_MONOTONIC) and keeps every sample, so percentiles
 *    are exact (a log-linear histogram's 12.5% buckets are too coarse for a
 *    target of 1.15 between two p50s). Faults are counted on this pass.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"
#include "upager.h"

#define DEFAULT_PAGES 65536u
#define DEFAULT_RUNS 5u
#define QUICK_PAGES 2048u
#define QUICK_RUNS 2u
/* 64 GiB of 4 KiB pages: far past any sane run, and page indices fit in
 * 32 bits. */
#define MAX_PAGES (1u << 24)
#define MAX_RUNS 1000u
#define FAULTING_CPU 0u
#define CROSS_CPU 1u
/* The random permutation is the same for every implementation and run. */
#define RAND_SEED 0x5eedbe7cull

enum impl { IMPL_KERNEL, IMPL_RAW, IMPL_UPAGER, IMPL_NOFA, NIMPL };
enum pattern { PAT_SEQ, PAT_RAND, NPAT };
enum placement { PLACE_SAME, PLACE_CROSS, NPLACE };

static const char *const impl_name[NIMPL] = { "kernel", "raw-uffd", "upager", "upager-nofa" };
static const char *const pattern_name[NPAT] = { "seq", "rand" };
static const char *const placement_name[NPLACE] = { "same", "cross" };
static const unsigned int placement_cpu[NPLACE] = { FAULTING_CPU, CROSS_CPU };

/* One configuration measured once. Times in nanoseconds. */
struct sample {
	double pps;      /* pages per second, untimed pass */
	double p50, p99; /* per-page first-touch time, timed pass */
	double max;
	double faults;   /* faults taken in the timed pass (see fault_source) */
};

/* One row of the report: medians over runs, max of max. */
struct row {
	double pps, p50, p99, max, faults;
};

struct bench {
	size_t pages;
	size_t page;
	unsigned int runs;
	bool pattern[NPAT];     /* selected patterns */
	bool placement[NPLACE]; /* selected placements */
	bool json;
	uint32_t *order[NPAT];  /* page index touched at step i */
	uint64_t *lat;          /* timed pass: one sample per page */
	struct sample *samples; /* [impl][pattern][placement][run] */
};

/* A minimal userfaultfd pager: one handler thread, blocking read() of one
 * message, UFFDIO_COPY of one zeroed page. It is the floor upager's
 * one-page-per-fault path is compared against. */
struct raw_uffd {
	int fd;
	size_t page;
	void *zero;      /* one zeroed page, the UFFDIO_COPY source */
	char *mem;       /* [mem, bell) is the region, then the doorbell page */
	uintptr_t bell;  /* touching it makes the handler exit */
	pthread_t thread;
	uint64_t faults; /* faults served; read only after the join */
	int err;         /* handler failure (negative errno); after the join */
};

/* A region of one implementation, open for one pass. */
struct arena {
	enum impl impl;
	char *base;
	size_t len;
	struct upager *pager; /* upager, upager-nofa */
	struct raw_uffd raw;  /* raw-uffd */
	long minflt;          /* kernel: touching thread's minor faults before */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- raw userfaultfd -------------------------------------------------------- */

/* A handler that cannot go on unregisters everything: the kernel then wakes
 * the waiting fault and serves the rest, so the pass ends instead of
 * hanging, and raw_close() reports the error. */
static void *raw_bail(struct raw_uffd *r, int err)
{
	struct uffdio_range range = {
		.start = (uintptr_t)r->mem,
		.len = r->bell + r->page - (uintptr_t)r->mem,
	};

	r->err = err;
	ioctl(r->fd, UFFDIO_UNREGISTER, &range);
	return NULL;
}

static void *raw_handler(void *arg)
{
	struct raw_uffd *r = arg;
	uint64_t faults = 0;

	for (;;) {
		struct uffd_msg msg;
		struct uffdio_copy copy = { .src = (uintptr_t)r->zero, .len = r->page };
		ssize_t n = read(r->fd, &msg, sizeof(msg));

		if (n != (ssize_t)sizeof(msg)) {
			if (n < 0 && errno == EINTR)
				continue;
			return raw_bail(r, n < 0 ? -errno : -EIO);
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		copy.dst = msg.arg.pagefault.address & ~(uint64_t)(r->page - 1);
		/* mode 0: the copy wakes the faulting thread. EAGAIN means the
		 * mapping is changing; nothing here changes it for long. */
		while (ioctl(r->fd, UFFDIO_COPY, &copy) < 0) {
			if (errno == EEXIST) {
				/* Not ours to install, but ours to wake. */
				ioctl(r->fd, UFFDIO_WAKE, &(struct uffdio_range){ copy.dst, r->page });
				break;
			}
			if (errno != EAGAIN)
				return raw_bail(r, -errno);
			copy.copy = 0;
		}
		if (copy.dst == r->bell) {
			r->faults = faults;
			return NULL;
		}
		faults++;
	}
}

static int raw_register(struct raw_uffd *r, size_t len)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)r->mem, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	if (ioctl(r->fd, UFFDIO_API, &api) < 0)
		return -errno;
	if (ioctl(r->fd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	if (!(reg.ioctls & (1ull << _UFFDIO_COPY)))
		return -EOPNOTSUPP;
	return 0;
}

/* Stop the handler: the doorbell fault is its last. */
static void raw_stop(struct raw_uffd *r)
{
	(void)*(volatile const char *)r->bell;
	pthread_join(r->thread, NULL);
}

static int raw_open(struct raw_uffd *r, size_t pages, size_t page, unsigned int cpu)
{
	size_t len = (pages + 1) * page;
	cpu_set_t cpus;
	int err;

	memset(r, 0, sizeof(*r));
	r->page = page;
	r->fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	err = -ENOMEM;
	r->zero = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (r->zero == MAP_FAILED)
		goto out_close;
	r->mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->mem == MAP_FAILED)
		goto out_unmap_zero;
	r->bell = (uintptr_t)r->mem + pages * page;
	err = raw_register(r, len);
	if (err)
		goto out_unmap_mem;
	err = -pthread_create(&r->thread, NULL, raw_handler, r);
	if (err)
		goto out_unmap_mem;
	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	err = -pthread_setaffinity_np(r->thread, sizeof(cpus), &cpus);
	if (err)
		goto out_stop;
	return 0;

out_stop:
	raw_stop(r);
out_unmap_mem:
	munmap(r->mem, len);
out_unmap_zero:
	munmap(r->zero, page);
out_close:
	close(r->fd);
	return err;
}

static int raw_close(struct raw_uffd *r, uint64_t *faults)
{
	raw_stop(r);
	munmap(r->mem, r->bell + r->page - (uintptr_t)r->mem);
	munmap(r->zero, r->page);
	close(r->fd);
	*faults = r->faults;
	return r->err;
}

/* ---- the three implementations behind one interface ------------------------ */

static long thread_minflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

static int upager_arena_open(struct arena *a, unsigned int fault_around, unsigned int cpu)
{
	struct upager_options opts = UPAGER_OPTS(.fault_around_max = fault_around,
						 .flags = UPAGER_OPEN_PIN_HANDLERS,
						 .handler_cpu = cpu);
	void *addr;
	int err;

	err = upager_open(&opts, &a->pager);
	if (err)
		return err;
	err = upager_map(a->pager, NULL, a->len, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
			 UPAGER_MAP_PRIVATE, &addr);
	if (err) {
		upager_close(a->pager);
		return err;
	}
	a->base = addr;
	return 0;
}

static int arena_open(struct arena *a, enum impl impl, size_t pages, size_t page,
		      unsigned int cpu)
{
	int err;

	memset(a, 0, sizeof(*a));
	a->impl = impl;
	a->len = pages * page;
	switch (impl) {
	case IMPL_KERNEL:
		a->base = mmap(NULL, a->len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (a->base == MAP_FAILED)
			return -errno;
		a->minflt = thread_minflt();
		return 0;
	case IMPL_RAW:
		err = raw_open(&a->raw, pages, page, cpu);
		a->base = a->raw.mem;
		return err;
	case IMPL_UPAGER:
		return upager_arena_open(a, 0, cpu);
	case IMPL_NOFA:
		return upager_arena_open(a, 1, cpu);
	default:
		return -EINVAL;
	}
}

/* Unmap and report the faults taken since the open: the kernel's minor
 * faults of the touching thread, the raw handler's count, or upager's
 * stats.faults. */
static int arena_close(struct arena *a, uint64_t *faults)
{
	struct upager_stats st = UPAGER_STATS();
	int err = 0;

	switch (a->impl) {
	case IMPL_KERNEL:
		*faults = (uint64_t)(thread_minflt() - a->minflt);
		munmap(a->base, a->len);
		break;
	case IMPL_RAW:
		err = raw_close(&a->raw, faults);
		break;
	default:
		err = upager_stats_read(a->pager, &st);
		*faults = st.faults;
		upager_close(a->pager);
		break;
	}
	return err;
}

/* ---- passes ----------------------------------------------------------------- */

static void touch_untimed(char *base, const uint32_t *order, size_t n, size_t page)
{
	volatile char *mem = base;

	for (size_t i = 0; i < n; i++)
		mem[(size_t)order[i] * page] = 1;
}

static void touch_timed(char *base, const uint32_t *order, size_t n, size_t page,
			uint64_t *lat)
{
	volatile char *mem = base;

	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();

		/* The barriers keep the write between the two clock reads. */
		__asm__ volatile("" ::: "memory");
		mem[(size_t)order[i] * page] = 1;
		__asm__ volatile("" ::: "memory");
		lat[i] = now_ns() - t0;
	}
}

/* Every page holds the written byte and zeroes around it: a benchmark of a
 * pager that loses data would measure nothing. */
static int check_data(const char *base, size_t n, size_t page)
{
	for (size_t i = 0; i < n; i++)
		if (base[i * page] != 1 || base[i * page + 1] != 0)
			return -EIO;
	return 0;
}


/* Nearest-rank percentile of sorted @v. */

static int pass_throughput(struct bench *b, enum impl impl, enum pattern pat,
			   unsigned int cpu, struct sample *s)
{
	struct arena a;
	uint64_t t0, elapsed, faults;
	int err, close_err;

	err = arena_open(&a, impl, b->pages, b->page, cpu);
	if (err)
		return err;
	t0 = now_ns();
	touch_untimed(a.base, b->order[pat], b->pages, b->page);
	elapsed = now_ns() - t0;
	err = check_data(a.base, b->pages, b->page);
	close_err = arena_close(&a, &faults);
	s->pps = (double)b->pages * 1e9 / (double)(elapsed ? elapsed : 1);
	return close_err ? close_err : err;
}

static int pass_latency(struct bench *b, enum impl impl, enum pattern pat,
			unsigned int cpu, struct sample *s)
{
	struct arena a;
	uint64_t faults;
	int err, close_err;

	err = arena_open(&a, impl, b->pages, b->page, cpu);
	if (err)
		return err;
	touch_timed(a.base, b->order[pat], b->pages, b->page, b->lat);
	err = check_data(a.base, b->pages, b->page);
	close_err = arena_close(&a, &faults);
	if (close_err)
		return close_err;
	if (err)
		return err;
	qsort(b->lat, b->pages, sizeof(b->lat[0]), bench_cmp_u64);
	s->p50 = bench_percentile(b->lat, b->pages, 500);
	s->p99 = bench_percentile(b->lat, b->pages, 990);
	s->max = (double)b->lat[b->pages - 1];
	s->faults = (double)faults;
	return 0;
}

static int measure(struct bench *b, enum impl impl, enum pattern pat,
		   enum placement place, struct sample *s)
{
	unsigned int cpu = placement_cpu[place];
	int err;

	err = pass_throughput(b, impl, pat, cpu, s);
	if (!err)
		err = pass_latency(b, impl, pat, cpu, s);
	if (err)
		fprintf(stderr, "upager-bench: %s %s %s: %s\n", impl_name[impl],
			pattern_name[pat], placement_name[place], strerror(-err));
	return err;
}

/* ---- the run loop ------------------------------------------------------------- */

static struct sample *sample_at(struct bench *b, enum impl impl, enum pattern pat,
				enum placement place, unsigned int run)
{
	size_t i = (((size_t)impl * NPAT + pat) * NPLACE + place) * b->runs + run;

	return &b->samples[i];
}

/* One run: every selected configuration once. The kernel has no handler,
 * so it is measured once per pattern and reported under each placement. */
static int run_once(struct bench *b, unsigned int run)
{
	for (int pat = 0; pat < NPAT; pat++) {
		int first_place = -1;

		if (!b->pattern[pat])
			continue;
		for (int place = 0; place < NPLACE; place++) {
			if (!b->placement[place])
				continue;
			if (first_place < 0)
				first_place = place;
			for (unsigned int k = 0; k < NIMPL; k++) {
				enum impl impl = (enum impl)((k + run) % NIMPL);
				struct sample *s = sample_at(b, impl, pat, place, run);
				int err;

				if (impl == IMPL_KERNEL && place != first_place) {
					*s = *sample_at(b, impl, pat, first_place, run);
					continue;
				}
				err = measure(b, impl, pat, place, s);
				if (err)
					return err;
			}
		}
	}
	return 0;
}


static void order_init(struct bench *b)
{
	uint64_t seed = RAND_SEED;

	for (size_t i = 0; i < b->pages; i++)
		b->order[PAT_SEQ][i] = b->order[PAT_RAND][i] = (uint32_t)i;
	/* Fisher-Yates; the modulo bias is immaterial at these sizes. */
	for (size_t i = b->pages - 1; i > 0; i--) {
		size_t j = (size_t)(bench_splitmix64(&seed) % (i + 1));
		uint32_t t = b->order[PAT_RAND][i];

		b->order[PAT_RAND][i] = b->order[PAT_RAND][j];
		b->order[PAT_RAND][j] = t;
	}
}

/* Buffers are allocated and written before any pass, so none of their
 * own first touches lands inside a measurement. */
static int bench_alloc(struct bench *b)
{
	size_t nsamples = (size_t)NIMPL * NPAT * NPLACE * b->runs;

	b->order[PAT_SEQ] = malloc(b->pages * sizeof(uint32_t));
	b->order[PAT_RAND] = malloc(b->pages * sizeof(uint32_t));
	b->lat = malloc(b->pages * sizeof(uint64_t));
	b->samples = calloc(nsamples, sizeof(struct sample));
	if (!b->order[PAT_SEQ] || !b->order[PAT_RAND] || !b->lat || !b->samples)
		return -ENOMEM;
	memset(b->lat, 0, b->pages * sizeof(uint64_t));
	order_init(b);
	return 0;
}

static void bench_free(struct bench *b)
{
	free(b->order[PAT_SEQ]);
	free(b->order[PAT_RAND]);
	free(b->lat);
	free(b->samples);
}

/* Pin the faulting thread; handler threads created later are pinned on
 * their own. Cross placement needs a second CPU we may run on. */
static int pin_self(const struct bench *b)
{
	cpu_set_t allowed, cpus;
	int err;

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return -errno;
	if (!CPU_ISSET(FAULTING_CPU, &allowed)) {
		fprintf(stderr, "upager-bench: CPU %u is not available to this process\n",
			FAULTING_CPU);
		return -EINVAL;
	}
	if (b->placement[PLACE_CROSS] && !CPU_ISSET(CROSS_CPU, &allowed)) {
		fprintf(stderr, "upager-bench: cross placement needs CPU %u, which is not "
			"available (use --placement same)\n", CROSS_CPU);
		return -EINVAL;
	}
	CPU_ZERO(&cpus);
	CPU_SET(FAULTING_CPU, &cpus);
	err = -pthread_setaffinity_np(pthread_self(), sizeof(cpus), &cpus);
	if (err)
		fprintf(stderr, "upager-bench: pinning to CPU %u: %s\n", FAULTING_CPU,
			strerror(-err));
	return err;
}

/* Fail early, with the reason, when this process may not use userfaultfd. */
static int probe_userfaultfd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	int err = 0;

	if (fd < 0) {
		err = -errno;
		fprintf(stderr, "upager-bench: userfaultfd: %s%s\n", strerror(-err),
			err == -EPERM ? " (needs CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1)" :
			err == -ENOSYS ? " (kernel built without CONFIG_USERFAULTFD)" : "");
		return err;
	}
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		err = -errno;
		fprintf(stderr, "upager-bench: UFFDIO_API: %s\n", strerror(-err));
	}
	close(fd);
	return err;
}

/* ---- report ----------------------------------------------------------------- */



static void row_get(struct bench *b, enum impl impl, enum pattern pat,
		    enum placement place, struct row *r)
{
	double pps[MAX_RUNS], p50[MAX_RUNS], p99[MAX_RUNS], faults[MAX_RUNS];

	r->max = 0;
	for (unsigned int run = 0; run < b->runs; run++) {
		const struct sample *s = sample_at(b, impl, pat, place, run);

		pps[run] = s->pps;
		p50[run] = s->p50;
		p99[run] = s->p99;
		faults[run] = s->faults;
		if (s->max > r->max)
			r->max = s->max;
	}
	r->pps = bench_median(pps, b->runs);
	r->p50 = bench_median(p50, b->runs);
	r->p99 = bench_median(p99, b->runs);
	r->faults = bench_median(faults, b->runs);
}


static bool is_upager(enum impl impl)
{
	return impl == IMPL_UPAGER || impl == IMPL_NOFA;
}

/* The kernel's transparent-hugepage mode decides whether its rows are 4 KiB
 * faults, like the others, or 2 MiB ones. */
static void thp_mode(char *buf, size_t len)
{
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char line[128] = "";
	char *l, *r;

	snprintf(buf, len, "unknown");
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && (l = strchr(line, '[')) && (r = strchr(l, ']'))) {
		*r = '\0';
		snprintf(buf, len, "%s", l + 1);
	}
	fclose(f);
}

static void print_table_row(struct bench *b, enum impl impl, enum pattern pat,
			    enum placement place)
{
	struct row r, kernel, raw;

	row_get(b, impl, pat, place, &r);
	row_get(b, IMPL_KERNEL, pat, place, &kernel);
	row_get(b, IMPL_RAW, pat, place, &raw);
	printf("%-12s %-5s %-6s %11.0f %8.2f %8.2f %9.1f %9.0f %8.2fx", impl_name[impl],
	       pattern_name[pat], placement_name[place], r.pps, r.p50 / 1e3, r.p99 / 1e3,
	       r.max / 1e3, r.faults, bench_ratio(r.pps, kernel.pps));
	if (is_upager(impl))
		printf(" %8.2fx %8.2fx\n", bench_ratio(r.p50, raw.p50), bench_ratio(r.p99, raw.p99));
	else
		printf(" %9s %9s\n", "-", "-");
}

static void print_targets(struct bench *b)
{
	struct row up, kernel, nofa, raw;

	printf("\ntargets (reported, not asserted):\n");
	for (int place = 0; place < NPLACE; place++) {
		if (!b->placement[place])
			continue;
		if (b->pattern[PAT_SEQ]) {
			row_get(b, IMPL_UPAGER, PAT_SEQ, place, &up);
			row_get(b, IMPL_KERNEL, PAT_SEQ, place, &kernel);
			printf("  [%-5s] sequential first touch upager/kernel throughput = "
			       "%.2fx (target >= 3x)\n", placement_name[place],
			       bench_ratio(up.pps, kernel.pps));
		}
		for (int pat = 0; pat < NPAT; pat++) {
			if (!b->pattern[pat])
				continue;
			row_get(b, IMPL_NOFA, pat, place, &nofa);
			row_get(b, IMPL_RAW, pat, place, &raw);
			printf("  [%-5s] %-4s upager-nofa p50 / raw-uffd p50 = %.2f (target <= 1.15), "
			       "p99 ratio = %.2f (target <= 1.5)\n", placement_name[place],
			       pattern_name[pat], bench_ratio(nofa.p50, raw.p50), bench_ratio(nofa.p99, raw.p99));
		}
	}
}

static void print_table(struct bench *b)
{
	char thp[32];

	thp_mode(thp, sizeof(thp));
	printf("upager-bench: %zu pages (%zu MiB) x %u runs, page %zu B, THP %s, "
	       "faulting thread on CPU %u, handler on CPU %u (same) / %u (cross)\n",
	       b->pages, b->pages * b->page >> 20, b->runs, b->page, thp, FAULTING_CPU,
	       placement_cpu[PLACE_SAME], placement_cpu[PLACE_CROSS]);
	printf("pages/s: untimed pass; latency: per-page first-touch write, timed pass; "
	       "medians over runs, max = max over runs\n");
	printf("faults: kernel = minor faults of the touching thread, raw-uffd = faults "
	       "served, upager = upager_stats.faults\n\n");
	printf("%-12s %-5s %-6s %11s %8s %8s %9s %9s %9s %9s %9s\n", "impl", "pat",
	       "place", "pages/s", "p50 us", "p99 us", "max us", "faults", "tput/kern",
	       "p50/raw", "p99/raw");
	for (int pat = 0; pat < NPAT; pat++)
		for (int place = 0; place < NPLACE; place++)
			for (int impl = 0; impl < NIMPL; impl++)
				if (b->pattern[pat] && b->placement[place])
					print_table_row(b, impl, pat, place);
	print_targets(b);
}

static void print_json_row(struct bench *b, enum impl impl, enum pattern pat,
			   enum placement place, bool *first)
{
	struct row r, kernel, raw;

	row_get(b, impl, pat, place, &r);
	row_get(b, IMPL_KERNEL, pat, place, &kernel);
	row_get(b, IMPL_RAW, pat, place, &raw);
	printf("%s\n    {\"impl\": \"%s\", \"pattern\": \"%s\", \"placement\": \"%s\", "
	       "\"handler_cpu\": %u, \"pages_per_s\": %.0f, \"p50_us\": %.3f, "
	       "\"p99_us\": %.3f, \"max_us\": %.3f, \"faults\": %.0f, "
	       "\"tput_vs_kernel\": %.4f", *first ? "" : ",", impl_name[impl],
	       pattern_name[pat], placement_name[place], placement_cpu[place], r.pps,
	       r.p50 / 1e3, r.p99 / 1e3, r.max / 1e3, r.faults, bench_ratio(r.pps, kernel.pps));
	if (is_upager(impl))
		printf(", \"p50_vs_raw\": %.4f, \"p99_vs_raw\": %.4f}", bench_ratio(r.p50, raw.p50),
		       bench_ratio(r.p99, raw.p99));
	else
		printf(", \"p50_vs_raw\": null, \"p99_vs_raw\": null}");
	*first = false;
}

/* The same targets as print_targets(), as ratios; null when not measured. */
static void print_json_targets(struct bench *b)
{
	struct row up, kernel, nofa, raw;
	bool first = true;

	printf("  \"targets\": [");
	for (int place = 0; place < NPLACE; place++) {
		for (int pat = 0; pat < NPAT; pat++) {
			if (!b->placement[place] || !b->pattern[pat])
				continue;
			row_get(b, IMPL_UPAGER, pat, place, &up);
			row_get(b, IMPL_KERNEL, pat, place, &kernel);
			row_get(b, IMPL_NOFA, pat, place, &nofa);
			row_get(b, IMPL_RAW, pat, place, &raw);
			printf("%s\n    {\"placement\": \"%s\", \"pattern\": \"%s\", ",
			       first ? "" : ",", placement_name[place], pattern_name[pat]);
			if (pat == PAT_SEQ)
				printf("\"upager_vs_kernel_tput\": %.4f, \"upager_vs_kernel_tput_min\": 3, ",
				       bench_ratio(up.pps, kernel.pps));
			printf("\"nofa_vs_raw_p50\": %.4f, \"nofa_vs_raw_p50_max\": 1.15, "
			       "\"nofa_vs_raw_p99\": %.4f, \"nofa_vs_raw_p99_max\": 1.5}",
			       bench_ratio(nofa.p50, raw.p50), bench_ratio(nofa.p99, raw.p99));
			first = false;
		}
	}
	printf("\n  ]\n");
}

static void print_json(struct bench *b)
{
	bool first = true;
	char thp[32];

	thp_mode(thp, sizeof(thp));
	printf("{\n  \"pages\": %zu, \"page_size\": %zu, \"runs\": %u, \"thp\": \"%s\", "
	       "\"faulting_cpu\": %u, \"rand_seed\": %llu,\n"
	       "  \"throughput_pass\": \"untimed\", \"aggregate\": \"median over runs, max of max\",\n"
	       "  \"rows\": [", b->pages, b->page, b->runs, thp, FAULTING_CPU,
	       (unsigned long long)RAND_SEED);
	for (int pat = 0; pat < NPAT; pat++)
		for (int place = 0; place < NPLACE; place++)
			for (int impl = 0; impl < NIMPL; impl++)
				if (b->pattern[pat] && b->placement[place])
					print_json_row(b, impl, pat, place, &first);
	printf("\n  ],\n");
	print_json_targets(b);
	printf("}\n");
}

/* ---- command line ------------------------------------------------------------ */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [options]\n"
		"Zero-fill first-touch fault latency and throughput: kernel, raw userfaultfd,\n"
		"upager (fault-around) and upager-nofa (one page per fault).\n\n"
		"  --pages N               pages per region (default %u = %u MiB)\n"
		"  --runs N                runs, medians reported (default %u)\n"
		"  --pattern seq|rand|both touch order (default both)\n"
		"  --placement same|cross|both\n"
		"                          handler on the faulting CPU %u or on CPU %u (default both)\n"
		"  --quick                 %u pages, %u runs (a smoke test)\n"
		"  --json                  one JSON object on stdout\n"
		"  -h, --help              this text\n",
		prog, DEFAULT_PAGES, DEFAULT_PAGES / 256, DEFAULT_RUNS, FAULTING_CPU, CROSS_CPU,
		QUICK_PAGES, QUICK_RUNS);
}

/* Strict decimal in [min, max]. */
static int parse_uint(const char *s, unsigned long min, unsigned long max,
		      unsigned long *out)
{
	char *end;
	unsigned long v;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* "a", "b" or "both" into two selection flags. */
static int parse_pair(const char *s, const char *const names[2], bool sel[2])
{
	bool both = !strcmp(s, "both");

	if (!both && strcmp(s, names[0]) && strcmp(s, names[1]))
		return -EINVAL;
	sel[0] = both || !strcmp(s, names[0]);
	sel[1] = both || !strcmp(s, names[1]);
	return 0;
}

enum { OPT_PAGES = 256, OPT_RUNS, OPT_PATTERN, OPT_PLACEMENT, OPT_QUICK, OPT_JSON };

/* Returns 0 to run, 1 after --help, or -EINVAL (already explained). */
static int parse_args(int argc, char **argv, struct bench *b)
{
	static const struct option longopts[] = {
		{ "pages", required_argument, NULL, OPT_PAGES },
		{ "runs", required_argument, NULL, OPT_RUNS },
		{ "pattern", required_argument, NULL, OPT_PATTERN },
		{ "placement", required_argument, NULL, OPT_PLACEMENT },
		{ "quick", no_argument, NULL, OPT_QUICK },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long pages = 0, runs = 0;
	bool quick = false;
	int c;

	b->pattern[PAT_SEQ] = b->pattern[PAT_RAND] = true;
	b->placement[PLACE_SAME] = b->placement[PLACE_CROSS] = true;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PAGES:
			if (parse_uint(optarg, 1, MAX_PAGES, &pages))
				goto bad_value;
			break;
		case OPT_RUNS:
			if (parse_uint(optarg, 1, MAX_RUNS, &runs))
				goto bad_value;
			break;
		case OPT_PATTERN:
			if (parse_pair(optarg, pattern_name, b->pattern))
				goto bad_value;
			break;
		case OPT_PLACEMENT:
			if (parse_pair(optarg, placement_name, b->placement))
				goto bad_value;
			break;
		case OPT_QUICK:
			quick = true;
			break;
		case OPT_JSON:
			b->json = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		default:
			fprintf(stderr, "upager-bench: unknown option or missing value: %s\n",
				argv[optind - 1]);
			goto bad;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "upager-bench: unexpected argument: %s\n", argv[optind]);
		goto bad;
	}
	/* Explicit --pages/--runs win over --quick, whatever their order. */
	b->pages = pages ? pages : quick ? QUICK_PAGES : DEFAULT_PAGES;
	b->runs = (unsigned int)(runs ? runs : quick ? QUICK_RUNS : DEFAULT_RUNS);
	return 0;

bad_value:
	fprintf(stderr, "upager-bench: invalid value for --%s: \"%s\" (pages 1..%u, runs 1..%u, "
		"pattern seq|rand|both, placement same|cross|both)\n",
		longopts[c - OPT_PAGES].name, optarg, MAX_PAGES, MAX_RUNS);
bad:
	fprintf(stderr, "Try '%s --help'.\n", argv[0]);
	return -EINVAL;
}

int main(int argc, char **argv)
{
	struct bench b = { .page = (size_t)sysconf(_SC_PAGESIZE) };
	int err;

	err = parse_args(argc, argv, &b);
	if (err)
		return err > 0 ? 0 : 2;
	err = pin_self(&b);
	if (!err)
		err = probe_userfaultfd();
	if (err)
		return 1;
	err = bench_alloc(&b);
	if (err) {
		fprintf(stderr, "upager-bench: allocating buffers: %s\n", strerror(-err));
		goto out_free;
	}
	for (unsigned int run = 0; run < b.runs; run++) {
		if (isatty(STDERR_FILENO))
			fprintf(stderr, "upager-bench: run %u/%u\n", run + 1, b.runs);
		err = run_once(&b, run);
		if (err)
			goto out_free;
	}
	if (b.json)
		print_json(&b);
	else
		print_table(&b);
out_free:
	bench_free(&b);
	return err ? 1 : 0;
}
