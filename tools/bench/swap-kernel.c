/* SPDX-License-Identifier: MIT */
/*
 * swap-kernel.c - the kernel's side of upager-bench swap, and undoing it:
 * a swapfile on the same disk (created, formatted as mkswap does and
 * enabled at the highest priority), a fresh memory cgroup per child
 * limited to the frame budget (cgroup v1's memory.limit_in_bytes where
 * the v1 controller is mounted, else cgroup v2's memory.max with
 * memory.swap.max, in a subtree this process may write), the child itself
 * (this binary again, "swap --kernel-child FD", its pid written into
 * cgroup.procs before exec), and the record of everything created, which
 * atexit() and fatal signals undo.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "swap.h"

struct cleanup cl;

/* ---- cleanup ----------------------------------------------------------------- */

void cleanup_run(void)
{
	if (!bench_is_main())
		return;
	if (cl.child > 0) {
		kill(cl.child, SIGKILL);
		waitpid(cl.child, NULL, 0);
		cl.child = 0;
	}
	if (cl.cgroup) {
		/* The last task's exit is not instant for the cgroup. */
		for (int i = 0; i < 50 && rmdir(cl.cgroup_path) < 0 && errno == EBUSY; i++)
			sleep_ms(20);
		cl.cgroup = 0;
	}
	if (cl.swap_on) {
		swapoff(cl.swap_path);
		cl.swap_on = 0;
	}
	if (cl.swap_file) {
		unlink(cl.swap_path);
		cl.swap_file = 0;
	}
	undo_file_run(&cl.raw_file);
	/* upager_close() removes it; this is for the paths that skip it. */
	undo_file_run(&cl.store);
}

/* Global swap traffic, in pages, from /proc/vmstat. */
static void vmstat_swap(uint64_t *in, uint64_t *out)
{
	FILE *f = fopen("/proc/vmstat", "re");
	char name[64];
	unsigned long long v;

	*in = *out = 0;
	if (!f)
		return;
	while (fscanf(f, "%63s %llu", name, &v) == 2) {
		if (!strcmp(name, "pswpin"))
			*in = v;
		else if (!strcmp(name, "pswpout"))
			*out = v;
	}
	fclose(f);
}


/* ---- kernel swap: swapfile and cgroup ------------------------------------------- */

/* Active swap areas, by path; @ours is skipped. Returns how many others. */
static int swaps_other(const char *ours, char *list, size_t len, bool *ours_active)
{
	FILE *f = fopen("/proc/swaps", "re");
	char line[512];
	int n = 0;

	*ours_active = false;
	if (list && len)
		list[0] = '\0';
	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f)) { /* header */
		fclose(f);
		return 0;
	}
	while (fgets(line, sizeof(line), f)) {
		char path[PATH_MAX];

		if (sscanf(line, "%4095s", path) != 1)
			continue;
		if (!strcmp(path, ours)) {
			*ours_active = true;
			continue;
		}
		if (list && strlen(list) + strlen(path) + 2 < len)
			snprintf(list + strlen(list), len - strlen(list), "%s%s", n ? " " : "", path);
		n++;
	}
	fclose(f);
	return n;
}

/* The swap header mkswap writes (version 1): what swapon() checks. */
static int kswap_header(int fd, uint64_t bytes, size_t page)
{
	char *hdr = calloc(1, page);
	uint32_t version = 1, last_page = (uint32_t)(bytes / page - 1), nbad = 0;
	uint64_t uuid[2] = { now_ns(), (uint64_t)getpid() };
	ssize_t n;

	if (!hdr)
		return -ENOMEM;
	memcpy(hdr + 1024, &version, 4);
	memcpy(hdr + 1028, &last_page, 4);
	memcpy(hdr + 1032, &nbad, 4);
	memcpy(hdr + 1036, uuid, 16);
	memcpy(hdr + 1052, "upager-bench", 12);
	memcpy(hdr + page - 10, "SWAPSPACE2", 10);
	n = pwrite(fd, hdr, page, 0);
	free(hdr);
	if (n != (ssize_t)page)
		return n < 0 ? -errno : -EIO;
	return fsync(fd) < 0 ? -errno : 0;
}

/* Write zeros over the whole file: for file systems whose swapon refuses
 * preallocated (unwritten) extents. */
static int kswap_zero_fill(int fd, uint64_t bytes)
{
	size_t chunk = 8 * MIB;
	char *z = calloc(1, chunk);
	int err = 0;

	if (!z)
		return -ENOMEM;
	for (uint64_t off = 0; off < bytes && !err; off += chunk) {
		size_t len = bytes - off < chunk ? (size_t)(bytes - off) : chunk;

		if (pwrite(fd, z, len, (off_t)off) != (ssize_t)len)
			err = -EIO;
	}
	free(z);
	return err;
}

/* One kernel part at a time on a machine: two would share the swapfile
 * path and each other's memory. An abstract socket name is the lock: the
 * kernel drops it when the process ends, however it ends, and it leaves no
 * file behind. The descriptor stays open until exit. The name is the one
 * the program before upager-bench swap (upager-swapbench) took, which
 * used the same swapfile path: a build of either excludes the other. */
static int instance_lock(void)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char name[] = "upager-swapbench";
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memcpy(addr.sun_path + 1, name, sizeof(name) - 1);
	if (bind(fd, (struct sockaddr *)&addr,
		 (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sizeof(name))) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	return 0;
}

/* Create, format and enable the kernel's swapfile, at the highest
 * priority so the kernel prefers it to any other swap. On failure the
 * reason is left in b->kernel_skip. */
static int kswap_setup(struct bench *b)
{
	int flags = SWAP_FLAG_PREFER | (32767 & SWAP_FLAG_PRIO_MASK);
	bool ours_active;
	int fd, err;

	err = instance_lock();
	if (err) {
		snprintf(b->kernel_skip, sizeof(b->kernel_skip), "%s",
			 err == -EADDRINUSE ? "another upager-bench swap is running its kernel part" :
			 "cannot take the instance lock");
		return err;
	}
	snprintf(cl.swap_path, sizeof(cl.swap_path), "%s", b->kswap_path);
	/* Twice the region, as upager's store: a swap area over half full
	 * makes the kernel free a slot at swap-in (vm_swap_full()), so every
	 * page read back would be dirty and written again. */
	b->kswap_bytes = (2 * b->region + KSWAP_SLACK) / b->page * b->page;
	if (swaps_other(cl.swap_path, b->other_swap, sizeof(b->other_swap), &ours_active))
		fprintf(stderr, "upager-bench swap: warning: swap not created by this run is active (%s); "
			"the kernel may page to it too (ours gets the highest priority)\n",
			b->other_swap);
	if (ours_active) {
		fprintf(stderr, "upager-bench swap: %s is active from an earlier run: swapoff\n",
			cl.swap_path);
		if (swapoff(cl.swap_path) < 0) {
			snprintf(b->kernel_skip, sizeof(b->kernel_skip), "swapoff %s (stale): %s",
				 cl.swap_path, strerror(errno));
			return -EBUSY;
		}
	}
	if (unlink(cl.swap_path) < 0 && errno != ENOENT) {
		snprintf(b->kernel_skip, sizeof(b->kernel_skip), "removing stale %s: %s",
			 cl.swap_path, strerror(errno));
		return -EEXIST;
	}
	fd = open(cl.swap_path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		snprintf(b->kernel_skip, sizeof(b->kernel_skip), "creating %s: %s", cl.swap_path,
			 strerror(-err));
		return err;
	}
	cl.swap_file = 1;
	if (fallocate(fd, 0, 0, (off_t)b->kswap_bytes) < 0)
		err = kswap_zero_fill(fd, b->kswap_bytes);
	else
		err = 0;
	if (!err)
		err = kswap_header(fd, b->kswap_bytes, b->page);
	if (!err && swapon(cl.swap_path, flags) < 0) {
		err = -errno;
		if (err == -EINVAL) {
			/* Maybe the extents: write them, then try again. */
			err = kswap_zero_fill(fd, b->kswap_bytes);
			if (!err)
				err = kswap_header(fd, b->kswap_bytes, b->page);
			if (!err && swapon(cl.swap_path, flags) < 0)
				err = -errno;
		}
	}
	close(fd);
	if (err) {
		snprintf(b->kernel_skip, sizeof(b->kernel_skip), "swapon %s: %s", cl.swap_path,
			 strerror(-err));
		unlink(cl.swap_path);
		cl.swap_file = 0;
		return err;
	}
	cl.swap_on = 1;
	return 0;
}

void kswap_teardown(void)
{
	if (cl.swap_on && swapoff(cl.swap_path) < 0)
		fprintf(stderr, "upager-bench swap: swapoff %s: %s\n", cl.swap_path, strerror(errno));
	cl.swap_on = 0;
	if (cl.swap_file)
		unlink(cl.swap_path);
	cl.swap_file = 0;
}

/* ---- memory cgroups: v1 or v2 ---------------------------------------------------------- */

/*
 * The files a memory cgroup is read and limited through, by version: the
 * limit, the peak usage, the times the limit was hit, the usage now. v2's
 * memory.swap.max is written "max": swap unlimited, as v1's
 * memory.limit_in_bytes leaves it, so both kernels page the same way.
 */
enum { CG_LIMIT, CG_PEAK, CG_FAILCNT, CG_USAGE, CG_NFILES };
static const char *const cg_file[2][CG_NFILES] = {
	{ "memory.limit_in_bytes", "memory.max_usage_in_bytes", "memory.failcnt",
	  "memory.usage_in_bytes" },
	{ "memory.max", "memory.peak", "memory.events", "memory.current" },
};

const char *cgroup_kind(const struct bench *b)
{
	return b->cgroup_v == 2 ? "cgroup v2 memory.max (memory.swap.max max)" :
				  "cgroup v1 memory.limit_in_bytes";
}

static bool file_exists(const char *dir, const char *name)
{
	char path[PATH_MAX + 64];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) == 0;
}

/* Whether the cgroup v2 directory @dir has the memory controller, and
 * hands it to its children: "memory" in cgroup.controllers, then
 * "+memory" written to cgroup.subtree_control (a delegated subtree allows
 * it; a cgroup with processes of its own refuses: -EBUSY). */
static int cgroup_v2_delegate(const char *dir)
{
	char path[PATH_MAX + 64], line[512] = "";
	FILE *f;
	bool memory = false;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", dir);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fgets(line, sizeof(line), f))
		for (char *save = NULL, *t = strtok_r(line, " \n", &save); t;
		     t = strtok_r(NULL, " \n", &save))
			memory |= !strcmp(t, "memory");
	fclose(f);
	if (!memory)
		return -ENOENT;
	snprintf(path, sizeof(path), "%s/cgroup.subtree_control", dir);
	return write_file(path, "+memory");
}

/* The cgroup v2 mount the memory controller is in, if any. */
static bool cgroup_v2_mount(char *dir, size_t len)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char src[256], mnt[PATH_MAX], type[64];
	bool found = false;

	while (f && !found && fscanf(f, "%255s %4095s %63s %*[^\n]", src, mnt, type) == 3) {
		char path[PATH_MAX + 32], line[512] = "";
		FILE *c;

		if (strcmp(type, "cgroup2"))
			continue;
		snprintf(path, sizeof(path), "%s/cgroup.controllers", mnt);
		c = fopen(path, "re");
		if (c && fgets(line, sizeof(line), c) && strstr(line, "memory") &&
		    strlen(mnt) < len) {
			memcpy(dir, mnt, strlen(mnt) + 1);
			found = true;
		}
		if (c)
			fclose(c);
	}
	if (f)
		fclose(f);
	return found;
}

/* Choose where the kernel child's cgroups go: --cgroup's directory (v1 if
 * it has memory.limit_in_bytes, else v2), or the v1 memory controller
 * where it is mounted, or the cgroup v2 mount that has the memory
 * controller. Returns 0, or -1 with b->kernel_skip saying why not. */
static int cgroup_pick(struct bench *b)
{
	const char *dir = b->cgroup_dir;
	int err;

	if (!dir && file_exists(CGROUP_MEM, "memory.limit_in_bytes"))
		dir = CGROUP_MEM;
	if (!dir && cgroup_v2_mount(b->cgroup_parent, sizeof(b->cgroup_parent)))
		dir = b->cgroup_parent;
	if (!dir) {
		snprintf(b->kernel_skip, sizeof(b->kernel_skip), "no memory cgroup: no cgroup v1 "
			 "memory controller at " CGROUP_MEM ", no cgroup v2 mount with the memory "
			 "controller (--cgroup DIR names a delegated subtree)");
		return -1;
	}
	if (dir != b->cgroup_parent)
		snprintf(b->cgroup_parent, sizeof(b->cgroup_parent), "%s", dir);
	if (file_exists(dir, "memory.limit_in_bytes")) {
		b->cgroup_v = 1;
		return 0;
	}
	err = cgroup_v2_delegate(dir);
	if (err) {
		snprintf(b->kernel_skip, sizeof(b->kernel_skip), "cgroup v2 at %s: %s", dir,
			 err == -ENOENT ? "no memory controller there (bound to a v1 hierarchy, "
			 "or not delegated)" : err == -EBUSY ? "it has processes of its own, so "
			 "it cannot enable memory for children (name an empty parent)" :
			 strerror(-err));
		return -1;
	}
	b->cgroup_v = 2;
	return 0;
}

void kernel_setup(struct bench *b)
{
	uint64_t v;

	if (b->no_kernel) {
		snprintf(b->kernel_skip, sizeof(b->kernel_skip), "--no-kernel");
		return;
	}
	if (geteuid() != 0) {
		snprintf(b->kernel_skip, sizeof(b->kernel_skip),
			 "not root (swapon and cgroups need root)");
		return;
	}
	if (cgroup_pick(b))
		return;
	/* /proc/self/exe, not the path it names: a rebuild during a run
	 * replaces the file, and the child must be this very binary. */
	if (access("/proc/self/exe", X_OK) < 0) {
		snprintf(b->kernel_skip, sizeof(b->kernel_skip), "/proc/self/exe: %s",
			 strerror(errno));
		return;
	}
	snprintf(b->exe, sizeof(b->exe), "/proc/self/exe");
	/* v2 has no per-cgroup swappiness: the system's applies. */
	if (read_u64_file(b->cgroup_v == 1 ? CGROUP_MEM "/memory.swappiness" :
			  "/proc/sys/vm/swappiness", &v))
		b->swappiness = -1;
	else
		b->swappiness = (long)v;
	kswap_setup(b);
}

/* Make the cgroup for one child: a fresh one each time, so nothing an
 * earlier child left charged (page cache of the binary) counts against
 * this one. */
static int cgroup_new(struct bench *b)
{
	const char *const *f = cg_file[b->cgroup_v - 1];
	char path[PATH_MAX + 64], limit[32];
	int err;

	snprintf(cl.cgroup_path, sizeof(cl.cgroup_path), "%s/upager-bench-%d-%u",
		 b->cgroup_parent, (int)getpid(), b->cgroup_seq++);
	if (mkdir(cl.cgroup_path, 0755) < 0)
		return -errno;
	cl.cgroup = 1;
	snprintf(path, sizeof(path), "%s/%s", cl.cgroup_path, f[CG_LIMIT]);
	snprintf(limit, sizeof(limit), "%" PRIu64, b->budget);
	err = write_file(path, limit);
	if (!err && b->cgroup_v == 2) {
		snprintf(path, sizeof(path), "%s/memory.swap.max", cl.cgroup_path);
		err = write_file(path, "max");
	}
	if (err) {
		rmdir(cl.cgroup_path);
		cl.cgroup = 0;
	}
	return err;
}

/* The number in cgroup file @which of @dir; for v2's memory.events, its
 * "max" line (the times usage hit memory.max). 0 when unreadable. */
static uint64_t cgroup_read(int v, const char *dir, int which)
{
	char path[PATH_MAX + 64], key[32];
	unsigned long long n;
	uint64_t out = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, cg_file[v - 1][which]);
	if (v == 1 || which != CG_FAILCNT)
		return read_u64_file(path, &out) ? 0 : out;
	f = fopen(path, "re");
	while (f && fscanf(f, "%31s %llu", key, &n) == 2)
		if (!strcmp(key, "max"))
			out = n;
	if (f)
		fclose(f);
	return out;
}

static void cgroup_remove(void)
{
	for (int i = 0; i < 50 && rmdir(cl.cgroup_path) < 0; i++) {
		if (errno != EBUSY) {
			fprintf(stderr, "upager-bench swap: rmdir %s: %s\n", cl.cgroup_path,
				strerror(errno));
			break;
		}
		sleep_ms(20);
	}
	cl.cgroup = 0;
}

static long self_majflt(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_majflt;
}

/* What this process's memory cgroup (b->cgroup_dir, the kernel child's
 * own) holds now, in bytes; 0 if unknown. */
static uint64_t self_cgroup_usage(const struct bench *b)
{
	if (!b->cgroup_dir)
		return 0;
	return cgroup_read(file_exists(b->cgroup_dir, "memory.current") ? 2 : 1, b->cgroup_dir,
			   CG_USAGE);
}

/* The kernel child: in the cgroup already, plain anonymous memory. */
int kernel_child_main(struct bench *b)
{
	struct child_report rep;
	struct workload w;
	char *base;
	ssize_t n;

	memset(&rep, 0, sizeof(rep));
	base = mmap(NULL, b->region, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		rep.err = -errno;
		goto out_send;
	}
	/* 4 KiB pages, as upager's: THP would swap 2 MiB at a time. */
	madvise(base, b->region, MADV_NOHUGEPAGE);
	workload_init(b, &w, base, b->threads_sel[1] ? 2 : 1, b->child_run);
	rep.overhead_bytes = self_cgroup_usage(b);
	for (int pass = 0; pass < NPASS; pass++) {
		struct sample *s = &rep.s[pass];
		uint64_t in0, out0, in1, out1;
		long maj0 = self_majflt();

		vmstat_swap(&in0, &out0);
		rep.err = workload_run(&w, pass, s);
		vmstat_swap(&in1, &out1);
		s->majflt = (uint64_t)(self_majflt() - maj0);
		s->swapins = in1 - in0;
		s->writebacks = out1 - out0;
		if (rep.err)
			break;
	}
	munmap(base, b->region);
out_send:
	n = write(b->child_fd, &rep, sizeof(rep));
	close(b->child_fd);
	return n == (ssize_t)sizeof(rep) ? 0 : 1;
}

/* Run one kernel child for @threads and @run; its samples land in the
 * table, or stay invalid with the reason said. */
int kernel_measure(struct bench *b, unsigned int threads, unsigned int run)
{
	char fd_arg[16], run_arg[16], thr_arg[4], region_arg[32], budget_arg[32], ops_arg[32],
	     s_arg[40], procs[352], pid_text[24];
	char *argv[] = { "upager-bench", "swap", "--kernel-child", fd_arg, "--run", run_arg,
			 "--threads", thr_arg, "--region", region_arg, "--budget", budget_arg,
			 "--ops", ops_arg, "--zipf-s", s_arg, "--cgroup", cl.cgroup_path, NULL };
	struct child_report rep;
	size_t got = 0;
	int fds[2], status, err;
	unsigned int ti = threads - 1;
	pid_t pid;

	drop_caches(b);
	err = cgroup_new(b);
	if (err) {
		fprintf(stderr, "upager-bench swap: kernel: cgroup %s: %s\n", cl.cgroup_path,
			strerror(-err));
		return err;
	}
	if (pipe2(fds, O_CLOEXEC) < 0) {
		err = -errno;
		goto out_cgroup;
	}
	snprintf(fd_arg, sizeof(fd_arg), "%d", fds[1]);
	snprintf(run_arg, sizeof(run_arg), "%u", run);
	snprintf(thr_arg, sizeof(thr_arg), "%u", threads);
	snprintf(region_arg, sizeof(region_arg), "%" PRIu64, b->region);
	snprintf(budget_arg, sizeof(budget_arg), "%" PRIu64, b->budget);
	snprintf(ops_arg, sizeof(ops_arg), "%" PRIu64, b->ops);
	snprintf(s_arg, sizeof(s_arg), "%.17g", b->zipf_s);
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cl.cgroup_path);
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(fds[0]);
		close(fds[1]);
		goto out_cgroup;
	}
	if (pid == 0) {
		int pfd;

		for (int sig = 1; sig < NSIG; sig++)
			signal(sig, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		fcntl(fds[1], F_SETFD, 0);
		snprintf(pid_text, sizeof(pid_text), "%d\n", (int)getpid());
		pfd = open(procs, O_WRONLY | O_CLOEXEC);
		if (pfd < 0 || write(pfd, pid_text, strlen(pid_text)) < 0)
			_exit(125);
		close(pfd);
		execv(b->exe, argv);
		_exit(126);
	}
	cl.child = pid;
	close(fds[1]);
	while (got < sizeof(rep)) {
		ssize_t n = read(fds[0], (char *)&rep + got, sizeof(rep) - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fds[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	cl.child = 0;
	b->k_peak[ti * b->runs + run] = cgroup_read(b->cgroup_v, cl.cgroup_path, CG_PEAK);
	b->k_failcnt[ti * b->runs + run] = cgroup_read(b->cgroup_v, cl.cgroup_path, CG_FAILCNT);
	if (got != sizeof(rep) || !WIFEXITED(status) || WEXITSTATUS(status)) {
		if (WIFSIGNALED(status))
			fprintf(stderr, "upager-bench swap: kernel child (%u thread(s), run %u) killed "
				"by signal %d%s\n", threads, run + 1, WTERMSIG(status),
				WTERMSIG(status) == SIGKILL ? " (cgroup OOM?)" : "");
		else
			fprintf(stderr, "upager-bench swap: kernel child (%u thread(s), run %u) "
				"exited with status %d\n", threads, run + 1, WEXITSTATUS(status));
		err = -ECHILD;
		goto out_cgroup;
	}
	b->k_overhead[ti * b->runs + run] = rep.overhead_bytes;
	for (int pass = 0; pass < NPASS; pass++) {
		*swap_sample_at(b, IMPL_KERNEL, threads, pass, run) = rep.s[pass];
		if (rep.s[pass].bad) {
			fprintf(stderr, "upager-bench swap: kernel %s: %" PRIu64
				" pages failed verification\n", pass_name[pass], rep.s[pass].bad);
			b->data_error = true;
		}
	}
	err = rep.err;
	if (err)
		fprintf(stderr, "upager-bench swap: kernel child: %s\n", strerror(-err));
out_cgroup:
	cgroup_remove();
	return err;
}
