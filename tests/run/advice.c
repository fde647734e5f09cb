/* SPDX-License-Identifier: MIT */
/*
 * advice.c - fork advice and a program's own userfaultfd, as an
 * unmodified program does them (tests/run/check-advice.sh runs it
 * natively and under upager-run). Exit 0 when the program saw what the
 * kernel gives it; otherwise a message and a status naming the case.
 *
 * usage: advice CASE
 *   wipe            2 MiB filled, evicted, WIPEONFORK, fork: the child reads zeros
 *   dontfork-move   2 MiB DONTFORK, moved by mremap, fork: not in the child
 *   dontfork-grow   2 MiB DONTFORK, grown by mremap in place, then moved and
 *                   grown: no page of it in the child
 *   split ADVICE    advice on 10 pages inside 2 MiB, then touched throughout
 *   dontfork-fork   2 MiB DONTFORK, fork (check-advice.sh counts the log lines)
 *   uffd            the program's own userfaultfd over its 1 MiB mapping
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAGE 4096ul
#define MIB (1ul << 20)

static int fail(const char *what)
{
	fprintf(stderr, "advice: %s\n", what);
	return 1;
}

static char *map(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static void fill(char *p, size_t len, int seed)
{
	for (size_t i = 0; i < len; i += 64)
		p[i] = (char)(i / PAGE * 7 + (size_t)seed);
}

static size_t wrong(const char *p, size_t len, int seed)
{
	size_t bad = 0;

	for (size_t i = 0; i < len; i += 64)
		bad += p[i] != (char)(i / PAGE * 7 + (size_t)seed);
	return bad;
}

static int wait_child(pid_t pid)
{
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Touch more than any cap the check uses, so earlier pages are evicted. */
static void evict_others(void)
{
	char *junk = map(48 * MIB);

	fill(junk, 48 * MIB, 3);
	munmap(junk, 48 * MIB);
}

static int case_wipe(void)
{
	char *p = map(2 * MIB);
	pid_t pid;

	fill(p, 2 * MIB, 1);
	evict_others();
	if (madvise(p, 2 * MIB, MADV_WIPEONFORK))
		return fail("madvise(MADV_WIPEONFORK) failed");
	pid = fork();
	if (!pid) {
		size_t leaked = 0;

		for (size_t i = 0; i < 2 * MIB; i += 64)
			leaked += p[i] != 0;
		if (leaked)
			fprintf(stderr, "advice: the child read %zu of %lu bytes of the parent's "
				"data in WIPEONFORK memory\n", leaked, 2 * MIB / 64);
		_exit(leaked ? 1 : 0);
	}
	if (wait_child(pid))
		return fail("wipe: the child did not read zeros");
	if (wrong(p, 2 * MIB, 1))
		return fail("wipe: the parent lost its data");
	return 0;
}

/* [p, p + len) filled (@seed) and advised MADV_DONTFORK; 1 (said) where
 * the advice failed. */
static int fill_dontfork(char *p, size_t len, int seed)
{
	fill(p, len, seed);
	return madvise(p, len, MADV_DONTFORK) ? fail("madvise(MADV_DONTFORK) failed") : 0;
}

/* Pages of [p, p + len) the process has mapped (mincore answers). */
static size_t mapped_pages(const char *p, size_t len)
{
	unsigned char vec;
	size_t n = 0;

	for (size_t i = 0; i < len; i += PAGE)
		n += !mincore((void *)(p + i), PAGE, &vec);
	return n;
}

static int fork_sees_none(const char *p, size_t len)
{
	pid_t pid = fork();

	if (!pid) {
		size_t n = mapped_pages(p, len);

		if (n)
			fprintf(stderr, "advice: the child has %zu of %zu pages of DONTFORK memory\n",
				n, len / PAGE);
		_exit(n ? 1 : 0);
	}
	return wait_child(pid);
}

/* [p, p + @from) moved to a hole of @to bytes made for it (and grown
 * there), as mremap(MREMAP_FIXED) does; MAP_FAILED where it failed. */
static char *move_to_hole(char *p, size_t from, size_t to)
{
	char *q = map(to);

	munmap(q, to);
	return mremap(p, from, to, MREMAP_MAYMOVE | MREMAP_FIXED, q);
}

static int case_dontfork_move(void)
{
	char *p = map(2 * MIB), *q;

	if (fill_dontfork(p, 2 * MIB, 2))
		return 1;
	q = move_to_hole(p, 2 * MIB, 2 * MIB);
	if (q == MAP_FAILED)
		return fail("mremap failed");
	if (fork_sees_none(q, 2 * MIB))
		return fail("dontfork-move: the moved range is in the child");
	if (wrong(q, 2 * MIB, 2))
		return fail("dontfork-move: the parent lost its data");
	return 0;
}

static int case_dontfork_grow(void)
{
	char *p = map(4 * MIB), *q;

	munmap(p + 2 * MIB, 2 * MIB); /* room to grow into */
	if (fill_dontfork(p, 2 * MIB, 7))
		return 1;
	if (mremap(p, 2 * MIB, 4 * MIB, 0) != p)
		return fail("mremap in place failed");
	if (fork_sees_none(p, 4 * MIB))
		return fail("dontfork-grow: the grown range is in the child");
	q = move_to_hole(p, 4 * MIB, 6 * MIB);
	if (q == MAP_FAILED)
		return fail("mremap failed");
	if (fork_sees_none(q, 6 * MIB))
		return fail("dontfork-grow: the moved and grown range is in the child");
	return wrong(q, 2 * MIB, 7) ? fail("dontfork-grow: the parent lost its data") : 0;
}

static int case_split(const char *name)
{
	static const struct { const char *name; int advice; } advices[] = {
		{ "dontfork", MADV_DONTFORK }, { "dofork", MADV_DOFORK },
		{ "wipeonfork", MADV_WIPEONFORK }, { "keeponfork", MADV_KEEPONFORK },
	};
	char *p = map(2 * MIB);
	int advice = -1;

	for (size_t i = 0; i < sizeof(advices) / sizeof(advices[0]); i++)
		if (!strcmp(name, advices[i].name))
			advice = advices[i].advice;
	if (advice < 0)
		return fail("split: unknown advice");
	/* DOFORK and KEEPONFORK split only what was advised the other way. */
	if (advice == MADV_DOFORK && madvise(p, 2 * MIB, MADV_DONTFORK))
		return fail("madvise failed");
	if (advice == MADV_KEEPONFORK && madvise(p, 2 * MIB, MADV_WIPEONFORK))
		return fail("madvise failed");
	if (madvise(p + 100 * PAGE, 10 * PAGE, advice))
		return fail("madvise failed");
	fill(p, 2 * MIB, 4);
	if (wrong(p, 2 * MIB, 4))
		return fail("split: wrong bytes");
	return 0;
}

static int case_dontfork_fork(void)
{
	char *p = map(2 * MIB);
	pid_t pid;

	if (fill_dontfork(p, 2 * MIB, 5))
		return 1;
	pid = fork();
	if (!pid)
		_exit(0);
	if (wait_child(pid))
		return fail("dontfork-fork: the child failed");
	return wrong(p, 2 * MIB, 5) ? fail("dontfork-fork: the parent lost its data") : 0;
}

struct uffd_server {
	int fd;
	char *page;
};

/* Serve each missing fault with a page of 0x5a. */
static void *serve(void *arg)
{
	struct uffd_server *s = arg;
	struct uffd_msg msg;

	for (;;) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };

		if (poll(&pfd, 1, -1) < 0 || read(s->fd, &msg, sizeof(msg)) != sizeof(msg))
			return NULL;
		if (msg.event == UFFD_EVENT_PAGEFAULT) {
			struct uffdio_copy c = {
				.dst = msg.arg.pagefault.address & ~(PAGE - 1),
				.src = (uintptr_t)s->page,
				.len = PAGE,
			};

			ioctl(s->fd, UFFDIO_COPY, &c);
		}
	}
}

static int case_uffd(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffd_server s = { .page = map(PAGE) };
	char *p = map(MIB);
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)p, .len = MIB },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	pthread_t t;

	memset(s.page, 0x5a, PAGE);
	/* The first half written before: it must stay as written. */
	fill(p, MIB / 2, 6);
	evict_others();
	s.fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (s.fd < 0 && (s.fd = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC)) >= 0) {
		int fd = ioctl(s.fd, USERFAULTFD_IOC_NEW, O_CLOEXEC);

		close(s.fd);
		s.fd = fd;
	}
	if (s.fd < 0) {
		printf("skip: no userfaultfd\n");
		return 77;
	}
	if (ioctl(s.fd, UFFDIO_API, &api))
		return fail("UFFDIO_API failed");
	if (ioctl(s.fd, UFFDIO_REGISTER, &reg)) {
		fprintf(stderr, "advice: UFFDIO_REGISTER: %s\n", strerror(errno));
		return 1;
	}
	pthread_create(&t, NULL, serve, &s);
	if (wrong(p, MIB / 2, 6))
		return fail("uffd: the pages written before the registration changed");
	for (size_t i = MIB / 2; i < MIB; i += PAGE)
		if (p[i] != 0x5a || p[i + PAGE - 1] != 0x5a)
			return fail("uffd: a page the program's handler served is wrong");
	printf("uffd ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return fail("usage: advice CASE");
	if (!strcmp(argv[1], "wipe"))
		return case_wipe();
	if (!strcmp(argv[1], "dontfork-move"))
		return case_dontfork_move();
	if (!strcmp(argv[1], "dontfork-grow"))
		return case_dontfork_grow();
	if (!strcmp(argv[1], "split") && argc > 2)
		return case_split(argv[2]);
	if (!strcmp(argv[1], "dontfork-fork"))
		return case_dontfork_fork();
	if (!strcmp(argv[1], "uffd"))
		return case_uffd();
	return fail("unknown case");
}
