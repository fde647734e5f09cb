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
#include "difftest.h"

const char *const kind_name[] = { "hole", "reserve", "anon", "shared-anon", "file-private",
				  "file-shared" };
const char *const class_name[] = { "map", "unmap", "protect", "mremap", "madvise",
				   "forkadv", "fork", "write", "read", "sys", "procmem",
				   "torture" };
/* Relative frequencies of the classes. */
static const int class_weight[] = { 12, 8, 10, 10, 12, 5, 2, 16, 8, 8, 3, 3 };

struct page_model *model;
size_t arena_pages;
uint64_t rng_state;
uint64_t seed;
int step;
uint32_t next_id = 1;
bool skip[C_COUNT];
/* Variants of a class that --skip can leave out alone (the sequence stays the same). */
bool skip_badoffset, skip_rawfork, skip_sequential;
int file_fd[NFILES];
int scratch_fd, mem_fd;
char *buf; /* outside the arena: for system calls' other side */
char *status; /* per page: 0 hole, '-' no access, 'r', 'w' */
bool is_child;

static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

size_t below(size_t n)
{
	return n ? rng() % n : 0;
}

/* 1..max pages, log-uniform: as many small ranges as big ones. */
size_t some_pages(size_t max)
{
	int bits = 0;
	while ((1UL << bits) < max)
		bits++;
	size_t n = 1 + below((1UL << below(bits + 1)));
	return n > max ? max : n;
}

uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const uint64_t *w = p;
	for (size_t i = 0; i < n / 8; i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return mix(h, n);
}

const char *err_name(int e)
{
	const char *s = strerrorname_np(e);
	return s ? s : "E?";
}

void out(const char *fmt, ...)
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


void pattern(char *page, uint64_t tag)
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
struct touch touch_pages(char *p, size_t n, bool write, uint64_t tag, const bool *unknown,
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

void print_touch(const char *what, size_t off, size_t n, const struct touch *t)
{
	if (t->faults)
		out("%s +%zu %zup: %zu ok, %zu faults, first +%zu %s %s, h=%016" PRIx64, what, off, n,
		    t->done, t->faults, t->first, strsignal(t->sig), code_name(t->sig, t->code), t->h);
	else
		out("%s +%zu %zup: %zu ok, h=%016" PRIx64, what, off, n, t->done, t->h);
}

/* ---- the kernel's view: /proc/self/maps ---- */

/* status[0..n) for [lo, lo + n pages): 0 unmapped, '-' no read, 'r', 'w'. */
void read_status(char *lo, size_t n, char *st)
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
uint64_t hash_mapped(char *p, size_t n, const bool *unknown, char *st, size_t *faults)
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

bool *unknown_of(size_t off)
{
	static bool *u;
	if (!u)
		u = calloc(arena_pages, sizeof(*u));
	for (size_t i = off; i < arena_pages; i++)
		u[i - off] = model[i].unknown;
	return u;
}

void hash_arena(const char *label)
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
void pick_mapping(size_t *start, size_t *end)
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

bool find_hole(size_t *start, size_t *end)
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
void pick_range(size_t *off, size_t *n)
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

const char *prot_name(int prot)
{
	return prot == PROT_NONE ? "none" : prot == PROT_READ ? "r" : "rw";
}

int some_prot(void)
{
	size_t r = below(8);
	return r < 5 ? PROT_READ | PROT_WRITE : r < 7 ? PROT_READ : PROT_NONE;
}

void model_set(size_t off, size_t n, enum kind k, int file, size_t foff)
{
	uint32_t id = next_id++;
	for (size_t i = 0; i < n && off + i < arena_pages; i++)
		model[off + i] = (struct page_model){ .id = id, .kind = (uint8_t)k, .file = (uint8_t)file,
						      .foff = (uint32_t)(foff + i) };
}

void model_known(size_t off, size_t n)
{
	for (size_t i = 0; i < n && off + i < arena_pages; i++)
		model[off + i].unknown = false;
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
