/* SPDX-License-Identifier: MIT */
/*
 * common.c - shared test machinery (see common.h).
 */
#define _GNU_SOURCE
#include "common.h"
#include "backend/backend.h"
#include "mm/pager.h"
#include "os/signals.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void mem_open(struct mem *m, const char *name, const struct upager_options *opts)
{
	m->name = name;
	m->pager = NULL;
	if (!strcmp(name, "upager")) {
		int err = upager_open(opts, &m->pager);

		cr_assert_eq(err, 0, "upager_open: %s", strerror(-err));
	}
}

void mem_close(struct mem *m)
{
	upager_close(m->pager);
	m->pager = NULL;
}

bool mem_is_upager(const struct mem *m)
{
	return m->pager != NULL;
}

int mem_map(struct mem *m, void *hint, size_t len, int prot, unsigned int flags, void **out)
{
	int mflags = MAP_ANONYMOUS | MAP_NORESERVE;
	void *p;

	if (m->pager)
		return upager_map(m->pager, hint, len, prot, flags, out);
	if (flags & UPAGER_MAP_PRIVATE)
		mflags |= MAP_PRIVATE;
	if (flags & UPAGER_MAP_SHARED)
		mflags |= MAP_SHARED;
	if (flags & UPAGER_MAP_FIXED)
		mflags |= MAP_FIXED;
	if (flags & UPAGER_MAP_FIXED_NOREPLACE)
		mflags |= MAP_FIXED_NOREPLACE;
	p = mmap(hint, len, prot, mflags, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

int mem_map_file(struct mem *m, void *hint, size_t len, int prot, unsigned int flags, int fd,
		 uint64_t off, void **out)
{
	int mflags = flags & UPAGER_MAP_SHARED ? MAP_SHARED : MAP_PRIVATE;
	void *p;

	if (m->pager)
		return upager_map_file(m->pager, hint, len, prot, flags, fd, off, out);
	if (flags & UPAGER_MAP_FIXED)
		mflags |= MAP_FIXED;
	if (flags & UPAGER_MAP_FIXED_NOREPLACE)
		mflags |= MAP_FIXED_NOREPLACE;
	p = mmap(hint, len, prot, mflags, fd, (off_t)off);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

int mem_sync(struct mem *m, void *addr, size_t len)
{
	if (m->pager)
		return upager_sync(m->pager, addr, len, 0);
	return msync(addr, len, MS_SYNC) ? -errno : 0;
}

int mem_unmap(struct mem *m, void *addr, size_t len)
{
	if (m->pager)
		return upager_unmap(m->pager, addr, len);
	return munmap(addr, len) ? -errno : 0;
}

int mem_protect(struct mem *m, void *addr, size_t len, int prot)
{
	if (m->pager)
		return upager_protect(m->pager, addr, len, prot);
	return mprotect(addr, len, prot) ? -errno : 0;
}

static sigjmp_buf probe_jmp;
static volatile sig_atomic_t probe_sig;
static volatile int probe_code;
static void *volatile probe_addr;

static void probe_handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	probe_sig = sig;
	probe_code = si->si_code;
	probe_addr = si->si_addr;
	siglongjmp(probe_jmp, 1);
}

/* Probes touch addresses on purpose that may be anything, ASan's own
 * memory included: its instrumentation must not judge them. */
__attribute__((no_sanitize_address))
static struct access_result probe(volatile unsigned char *p, bool write, unsigned char v)
{
	struct sigaction sa = { .sa_sigaction = probe_handler, .sa_flags = SA_SIGINFO };
	struct sigaction old_segv, old_bus;
	struct access_result r = { 0 };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, &old_segv);
	sigaction(SIGBUS, &sa, &old_bus);
	probe_sig = 0;
	if (!sigsetjmp(probe_jmp, 1)) {
		if (write)
			*p = v;
		else
			r.value = *p;
	}
	sigaction(SIGSEGV, &old_segv, NULL);
	sigaction(SIGBUS, &old_bus, NULL);
	r.sig = probe_sig;
	if (r.sig) {
		r.code = probe_code;
		r.addr = probe_addr;
		r.value = 0;
	}
	return r;
}

struct access_result probe_read(volatile unsigned char *p)
{
	return probe(p, false, 0);
}

struct access_result probe_write(volatile unsigned char *p, unsigned char value)
{
	return probe(p, true, value);
}

void transcript_printf(struct transcript *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (t->len + (size_t)n + 1 > t->cap) {
		t->cap = (t->len + (size_t)n + 1) * 2;
		t->text = realloc(t->text, t->cap);
		cr_assert_not_null(t->text);
	}
	va_start(ap, fmt);
	vsnprintf(t->text + t->len, t->cap - t->len, fmt, ap);
	va_end(ap);
	t->len += (size_t)n;
}

void transcript_reserve(struct transcript *t, size_t bytes)
{
	if (t->cap >= bytes)
		return;
	t->text = realloc(t->text, bytes);
	cr_assert_not_null(t->text);
	t->cap = bytes;
	t->text[t->len] = '\0';
}

void transcript_free(struct transcript *t)
{
	free(t->text);
	memset(t, 0, sizeof(*t));
}

static const char *code_name(int sig, int code)
{
	if (sig == SIGSEGV && code == SEGV_MAPERR)
		return "SEGV_MAPERR";
	if (sig == SIGSEGV && code == SEGV_ACCERR)
		return "SEGV_ACCERR";
	if (sig == SIGBUS)
		return "SIGBUS";
	return "other";
}

void transcript_access(struct transcript *t, const char *what, const void *base,
		       struct access_result r)
{
	if (r.sig)
		transcript_printf(t, "%s: %s at base%+td\n", what, code_name(r.sig, r.code),
				  (const char *)r.addr - (const char *)base);
	else
		transcript_printf(t, "%s: ok 0x%02x\n", what, r.value);
}

int mem_discard(struct mem *m, void *addr, size_t len)
{
	if (m->pager)
		return upager_discard(m->pager, addr, len);
	return madvise(addr, len, MADV_DONTNEED) ? -errno : 0;
}

void differential(scenario_fn fn)
{
	differential_with(fn, NULL);
}

void differential_with(scenario_fn fn, const struct upager_options *opts)
{
	struct transcript tk = { 0 }, tu = { 0 };
	struct mem k, u;

	/* Allocate the transcripts up front: an allocation in the middle of
	 * a scenario could land in a hole the scenario is about to probe. */
	transcript_reserve(&tk, 1 << 16);
	transcript_reserve(&tu, 1 << 16);
	mem_open(&k, "kernel", NULL);
	mem_open(&u, "upager", opts);
	fn(&k, &tk);
	fn(&u, &tu);
	cr_assert_str_eq(tu.text, tk.text,
			 "upager and kernel disagree.\n--- kernel:\n%s--- upager:\n%s",
			 tk.text, tu.text);
	mem_close(&u);
	mem_close(&k);
	transcript_free(&tk);
	transcript_free(&tu);
}

static void *loop_main(void *arg)
{
	struct loop_thread *l = arg;

	while (!atomic_load(&l->stop))
		l->round(l->arg);
	return NULL;
}

void loop_start(struct loop_thread *l, void (*round)(void *arg), void *arg)
{
	l->round = round;
	l->arg = arg;
	atomic_init(&l->stop, false);
	cr_assert_eq(pthread_create(&l->tid, NULL, loop_main, l), 0);
}

void loop_stop(struct loop_thread *l)
{
	atomic_store(&l->stop, true);
	pthread_join(l->tid, NULL);
}

size_t resident_pages(const void *p, size_t len)
{
	size_t n = len / PAGE, count = 0;
	unsigned char *vec = malloc(n);

	cr_assert_not_null(vec);
	cr_assert_eq(mincore((void *)p, len, vec), 0, "mincore: %s", strerror(errno));
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

size_t rollup_bytes(const char *field)
{
	FILE *f = fopen("/proc/self/smaps_rollup", "r");
	size_t n = strlen(field), kb = 0;
	char line[256];

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, n) && line[n] == ':' &&
		    sscanf(line + n + 1, "%zu kB", &kb) == 1)
			break;
	fclose(f);
	return kb << 10;
}

const char *test_swap_path(const char *tag)
{
	static char path[64];

	snprintf(path, sizeof(path), "/var/tmp/upager-test-%s-%d", tag, getpid());
	unlink(path);
	return path;
}

struct upager *test_open(const struct upager_options *opts)
{
	struct upager *pager;
	int err = upager_open(opts, &pager);

	cr_assert_eq(err, 0, "upager_open: %s", strerror(-err));
	return pager;
}

struct upager_stats stats_now(struct upager *pager)
{
	struct upager_stats st = UPAGER_STATS();

	cr_assert_eq(upager_stats_read(pager, &st), 0);
	return st;
}

uint64_t *map_rw(struct upager *pager, size_t pages)
{
	void *mem;

	cr_assert_eq(upager_map(pager, NULL, pages * PAGE, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
				UPAGER_MAP_PRIVATE, &mem), 0);
	return mem;
}

struct upager *open_mapped(const struct upager_options *opts, size_t pages, void **mem)
{
	struct upager *pager = test_open(opts);

	cr_assert_eq(upager_map(pager, NULL, pages * PAGE, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
				UPAGER_MAP_PRIVATE, mem), 0);
	return pager;
}

static uint64_t gen_word(size_t pg, size_t w, uint64_t gen)
{
	return ((pg << 32 | w) * 0x9e3779b97f4a7c15ull ^ gen << 56) | 1;
}

void gen_fill(uint64_t *p, size_t pg, uint64_t gen)
{
	for (size_t w = 0; w < PAGE / 8; w++)
		p[w] = gen_word(pg, w, gen);
}

bool gen_holds(const uint64_t *p, size_t pg, uint64_t gen)
{
	for (size_t w = 0; w < PAGE / 8; w++)
		if (p[w] != gen_word(pg, w, gen))
			return false;
	return true;
}

uint64_t rng_next(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t test_seed(uint64_t fallback)
{
	const char *env = getenv("UPAGER_TEST_SEED");
	uint64_t seed = env ? strtoull(env, NULL, 0) : fallback;

	cr_log_info("seed %" PRIu64 " (set UPAGER_TEST_SEED to replay)", seed);
	return seed;
}

unsigned int test_compress(void)
{
	const char *c = getenv("UPAGER_TEST_COMPRESS");

	if (!c || !*c || !strcmp(c, "off"))
		return 0;
	if (!strcmp(c, "lz4"))
		return UPAGER_COMPRESS_LZ4;
	if (!strcmp(c, "zstd"))
		return UPAGER_COMPRESS_ZSTD;
	cr_assert_fail("UPAGER_TEST_COMPRESS=\"%s\": off, lz4 or zstd", c);
	return 0;
}
