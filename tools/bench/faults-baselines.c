/* SPDX-License-Identifier: MIT */
/*
 * faults-baselines.c - the smallest alternatives to upager, each as little
 * as serves a fault: a raw userfaultfd handler doing the one ioctl a kind
 * needs, and an mprotect+SIGSEGV handler that opens the page and lets the
 * kernel zero-fill it. (The kernel baseline is plain memory; the io_uring
 * one, a read by the faulting thread: faults-touch.c.)
 *
 * The raw baselines are floors, not competitors: io_uring is what the disk
 * costs at the same concurrency (each thread one 4 KiB O_DIRECT read at a
 * time), raw-uffd the bare round trip of the userfaultfd operation a kind
 * needs (for swapin, fileread and refault: zero-rand's).
 *
 * The raw handler also takes each of the designs a pager's fault loop can
 * have (enum raw_design): how many handlers, where they run, how they wait
 * for a message (read, poll, io_uring), or no handler at all (SIGBUS).
 * Everything else is the same code, so a difference between two designs
 * is the design's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "faults.h"

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

/* The io_uring design's requests, told apart by their user data. */
enum { RAW_URING_POLL = 1, RAW_URING_READ };

/* Queue a poll of the uffd linked to a read of it, submit both and wait
 * for a completion, in one io_uring_enter(). Returns >= 0 or -errno. */
static int raw_uring_submit(struct raw_uffd *r)
{
	struct io_uring_sqe *poll = io_uring_get_sqe(r->ring), *rd = io_uring_get_sqe(r->ring);
	int ret;

	if (!poll || !rd)
		return -EBUSY;
	io_uring_prep_poll_add(poll, r->fd, POLLIN);
	io_uring_sqe_set_data64(poll, RAW_URING_POLL);
	/* A poll that succeeds posts nothing: one completion a message. */
	poll->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
	io_uring_prep_read(rd, r->fd, &r->ring_msg, sizeof(r->ring_msg), 0);
	io_uring_sqe_set_data64(rd, RAW_URING_READ);
	/* Interrupted: what was submitted stays queued or in flight; wait on. */
	do
		ret = io_uring_submit_and_wait(r->ring, 1);
	while (ret == -EINTR);
	return ret;
}

/* Reap completions up to the read's; returns its result, or the poll's
 * error when the poll failed (its read then completes -ECANCELED). */
static int raw_uring_reap(struct raw_uffd *r)
{
	int poll_err = 0;

	for (;;) {
		struct io_uring_cqe *cqe;
		int ret = io_uring_wait_cqe(r->ring, &cqe);
		bool read_done;

		if (ret == -EINTR)
			continue;
		if (ret < 0)
			return ret;
		ret = cqe->res;
		read_done = io_uring_cqe_get_data64(cqe) == RAW_URING_READ;
		io_uring_cqe_seen(r->ring, cqe);
		if (read_done)
			return ret == -ECANCELED && poll_err ? poll_err : ret;
		poll_err = ret < 0 ? ret : -EIO;
	}
}

/* io_uring's way to a message: the handler waits in io_uring_enter() and
 * the read runs as soon as the poll fires. Why a linked poll and not a
 * bare read of the uffd: on a blocking uffd io_uring cannot poll (the
 * uffd answers poll with EPOLLERR unless O_NONBLOCK), so it hands the read
 * to an io-wq worker thread, a second thread in every round trip; and a
 * read of an O_NONBLOCK file it completes with -EAGAIN rather than wait.
 * The message lands in @r, not on the stack, so that a read still in
 * flight after an error cannot write into a dead frame. */
static ssize_t raw_uring_read(struct raw_uffd *r, struct uffd_msg *msg)
{
	int ret = raw_uring_submit(r);

	if (ret >= 0)
		ret = raw_uring_reap(r);
	if (ret == -EAGAIN)
		return 0; /* woken, but the message was gone: poll again */
	if (ret > 0)
		memcpy(msg, &r->ring_msg, min_size((size_t)ret, sizeof(*msg)));
	return ret;
}

/* The designs that wait in poll(2) on a non-blocking uffd. */
static bool design_polls(enum raw_design design)
{
	return design == RAW_POLL || design == RAW_CPU_POLL || design == RAW_CPU_BATCH ||
	       design == RAW_CPU_IDLE;
}

/* Wait for one message the design's way. Returns its size, 0 to wait
 * again (a signal, or another handler took the message), or -errno. */
static ssize_t raw_next(struct raw_uffd *r, struct uffd_msg *msg)
{
	struct pollfd pfd = { .fd = r->fd, .events = POLLIN };
	ssize_t n;

	if (r->design == RAW_URING)
		return raw_uring_read(r, msg);
	/* Then a read of the descriptor, non-blocking for the poll designs. */
	if (design_polls(r->design) && poll(&pfd, 1, -1) < 0)
		return errno == EINTR ? 0 : -errno;
	n = read(r->fd, msg, sizeof(*msg));
	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	return n;
}

static void *raw_handler(void *arg)
{
	struct raw_uffd *r = arg;
	uintptr_t bells = (uintptr_t)r->bells, bells_end = bells + r->handlers * r->page;

	if (r->ring) {
		/* The ring was made disabled, so that this thread, the only one
		 * to submit, is the one that enables it. (liburing 2.3 declares
		 * io_uring_enable_rings() but does not export it.) */
		int err = io_uring_register((unsigned int)r->ring->ring_fd,
					    IORING_REGISTER_ENABLE_RINGS, NULL, 0);

		if (err < 0)
			return raw_bail(r, err);
	}
	if (r->design == RAW_CPU_BATCH || r->design == RAW_CPU_IDLE) {
		struct sched_param sp = { 0 };
		int err = pthread_setschedparam(pthread_self(),
						r->design == RAW_CPU_BATCH ? SCHED_BATCH : SCHED_IDLE,
						&sp);

		if (err)
			return raw_bail(r, -err);
	}
	for (;;) {
		struct uffd_msg msg;
		ssize_t n = raw_next(r, &msg);
		uintptr_t addr;
		int err;

		if (!n)
			continue;
		if (n != (ssize_t)sizeof(msg))
			return raw_bail(r, n < 0 ? (int)n : -EIO);
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
 * that bailed out leave the others waiting in read() or poll(): cancel
 * those (the io_uring design has one handler, the one that bailed). */
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

/* ---- self-paging: UFFD_FEATURE_SIGBUS ----------------------------------------------- */

/*
 * The raw-sigbus design's state: process-wide, because a signal handler
 * reaches nothing else. With UFFD_FEATURE_SIGBUS a missing page raises
 * SIGBUS in the faulting thread instead of a message: the thread installs
 * the page itself and returns to the access. What no signal can serve is
 * a fault inside a system call (read(2) into the region, say): the call
 * fails with EFAULT instead.
 */
static struct {
	int fd;
	uintptr_t base, end;       /* [base, end): the registered region */
	size_t page;
	uintptr_t zero;
	atomic_uint_fast64_t faults;
	struct sigaction old_bus;  /* restored by raw_close() */
} sigbus;

static void sigbus_handler(int sig, siginfo_t *si, void *uctx)
{
	uintptr_t a = (uintptr_t)si->si_addr & ~(uintptr_t)(sigbus.page - 1);
	/* DONTWAKE: nothing waits, the thread to resume is this one. */
	struct uffdio_copy copy = { .dst = a, .src = sigbus.zero, .len = sigbus.page,
				    .mode = UFFDIO_COPY_MODE_DONTWAKE };
	int saved = errno, ret = -1;

	(void)uctx;
	if (si->si_code == BUS_ADRERR && a >= sigbus.base && a < sigbus.end) {
		while ((ret = ioctl(sigbus.fd, UFFDIO_COPY, &copy)) < 0 && errno == EAGAIN)
			copy.copy = 0;
		/* EEXIST: another thread installed it; the access repeats. */
		if (!ret || errno == EEXIST) {
			atomic_fetch_add_explicit(&sigbus.faults, 1, memory_order_relaxed);
			errno = saved;
			return;
		}
	}
	/* Not ours, or not installable: the access repeats and ends the
	 * process as it should. */
	signal(sig, SIG_DFL);
	errno = saved;
}

static int sigbus_install(struct raw_uffd *r)
{
	struct sigaction sa = { .sa_sigaction = sigbus_handler, .sa_flags = SA_SIGINFO };

	sigbus.fd = r->fd;
	sigbus.base = (uintptr_t)r->mem;
	sigbus.end = (uintptr_t)r->mem + r->len;
	sigbus.page = r->page;
	sigbus.zero = (uintptr_t)r->zero;
	atomic_store(&sigbus.faults, 0);
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGBUS, &sa, &sigbus.old_bus) ? -errno : 0;
}

/* ---- opening and closing a raw pager ---------------------------------------------------- */

static void raw_free(struct raw_uffd *r)
{
	if (r->ring) {
		io_uring_queue_exit(r->ring);
		free(r->ring);
	}
	if (r->bells && r->bells != MAP_FAILED)
		munmap(r->bells, r->handlers * r->page);
	if (r->zero && r->zero != MAP_FAILED)
		munmap(r->zero, r->page);
	close(r->fd);
}

/* The @n-th CPU of @cpus. */
static unsigned int nth_cpu(const cpu_set_t *cpus, unsigned int n)
{
	unsigned int cpu = 0;

	for (;; cpu++)
		if (CPU_ISSET(cpu, cpus) && !n--)
			return cpu;
}

static unsigned int design_handlers(enum raw_design design, enum tcfg tc, const cpu_set_t *cpus)
{
	unsigned int n = (unsigned int)CPU_COUNT(cpus);

	switch (design) {
	case RAW_PER_THREAD:
		return tc_threads[tc];
	case RAW_SIGBUS:
		return 0;
	default:
		return raw_design_is_per_cpu(design) ? (n < MAX_HANDLERS ? n : MAX_HANDLERS) : 1;
	}
}

/* Put handler @i where the design and the placement say. */
static int raw_place(struct raw_uffd *r, unsigned int i, enum tcfg tc, const cpu_set_t *cpus)
{
	if (raw_design_is_per_cpu(r->design))
		return pin_cpu(r->thread[i], nth_cpu(cpus, i));
	if (!tc_is_pinned(tc))
		return unpin(r->thread[i], cpus);
	return pin_cpu(r->thread[i], handler_cpu(tc, i));
}

/* A ring for the io_uring design: single issuer, its completions run when
 * the handler waits (DEFER_TASKRUN), enabled by the handler itself.
 * Kernels without those flags get a plain ring. */
static int raw_ring(struct raw_uffd *r)
{
	int err;

	r->ring = calloc(1, sizeof(*r->ring));
	if (!r->ring)
		return -ENOMEM;
	err = io_uring_queue_init(4, r->ring, IORING_SETUP_SINGLE_ISSUER |
				  IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_R_DISABLED);
	if (err == -EINVAL)
		err = io_uring_queue_init(4, r->ring, IORING_SETUP_R_DISABLED);
	if (err) {
		free(r->ring);
		r->ring = NULL;
		/* io_uring compiled out or disabled by sysctl: a row short. */
		return err == -ENOSYS || err == -EPERM ? -EOPNOTSUPP : err;
	}
	return 0;
}

int raw_open(struct raw_uffd *r, enum raw_mode mode, enum raw_design design, char *mem,
	     size_t len, size_t page, enum tcfg tc, const cpu_set_t *cpus)
{
	static const uint64_t reg_mode[] = { UFFDIO_REGISTER_MODE_MISSING,
					     UFFDIO_REGISTER_MODE_MINOR, UFFDIO_REGISTER_MODE_WP };
	static const unsigned int reg_ioctl[] = { _UFFDIO_COPY, _UFFDIO_CONTINUE,
						  _UFFDIO_WRITEPROTECT };
	struct uffdio_api api = { .api = UFFD_API,
				  .features = mode == RAW_MINOR ? UFFD_FEATURE_MINOR_SHMEM : 0 };
	/* The io_uring design polls too (raw_uring_read() says why). */
	bool nonblock = design_polls(design) || design == RAW_URING;
	unsigned int i = 0;
	int err;

	if (design == RAW_SIGBUS && mode != RAW_MISSING)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->mode = mode;
	r->design = design;
	r->page = page;
	r->mem = mem;
	r->len = len;
	r->handlers = design_handlers(design, tc, cpus);
	r->fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0));
	if (r->fd < 0)
		return -errno;
	if (design == RAW_SIGBUS)
		api.features |= UFFD_FEATURE_SIGBUS;
	if (ioctl(r->fd, UFFDIO_API, &api) < 0) {
		err = errno == EINVAL ? -EOPNOTSUPP : -errno;
		goto out_free;
	}
	err = -ENOMEM;
	r->zero = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (r->zero == MAP_FAILED)
		goto out_free;
	if (r->handlers) {
		r->bells = mmap(NULL, r->handlers * page, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (r->bells == MAP_FAILED)
			goto out_free;
		err = raw_register(r, r->bells, r->handlers * page, UFFDIO_REGISTER_MODE_MISSING,
				   _UFFDIO_COPY);
		if (err)
			goto out_free;
	}
	err = raw_register(r, mem, len, reg_mode[mode], reg_ioctl[mode]);
	if (!err && mode == RAW_WP) {
		struct uffdio_writeprotect wp = { .range = { (uintptr_t)mem, len },
						  .mode = UFFDIO_WRITEPROTECT_MODE_WP };

		if (ioctl(r->fd, UFFDIO_WRITEPROTECT, &wp) < 0)
			err = -errno;
	}
	if (!err && design == RAW_URING)
		err = raw_ring(r);
	if (!err && design == RAW_SIGBUS)
		err = sigbus_install(r);
	if (err)
		goto out_free;
	for (i = 0; i < r->handlers; i++) {
		err = -pthread_create(&r->thread[i], NULL, raw_handler, r);
		if (err)
			break;
		err = raw_place(r, i, tc, cpus);
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
	if (r->design == RAW_SIGBUS) {
		/* Closed first: with the registration gone, no SIGBUS is left
		 * to arrive at the handler being replaced. */
		sigaction(SIGBUS, &sigbus.old_bus, NULL);
		*faults = atomic_load(&sigbus.faults);
	}
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
