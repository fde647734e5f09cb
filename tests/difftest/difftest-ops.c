/* SPDX-License-Identifier: MIT */
/*
 * difftest-ops.c - the differential tester's steps, one per class: map,
 * unmap, protect, mremap, madvise and the fork advices, write, read,
 * system calls on the arena, fork, and the torture class. Each draws its
 * arguments from the step's random sequence, makes the call, prints its
 * result and keeps the model (difftest.c) in step with what the kernel did.
 */
#define _GNU_SOURCE
#include "difftest.h"

void do_map(void)
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

void do_unmap(void)
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

void do_protect(void)
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
		/* A move without resizing across several mappings and the
		 * gaps between them (6.17+) leaves the destination's pages
		 * facing a gap as they were. */
		if (old_n == new_n && tmp[i].kind == K_HOLE)
			continue;
		model[to + i] = i < keep ? tmp[i] : tmp[keep - 1];
		model[to + i].id = id;
		if (i >= keep)
			model[to + i].foff += (uint32_t)(i - keep + 1);
	}
}

void do_mremap(void)
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

void do_madvise(bool fork_advice)
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
	/* FREE reaches private anonymous memory (the arena's reservation
	 * too, once made accessible) up to the first mapping that is not:
	 * there the kernel stops with EINVAL. */
	if (all[a].advice == MADV_FREE)
		for (size_t i = 0; i < n; i++) {
			uint8_t k = model[off + i].kind;

			if (k == K_SHARED || k == K_FILE_PRIV || k == K_FILE_SHARED)
				break;
			if (k == K_ANON || k == K_RESERVE)
				model[off + i].unknown = true;
		}
}

void do_write(void)
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

void do_read(void)
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

void do_sys(bool procmem)
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

/* A forked child's one touch of [p, p + n pages), said as the parent's
 * touches are, and its end. */
static _Noreturn void child_touch(char *p, size_t off, size_t n, bool write, uint64_t tag,
				  const bool *unknown)
{
	struct touch t = touch_pages(p, n, write, tag, unknown, 16, NULL);

	print_touch(write ? "write" : "read", off, n, &t);
	fflush(stdout);
	_exit(0);
}

/* How the child @what made ended. */
static void wait_child(pid_t pid, const char *what)
{
	int st;
	if (waitpid(pid, &st, 0) != pid)
		abort();
	if (WIFSIGNALED(st))
		out("%s child killed by %s", what, strsignal(WTERMSIG(st)));
	else
		out("%s child exit %d", what, WEXITSTATUS(st));
}

void do_fork(void)
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
		child_touch(ARENA_BASE + off * PG, off, n, true, ((uint64_t)step << 20) | 0xc, NULL);
	}
	wait_child(pid, "fork");
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

void do_torture(void)
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
			child_touch(p, off, n, false, 0, unknown_of(off));
		}
		wait_child(pid, "raw fork");
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

