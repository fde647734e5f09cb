/* SPDX-License-Identifier: MIT */
/*
 * bench-baselines.c - the smallest alternatives to upager, each as little
 * as serves a fault: a raw userfaultfd handler doing the one ioctl a kind
 * needs, and an mprotect+SIGSEGV handler that opens the page and lets the
 * kernel zero-fill it. (The kernel baseline is plain memory; the io_uring
 * one, a read by the faulting thread: bench-touch.c.)
 *
 * The raw baselines are floors, not competitors: io_uring is what the disk
 * costs at the same concurrency (each thread one 4 KiB O_DIRECT read at a
 * time), raw-uffd the bare round trip of the userfaultfd operation a kind
 * needs (for swapin, fileread and refault: zero-rand's).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"

/* ---- raw userfaultfd ----------------------------------------------------------- */

/* A handler that cannot go on unregisters everything: the kernel then
 * wakes the waiting fault and serves the rest, so the pass ends instead of
 * hanging, and raw_close() reports the error. */
static void *raw_bail(struct raw_uffd *r, int err)
{
	struct uffdio_range range = { .start = (uintptr_t)r->mem, .len = r->len };

	atomic_store(&r->err, err);
	ioctl(r->fd, UFFDIO_UNREGISTER, &range);
	range = (struct uffdio_range){ .start = (uintptr_t)r->bells, .len = r->handlers * r->page };
	ioctl(r->fd, UFFDIO_UNREGISTER, &range);
	return NULL;
}

static int raw_copy_zero(struct raw_uffd *r, uintptr_t addr)
{
	struct uffdio_copy copy = { .dst = addr, .src = (uintptr_t)r->zero, .len = r->page };

	/* mode 0: the copy wakes the faulting thread. EAGAIN means the
	 * mapping is changing; nothing here changes it for long. */
	while (ioctl(r->fd, UFFDIO_COPY, &copy) < 0) {
		if (errno == EEXIST) {
			/* Not ours to install, but ours to wake. */
			ioctl(r->fd, UFFDIO_WAKE, &(struct uffdio_range){ addr, r->page });
			return 0;
		}
		if (errno != EAGAIN)
			return -errno;
		copy.copy = 0;
	}
	return 0;
}

static int raw_serve(struct raw_uffd *r, uintptr_t addr)
{
	struct uffdio_continue cont = { .range = { addr, r->page } };
	struct uffdio_writeprotect wp = { .range = { addr, r->page } };

	switch (r->mode) {
	case RAW_MISSING:
		return raw_copy_zero(r, addr);
	case RAW_MINOR:
		while (ioctl(r->fd, UFFDIO_CONTINUE, &cont) < 0) {
			if (errno == EEXIST) {
				ioctl(r->fd, UFFDIO_WAKE, &cont.range);
				return 0;
			}
			if (errno != EAGAIN)
				return -errno;
		}
		return 0;
	default:
		/* mode 0: unprotect and wake. */
		while (ioctl(r->fd, UFFDIO_WRITEPROTECT, &wp) < 0)
			if (errno != EAGAIN)
				return -errno;
		return 0;
	}
}

static void *raw_handler(void *arg)
{
	struct raw_uffd *r = arg;
	uintptr_t bells = (uintptr_t)r->bells, bells_end = bells + r->handlers * r->page;

	for (;;) {
		struct uffd_msg msg;
		ssize_t n = read(r->fd, &msg, sizeof(msg));
		uintptr_t addr;
		int err;

		if (n != (ssize_t)sizeof(msg)) {
			if (n < 0 && errno == EINTR)
				continue;
			return raw_bail(r, n < 0 ? -errno : -EIO);
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		addr = (uintptr_t)(msg.arg.pagefault.address & ~(uint64_t)(r->page - 1));
		if (addr >= bells && addr < bells_end) {
			/* A doorbell: this handler's last fault. */
			err = raw_copy_zero(r, addr);
			return err ? raw_bail(r, err) : NULL;
		}
		err = raw_serve(r, addr);
		if (err)
			return raw_bail(r, err);
		atomic_fetch_add_explicit(&r->faults, 1, memory_order_relaxed);
	}
}

static int raw_register(struct raw_uffd *r, void *start, size_t len, uint64_t mode,
			unsigned int ioctl_nr)
{
	struct uffdio_register reg = { .range = { (uintptr_t)start, len }, .mode = mode };

	if (ioctl(r->fd, UFFDIO_REGISTER, &reg) < 0)
		return errno == EINVAL ? -EOPNOTSUPP : -errno;
	return reg.ioctls & (1ull << ioctl_nr) ? 0 : -EOPNOTSUPP;
}

/* Stop the handlers: each doorbell is one handler's last fault. Handlers
 * that bailed out leave the others blocked in read(): cancel those. */
static void raw_stop(struct raw_uffd *r, unsigned int started)
{
	for (unsigned int i = 0; i < started && !atomic_load(&r->err); i++)
		(void)*(volatile const char *)(r->bells + i * r->page);
	for (unsigned int i = 0; i < started; i++) {
		if (atomic_load(&r->err))
			pthread_cancel(r->thread[i]);
		pthread_join(r->thread[i], NULL);
	}
}

static void raw_free(struct raw_uffd *r)
{
	if (r->bells && r->bells != MAP_FAILED)
		munmap(r->bells, r->handlers * r->page);
	if (r->zero && r->zero != MAP_FAILED)
		munmap(r->zero, r->page);
	close(r->fd);
}

int raw_open(struct raw_uffd *r, enum raw_mode mode, char *mem, size_t len, size_t page,
	     enum tcfg tc)
{
	static const uint64_t reg_mode[] = { UFFDIO_REGISTER_MODE_MISSING,
					     UFFDIO_REGISTER_MODE_MINOR, UFFDIO_REGISTER_MODE_WP };
	static const unsigned int reg_ioctl[] = { _UFFDIO_COPY, _UFFDIO_CONTINUE,
						  _UFFDIO_WRITEPROTECT };
	struct uffdio_api api = { .api = UFFD_API,
				  .features = mode == RAW_MINOR ? UFFD_FEATURE_MINOR_SHMEM : 0 };
	unsigned int i;
	int err;

	memset(r, 0, sizeof(*r));
	r->mode = mode;
	r->page = page;
	r->mem = mem;
	r->len = len;
	r->handlers = tc_threads[tc];
	r->fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	if (ioctl(r->fd, UFFDIO_API, &api) < 0) {
		err = errno == EINVAL ? -EOPNOTSUPP : -errno;
		goto out_free;
	}
	err = -ENOMEM;
	r->zero = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	r->bells = mmap(NULL, r->handlers * page, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r->zero == MAP_FAILED || r->bells == MAP_FAILED)
		goto out_free;
	err = raw_register(r, r->bells, r->handlers * page, UFFDIO_REGISTER_MODE_MISSING,
			   _UFFDIO_COPY);
	if (!err)
		err = raw_register(r, mem, len, reg_mode[mode], reg_ioctl[mode]);
	if (!err && mode == RAW_WP) {
		struct uffdio_writeprotect wp = { .range = { (uintptr_t)mem, len },
						  .mode = UFFDIO_WRITEPROTECT_MODE_WP };

		if (ioctl(r->fd, UFFDIO_WRITEPROTECT, &wp) < 0)
			err = -errno;
	}
	if (err)
		goto out_free;
	for (i = 0; i < r->handlers; i++) {
		err = -pthread_create(&r->thread[i], NULL, raw_handler, r);
		if (err)
			break;
		err = pin_cpu(r->thread[i], handler_cpu(tc, i));
		if (err) {
			i++;
			break;
		}
	}
	if (!err)
		return 0;
	raw_stop(r, i);
out_free:
	raw_free(r);
	return err;
}

int raw_close(struct raw_uffd *r, uint64_t *faults)
{
	raw_stop(r, r->handlers);
	raw_free(r);
	*faults = atomic_load(&r->faults);
	return atomic_load(&r->err);
}

/* ---- mprotect + SIGSEGV ---------------------------------------------------------- */

/*
 * The sigsegv baseline's region: process-wide, because a signal handler
 * reaches nothing else.
 */
static struct {
	uintptr_t base, end;       /* [base, end): the PROT_NONE region */
	size_t page;
	atomic_uint_fast64_t faults;
	struct sigaction old_segv;  /* restored after the pass */
} segv;

static void segv_handler(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	(void)uctx;
	if (a >= segv.base && a < segv.end &&
	    !mprotect((void *)(a & ~(uintptr_t)(segv.page - 1)), segv.page,
		      PROT_READ | PROT_WRITE)) {
		atomic_fetch_add_explicit(&segv.faults, 1, memory_order_relaxed);
		return;
	}
	/* Not ours: the access repeats and ends the process as it should. */
	signal(sig, SIG_DFL);
}

int segv_open(char **base, size_t len, size_t page)
{
	struct sigaction sa = { .sa_sigaction = segv_handler, .sa_flags = SA_SIGINFO };
	char *m = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return -errno;
	segv.base = (uintptr_t)m;
	segv.end = (uintptr_t)m + len;
	segv.page = page;
	atomic_store(&segv.faults, 0);
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &segv.old_segv)) {
		munmap(m, len);
		return -errno;
	}
	*base = m;
	return 0;
}

uint64_t segv_close(char *base, size_t len)
{
	sigaction(SIGSEGV, &segv.old_segv, NULL);
	segv.base = segv.end = 0;
	munmap(base, len);
	return atomic_load(&segv.faults);
}
