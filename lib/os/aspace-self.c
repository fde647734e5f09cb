/* SPDX-License-Identifier: MIT */
/*
 * aspace-self.c - the address-space seam for the calling process: the
 * system calls on itself and its /proc/self files (aspace.h).
 */
#define _GNU_SOURCE
#include "os/aspace.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "os/fdreg.h"
#include "os/statm.h"

struct aspace_self {
	struct aspace base;
	int mem_fd;      /* /proc/self/mem, or -1 */
	int pagemap_fd;  /* /proc/self/pagemap, or -1 */
	int statm_fd;    /* /proc/self/statm, or -1 */
	long page_size;
};

static struct aspace_self *self_of(struct aspace *as)
{
	return (struct aspace_self *)as;
}

static void close_files(struct aspace_self *s)
{
	fdreg_close(s->mem_fd);
	fdreg_close(s->pagemap_fd);
	fdreg_close(s->statm_fd);
	s->mem_fd = s->pagemap_fd = s->statm_fd = -1;
}

/* An open one stands for the process that opened it: a forked child
 * opens its own (fork_child). */
static int open_files(struct aspace_self *s)
{
	static const char *const names[] = { "/proc/self/mem", "/proc/self/pagemap",
					      "/proc/self/statm" };
	static const int modes[] = { O_RDWR, O_RDONLY, O_RDONLY };
	int *fds[] = { &s->mem_fd, &s->pagemap_fd, &s->statm_fd };

	for (int i = 0; i < 3; i++) {
		*fds[i] = open(names[i], modes[i] | O_CLOEXEC);
		if (*fds[i] < 0) {
			int err = -errno;

			log_error("aspace: %s: %s", names[i], strerror(-err));
			close_files(s);
			return err;
		}
		*fds[i] = fdreg_hide(*fds[i], names[i]);
	}
	return 0;
}

static void self_close(struct aspace *as)
{
	close_files(self_of(as));
	free(as);
}

static int self_fork_child(struct aspace *as)
{
	struct aspace_self *s = self_of(as);

	if (s->mem_fd < 0)
		return 0;
	close_files(s);
	return open_files(s);
}

static int self_map(struct aspace *as, uintptr_t hint, size_t len, int prot, int flags, int fd,
		    off_t off, uintptr_t *out)
{
	void *m = mmap((void *)hint, len, prot, flags, fd, off);

	(void)as;
	if (m == MAP_FAILED)
		return -errno;
	*out = (uintptr_t)m;
	return 0;
}

static int self_unmap(struct aspace *as, uintptr_t addr, size_t len)
{
	(void)as;
	return munmap((void *)addr, len) ? -errno : 0;
}

static int self_protect(struct aspace *as, uintptr_t addr, size_t len, int prot)
{
	(void)as;
	return mprotect((void *)addr, len, prot) ? -errno : 0;
}

static int self_remap(struct aspace *as, uintptr_t old, size_t old_len, size_t new_len, int flags,
		      uintptr_t new_addr, uintptr_t *out)
{
	/* The system call itself: the shim interposes the libc symbol. */
	long ret = syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);

	(void)as;
	if (ret == -1)
		return -errno;
	*out = (uintptr_t)ret;
	return 0;
}

static int self_advise(struct aspace *as, uintptr_t addr, size_t len, int advice)
{
	(void)as;
	return madvise((void *)addr, len, advice) ? -errno : 0;
}

static int self_zap(struct aspace *as, uintptr_t addr, size_t len, enum aspace_zap how)
{
	(void)as;
	return madvise((void *)addr, len, how == ASPACE_ZAP_REMOVE ? MADV_REMOVE : MADV_DONTNEED) ?
		       -errno : 0;
}

static int self_break_cow(struct aspace *as, uintptr_t addr)
{
	(void)as;
	/* A write of nothing: the kernel copies the page, no byte changes,
	 * and a racing writer's bytes are kept (atomic). */
	__atomic_fetch_add((volatile uint64_t *)addr, 0, __ATOMIC_RELAXED);
	return 0;
}

static ssize_t self_read(struct aspace *as, uintptr_t addr, void *buf, size_t len)
{
	struct aspace_self *s = self_of(as);
	ssize_t n;

	fdreg_check(s->mem_fd); /* the bytes may become a page's only copy */
	n = pread(s->mem_fd, buf, len, (off_t)addr);
	return n < 0 ? -errno : n;
}

static ssize_t self_write(struct aspace *as, uintptr_t addr, const void *buf, size_t len)
{
	struct aspace_self *s = self_of(as);
	ssize_t n;

	fdreg_check(s->mem_fd);
	n = pwrite(s->mem_fd, buf, len, (off_t)addr);
	return n < 0 ? -errno : n;
}

static int self_pages(struct aspace *as, uintptr_t addr, uint32_t n, uint64_t *out)
{
	struct aspace_self *s = self_of(as);
	size_t bytes = (size_t)n * sizeof(*out);
	ssize_t got;

	fdreg_check(s->pagemap_fd);
	got = pread(s->pagemap_fd, out, bytes, (off_t)(addr / (uintptr_t)s->page_size * sizeof(*out)));
	if (got < 0)
		return -errno;
	return got == (ssize_t)bytes ? 0 : -EIO;
}

static int self_resident(struct aspace *as, uintptr_t addr, size_t len, unsigned char *vec)
{
	(void)as;
	return mincore((void *)addr, len, vec) ? -errno : 0;
}

static int self_rss(struct aspace *as, uint64_t *pages)
{
	struct aspace_self *s = self_of(as);

	if (s->statm_fd < 0)
		return -EBADF;
	return statm_resident(s->statm_fd, pages);
}

/* The hex number at *@s, which is moved past it. */
static unsigned long parse_hex(const char **s)
{
	unsigned long v = 0;
	int d;

	for (;; (*s)++) {
		char c = **s;

		d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (d < 0)
			return v;
		v = v << 4 | (unsigned long)d;
	}
}

/* *@s past the next @n fields separated by spaces. */
static void skip_fields(const char **s, int n)
{
	while (n-- > 0) {
		while (**s == ' ')
			(*s)++;
		while (**s && **s != ' ')
			(*s)++;
	}
	while (**s == ' ')
		(*s)++;
}

/*
 * One line of /proc/self/maps: "start-end perms offset dev inode path".
 * Private anonymous is what the kernel's vma_is_anonymous() says of a
 * private mapping: no file and no operations of its own, so not a
 * special mapping ([vdso], [vvar]); [heap], [stack] and named anonymous
 * memory ([anon:NAME]) are anonymous. 0, or -EINVAL for a line that does
 * not parse.
 */
static int parse_line(const char *line, struct aspace_mapping *m)
{
	const char *s = line, *perm, *inode;

	m->start = parse_hex(&s);
	if (*s++ != '-')
		return -EINVAL;
	m->end = parse_hex(&s);
	skip_fields(&s, 0);
	perm = s;
	skip_fields(&s, 3);
	inode = s;
	skip_fields(&s, 1);
	if (strlen(perm) < 4)
		return -EINVAL;
	if (perm[3] == 's')
		m->kind = ASPACE_SHARED;
	else if (*inode != '0' || (inode[1] != ' ' && inode[1]))
		m->kind = ASPACE_FILE;
	else if (!*s || !strcmp(s, "[heap]") || !strcmp(s, "[stack]") || !strncmp(s, "[anon:", 6))
		m->kind = ASPACE_ANON;
	else
		m->kind = ASPACE_FILE;
	return 0;
}

/*
 * @fn on each line of /proc/self/maps (NUL-terminated, without its
 * newline; a line longer than the buffer is cut: its path then is too),
 * until it returns nonzero; that value, 0 at the end, or -errno. Read
 * with read(2) into the stack and parsed by hand: callers hold the
 * pager's lock for writing, and stdio's buffers (or sscanf's) may come
 * from malloc, which under the shim can map memory through that very
 * pager.
 */
static int maps_for_each_line(int (*fn)(void *ctx, const char *line), void *ctx)
{
	char buf[4096];
	size_t have = 0;
	bool skip = false; /* in a line longer than the buffer */
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC), ret = 0;

	if (fd < 0)
		return -errno;
	for (;;) {
		ssize_t got = read(fd, buf + have, sizeof(buf) - 1 - have);
		char *line = buf, *nl;

		if (got <= 0) {
			ret = got < 0 ? -errno : 0;
			break;
		}
		have += (size_t)got;
		buf[have] = 0;
		while (!ret && (nl = strchr(line, '\n'))) {
			*nl = 0;
			if (!skip)
				ret = fn(ctx, line);
			skip = false;
			line = nl + 1;
		}
		if (ret)
			break;
		have -= (size_t)(line - buf);
		memmove(buf, line, have);
		if (have == sizeof(buf) - 1) {
			if (!skip)
				ret = fn(ctx, buf); /* its start, cut */
			if (ret)
				break;
			skip = true;
			have = 0;
		}
	}
	close(fd);
	return ret;
}

struct mappings_ctx {
	uintptr_t start, end;
	struct aspace_mapping *out;
	int n, max;
};

/* Lines are in address order: the read stops at the first mapping past
 * the end. */
static int mappings_line(void *ctx, const char *line)
{
	struct mappings_ctx *c = ctx;
	struct aspace_mapping m;

	if (parse_line(line, &m))
		return -EINVAL;
	if (m.start >= c->end)
		return 1;
	if (m.end <= c->start)
		return 0;
	if (c->n == c->max)
		return -E2BIG;
	c->out[c->n++] = m;
	return 0;
}

static int self_mappings(struct aspace *as, uintptr_t start, uintptr_t end,
			 struct aspace_mapping *out, int max)
{
	struct mappings_ctx c = { start, end, out, 0, max };
	int err = maps_for_each_line(mappings_line, &c);

	(void)as;
	return err < 0 ? err : c.n;
}

static const struct aspace_ops self_ops = {
	.name = "self",
	.close = self_close,
	.fork_child = self_fork_child,
	.map = self_map,
	.unmap = self_unmap,
	.protect = self_protect,
	.remap = self_remap,
	.advise = self_advise,
	.zap = self_zap,
	.break_cow = self_break_cow,
	.read = self_read,
	.write = self_write,
	.pages = self_pages,
	.resident = self_resident,
	.rss = self_rss,
	.mappings = self_mappings,
};

int aspace_self_open(int page_files, struct aspace **out)
{
	struct aspace_self *s = calloc(1, sizeof(*s));
	int err;

	if (!s)
		return -ENOMEM;
	s->base.ops = &self_ops;
	s->mem_fd = s->pagemap_fd = s->statm_fd = -1;
	s->page_size = sysconf(_SC_PAGESIZE);
	if (page_files && (err = open_files(s))) {
		free(s);
		return err;
	}
	*out = &s->base;
	return 0;
}
