/*
 * difftest - a randomized differential tester of the address-space calls.
 *
 * From a seed, a deterministic random sequence of steps over an arena of
 * anonymous, shared-anonymous and file mappings: map, unmap, protect,
 * mremap, madvise (and the fork advices), fork, writes, reads, and system
 * calls that read or write the memory. Each step prints its result (a
 * return value or errno name, what it checked) and every few steps the
 * arena's contents are hashed: offsets in pages from the arena's start,
 * never addresses. The transcript of a native run and of a run under
 * upager-run must be byte for byte the same (tools/difftest compares them).
 *
 * The arena is one PROT_NONE reservation at a fixed address far below the
 * kernel's top-down mmap area, so MAP_FIXED inside it lands at the same
 * offsets in both runs and nothing else (the C library, upager itself)
 * ever gets memory in its holes.
 *
 * What the kernel leaves undefined is not observed: pages given
 * MADV_FREE keep their old bytes or read zeros, so the tester's model
 * marks them unknown until they are written again, and hashes skip them.
 *
 * usage: difftest SEED [--steps N] [--arena MIB] [--skip CLASS,...]
 * CLASS: map unmap protect mremap madvise forkadv fork write read sys procmem torture,
 * or one variant: map-badoffset (MAP_FIXED with an unaligned file offset),
 * rawfork (the torture class's raw fork), madvise-sequential
 * (torture: a descriptor storm and close_range, a raw fork that skips the
 * C library's fork handlers, a signal storm during touches; issue 17)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define PG 4096UL
#define ARENA_BASE ((char *)0x300000000000UL)
#define NFILES 2
#define FILE_PAGES 2048 /* 8 MiB each */
#define HASH_EVERY 16
#define CHUNK_PAGES 256 /* one hash line per MiB */
#define MAX_OP_PAGES 4096

enum kind { K_HOLE, K_RESERVE, K_ANON, K_SHARED, K_FILE_PRIV, K_FILE_SHARED };
static const char *const kind_name[] = { "hole", "reserve", "anon", "shared-anon", "file-private",
					 "file-shared" };

enum op_class { C_MAP, C_UNMAP, C_PROTECT, C_MREMAP, C_MADVISE, C_FORKADV, C_FORK, C_WRITE,
		C_READ, C_SYS, C_PROCMEM, C_TORTURE, C_COUNT };
static const char *const class_name[] = { "map", "unmap", "protect", "mremap", "madvise",
					  "forkadv", "fork", "write", "read", "sys", "procmem",
					  "torture" };
/* Relative frequencies of the classes. */
static const int class_weight[] = { 12, 8, 10, 10, 12, 5, 2, 16, 8, 8, 3, 3 };

/* The tester's idea of each arena page: only a guide for choosing ranges,
 * except `unknown`, which says which bytes the kernel leaves undefined. */
struct page_model {
	uint32_t id; /* the mapping call that made it */
	uint8_t kind;
	uint8_t file;
	bool unknown; /* MADV_FREE'd since last written: old bytes or zeros */
	uint32_t foff; /* page index in the file */
};

static struct page_model *model;
static size_t arena_pages;
static uint64_t rng_state;
static uint64_t seed;
static int step;
static uint32_t next_id = 1;
static bool skip[C_COUNT];
/* Variants of a class that --skip can leave out alone (the sequence stays the same). */
static bool skip_badoffset, skip_rawfork, skip_sequential;
static int file_fd[NFILES];
static int scratch_fd, mem_fd;
static char *buf; /* outside the arena: for system calls' other side */
static char *status; /* per page: 0 hole, '-' no access, 'r', 'w' */
static bool is_child;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static size_t below(size_t n)
{
	return n ? rng() % n : 0;
}

/* 1..max pages, log-uniform: as many small ranges as big ones. */
static size_t some_pages(size_t max)
{
	int bits = 0;
	while ((1UL << bits) < max)
		bits++;
	size_t n = 1 + below((1UL << below(bits + 1)));
	return n > max ? max : n;
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const uint64_t *w = p;
	for (size_t i = 0; i < n / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return mix(h, n);
}

static const char *err_name(int e)
{
	const char *s = strerrorname_np(e);
	return s ? s : "E?";
}

static void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void out(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s%d ", is_child ? "  child " : "", step);
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
}

/* ---- faults caught while touching memory ---- */

static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_armed;
static volatile int fault_sig, fault_code;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (!fault_armed) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	fault_sig = sig;
	fault_code = si->si_code;
	fault_armed = 0;
	siglongjmp(fault_jmp, 1);
}

static const char *code_name(int sig, int code)
{
	if (sig == SIGSEGV)
		return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR" : "SEGV_?";
	if (sig == SIGBUS)
		return code == BUS_ADRERR ? "BUS_ADRERR" : code == BUS_OBJERR ? "BUS_OBJERR" : "BUS_?";
	return "?";
}

struct touch {
	size_t done, faults, first; /* pages touched, pages that faulted, first faulting page */
	int sig, code; /* of the first fault */
	uint64_t h;
};

static void pattern(char *page, uint64_t tag)
{
	uint64_t *w = (uint64_t *)page;
	uint64_t v = mix(seed, tag);
	for (size_t i = 0; i < PG / 8; i++)
		w[i] = v + i * 0x9e3779b97f4a7c15ULL;
}

/*
 * Write (or read and hash) n pages at p, one page at a time, catching
 * SIGSEGV and SIGBUS: a faulting page is recorded and skipped, and after
 * max_faults of them the rest is left. `unknown` (may be NULL) names pages
 * whose bytes are undefined: only their access is checked. `written` (may
 * be NULL) is set for each page written.
 */
static struct touch touch_pages(char *p, size_t n, bool write, uint64_t tag, const bool *unknown,
				size_t max_faults, bool *written)
{
	/* Volatile: they change between sigsetjmp and the siglongjmp back. */
	volatile size_t i = 0, done = 0, faults = 0, first = 0;
	volatile int sig = 0, code = 0;
	volatile uint64_t h = 14695981039346656037ULL;
	static char page[PG];

	pattern(page, tag);
	if (sigsetjmp(fault_jmp, 1)) {
		if (!faults++) {
			first = i;
			sig = fault_sig;
			code = fault_code;
		}
		h = mix(h, ((uint64_t)i << 16) ^ ((uint64_t)fault_sig << 8) ^ (uint64_t)fault_code);
		if (faults >= max_faults)
			goto out;
		i++;
	}
	for (; i < n; i++) {
		fault_armed = 1;
		if (write) {
			((uint64_t *)page)[0] = tag + i;
			memcpy(p + i * PG, page, PG);
			if (written)
				written[i] = true;
		} else if (unknown && unknown[i]) {
			(void)*(volatile char *)(p + i * PG);
			h = mix(h, 0x3f);
		} else {
			h = hash_bytes(mix(h, i), p + i * PG, PG);
		}
		fault_armed = 0;
		done++;
	}
out:
	fault_armed = 0;
	return (struct touch){ .done = done, .faults = faults, .first = first, .sig = sig, .code = code, .h = h };
}

static void print_touch(const char *what, size_t off, size_t n, const struct touch *t)
{
	if (t->faults)
		out("%s +%zu %zup: %zu ok, %zu faults, first +%zu %s %s, h=%016" PRIx64, what, off, n,
		    t->done, t->faults, t->first, strsignal(t->sig), code_name(t->sig, t->code), t->h);
	else
		out("%s +%zu %zup: %zu ok, h=%016" PRIx64, what, off, n, t->done, t->h);
}

/* ---- the kernel's view: /proc/self/maps ---- */

/* status[0..n) for [lo, lo + n pages): 0 unmapped, '-' no read, 'r', 'w'. */
static void read_status(char *lo, size_t n, char *st)
{
	static char maps[1 << 20];
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t r;

	memset(st, 0, n);
	if (fd < 0)
		return;
	while (len < sizeof(maps) - 1 && (r = read(fd, maps + len, sizeof(maps) - 1 - len)) > 0)
		len += (size_t)r;
	close(fd);
	maps[len] = 0;
	char *hi = lo + n * PG;
	for (char *line = maps; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		unsigned long s, e;
		char perm[5];
		if (sscanf(line, "%lx-%lx %4s", &s, &e, perm) != 3)
			continue;
		if ((char *)e <= lo || (char *)s >= hi)
			continue;
		char c = perm[0] != 'r' ? '-' : perm[1] == 'w' ? 'w' : 'r';
		for (unsigned long a = s; a < e; a += PG)
			if ((char *)a >= lo && (char *)a < hi)
				st[((char *)a - lo) / PG] = c;
	}
}

/* Hash n pages at p as the kernel maps them: access, then bytes. */
static uint64_t hash_mapped(char *p, size_t n, const bool *unknown, char *st, size_t *faults)
{
	uint64_t h = 14695981039346656037ULL;
	size_t i = 0;

	*faults = 0;
	while (i < n) {
		size_t j = i;
		while (j < n && st[j] == st[i])
			j++;
		h = mix(h, ((uint64_t)(j - i) << 8) | (uint8_t)st[i]);
		if (st[i] == 'r' || st[i] == 'w') {
			struct touch t = touch_pages(p + i * PG, j - i, false, 0, unknown ? unknown + i : NULL, SIZE_MAX, NULL);
			h = mix(h, t.h);
			*faults += t.faults;
		}
		i = j;
	}
	return h;
}

static bool *unknown_of(size_t off)
{
	static bool *u;
	if (!u)
		u = calloc(arena_pages, sizeof(*u));
	for (size_t i = off; i < arena_pages; i++)
		u[i - off] = model[i].unknown;
	return u;
}

static void hash_arena(const char *label)
{
	uint64_t total = 0;
	read_status(ARENA_BASE, arena_pages, status);
	bool *u = unknown_of(0);
	for (size_t c = 0; c < arena_pages; c += CHUNK_PAGES) {
		size_t n = arena_pages - c < CHUNK_PAGES ? arena_pages - c : CHUNK_PAGES, faults;
		uint64_t h = hash_mapped(ARENA_BASE + c * PG, n, u + c, status + c, &faults);
		char map[CHUNK_PAGES / 16 + 1];
		/* A sketch of the chunk's access, 16 pages per letter. */
		for (size_t k = 0; k < n / 16; k++) {
			char s = status[c + k * 16];
			map[k] = s ? s : '.';
		}
		map[n / 16] = 0;
		total = mix(total, h);
		out("%s chunk %zu %s h=%016" PRIx64 "%s", label, c / CHUNK_PAGES, map, h,
		    faults ? " FAULTS" : "");
	}
	for (int f = 0; f < NFILES; f++) {
		uint64_t h = 14695981039346656037ULL;
		ssize_t r = pread(file_fd[f], buf, FILE_PAGES * PG * 2, 0);
		if (r > 0)
			h = hash_bytes(h, buf, (size_t)r);
		out("%s file %d size %zd h=%016" PRIx64, label, f, r, h);
	}
	out("%s total %016" PRIx64, label, total);
}

/* ---- choosing ranges ---- */

/* A mapping the model knows, [*start, *end): the run of one id around a random page. */
static void pick_mapping(size_t *start, size_t *end)
{
	size_t p = below(arena_pages);
	size_t s = p, e = p + 1;
	while (s > 0 && model[s - 1].id == model[p].id)
		s--;
	while (e < arena_pages && model[e].id == model[p].id)
		e++;
	*start = s;
	*end = e;
}

static bool find_hole(size_t *start, size_t *end)
{
	size_t p = below(arena_pages);
	for (size_t k = 0; k < arena_pages; k++) {
		size_t q = (p + k) % arena_pages;
		if (model[q].kind == K_HOLE) {
			size_t s = q, e = q + 1;
			while (s > 0 && model[s - 1].kind == K_HOLE)
				s--;
			while (e < arena_pages && model[e].kind == K_HOLE)
				e++;
			*start = s;
			*end = e;
			return true;
		}
	}
	return false;
}

/* Some range: a mapping, part of one, or anywhere (across mappings and holes). */
static void pick_range(size_t *off, size_t *n)
{
	size_t s, e;
	switch (below(5)) {
	case 0: /* a whole mapping */
		pick_mapping(&s, &e);
		break;
	case 1: /* a prefix */
		pick_mapping(&s, &e);
		e = s + some_pages(e - s);
		break;
	case 2: /* a suffix */
		pick_mapping(&s, &e);
		s = e - some_pages(e - s);
		break;
	case 3: /* across the end of one mapping into the next */
		pick_mapping(&s, &e);
		s = e - some_pages(e - s);
		e = e + some_pages(64);
		break;
	default: /* anywhere */
		s = below(arena_pages);
		e = s + some_pages(MAX_OP_PAGES);
		break;
	}
	if (e > arena_pages)
		e = arena_pages;
	if (s >= e)
		s = e - 1;
	*off = s;
	*n = e - s;
}

static const char *prot_name(int prot)
{
	return prot == PROT_NONE ? "none" : prot == PROT_READ ? "r" : "rw";
}

static int some_prot(void)
{
	size_t r = below(8);
	return r < 5 ? PROT_READ | PROT_WRITE : r < 7 ? PROT_READ : PROT_NONE;
}

static void model_set(size_t off, size_t n, enum kind k, int file, size_t foff)
{
	uint32_t id = next_id++;
	for (size_t i = 0; i < n && off + i < arena_pages; i++)
		model[off + i] = (struct page_model){ .id = id, .kind = (uint8_t)k, .file = (uint8_t)file,
						      .foff = (uint32_t)(foff + i) };
}

static void model_known(size_t off, size_t n)
{
	for (size_t i = 0; i < n && off + i < arena_pages; i++)
		model[off + i].unknown = false;
}

/* ---- the steps ---- */

static void do_map(void)
{
	size_t off, n, hs, he;
	bool in_hole = below(3) == 0 && find_hole(&hs, &he);
	int prot = some_prot();
	enum kind k = (enum kind)(K_ANON + below(4));
	int flags = k == K_SHARED || k == K_FILE_SHARED ? MAP_SHARED : MAP_PRIVATE;
	int fd = -1, file = 0;
	off_t foff = 0;
	const char *how = "fixed";

	if (in_hole) {
		off = hs + below(he - hs);
		n = some_pages(he - off + 8);
	} else {
		pick_range(&off, &n);
		if (below(2))
			n = some_pages(MAX_OP_PAGES);
	}
	if (off + n > arena_pages)
		n = arena_pages - off;
	if (below(4) == 0) {
		flags |= MAP_FIXED_NOREPLACE;
		how = "noreplace";
	} else {
		flags |= MAP_FIXED;
	}
	if (k == K_FILE_PRIV || k == K_FILE_SHARED) {
		file = (int)below(NFILES);
		fd = file_fd[file];
		foff = (off_t)(below(FILE_PAGES + 64) * PG);
		if (below(12) == 0 && !skip_badoffset)
			foff += 512; /* the kernel refuses: nothing may change */
	} else {
		flags |= MAP_ANONYMOUS;
	}
	char *p = mmap(ARENA_BASE + off * PG, n * PG, prot, flags, fd, foff);
	int e = p == MAP_FAILED ? errno : 0;
	out("mmap %s %s +%zu %zup %s foff %lld = %s", how, kind_name[k], off, n, prot_name(prot),
	    (long long)foff, p == MAP_FAILED ? err_name(e) : p == ARENA_BASE + off * PG ? "ok" : "ELSEWHERE");
	if (p == ARENA_BASE + off * PG)
		model_set(off, n, k, file, (size_t)foff / PG);
	else if (p != MAP_FAILED)
		munmap(p, n * PG);
}

static void do_unmap(void)
{
	size_t off, n;
	pick_range(&off, &n);
	size_t mis = below(16) == 0 ? 100 : 0;
	int r = munmap(ARENA_BASE + off * PG + mis, n * PG);
	out("munmap +%zu%s %zup = %s", off, mis ? "+100" : "", n, r ? err_name(errno) : "ok");
	if (!r)
		for (size_t i = 0; i < n; i++)
			model[off + i] = (struct page_model){ .id = 0, .kind = K_HOLE };
}

static void do_protect(void)
{
	size_t off, n;
	pick_range(&off, &n);
	int prot = some_prot();
	int r = mprotect(ARENA_BASE + off * PG, n * PG, prot);
	out("mprotect +%zu %zup %s = %s", off, n, prot_name(prot), r ? err_name(errno) : "ok");
}

/* Hash n pages moved out of the arena from +off, which held old_n of
 * them: those carry their unknown marks (the rest are new). */
static void hash_elsewhere(const char *what, char *p, size_t n, size_t off, size_t old_n)
{
	static char st[MAX_OP_PAGES * 2];
	static bool u[MAX_OP_PAGES * 2];
	size_t faults;
	for (size_t i = 0; i < n; i++)
		u[i] = i < old_n && off + i < arena_pages && model[off + i].unknown;
	read_status(p, n, st);
	uint64_t h = hash_mapped(p, n, u, st, &faults);
	out("%s %zup h=%016" PRIx64 "%s", what, n, h, faults ? " FAULTS" : "");
}

static void model_move(size_t from, size_t to, size_t old_n, size_t new_n, bool dontunmap)
{
	static struct page_model tmp[MAX_OP_PAGES * 2];
	size_t keep = old_n < new_n ? old_n : new_n;
	memcpy(tmp, model + from, keep * sizeof(*tmp));
	if (!dontunmap)
		for (size_t i = 0; i < old_n; i++)
			model[from + i] = (struct page_model){ .kind = K_HOLE };
	uint32_t id = next_id++;
	for (size_t i = 0; i < new_n && to + i < arena_pages; i++) {
		model[to + i] = i < keep ? tmp[i] : tmp[keep - 1];
		model[to + i].id = id;
		if (i >= keep)
			model[to + i].foff += (uint32_t)(i - keep + 1);
	}
}

static void do_mremap(void)
{
	size_t off, n;
	pick_range(&off, &n);
	if (n > MAX_OP_PAGES)
		n = MAX_OP_PAGES;
	char *old = ARENA_BASE + off * PG, *dest = NULL, *p;
	size_t new_n = n, to = 0;
	int flags = 0;
	const char *how;

	switch (below(8)) {
	case 0:
		how = "shrink";
		new_n = n > 1 ? n - 1 - below(n - 1) : 1;
		break;
	case 1:
		how = "grow";
		new_n = n + some_pages(256);
		break;
	case 2:
		how = "grow-maymove";
		new_n = n + some_pages(1024);
		flags = MREMAP_MAYMOVE;
		break;
	case 3:
	case 4:
		how = "move-fixed";
		if (below(2))
			new_n = some_pages(MAX_OP_PAGES);
		to = below(arena_pages);
		if (to + new_n > arena_pages)
			to = arena_pages - new_n;
		flags = MREMAP_MAYMOVE | MREMAP_FIXED;
		dest = ARENA_BASE + to * PG;
		break;
	case 5:
		how = "overlap-fixed";
		to = off + below(n);
		new_n = n;
		if (to + new_n > arena_pages)
			new_n = arena_pages - to;
		flags = MREMAP_MAYMOVE | MREMAP_FIXED;
		dest = ARENA_BASE + to * PG;
		break;
	case 6:
		how = "dontunmap";
		flags = MREMAP_MAYMOVE | MREMAP_DONTUNMAP;
		if (below(2)) {
			to = below(arena_pages - n);
			flags |= MREMAP_FIXED;
			dest = ARENA_BASE + to * PG;
		}
		break;
	default: {
		static const char *const bad[] = { "unaligned", "fixed-no-maymove", "zero-size", "bad-flag",
						   "dontunmap-no-maymove" };
		size_t b = below(5);
		how = bad[b];
		if (b == 0)
			old += 100;
		else if (b == 1)
			flags = MREMAP_FIXED, dest = ARENA_BASE + below(arena_pages - n) * PG;
		else if (b == 2)
			new_n = 0;
		else if (b == 3)
			flags = 0x80;
		else
			flags = MREMAP_DONTUNMAP;
		break;
	}
	}
	/* Growing in place must stay in the arena (only moves may leave it). */
	if (!(flags & MREMAP_FIXED) && off + new_n > arena_pages)
		new_n = arena_pages - off;
	p = mremap(old, n * PG, new_n * PG, flags, dest);
	int e = p == MAP_FAILED ? errno : 0;
	if (p == MAP_FAILED) {
		out("mremap %s +%zu %zup -> %zup%s = %s", how, off, n, new_n, dest ? " fixed" : "",
		    err_name(e));
		return;
	}
	if (p == old) {
		out("mremap %s +%zu %zup -> %zup%s = in place", how, off, n, new_n, dest ? " fixed" : "");
		if (new_n < n)
			for (size_t i = new_n; i < n; i++)
				model[off + i] = (struct page_model){ .kind = K_HOLE };
		else
			model_move(off, off, n, new_n, true);
		return;
	}
	if (p >= ARENA_BASE && p < ARENA_BASE + arena_pages * PG) {
		to = (size_t)(p - ARENA_BASE) / PG;
		out("mremap %s +%zu %zup -> %zup%s = +%zu", how, off, n, new_n, dest ? " fixed" : "", to);
		model_move(off, to, n, new_n, flags & MREMAP_DONTUNMAP);
		return;
	}
	/* Moved out of the arena, where the kernel chose: look, then let it go. */
	out("mremap %s +%zu %zup -> %zup%s = moved out", how, off, n, new_n, dest ? " fixed" : "");
	hash_elsewhere("moved", p, new_n, off, n);
	int r = munmap(p, new_n * PG);
	out("munmap moved = %s", r ? err_name(errno) : "ok");
	if (!(flags & MREMAP_DONTUNMAP))
		for (size_t i = 0; i < n; i++)
			model[off + i] = (struct page_model){ .kind = K_HOLE };
}

static void do_madvise(bool fork_advice)
{
	static const struct { int advice; const char *name; } all[] = {
		{ MADV_DONTNEED, "DONTNEED" }, { MADV_FREE, "FREE" },
		{ MADV_REMOVE, "REMOVE" }, { MADV_COLD, "COLD" },
		{ MADV_PAGEOUT, "PAGEOUT" }, { MADV_WILLNEED, "WILLNEED" },
		{ MADV_POPULATE_READ, "POPULATE_READ" }, { MADV_POPULATE_WRITE, "POPULATE_WRITE" },
		{ MADV_NORMAL, "NORMAL" }, { MADV_SEQUENTIAL, "SEQUENTIAL" },
		{ MADV_DONTFORK, "DONTFORK" }, { MADV_DOFORK, "DOFORK" },
		{ MADV_WIPEONFORK, "WIPEONFORK" }, { MADV_KEEPONFORK, "KEEPONFORK" },
	};
	size_t off, n, a = fork_advice ? 10 + below(4) : below(10);
	pick_range(&off, &n);
	if (skip_sequential && all[a].advice == MADV_SEQUENTIAL)
		return;
	int r = madvise(ARENA_BASE + off * PG, n * PG, all[a].advice);
	out("madvise %s +%zu %zup = %s", all[a].name, off, n, r ? err_name(errno) : "ok");
	if (all[a].advice == MADV_FREE)
		for (size_t i = 0; i < n; i++)
			if (model[off + i].kind == K_ANON || model[off + i].kind == K_FILE_PRIV)
				model[off + i].unknown = true;
}

static void do_write(void)
{
	static bool written[MAX_OP_PAGES * 2];
	size_t off, n;
	pick_range(&off, &n);
	memset(written, 0, n);
	struct touch t = touch_pages(ARENA_BASE + off * PG, n, true, (uint64_t)step << 20, NULL, 16, written);
	print_touch("write", off, n, &t);
	for (size_t i = 0; i < n; i++)
		if (written[i])
			model[off + i].unknown = false;
}

static void do_read(void)
{
	size_t off, n;
	pick_range(&off, &n);
	if (n > 1024)
		n = 1024;
	struct touch t = touch_pages(ARENA_BASE + off * PG, n, false, 0, unknown_of(off), 16, NULL);
	print_touch("read", off, n, &t);
}

/* Hash what a system call copied out of the arena, skipping undefined pages. */
static uint64_t hash_out(const char *b, size_t off, ssize_t len)
{
	uint64_t h = 14695981039346656037ULL;
	for (size_t i = 0; len > 0 && i * PG < (size_t)len; i++) {
		size_t k = (size_t)len - i * PG < PG ? (size_t)len - i * PG : PG;
		if (off + i < arena_pages && model[off + i].unknown)
			h = mix(h, 0x3f);
		else
			h = hash_bytes(mix(h, i), b + i * PG, k & ~7UL);
	}
	return h;
}

static void report_io(const char *what, size_t off, size_t n, ssize_t r, int e, bool into_arena)
{
	if (r < 0) {
		out("%s +%zu %zup = %s", what, off, n, err_name(e));
		return;
	}
	if (into_arena) {
		out("%s +%zu %zup = %zd", what, off, n, r);
		model_known(off, (size_t)r / PG);
		return;
	}
	out("%s +%zu %zup = %zd h=%016" PRIx64, what, off, n, r, hash_out(buf, off, r));
}

static void do_sys(bool procmem)
{
	size_t off, n;
	pick_range(&off, &n);
	if (n > 2048)
		n = 2048;
	char *p = ARENA_BASE + off * PG;
	size_t len = n * PG;
	ssize_t r;
	int e;

	if (procmem) {
		if (below(2)) {
			r = pread(mem_fd, buf, len, (off_t)(uintptr_t)p);
			e = errno;
			report_io("procmem-read", off, n, r, e, false);
		} else {
			for (size_t i = 0; i < n; i++)
				pattern(buf + i * PG, ((uint64_t)step << 20) + i);
			r = pwrite(mem_fd, buf, len, (off_t)(uintptr_t)p);
			e = errno;
			report_io("procmem-write", off, n, r, e, true);
		}
		return;
	}
	switch (below(5)) {
	case 0: { /* a file's bytes read into the arena */
		int f = (int)below(NFILES);
		r = pread(file_fd[f], p, len, (off_t)(below(FILE_PAGES) * PG));
		e = errno;
		report_io("pread-into", off, n, r, e, true);
		break;
	}
	case 1: /* the arena's bytes written to a file, read back */
		r = pwrite(scratch_fd, p, len, 0);
		e = errno;
		if (r > 0 && pread(scratch_fd, buf, (size_t)r, 0) != r)
			r = -1, e = EIO;
		report_io("write-from", off, n, r, e, false);
		break;
	case 2: { /* through a pipe, at most its capacity */
		int fds[2];
		if (pipe(fds))
			abort();
		size_t k = len < 65536 ? len : 65536;
		r = write(fds[1], p, k);
		e = errno;
		if (r > 0 && read(fds[0], buf, (size_t)r) != r)
			r = -1, e = EIO;
		close(fds[0]);
		close(fds[1]);
		report_io("pipe-from", off, k / PG, r, e, false);
		break;
	}
	case 3: {
		struct iovec local = { buf, len }, remote = { p, len };
		r = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
		e = errno;
		report_io("vm-readv", off, n, r, e, false);
		break;
	}
	default: {
		for (size_t i = 0; i < n; i++)
			pattern(buf + i * PG, ((uint64_t)step << 20) + i);
		struct iovec local = { buf, len }, remote = { p, len };
		r = process_vm_writev(getpid(), &local, 1, &remote, 1, 0);
		e = errno;
		report_io("vm-writev", off, n, r, e, true);
		break;
	}
	}
}

static void do_fork(void)
{
	size_t off, n;
	pick_range(&off, &n);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		out("fork = %s", err_name(errno));
		return;
	}
	if (pid == 0) {
		is_child = true;
		/* What it inherited, then a write only shared pages pass back. */
		hash_arena("fork-sees");
		struct touch t = touch_pages(ARENA_BASE + off * PG, n, true, ((uint64_t)step << 20) | 0xc,
					     NULL, 16, NULL);
		print_touch("write", off, n, &t);
		fflush(stdout);
		_exit(0);
	}
	int st;
	if (waitpid(pid, &st, 0) != pid)
		abort();
	if (WIFSIGNALED(st))
		out("fork child killed by %s", strsignal(WTERMSIG(st)));
	else
		out("fork child exit %d", WEXITSTATUS(st));
	/* The child's write changed its own copies, and only shared pages here. */
	for (size_t i = 0; i < n; i++)
		if (model[off + i].kind == K_SHARED || model[off + i].kind == K_FILE_SHARED)
			model[off + i].unknown = false;
}

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void do_torture(void)
{
	size_t off, n;
	pick_range(&off, &n);
	if (n > 1024)
		n = 1024;
	char *p = ARENA_BASE + off * PG;

	switch (below(3)) {
	case 0: { /* many descriptors, then all above ours closed at once */
		int count = 64 + (int)below(512), first = -1, made = 0;
		for (int i = 0; i < count; i++) {
			int fd = dup(file_fd[0]);
			if (fd < 0)
				break;
			if (first < 0)
				first = fd;
			made++;
		}
		int r = first < 0 ? -1 : (int)syscall(SYS_close_range, (unsigned)first, ~0U, 0);
		out("fdstorm %d of %d, close_range = %s", made == count ? count : -1, count,
		    r ? err_name(errno) : "ok");
		ssize_t k = pread(file_fd[1], p, n * PG, 0);
		report_io("pread-into", off, n, k, errno, true);
		break;
	}
	case 1: { /* fork(2) itself: no atfork handlers run */
		if (skip_rawfork)
			break;
		fflush(stdout);
		pid_t pid = (pid_t)syscall(SYS_fork);
		if (pid < 0) {
			out("raw fork = %s", err_name(errno));
			break;
		}
		if (pid == 0) {
			is_child = true;
			struct touch t = touch_pages(p, n, false, 0, unknown_of(off), 16, NULL);
			print_touch("read", off, n, &t);
			fflush(stdout);
			_exit(0);
		}
		int st;
		if (waitpid(pid, &st, 0) != pid)
			abort();
		if (WIFSIGNALED(st))
			out("raw fork child killed by %s", strsignal(WTERMSIG(st)));
		else
			out("raw fork child exit %d", WEXITSTATUS(st));
		break;
	}
	default: { /* a signal every 100 us while pages are written and read */
		struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART }, old;
		struct itimerval it = { { 0, 100 }, { 0, 100 } }, stop = { { 0, 0 }, { 0, 0 } };
		static bool written[MAX_OP_PAGES * 2];
		sigaction(SIGALRM, &sa, &old);
		setitimer(ITIMER_REAL, &it, NULL);
		memset(written, 0, n);
		struct touch w = touch_pages(p, n, true, ((uint64_t)step << 20) | 0xa, NULL, 16, written);
		for (size_t i = 0; i < n; i++)
			if (written[i])
				model[off + i].unknown = false;
		struct touch r = touch_pages(p, n, false, 0, unknown_of(off), 16, NULL);
		setitimer(ITIMER_REAL, &stop, NULL);
		sigaction(SIGALRM, &old, NULL);
		print_touch("sigstorm write", off, n, &w);
		print_touch("sigstorm read", off, n, &r);
		break;
	}
	}
}

static void setup(size_t arena_mib)
{
	arena_pages = arena_mib * 256;
	model = calloc(arena_pages, sizeof(*model));
	status = malloc(arena_pages);
	buf = mmap(NULL, FILE_PAGES * PG * 2, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!model || !status || buf == MAP_FAILED)
		abort();
	if (mmap(ARENA_BASE, arena_pages * PG, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0) != ARENA_BASE) {
		perror("difftest: arena");
		exit(2);
	}
	for (size_t i = 0; i < arena_pages; i++)
		model[i] = (struct page_model){ .id = 0, .kind = K_RESERVE };

	/* The files live in a directory of their own, removed at once (the descriptors stay). */
	static char dir[4096];
	const char *t = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/difftest.XXXXXX", t && *t ? t : "/var/tmp");
	if (!mkdtemp(dir)) {
		perror("difftest: mkdtemp");
		exit(2);
	}
	t = dir;
	char path[4200];
	for (int f = 0; f <= NFILES; f++) {
		snprintf(path, sizeof(path), "%s/%d", t, f);
		int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			perror("difftest: file");
			exit(2);
		}
		unlink(path);
		if (f == NFILES) {
			scratch_fd = fd;
			break;
		}
		file_fd[f] = fd;
		for (size_t i = 0; i < FILE_PAGES; i++)
			pattern(buf + i * PG, 0xf11e0000ULL + (uint64_t)f * FILE_PAGES + i);
		if (pwrite(fd, buf, FILE_PAGES * PG, 0) != (ssize_t)(FILE_PAGES * PG))
			abort();
	}
	rmdir(t);
	mem_fd = open("/proc/self/mem", O_RDWR | O_CLOEXEC);

	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_NODEFER };
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* A start that pages from the first step: most of the arena mapped and written. */
static void populate(void)
{
	static const enum kind start[] = { K_ANON, K_ANON, K_SHARED, K_FILE_SHARED, K_ANON, K_FILE_PRIV,
					   K_ANON, K_ANON };
	size_t each = arena_pages / 8;
	for (int i = 0; i < 8; i++) {
		size_t off = (size_t)i * each, n = each - 16; /* holes between them */
		enum kind k = start[i];
		bool file = k == K_FILE_SHARED || k == K_FILE_PRIV;
		int flags = (k == K_SHARED || k == K_FILE_SHARED ? MAP_SHARED : MAP_PRIVATE) | MAP_FIXED |
			    (file ? 0 : MAP_ANONYMOUS);
		if (file && n > FILE_PAGES)
			n = FILE_PAGES;
		char *p = mmap(ARENA_BASE + off * PG, n * PG, PROT_READ | PROT_WRITE, flags,
			       file ? file_fd[i % NFILES] : -1, 0);
		out("mmap start %s +%zu %zup = %s", kind_name[k], off, n, p == MAP_FAILED ? err_name(errno) : "ok");
		if (p == MAP_FAILED)
			continue;
		model_set(off, n, k, i % NFILES, 0);
		struct touch t = touch_pages(p, n, true, 0x5a000000ULL + (uint64_t)i * 100000, NULL, 16, NULL);
		print_touch("write", off, n, &t);
	}
	munmap(ARENA_BASE + (arena_pages - 8) * PG, 8 * PG); /* a hole at the end, too */
	for (size_t i = arena_pages - 8; i < arena_pages; i++)
		model[i] = (struct page_model){ .kind = K_HOLE };
}

int main(int argc, char **argv)
{
	int steps = 100;
	size_t arena_mib = 64;

	if (argc < 2) {
		fprintf(stderr, "usage: difftest SEED [--steps N] [--arena MIB] [--skip CLASS,...]\n");
		return 2;
	}
	seed = strtoull(argv[1], NULL, 0);
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--steps")) {
			steps = atoi(argv[i + 1]);
		} else if (!strcmp(argv[i], "--arena")) {
			arena_mib = strtoul(argv[i + 1], NULL, 0);
		} else if (!strcmp(argv[i], "--skip")) {
			char *list = argv[i + 1], *c;
			for (c = strtok(list, ","); c; c = strtok(NULL, ",")) {
				skip_badoffset |= !strcmp(c, "map-badoffset");
				skip_rawfork |= !strcmp(c, "rawfork");
				skip_sequential |= !strcmp(c, "madvise-sequential");
				for (int k = 0; k < C_COUNT; k++)
					if (!strcmp(c, class_name[k]))
						skip[k] = true;
			}
		} else {
			fprintf(stderr, "difftest: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (arena_mib < 16 || arena_mib > 1024) {
		fprintf(stderr, "difftest: --arena between 16 and 1024 MiB\n");
		return 2;
	}
	rng_state = seed * 0x2545f4914f6cdd1dULL + 1;
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	setup(arena_mib);
	populate();

	int total_weight = 0;
	for (int k = 0; k < C_COUNT; k++)
		total_weight += class_weight[k];
	for (step = 1; step <= steps; step++) {
		/* Every step draws its class even when skipped, so --skip keeps the rest of the sequence. */
		int w = (int)below((size_t)total_weight), k = 0;
		while (w >= class_weight[k])
			w -= class_weight[k++];
		uint64_t saved = rng_state;
		rng_state = mix(seed, (uint64_t)step);
		if (!skip[k]) {
			switch (k) {
			case C_MAP: do_map(); break;
			case C_UNMAP: do_unmap(); break;
			case C_PROTECT: do_protect(); break;
			case C_MREMAP: do_mremap(); break;
			case C_MADVISE: do_madvise(false); break;
			case C_FORKADV: do_madvise(true); break;
			case C_FORK: do_fork(); break;
			case C_WRITE: do_write(); break;
			case C_READ: do_read(); break;
			case C_SYS: do_sys(false); break;
			case C_PROCMEM: do_sys(true); break;
			case C_TORTURE: do_torture(); break;
			}
		}
		rng_state = saved;
		if (step % HASH_EVERY == 0)
			hash_arena("hash");
		fflush(stdout);
	}
	step = steps;
	hash_arena("end");
	return 0;
}
