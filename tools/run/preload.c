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
 *   UPAGER_MAX_RESIDENT, UPAGER_SWAP, UPAGER_SWAP_SIZE, UPAGER_THREADS,
 *   UPAGER_LOG   as for the library (upager_options_from_env)
 *   UPAGER_RUN_MIN      smallest mapping paged
 *   UPAGER_FALLBACK=1   if no pager can be opened, run unpaged (loudly)
 *   UPAGER_STATS=1      print a summary at exit and on SIGUSR1
 *   UPAGER_STATS_JSON   also write the summary as JSON to this file
 *   UPAGER_RUN_PID      only this process prints (not its children)
 */
#define _GNU_SOURCE
/* Both mmap and mmap64 are defined here; the build's large-file flag
 * would make the headers rename the first into the second. */
#undef _FILE_OFFSET_BITS
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
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "upager.h"
#include "compat.h"
#include "options.h"

#define EXPORT __attribute__((visibility("default")))

static struct upager *pager;
static uintptr_t self_lo, self_hi; /* this library's code and data */
static size_t min_len = 256u << 10;
static int stats_pipe[2] = { -1, -1 };
/* Where the summary goes: the program's stderr as it was at start. Some
 * programs close their stderr before exit (coreutils' close_stdout), and
 * the summary is printed after that. */
static int say_fd = STDERR_FILENO;

static void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
}

static bool from_self(uintptr_t caller)
{
	return caller >= self_lo && caller < self_hi;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
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
	(void)!write(say_fd, buf, (size_t)n);
}

static int upager_prot(int prot)
{
	if (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC))
		return -1; /* PROT_GROWSDOWN & co: the kernel's business */
	return (prot & PROT_READ ? UPAGER_PROT_READ : 0) |
	       (prot & PROT_WRITE ? UPAGER_PROT_WRITE : 0) |
	       (prot & PROT_EXEC ? UPAGER_PROT_EXEC : 0);
}

static bool eligible(size_t len, int prot, int flags, int fd)
{
	const int refused = MAP_GROWSDOWN | MAP_STACK | MAP_HUGETLB | MAP_LOCKED | MAP_POPULATE;

	return fd == -1 && (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE &&
	       !(flags & refused) && len >= min_len && upager_prot(prot) >= 0;
}

static int covered(const void *addr, size_t len, int *prot)
{
	int q = upager_query(pager, addr, len, prot);

	return q < 0 ? UPAGER_QUERY_NONE : q;
}

static void *do_mmap(uintptr_t caller, void *addr, size_t len, int prot, int flags, int fd,
		     off_t off)
{
	if (pager && !from_self(caller)) {
		if (eligible(len, prot, flags, fd)) {
			unsigned int uf = UPAGER_MAP_PRIVATE;
			void *out;
			int err;

			if (flags & MAP_FIXED_NOREPLACE)
				uf |= UPAGER_MAP_FIXED_NOREPLACE;
			else if (flags & MAP_FIXED)
				uf |= UPAGER_MAP_FIXED;
			err = upager_map(pager, addr, len, upager_prot(prot), uf, &out);
			if (!err)
				return out;
			errno = -err;
			return MAP_FAILED;
		}
		/* Anything else mapped over upager's regions replaces them:
		 * the region tree must let go first. */
		if ((flags & MAP_FIXED) && !(flags & MAP_FIXED_NOREPLACE) &&
		    covered(addr, len, NULL) != UPAGER_QUERY_NONE)
			upager_unmap(pager, addr, len);
	}
	return sys_mmap(addr, len, prot, flags, fd, off);
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap((uintptr_t)__builtin_return_address(0), addr, len, prot, flags, fd, off);
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap((uintptr_t)__builtin_return_address(0), addr, len, prot, flags, fd, off);
}

EXPORT int munmap(void *addr, size_t len)
{
	if (pager && !from_self((uintptr_t)__builtin_return_address(0)) &&
	    covered(addr, len, NULL) != UPAGER_QUERY_NONE) {
		int err = upager_unmap(pager, addr, len);

		if (err) {
			errno = -err;
			return -1;
		}
	}
	return (int)syscall(SYS_munmap, addr, len);
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
	if (pager && !from_self((uintptr_t)__builtin_return_address(0)) && len) {
		int q = covered(addr, len, NULL), err;

		if (q == UPAGER_QUERY_ALL && upager_prot(prot) >= 0) {
			err = upager_protect(pager, addr, len, upager_prot(prot));
			if (err) {
				errno = -err;
				return -1;
			}
			return 0;
		}
		if (q != UPAGER_QUERY_NONE)
			say("mprotect(%p, %zu) spans memory upager does not page; "
			    "upager keeps its regions' old protection", addr, len);
	}
	return (int)syscall(SYS_mprotect, addr, len, prot);
}

EXPORT int madvise(void *addr, size_t len, int advice)
{
	if (pager && !from_self((uintptr_t)__builtin_return_address(0)) &&
	    covered(addr, len, NULL) != UPAGER_QUERY_NONE) {
		switch (advice) {
		case MADV_DONTNEED:
		case MADV_FREE:
			/* Zeros from now on, and the swap slots freed: what
			 * the kernel does for DONTNEED, and one of the two
			 * outcomes FREE allows. */
			upager_discard(pager, addr, len);
			break;
		case MADV_HUGEPAGE:
		case MADV_COLLAPSE:
			return 0; /* upager moves 4 KiB pages; a hint, ignored */
		default:
			break;
		}
	}
	return (int)syscall(SYS_madvise, addr, len, advice);
}

/* mremap of upager memory: the new range is another region, filled by
 * copying (the pages fault in and out through upager as they go). */
static void *remap_ours(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	long ps = sysconf(_SC_PAGESIZE);
	size_t old_sz = (old_len + (size_t)ps - 1) & ~(size_t)(ps - 1);
	size_t new_sz = (new_len + (size_t)ps - 1) & ~(size_t)(ps - 1);
	int prot = UPAGER_PROT_READ | UPAGER_PROT_WRITE, err;
	void *out;

	covered(old, 1, &prot);
	if (!new_len || (flags & MREMAP_DONTUNMAP) ||
	    ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE))) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	if (!(flags & MREMAP_FIXED)) {
		if (new_sz <= old_sz) {
			if (new_sz < old_sz)
				upager_unmap(pager, (char *)old + new_sz, old_sz - new_sz);
			return old;
		}
		if (!upager_map(pager, (char *)old + old_sz, new_sz - old_sz, prot,
				UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED_NOREPLACE, &out))
			return old; /* grown in place */
		if (!(flags & MREMAP_MAYMOVE)) {
			errno = ENOMEM;
			return MAP_FAILED;
		}
		new_addr = NULL;
	}
	err = upager_map(pager, new_addr, new_sz, prot,
			 UPAGER_MAP_PRIVATE | (new_addr ? UPAGER_MAP_FIXED : 0), &out);
	if (err) {
		errno = -err;
		return MAP_FAILED;
	}
	if (!(prot & UPAGER_PROT_READ))
		upager_protect(pager, old, old_sz, prot | UPAGER_PROT_READ);
	memcpy(out, old, old_sz < new_sz ? old_sz : new_sz);
	upager_unmap(pager, old, old_sz);
	return out;
}

EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	va_list ap;

	if (flags & MREMAP_FIXED) {
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	if (pager && !from_self((uintptr_t)__builtin_return_address(0)) && old_len) {
		int q = covered(old, old_len, NULL);

		if (q == UPAGER_QUERY_ALL)
			return remap_ours(old, old_len, new_len, flags, new_addr);
		if (q == UPAGER_QUERY_PART) {
			errno = EFAULT; /* as the kernel: the range spans mappings */
			return MAP_FAILED;
		}
	}
	return (void *)syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
}

/* ---- the summary --------------------------------------------------------- */

static uint64_t vm_hwm_kib(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	char *hwm;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	hwm = strstr(buf, "VmHWM:");
	return hwm ? strtoull(hwm + 6, NULL, 10) : 0;
}

static double mib(uint64_t pages)
{
	return (double)pages * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

/* The summary: on stderr when @human; as a JSON line appended to
 * UPAGER_STATS_JSON (every process of the run adds its own, upager-run
 * adds them up) when @json. */
static void print_summary(const char *why, bool human, const char *json)
{
	struct upager_stats st = UPAGER_STATS();
	uint64_t hwm = vm_hwm_kib();

	if (!pager || upager_stats_read(pager, &st))
		return;
	if (human) {
		say("%s: peak resident (VmHWM) %.1f MiB, budget %.1f MiB, now %.1f MiB paged in",
		    why, (double)hwm / 1024, mib(st.budget_pages), mib(st.pages_resident));
		say("faults %llu (read %llu, write %llu); zero fills %llu",
		    (unsigned long long)st.faults, (unsigned long long)st.faults_read,
		    (unsigned long long)st.faults_write, (unsigned long long)st.zero_fills);
		say("evictions %llu (written %llu = %.1f MiB, clean drops %llu, zero drops %llu); "
		    "swap-ins %llu = %.1f MiB (read ahead %llu); inactive pages touched again %llu "
		    "(and %llu brought back beside them)",
		    (unsigned long long)(st.writebacks + st.clean_drops + st.zero_drops),
		    (unsigned long long)st.writebacks, mib(st.writebacks),
		    (unsigned long long)st.clean_drops, (unsigned long long)st.zero_drops,
		    (unsigned long long)st.swapins, mib(st.swapins),
		    (unsigned long long)st.readahead_pages, (unsigned long long)st.reactivations,
		    (unsigned long long)st.reactivated_around);
		say("fault service p50 %.1f us, p99 %.1f us; swap read p50 %.1f us, write p50 %.1f us",
		    (double)st.service_ns_p50 / 1e3, (double)st.service_ns_p99 / 1e3,
		    (double)st.swap_read_ns_p50 / 1e3, (double)st.swap_write_ns_p50 / 1e3);
	}
	if (json && st.faults) {
		FILE *f = fopen(json, "ae");

		if (!f) {
			say("stats: %s: %s", json, strerror(errno));
			return;
		}
		fprintf(f,
			"{\"pid\": %d, \"peak_resident_kib\": %llu, \"budget_pages\": %llu, "
			"\"faults\": %llu, \"faults_read\": %llu, \"faults_write\": %llu, "
			"\"zero_fills\": %llu, \"writebacks\": %llu, \"clean_drops\": %llu, "
			"\"zero_drops\": %llu, \"swapins\": %llu, \"readahead_pages\": %llu, "
			"\"swap_bytes_written\": %llu, \"swap_bytes_read\": %llu, "
			"\"sigbus\": %llu, \"service_ns_p50\": %llu, \"service_ns_p99\": %llu}\n",
			(int)getpid(), (unsigned long long)hwm, (unsigned long long)st.budget_pages,
			(unsigned long long)st.faults, (unsigned long long)st.faults_read,
			(unsigned long long)st.faults_write, (unsigned long long)st.zero_fills,
			(unsigned long long)st.writebacks, (unsigned long long)st.clean_drops,
			(unsigned long long)st.zero_drops, (unsigned long long)st.swapins,
			(unsigned long long)st.readahead_pages,
			(unsigned long long)st.writebacks * (unsigned long long)sysconf(_SC_PAGESIZE),
			(unsigned long long)st.swapins * (unsigned long long)sysconf(_SC_PAGESIZE),
			(unsigned long long)st.sigbus, (unsigned long long)st.service_ns_p50,
			(unsigned long long)st.service_ns_p99);
		fclose(f);
	}
}

static bool is_run_process(void)
{
	const char *pid = getenv("UPAGER_RUN_PID");

	return pid && atoi(pid) == (int)getpid();
}

static void on_sigusr1(int sig)
{
	(void)sig;
	if (stats_pipe[1] >= 0)
		(void)!write(stats_pipe[1], "", 1);
}

/* SIGUSR1 only wakes this thread: the summary takes locks. */
static void *stats_thread(void *arg)
{
	char c;

	(void)arg;
	while (read(stats_pipe[0], &c, 1) == 1 || errno == EINTR)
		print_summary("on SIGUSR1", true, NULL);
	return NULL;
}

static void start_stats_signal(void)
{
	struct sigaction sa = { .sa_handler = on_sigusr1, .sa_flags = SA_RESTART }, old;
	sigset_t all, prev;
	pthread_t t;

	if (sigaction(SIGUSR1, NULL, &old) || old.sa_handler != SIG_DFL)
		return; /* the program's own: leave it */
	if (pipe2(stats_pipe, O_CLOEXEC))
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &prev);
	if (!pthread_create(&t, NULL, stats_thread, NULL)) {
		pthread_detach(t);
		sigaction(SIGUSR1, &sa, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
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

__attribute__((constructor)) static void preload_init(void)
{
	struct upager_options o = { .sz = sizeof(o), .flags = UPAGER_OPEN_FROM_ENV };
	const char *min = getenv("UPAGER_RUN_MIN");
	uint64_t v;
	int err;

	dl_iterate_phdr(find_self, (void *)(uintptr_t)preload_init);
	if (!self_hi) {
		say("cannot find libupager-preload.so in memory; not paging");
		return;
	}
	if (min && *min) {
		if (options_parse_size(min, &v) || !v) {
			say("UPAGER_RUN_MIN=%s: not a size", min);
			_exit(127);
		}
		min_len = (size_t)v;
	}
	err = upager_open(&o, &pager);
	if (err) {
		pager = NULL;
		if (getenv("UPAGER_FALLBACK") && *getenv("UPAGER_FALLBACK") == '1') {
			say("cannot start (%s); UPAGER_FALLBACK=1: running UNPAGED", strerror(-err));
			return;
		}
		say("cannot start (%s); refusing to run unpaged (set UPAGER_FALLBACK=1 to allow)",
		    strerror(-err));
		_exit(127);
	}
	if (getenv("UPAGER_STATS") && is_run_process()) {
		int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);

		if (fd >= 0)
			say_fd = fd;
		start_stats_signal();
	}
}

__attribute__((destructor)) static void preload_fini(void)
{
	/* The pager stays open: destructors that run after this one, and
	 * exit itself, may still touch paged memory. */
	if (getenv("UPAGER_STATS"))
		print_summary("at exit", is_run_process(), getenv("UPAGER_STATS_JSON"));
}
