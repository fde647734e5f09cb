/* SPDX-License-Identifier: MIT */
/*
 * preload.c - libupager-preload.so: an unmodified program's anonymous
 * memory, paged by upager under a resident budget.
 *
 * What is paged, and how it gets there:
 *  - The program's own anonymous private mappings of at least
 *    UPAGER_RUN_MIN bytes (default 256 KiB): mmap() is interposed here
 *    and hands them to upager_map(); munmap, mremap, mprotect and
 *    madvise on them go to upager too, so upager's region tree follows
 *    every change the program makes.
 *  - The heap. glibc's malloc gets its memory through internal mmap and
 *    brk calls that no interposed symbol sees, so upager-run preloads
 *    mimalloc as the program's allocator: it takes all of its memory from
 *    the mmap() symbol (32 MiB segments), and returns it with munmap()
 *    and madvise(), all of which land here.
 * What is not, on purpose: thread stacks (glibc maps them internally; a
 *  stack fault inside a signal handler must not wait for a pager),
 *  mappings smaller than UPAGER_RUN_MIN, shared and file mappings,
 *  MAP_STACK/MAP_GROWSDOWN/MAP_HUGETLB/MAP_LOCKED mappings, and memory
 *  mapped before this library's constructor ran.
 *
 * upager's own mappings (it is linked into this library) are told apart
 * by the caller's address: calls from this library's code go straight to
 * the kernel.
 *
 * Environment (upager-run sets it; see upager-run --help):
 *   UPAGER_MAX_RESIDENT  the process's resident cap (UPAGER_OPEN_BUDGET_PROCESS)
 *   UPAGER_MAX_PAGED     instead: a budget for upager's pages alone
 *   UPAGER_SWAP, UPAGER_SWAP_SIZE, UPAGER_THREADS,
 *   UPAGER_LOG   as for the library (upager_options_from_env); but a
 *                UPAGER_SWAP file is the run's own process's: every
 *                other process makes UPAGER_SWAP.<pid> (see own_swap())
 *   UPAGER_RUN_MIN      smallest mapping paged
 *   UPAGER_FALLBACK=1   if no pager can be opened, run unpaged (loudly)
 *   UPAGER_STATS=1      print a summary at exit and on SIGUSR1
 *   UPAGER_STATS_JSON   append this process's statistics as a JSON line
 *                       to this file (docs/stats-json.md)
 *   UPAGER_STATS_INTERVAL=SECONDS  also append a record every SECONDS
 *   UPAGER_RUN_PID      only this process prints (not its children)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "upager.h"
#include "os/fdreg.h"
#include "core/options.h"
#include "preload.h"

struct upager *preload_pager;
size_t preload_min_len = 256u << 10;
/* Some programs close their stderr before exit (coreutils'
 * close_stdout), and the summary is printed after that: the constructor
 * keeps a copy where a summary was asked for. */
int preload_say_fd = STDERR_FILENO;
static uintptr_t self_lo, self_hi; /* this library's code and data */

bool preload_from_self(uintptr_t caller)
{
	return caller >= self_lo && caller < self_hi;
}

bool preload_covers_self(uintptr_t lo, uintptr_t hi)
{
	return lo < self_hi && hi > self_lo;
}

/*
 * The program unmaps memory that holds this library's code (stress-ng's
 * vm-segv unmaps its whole address space): once the call returns, the
 * calling thread faults on the unmapped code and the process dies of
 * SIGSEGV, as it would natively returning into its own unmapped code.
 * upager's threads run the same code: left running, one of them could
 * take the fault first, and the signal would then come from a thread the
 * program does not know (a tracer of the calling thread would see no
 * stop). So they end first; the regions, unpaged from here on, go with
 * them, since nothing can page them any more.
 */
void preload_abandon(void)
{
	struct upager *p = preload_pager;

	preload_pager = NULL;
	if (p)
		upager_close(p);
}

void preload_say(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = snprintf(buf, sizeof(buf), "upager[%d]: ", (int)getpid());

	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = (int)sizeof(buf) - 2;
	buf[n++] = '\n';
	(void)!write(preload_say_fd, buf, (size_t)n);
}

/* ---- start and end --------------------------------------------------------- */

static int find_self(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t me = (uintptr_t)arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && me >= lo && me < lo + ph->p_memsz) {
			self_lo = UINTPTR_MAX;
			for (int j = 0; j < info->dlpi_phnum; j++) {
				const ElfW(Phdr) *q = &info->dlpi_phdr[j];
				uintptr_t s = info->dlpi_addr + q->p_vaddr;

				if (q->p_type != PT_LOAD)
					continue;
				self_lo = s < self_lo ? s : self_lo;
				self_hi = s + q->p_memsz > self_hi ? s + q->p_memsz : self_hi;
			}
			return 1;
		}
	}
	return 0;
}

/*
 * glibc's malloc leaves a heap below a program's break from its first
 * allocation on (its first sbrk takes the request and M_TOP_PAD, 128 KiB,
 * rounded to pages: 132 KiB). mimalloc, which replaces it here, uses no
 * heap at all, so the break stays where the heap would start, with
 * nothing mapped below it; a program touching the bytes just below its
 * break (stress-ng's brk stressor touches the one below each break it
 * sets, then shrinks back to where it started) faulted on no mapping.
 * So the heap starts as glibc's malloc would have left it.
 */
static void heap_as_under_glibc(void)
{
	(void)sbrk(132 * 1024);
}

/*
 * Every exec'd descendant inherits UPAGER_SWAP, and a swap file is
 * created exclusively: processes running side by side (make -j,
 * xargs -P) would meet on the one name. The run's own process takes the
 * name; every other one makes NAME.<pid>. A directory serves them all
 * (each pager makes a fresh file in it).
 */
static const char *own_swap(void)
{
	static char path[4096];
	const char *swap = getenv("UPAGER_SWAP");
	struct stat st;

	if (!swap || !*swap || preload_is_run_process() ||
	    (stat(swap, &st) == 0 && S_ISDIR(st.st_mode)))
		return NULL;
	if (snprintf(path, sizeof(path), "%s.%d", swap, (int)getpid()) >= (int)sizeof(path))
		return NULL;
	return path;
}

__attribute__((constructor)) static void preload_init(void)
{
	struct upager_options o = { .sz = sizeof(o), .flags = UPAGER_OPEN_FROM_ENV };
	const char *min = getenv("UPAGER_RUN_MIN"), *interval = getenv("UPAGER_STATS_INTERVAL");
	uint64_t v;
	int err;

	heap_as_under_glibc();
	preload_fork_init();
	preload_threads_init();
	dl_iterate_phdr(find_self, (void *)(uintptr_t)preload_init);
	if (!self_hi) {
		preload_say("cannot find libupager-preload.so in memory; not paging");
		return;
	}
	if (min && *min) {
		if (options_parse_size(min, &v) || !v) {
			preload_say("UPAGER_RUN_MIN=%s: not a size", min);
			_exit(125);
		}
		preload_min_len = (size_t)v;
	}
	o.swap_path = own_swap();
	/* --max-resident is the process's resident set; --max-paged is
	 * upager's pages alone (upager-run checked the value). */
	if (preload_max_paged(&o.max_resident) <= 0)
		o.flags |= UPAGER_OPEN_BUDGET_PROCESS;
	err = upager_open(&o, &preload_pager);
	if (err) {
		preload_pager = NULL;
		if (getenv("UPAGER_FALLBACK") && *getenv("UPAGER_FALLBACK") == '1') {
			preload_say("cannot start (%s); UPAGER_FALLBACK=1: running UNPAGED", strerror(-err));
			return;
		}
		preload_say("cannot start (%s); refusing to run unpaged (set UPAGER_FALLBACK=1 to allow)",
		    strerror(-err));
		_exit(125); /* upager-run's own failure, as env(1) and timeout(1) say theirs */
	}
	if (interval && *interval && getenv("UPAGER_STATS_JSON")) {
		unsigned long n = strtoul(interval, NULL, 10);

		if (n >= 1 && n <= 86400)
			preload_start_stats_interval((unsigned int)n);
		else
			preload_say("UPAGER_STATS_INTERVAL=%s: not from 1 to 86400 seconds; ignored",
				    interval);
	}
	if (getenv("UPAGER_STATS") && preload_is_run_process()) {
		int fd = fdreg_hide(fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3), "summary's stderr");

		if (fd >= 0)
			preload_say_fd = fd;
		preload_start_stats_signal();
	}
}

__attribute__((destructor)) static void preload_fini(void)
{
	/* The pager stays open: destructors that run after this one, and
	 * exit itself, may still touch paged memory. */
	bool text = getenv("UPAGER_STATS") && *getenv("UPAGER_STATS") == '1';
	const char *json = getenv("UPAGER_STATS_JSON");

	if (text || (json && *json))
		preload_print_summary("at exit", text && preload_is_run_process(),
				      json && *json ? json : NULL);
}
