/* SPDX-License-Identifier: MIT */
/*
 * procmem - a program reading and writing its own memory the way
 * debuggers, profilers and runtimes do: through /proc/self/mem (pread,
 * pwrite, read and write at the file position, a dup of the descriptor,
 * /proc/PID/mem) and process_vm_readv/writev on itself. Each case fills
 * a region larger than upager-run's 16 MiB cap, so under upager the
 * pages it reads back have been evicted, and prints what it saw, by
 * page counts and never by address, for tests/run/check-as.sh to compare
 * with a native run.
 *
 * usage: procmem CASE | procmem list
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "cases.h"

#define PAGES 6144 /* 24 MiB */
#define CHUNK 64   /* pages per call */

static size_t ps;
static char *buf; /* CHUNK pages, the program's own side of each call */

static const char *errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

static uint64_t word(unsigned tag, size_t page, size_t j)
{
	return (uint64_t)tag << 56 | (uint64_t)page << 20 | j;
}

/* @pages pages at @p, as pages @first on of the region hold them. */
static void fill(char *p, size_t first, size_t pages, unsigned tag)
{
	for (size_t i = 0; i < pages; i++)
		for (size_t j = 0; j < ps / 8; j++)
			((uint64_t *)(p + i * ps))[j] = word(tag, first + i, j);
}

/* How many of @pages pages at @p (page @first of the region on) hold
 * @tag's pattern. */
static size_t matching(const char *p, size_t first, size_t pages, unsigned tag)
{
	size_t n = 0;

	for (size_t i = 0; i < pages; i++) {
		const uint64_t *w = (const uint64_t *)(p + i * ps);
		size_t j = 0;

		while (j < ps / 8 && w[j] == word(tag, first + i, j))
			j++;
		n += j == ps / 8;
	}
	return n;
}

static char *region(int prot)
{
	char *r = mmap(NULL, PAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (r == MAP_FAILED) {
		printf("mmap: %s\n", errname(errno));
		exit(1);
	}
	fill(r, 0, PAGES, 1);
	if (prot != (PROT_READ | PROT_WRITE) && mprotect(r, PAGES * ps, prot)) {
		printf("mprotect: %s\n", errname(errno));
		exit(1);
	}
	return r;
}

/* More than the cap, written once: the region is evicted under upager. */
static void pressure(void)
{
	size_t len = 24u << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	for (size_t i = 0; p != MAP_FAILED && i < len; i += ps)
		p[i] = 1;
	if (p != MAP_FAILED)
		munmap(p, len);
}

/* Sums of a sweep's calls: full ones, short ones (their bytes), errors. */
struct sweep {
	size_t full, shortc, errors, pages;
	int last_err;
};

static void count(struct sweep *s, ssize_t got, size_t want)
{
	if (got < 0) {
		s->errors++;
		s->last_err = errno;
	} else if ((size_t)got < want) {
		s->shortc++;
	} else {
		s->full++;
	}
}

static void report(const char *what, const struct sweep *s)
{
	printf("%s: %zu full, %zu short, %zu failed%s%s, %zu pages right\n", what, s->full,
	       s->shortc, s->errors, s->errors ? " last " : "",
	       s->errors ? errname(s->last_err) : "", s->pages);
	fflush(stdout);
}

static int mem_fd(const char *path)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("open %s: %s\n", path, errname(errno));
		exit(1);
	}
	return fd;
}

/* The region read back through @fd with pread, every CHUNK pages. */
static void pread_sweep(const char *what, int fd, char *r, unsigned tag)
{
	struct sweep s = { 0 };

	for (size_t i = 0; i < PAGES; i += CHUNK) {
		memset(buf, 0, CHUNK * ps);
		count(&s, pread(fd, buf, CHUNK * ps, (off_t)(uintptr_t)(r + i * ps)), CHUNK * ps);
		s.pages += matching(buf, i, CHUNK, tag);
	}
	report(what, &s);
}

/* Tag @tag's pattern written into the region through @fd with pwrite. */
static void pwrite_sweep(const char *what, int fd, char *r, unsigned tag)
{
	struct sweep s = { 0 };

	for (size_t i = 0; i < PAGES; i += CHUNK) {
		fill(buf, i, CHUNK, tag);
		count(&s, pwrite(fd, buf, CHUNK * ps, (off_t)(uintptr_t)(r + i * ps)), CHUNK * ps);
	}
	report(what, &s);
}

static void direct(const char *what, char *r, unsigned tag)
{
	printf("%s: %zu pages right\n", what, matching(r, 0, PAGES, tag));
	fflush(stdout);
}

/* A region of @prot read through /proc/self/mem, written there with
 * generation @gen, then read directly. */
static void pread_pwrite(int prot, unsigned gen)
{
	char *r = region(prot);
	int fd = mem_fd("/proc/self/mem");

	pressure();
	pread_sweep("pread", fd, r, 1);
	pressure();
	pwrite_sweep("pwrite", fd, r, gen);
	pressure();
	direct("after pwrite", r, gen);
	close(fd);
}

static void case_pread(void)
{
	pread_pwrite(PROT_READ | PROT_WRITE, 2);
}

/* read and write at the file position, through a dup of a descriptor
 * opened as /proc/PID/mem. */
static void case_read_write(void)
{
	char *r = region(PROT_READ | PROT_WRITE), path[64];
	struct sweep s = { 0 };
	int fd, dfd;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)getpid());
	fd = mem_fd(path);
	dfd = dup(fd);
	close(fd);
	pressure();
	if (lseek(dfd, (off_t)(uintptr_t)r, SEEK_SET) < 0)
		printf("lseek: %s\n", errname(errno));
	for (size_t i = 0; i < PAGES; i += CHUNK) {
		count(&s, read(dfd, buf, CHUNK * ps), CHUNK * ps);
		s.pages += matching(buf, i, CHUNK, 1);
	}
	report("read", &s);
	printf("position at the end: %s\n",
	       lseek(dfd, 0, SEEK_CUR) == (off_t)(uintptr_t)(r + PAGES * ps) ? "yes" : "no");
	pressure();
	memset(&s, 0, sizeof(s));
	lseek(dfd, (off_t)(uintptr_t)r, SEEK_SET);
	for (size_t i = 0; i < PAGES; i += CHUNK) {
		fill(buf, i, CHUNK, 3);
		count(&s, write(dfd, buf, CHUNK * ps), CHUNK * ps);
	}
	report("write", &s);
	pressure();
	direct("after write", r, 3);
	close(dfd);
}

/* A read-only region: /proc/self/mem writes it all the same (the
 * kernel forces them, as for a debugger's breakpoints). */
static void case_readonly(void)
{
	pread_pwrite(PROT_READ, 4);
}

/* process_vm_readv/writev on itself, two iovecs a side. */
static void case_vm(void)
{
	char *r = region(PROT_READ | PROT_WRITE);
	struct sweep s = { 0 };
	size_t half = CHUNK / 2 * ps;

	pressure();
	for (size_t i = 0; i < PAGES; i += CHUNK) {
		struct iovec local[2] = { { buf + half, half }, { buf, half } };
		struct iovec remote[2] = { { r + i * ps, half }, { r + i * ps + half, half } };

		memset(buf, 0, CHUNK * ps);
		count(&s, process_vm_readv(getpid(), local, 2, remote, 2, 0), CHUNK * ps);
		s.pages += matching(buf + half, i, CHUNK / 2, 1) +
			   matching(buf, i + CHUNK / 2, CHUNK / 2, 1);
	}
	report("process_vm_readv", &s);
	pressure();
	memset(&s, 0, sizeof(s));
	for (size_t i = 0; i < PAGES; i += CHUNK) {
		struct iovec local = { buf, CHUNK * ps };
		struct iovec remote[2] = { { r + i * ps, half }, { r + i * ps + half, half } };

		fill(buf, i, CHUNK, 5);
		count(&s, process_vm_writev(getpid(), &local, 1, remote, 2, 0), CHUNK * ps);
	}
	report("process_vm_writev", &s);
	pressure();
	direct("after process_vm_writev", r, 5);
}

static const struct run_case cases[] = {
	{ "mem-pread-pwrite", case_pread },
	{ "mem-read-write", case_read_write },
	{ "mem-readonly", case_readonly },
	{ "vm-readv-writev", case_vm },
};

/* Before any case: the page size and the program's own buffer. */
static int setup(void)
{
	ps = (size_t)sysconf(_SC_PAGESIZE);
	buf = aligned_alloc(ps, CHUNK * ps);
	return buf ? 0 : 1;
}

int main(int argc, char **argv)
{
	return cases_main("procmem", cases, sizeof(cases) / sizeof(cases[0]), setup, argc, argv);
}
