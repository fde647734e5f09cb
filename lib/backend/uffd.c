/* SPDX-License-Identifier: MIT */
/*
 * uffd.c - the userfaultfd backend: the kernel reports first touches of
 * registered ranges as messages on a file descriptor, handler threads read
 * them, and pages are installed with UFFDIO_ZEROPAGE / UFFDIO_COPY.
 *
 * The kernel keeps enforcing protection on its own VMAs, so an access to no
 * mapping or a forbidden access is signalled by the kernel before
 * userfaultfd is involved; the handler sees only legal first touches,
 * unless the program changed its mappings behind the pager's back.
 *
 * Handler threads wait in poll(2) and read from a non-blocking descriptor
 * under read_lock (so events are queued in the order read). To
 * stop them without a second file descriptor to poll, the pager keeps a
 * "doorbell" page registered with the same userfaultfd (and inaccessible
 * until then): upager_close() makes it readable and touches it, and each
 * handler that reads the doorbell fault exits, the
 * last one resolving the fault so the closing thread can go on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/pool.h"
#include "backend/backend.h"
#include "os/compat.h"
#include "mm/events.h"
#include "os/fdreg.h"
#include "core/log.h"
#include "core/options.h"
#include "mm/pager.h"
#include "mm/reclaim.h"

#define UFFD_MAX_THREADS 64
/* EAGAIN from a fill means the address space is changing under it; the
 * kernel asks for a retry, and a bounded number of them always suffices
 * unless the program remaps forever. */
#define UFFD_EAGAIN_RETRIES 1000

/* Faults a handler could not serve without waiting, for the worker. */
#define UFFD_DEFER_MAX 1024

struct deferred {
	uintptr_t addr;
	unsigned int access;
	uint64_t t0;           /* when it was read, for the service time */
};

struct backend {
	struct upager *pager;
	int fd;                /* the regions: faults, and events */
	int staging_fd;        /* the staging area: a place pages move to; no events */
	uintptr_t staging_start, staging_end;
	uint64_t features;     /* negotiated with UFFDIO_API (fd) */
	void *zero_src;        /* fault_around_max pages of zeroes to copy */
	size_t zero_src_len;
	void *doorbell;        /* one page; touching it stops the handlers */
	pid_t owner;           /* only the process that started threads stops them */
	unsigned int nthreads;
	atomic_uint running;   /* handler threads not yet told to stop */
	pthread_t threads[UFFD_MAX_THREADS];
	struct handler {
		struct backend *be;
		struct fault_ctx *ctx; /* this thread's I/O context and buffers */
	} handlers[UFFD_MAX_THREADS];

	/* One handler reading at a time, so that the event a read
	 * carries is queued before any later message is read: a fault
	 * read after an event then sees it pending (events.h). It is held
	 * only across a read that does not block (the descriptor is
	 * O_NONBLOCK; handlers wait in poll(2) without it), so taking it
	 * is a fence: whatever was read before, its events are queued. */
	pthread_mutex_t read_lock;
	/* Handlers not serving a fault: free to read. The last one free
	 * never waits (struct fault_ctx.may_block). */
	atomic_uint free_handlers;

	/* The worker: serves the faults handlers deferred, and applies
	 * events when no fault comes to do it. */
	pthread_mutex_t defer_lock;
	pthread_cond_t defer_cond;
	unsigned int started;  /* threads running their loop (defer_lock) */
	struct deferred defer[UFFD_DEFER_MAX];
	unsigned int defer_head, defer_count;
	bool worker_running, worker_stop;
	pthread_t worker;
	struct fault_ctx *worker_ctx;
};

/* Set in a handler that must not wait: a range ioctl answered EAGAIN
 * (the address space is changing, an event is being reported) returns
 * at once instead of retrying, and the faulting thread is woken to
 * fault again later. */
static __thread bool no_spin;

/* What the running kernel offers, probed once per process. */
static struct {
	pthread_once_t once;
	int err;
	uint64_t features;
	uint64_t ioctls;
} probe = { .once = PTHREAD_ONCE_INIT };

static int uffd_new(void)
{
	int fd, dev, err;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC);
	if (fd >= 0 && !getenv("UPAGER_UFFD_FORCE_DEV"))
		return fd;
	if (fd >= 0)
		close(fd);
	err = fd < 0 ? -errno : -EPERM;
	if (err != -EPERM && err != -ENOSYS)
		return err;
	/* The syscall is refused (unprivileged_userfaultfd=0 without
	 * CAP_SYS_PTRACE, or a seccomp filter): the device node, whose file
	 * permissions decide instead, hands out the same descriptors. */
	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return err;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
	if (fd < 0)
		fd = -errno;
	close(dev);
	return fd;
}

static void probe_kernel(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = uffd_new();

	if (fd < 0) {
		probe.err = fd;
		return;
	}
	/* Asking for no feature reports every feature the kernel has; the
	 * descriptor is then spent (UFFDIO_API succeeds once per fd). */
	if (ioctl(fd, UFFDIO_API, &api) < 0)
		probe.err = -errno;
	probe.features = api.features;
	probe.ioctls = api.ioctls;
	close(fd);
}

static int uffd_open_negotiated(uint64_t wanted, uint64_t *features)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd;

	pthread_once(&probe.once, probe_kernel);
	if (probe.err)
		return probe.err;
	fd = uffd_new();
	if (fd < 0)
		return fd;
	api.features = wanted & probe.features;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	*features = api.features;
	return fd;
}

/* An ioctl on upager's userfaultfd @fd failed with errno: if the number
 * is closed (EBADF) or is now another kind of file (ENOTTY), nothing
 * registered with it is served any more. Returns -errno otherwise. */
static int ioctl_err(int fd)
{
	int err = -errno;

	if (err == -EBADF || err == -ENOTTY)
		fdreg_lost(fd, err);
	return err;
}

static int register_range(int fd, uintptr_t start, uintptr_t end, uint64_t mode)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = end - start },
		.mode = mode,
	};
	const uint64_t needed = mode == UFFDIO_REGISTER_MODE_MISSING
					? (1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) |
						  (1ull << _UFFDIO_WAKE)
					: 0;

	/* Registering another file's descriptor would hand the range to
	 * whatever the program put at this number. */
	fdreg_check(fd);
	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
		return ioctl_err(fd);
	if ((reg.ioctls & needed) != needed)
		return -EOPNOTSUPP;
	return 0;
}

static int register_missing(int fd, uintptr_t start, uintptr_t end)
{
	return register_range(fd, start, end, UFFDIO_REGISTER_MODE_MISSING);
}

/* What a mapping of an object's cache needs from the kernel: faults on
 * shmem (missing and minor) and, for private mappings, write protection
 * of shmem pages (5.19). */
#define SHARED_FEATURES (UFFD_FEATURE_MISSING_SHMEM | UFFD_FEATURE_MINOR_SHMEM)
#define PRIVATE_FEATURES (SHARED_FEATURES | UFFD_FEATURE_PAGEFAULT_FLAG_WP | \
			  UFFD_FEATURE_WP_HUGETLBFS_SHMEM)

/* UFFDIO_CONTINUE_MODE_WP came with 6.4, which has no feature bit of its
 * own; WP_UNPOPULATED came in the same release. Not negotiated: it would
 * change what write-protecting an empty anonymous range does. */
static bool kernel_has_continue_wp(void)
{
	return probe.features & UFFD_FEATURE_WP_UNPOPULATED;
}

static int uffd_attach(struct backend *be, uintptr_t start, uintptr_t end, int how)
{
	int err;

	if (how == BACKEND_STAGING) {
		/* UFFDIO_MOVE needs its destination registered with this
		 * userfaultfd, in any mode. Write-protect mode, never armed,
		 * leaves the staging area's faults to the kernel, so upager's
		 * own reads and writes there never reach a handler. */
		if (!(be->features & UFFD_FEATURE_MOVE) ||
		    !(be->features & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
			return -EOPNOTSUPP;
		/* A descriptor of its own, without events: upager discards
		 * staged pages all the time, and each discard would be an
		 * event a handler must read before the discard returns. */
		if (be->staging_fd < 0) {
			uint64_t f;

			be->staging_fd = uffd_open_negotiated(UFFD_FEATURE_MOVE |
							      UFFD_FEATURE_PAGEFAULT_FLAG_WP, &f);
			if (be->staging_fd < 0)
				return be->staging_fd;
			be->staging_fd = fdreg_hide(be->staging_fd, "staging userfaultfd");
		}
		err = register_range(be->staging_fd, start, end, UFFDIO_REGISTER_MODE_WP);
		if (!err) {
			be->staging_start = start;
			be->staging_end = end;
		}
	} else if (how == BACKEND_SHARED) {
		if ((be->features & SHARED_FEATURES) != SHARED_FEATURES)
			return -EOPNOTSUPP;
		err = register_range(be->fd, start, end,
				     UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR);
	} else if (how == BACKEND_PRIVATE) {
		if ((be->features & PRIVATE_FEATURES) != PRIVATE_FEATURES ||
		    !kernel_has_continue_wp())
			return -EOPNOTSUPP;
		err = register_range(be->fd, start, end,
				     UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR |
				     UFFDIO_REGISTER_MODE_WP);
	} else {
		err = register_missing(be->fd, start, end);
	}

	if (err)
		log_error("uffd: register 0x%lx-0x%lx: %s", (unsigned long)start,
			  (unsigned long)end, strerror(-err));
	return err;
}

static int uffd_detach(struct backend *be, uintptr_t start, uintptr_t end)
{
	struct uffdio_range range = { .start = start, .len = end - start };

	return ioctl(be->fd, UFFDIO_UNREGISTER, &range) < 0 ? ioctl_err(be->fd) : 0;
}

/*
 * Run a range ioctl (COPY, ZEROPAGE, MOVE) whose struct reports progress
 * in *@done, retrying while the kernel answers EAGAIN with no progress
 * (the address space is changing under it). Returns the bytes handled
 * (> 0; partial progress comes back as EAGAIN with a positive count: the
 * first pages are in and their waiters are awake), or -errno.
 */
static long range_ioctl_fd(struct backend *be, int fd, unsigned long req, void *arg,
			   __s64 *done, size_t len)
{
	for (int tries = 0; tries < UFFD_EAGAIN_RETRIES; tries++) {
		*done = 0;
		if (!ioctl(fd, req, arg))
			return (long)len;
		if (*done > 0)
			return (long)*done;
		if (*done != -EAGAIN)
			return *done ? (long)*done : ioctl_err(fd);
		stat_add(&be->pager->stats.faults_retried, 1);
		if (no_spin)
			break;
		sched_yield();
	}
	return -EAGAIN;
}

static long range_ioctl(struct backend *be, unsigned long req, void *arg, __s64 *done,
			size_t len)
{
	return range_ioctl_fd(be, be->fd, req, arg, done, len);
}

/*
 * The length to try next after an install of @len bytes answered @ret:
 * 0 when @ret stands. The kernel refuses a run that crosses the end of
 * its first page's VMA as a whole, with the ENOENT it gives an unmapped
 * range; the VMA may have been split where upager's tree has no boundary
 * (advice it does not track, mlock). Shorter runs from the same start,
 * halving down to the one page, find the part inside; only for that page
 * is ENOENT "gone", else the thread faults on the same run for ever.
 */
static size_t install_retry_len(const struct backend *be, long ret, size_t len)
{
	size_t ps = be->pager->page_size;

	if (ret != -ENOENT || len <= ps)
		return 0;
	return len / ps / 2 * ps;
}

static long uffd_fill_zero(struct backend *be, uintptr_t start, size_t len,
			   bool writable)
{
	long ret;

	if (writable) {
		/* A private zeroed page now saves the write fault that would
		 * follow a mapped zero page. */
		struct uffdio_copy c = {
			.dst = start,
			.src = (uintptr_t)be->zero_src,
			.len = len <= be->zero_src_len ? len : be->zero_src_len,
		};

		while ((ret = range_ioctl(be, UFFDIO_COPY, &c, &c.copy, c.len)) == -ENOENT &&
		       (c.len = install_retry_len(be, ret, c.len)))
			;
	} else {
		struct uffdio_zeropage z = { .range = { .start = start, .len = len } };

		while ((ret = range_ioctl(be, UFFDIO_ZEROPAGE, &z, &z.zeropage,
					  z.range.len)) == -ENOENT &&
		       (z.range.len = install_retry_len(be, ret, z.range.len)))
			;
	}
	return ret;
}

static int uffd_wake(struct backend *be, uintptr_t start, size_t len)
{
	struct uffdio_range range = { .start = start, .len = len };

	return ioctl(be->fd, UFFDIO_WAKE, &range) < 0 ? ioctl_err(be->fd) : 0;
}

static long uffd_copy(struct backend *be, uintptr_t dst, const void *src, size_t len)
{
	struct uffdio_copy c = { .dst = dst, .src = (uintptr_t)src, .len = len };
	long ret;

	while ((ret = range_ioctl(be, UFFDIO_COPY, &c, &c.copy, c.len)) == -ENOENT &&
	       (c.len = install_retry_len(be, ret, c.len)))
		;
	return ret;
}

static long uffd_move(struct backend *be, uintptr_t dst, uintptr_t src, size_t len)
{
	struct uffdio_move m = { .dst = dst, .src = src, .len = len };
	/* UFFDIO_MOVE goes through the descriptor its destination is
	 * registered with. */
	int fd = dst >= be->staging_start && dst < be->staging_end ? be->staging_fd : be->fd;

	return range_ioctl_fd(be, fd, UFFDIO_MOVE, &m, &m.move, len);
}

static long uffd_cont(struct backend *be, uintptr_t start, size_t len, bool wp)
{
	struct uffdio_continue c = {
		.range = { .start = start, .len = len },
		.mode = wp ? UFFDIO_CONTINUE_MODE_WP : 0,
	};
	long ret;

	while ((ret = range_ioctl(be, UFFDIO_CONTINUE, &c, &c.mapped, c.range.len)) == -ENOENT &&
	       (c.range.len = install_retry_len(be, ret, c.range.len)))
		;
	return ret;
}

static int uffd_protect(struct backend *be, uintptr_t start, size_t len, bool on)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = start, .len = len },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	for (int tries = 0; tries < UFFD_EAGAIN_RETRIES; tries++) {
		if (!ioctl(be->fd, UFFDIO_WRITEPROTECT, &wp))
			return 0;
		if (errno != EAGAIN)
			return ioctl_err(be->fd);
		stat_add(&be->pager->stats.faults_retried, 1);
		if (no_spin)
			break;
		sched_yield();
	}
	return -EAGAIN;
}

static int uffd_poison(struct backend *be, uintptr_t addr)
{
	size_t ps = be->pager->page_size;
	struct uffdio_poison p = { .range = { .start = addr & ~(uintptr_t)(ps - 1), .len = ps },
				   .mode = UFFDIO_POISON_MODE_DONTWAKE };

	if (!(be->features & UFFD_FEATURE_POISON))
		return -EOPNOTSUPP;
	return ioctl(be->fd, UFFDIO_POISON, &p) < 0 ? ioctl_err(be->fd) : 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A handler read the doorbell fault and is about to exit. */
static void ring_doorbell(struct backend *be)
{
	uintptr_t bell = (uintptr_t)be->doorbell;

	/* The last handler out resolves the fault, releasing the closer;
	 * the others only wake it, so it faults again for the next one. */
	if (atomic_fetch_sub(&be->running, 1) == 1)
		uffd_fill_zero(be, bell, be->pager->page_size, false);
	else
		uffd_wake(be, bell, be->pager->page_size);
}

/* A fault that could not be served: the kernel let the access through,
 * so its mappings and the region tree disagree (the program changed the
 * mapping behind the pager, and the event has not been applied yet).
 * Waking lets the kernel decide again. */
static void fault_not_served(struct backend *be, uintptr_t addr, enum fault_result res)
{
	struct upager *pager = be->pager;

	log_warn("uffd: fault at 0x%lx %s; waking it", (unsigned long)addr,
		 res == FAULT_MAPERR ? "in no region" :
		 res == FAULT_ACCERR ? "not allowed by its region" : "could not be served");
	stat_add(&pager->stats.faults_dropped, 1);
	uffd_wake(be, addr & ~(uintptr_t)(pager->page_size - 1), pager->page_size);
}

/* Hand a fault to the worker. Returns false when its queue is full: the
 * faulting thread is then woken to fault again. */
static bool defer_fault(struct backend *be, uintptr_t addr, unsigned int access, uint64_t t0)
{
	bool queued = false;

	pthread_mutex_lock(&be->defer_lock);
	if (be->defer_count < UFFD_DEFER_MAX) {
		be->defer[(be->defer_head + be->defer_count++) % UFFD_DEFER_MAX] =
			(struct deferred){ addr, access, t0 };
		queued = true;
	}
	pthread_cond_signal(&be->defer_cond);
	pthread_mutex_unlock(&be->defer_lock);
	return queued;
}

static void handle_fault(struct backend *be, struct fault_ctx *ctx, const struct uffd_msg *msg)
{
	struct upager *pager = be->pager;
	uintptr_t addr = (uintptr_t)msg->arg.pagefault.address;
	unsigned int access = 0;
	enum fault_result res;
	uint64_t t0 = now_ns();

	if (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE)
		access |= FAULT_WRITE;
	if (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
		access |= FAULT_WP;
	if (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR)
		access |= FAULT_MINOR;
	/* The last handler free to read never waits: it may be the one
	 * that must read the event another thread is held for. */
	ctx->may_block = atomic_fetch_sub(&be->free_handlers, 1) > 1;
	no_spin = !ctx->may_block;
	res = fault_handle(pager, ctx, addr, access);
	atomic_fetch_add(&be->free_handlers, 1);
	if (res == FAULT_DEFER) {
		stat_add(&pager->stats.faults_deferred, 1);
		if (defer_fault(be, addr, access, t0))
			return;
		res = FAULT_FAILED;
	}
	if (res != FAULT_RESOLVED)
		fault_not_served(be, addr, res);
	hist_record(&pager->stats.service_ns, now_ns() - t0);
}

/* Queue the event @m carries, if it is one (read_lock held, so events
 * are queued in the order read). */
static void push_event(struct backend *be, const struct uffd_msg *m)
{
	struct event e;

	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		return;
	case UFFD_EVENT_REMOVE:
		e = (struct event){ .kind = EVENT_REMOVE, .start = m->arg.remove.start,
				    .end = m->arg.remove.end };
		break;
	case UFFD_EVENT_UNMAP:
		e = (struct event){ .kind = EVENT_UNMAP, .start = m->arg.remove.start,
				    .end = m->arg.remove.end };
		break;
	case UFFD_EVENT_REMAP:
		e = (struct event){ .kind = EVENT_REMAP, .start = m->arg.remap.from,
				    .end = m->arg.remap.from + m->arg.remap.len,
				    .to = m->arg.remap.to };
		break;
	default:
		/* Not one we asked for: the number no longer reads our
		 * userfaultfd, or the kernel speaks a language we do not. */
		fdreg_check(be->fd);
		log_error("uffd: unexpected event 0x%x on descriptor %d; ending the process "
			  "rather than leaving a fault unserved", m->event, be->fd);
		abort();
	}
	if (events_push(&be->pager->events, &e)) {
		/* The worker applies it if no fault comes to. */
		pthread_mutex_lock(&be->defer_lock);
		pthread_cond_signal(&be->defer_cond);
		pthread_mutex_unlock(&be->defer_lock);
	}
}

/*
 * Handler thread ends abnormally. The others may carry on; once none is
 * left, every thread that faults on a paged page would wait forever in
 * the kernel, so the process is ended, loudly, instead.
 */
static void handler_died(struct backend *be, const char *call, int err)
{
	log_error("uffd: %s: %s; handler thread exits", call, strerror(-err));
	atomic_fetch_sub(&be->free_handlers, 1);
	if (atomic_fetch_sub(&be->running, 1) == 1) {
		log_error("uffd: every fault handler thread has exited; ending the process "
			  "rather than leaving its faults unserved");
		abort();
	}
}

/* A thread is running its loop: uffd_start() waits for all of them. */
static void thread_started(struct backend *be)
{
	pthread_mutex_lock(&be->defer_lock);
	be->started++;
	pthread_cond_broadcast(&be->defer_cond);
	pthread_mutex_unlock(&be->defer_lock);
}

/*
 * Handlers run as SCHED_BATCH: woken, they do not preempt the thread on
 * their CPU, they wait for it to block or for its time slice to end. A
 * faulting thread's own CPU is idle while it waits, so its handler there
 * still runs at once; what no longer happens is a new message (each wakes
 * every handler) preempting the program thread running on the other CPU
 * for a handler that finds nothing to do (docs/ARCHITECTURE.md, "Where
 * handlers run", has the figures). The policy keeps its fair share of CPU
 * (unlike SCHED_IDLE), so handlers are never starved.
 */
static void batch_scheduled(void)
{
	struct sched_param sp = { 0 };
	int err = pthread_setschedparam(pthread_self(), SCHED_BATCH, &sp);

	if (err)
		log_debug("uffd: handler stays SCHED_OTHER: %s", strerror(err));
}

/* How often an idle handler makes sure its descriptor is still its own
 * (one fstat: nothing beside a second). */
#define IDENTITY_CHECK_MS 1000

static void *handler_main(void *arg)
{
	struct handler *h = arg;
	struct backend *be = h->be;
	uintptr_t bell = (uintptr_t)be->doorbell;
	struct uffd_msg msg;

	batch_scheduled();
	thread_started(be);

	for (;;) {
		struct pollfd pfd = { .fd = be->fd, .events = POLLIN };
		ssize_t n;

		int ready = poll(&pfd, 1, IDENTITY_CHECK_MS);

		if (ready < 0 && errno != EINTR) {
			handler_died(be, "poll", -errno);
			return NULL;
		}
		/* A descriptor put at our number by a raw dup2 (past the
		 * shim) would leave poll waiting on that file, and the
		 * faults on ours unserved forever: look, now and then. */
		if (ready == 0) {
			fdreg_check(be->fd);
			continue;
		}
		/* POLLNVAL: the number is closed; a userfaultfd never reports
		 * POLLERR or POLLHUP once set up. Reading on would either
		 * spin or read the program's file. */
		if (pfd.revents & (POLLNVAL | POLLERR | POLLHUP))
			fdreg_lost(be->fd, -EBADF);
		/* One message a read. A handler that took several (up to 16,
		 * before) served them one after another, the later ones often
		 * for a thread on the other CPU, while that CPU's own handler
		 * found nothing to read. Random first touches from 2 threads on
		 * 2 CPUs: 195-199k pages/s taking up to 16, 269-273k taking
		 * one (p90 24 -> 9 us); one thread, swap-in, re-fault, sort and
		 * the 4-thread program under their caps unchanged. A read costs
		 * ~1 us; a storm of messages is read by every handler. */
		pthread_mutex_lock(&be->read_lock);
		atomic_store(&be->pager->events.reading, 1);
		n = read(be->fd, &msg, sizeof(msg));
		if (n == (ssize_t)sizeof(msg))
			push_event(be, &msg);
		atomic_store(&be->pager->events.reading, 0);
		pthread_mutex_unlock(&be->read_lock);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue; /* another handler took the messages */
			int err = -errno;

			if (err == -EBADF)
				fdreg_lost(be->fd, err);
			fdreg_check(be->fd); /* EISDIR & co: not ours at all */
			handler_died(be, "read", err);
			return NULL;
		}
		if (n != (ssize_t)sizeof(msg)) {
			/* A userfaultfd reads whole messages only. */
			fdreg_check(be->fd);
			log_error("uffd: read %zd bytes from descriptor %d, not a message; "
				  "ending the process", n, be->fd);
			abort();
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		if ((msg.arg.pagefault.address & ~(uint64_t)(be->pager->page_size - 1)) == bell) {
			atomic_fetch_sub(&be->free_handlers, 1);
			ring_doorbell(be);
			return NULL;
		}
		handle_fault(be, h->ctx, &msg);
	}
}

/* The worker: faults deferred by handlers, served in the order read,
 * each after the events read before it; and events on their own. */
static void *worker_main(void *arg)
{
	struct backend *be = arg;
	struct upager *pager = be->pager;

	be->worker_ctx->may_block = true;
	thread_started(be);
	for (;;) {
		struct deferred d;
		bool have = false;
		enum fault_result res;

		pthread_mutex_lock(&be->defer_lock);
		while (!be->worker_stop && !be->defer_count && !events_pending(&pager->events))
			pthread_cond_wait(&be->defer_cond, &be->defer_lock);
		if (be->worker_stop) {
			pthread_mutex_unlock(&be->defer_lock);
			return NULL;
		}
		if (be->defer_count) {
			d = be->defer[be->defer_head];
			be->defer_head = (be->defer_head + 1) % UFFD_DEFER_MAX;
			be->defer_count--;
			have = true;
		}
		pthread_mutex_unlock(&be->defer_lock);
		if (!have) {
			pthread_rwlock_wrlock(&pager->lock);
			events_apply(pager);
			pthread_rwlock_unlock(&pager->lock);
			continue;
		}
		res = fault_handle(pager, be->worker_ctx, d.addr, d.access);
		if (res != FAULT_RESOLVED)
			fault_not_served(be, d.addr, res == FAULT_DEFER ? FAULT_FAILED : res);
		hist_record(&pager->stats.service_ns, now_ns() - d.t0);
	}
}

static void uffd_fence(struct backend *be)
{
	pthread_mutex_lock(&be->read_lock);
	pthread_mutex_unlock(&be->read_lock);
}

static int start_worker(struct backend *be)
{
	sigset_t all, old;
	int err;

	const struct upager_options *o = &be->pager->opts;
	pthread_attr_t attr;

	err = fault_ctx_new(be->pager, &be->worker_ctx);
	if (err)
		return err;
	pthread_attr_init(&attr);
	if (o->flags & UPAGER_OPEN_PIN_HANDLERS) {
		/* With the handlers it serves for, on the CPU after theirs:
		 * not wherever the thread that opened the pager was pinned. */
		cpu_set_t cpus;
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		CPU_ZERO(&cpus);
		CPU_SET((o->handler_cpu + be->nthreads) % (unsigned int)(ncpu > 0 ? ncpu : 1), &cpus);
		pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(&be->worker, &attr, worker_main, be);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err)
		return err;
	pthread_setname_np(be->worker, "upager-worker");
	be->worker_running = true;
	return 0;
}

static void stop_worker(struct backend *be)
{
	if (!be->worker_running)
		return;
	if (getpid() == be->owner) {
		pthread_mutex_lock(&be->defer_lock);
		be->worker_stop = true;
		pthread_cond_signal(&be->defer_cond);
		pthread_mutex_unlock(&be->defer_lock);
		pthread_join(be->worker, NULL);
	}
	be->worker_running = false;
}

static int start_thread(struct backend *be, unsigned int i)
{
	const struct upager_options *o = &be->pager->opts;
	pthread_attr_t attr;
	sigset_t all, old;
	int err;

	pthread_attr_init(&attr);
	if (o->flags & UPAGER_OPEN_PIN_HANDLERS) {
		cpu_set_t cpus;
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		CPU_ZERO(&cpus);
		CPU_SET((o->handler_cpu + i) % (unsigned int)(ncpu > 0 ? ncpu : 1), &cpus);
		pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
	} else if (o->flags & OPT_SPREAD) {
		/* One per CPU the process may use (options.h: OPT_SPREAD). */
		cpu_set_t allowed, cpus;
		unsigned int seen = 0;

		if (!sched_getaffinity(0, sizeof(allowed), &allowed)) {
			for (int c = 0; c < CPU_SETSIZE; c++) {
				if (!CPU_ISSET(c, &allowed))
					continue;
				if (seen++ == i % (unsigned int)CPU_COUNT(&allowed)) {
					CPU_ZERO(&cpus);
					CPU_SET(c, &cpus);
					pthread_attr_setaffinity_np(&attr, sizeof(cpus), &cpus);
					break;
				}
			}
		}
	}
	/* Handler threads take no signals: those are the program's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	be->handlers[i].be = be;
	err = fault_ctx_new(be->pager, &be->handlers[i].ctx);
	if (err) {
		pthread_attr_destroy(&attr);
		return err;
	}
	err = -pthread_create(&be->threads[i], &attr, handler_main, &be->handlers[i]);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (!err)
		pthread_setname_np(be->threads[i], "upager-fault");
	return err;
}

static void stop_threads(struct backend *be)
{
	volatile const char *bell = be->doorbell;

	if (!be->nthreads)
		return;
	if (getpid() == be->owner) {
		mprotect(be->doorbell, be->pager->page_size, PROT_READ);
		(void)*bell; /* returns once the last handler has left */
		for (unsigned int i = 0; i < be->nthreads; i++)
			pthread_join(be->threads[i], NULL);
	}
	be->nthreads = 0;
}

static void uffd_close(struct backend *be)
{
	if (!be)
		return;
	stop_threads(be);
	stop_worker(be);
	for (unsigned int i = 0; i < UFFD_MAX_THREADS; i++)
		fault_ctx_free(be->handlers[i].ctx);
	fault_ctx_free(be->worker_ctx);
	/* Closed before the doorbell is unmapped: an unmap of a range of
	 * a live descriptor with events would wait for a reader. */
	fdreg_close(be->fd);
	fdreg_close(be->staging_fd);
	pthread_cond_destroy(&be->defer_cond);
	pthread_mutex_destroy(&be->defer_lock);
	pthread_mutex_destroy(&be->read_lock);
	if (be->doorbell)
		munmap(be->doorbell, be->pager->page_size);
	if (be->zero_src)
		munmap(be->zero_src, be->zero_src_len);
	pool_map_free(be);
}

static void uffd_forget(struct backend *be)
{
	if (!be)
		return;
	/* The handler threads are the parent's and did not come along;
	 * closing our copy of the descriptor leaves the parent's open. */
	for (unsigned int i = 0; i < UFFD_MAX_THREADS; i++)
		fault_ctx_forget(be->handlers[i].ctx);
	fault_ctx_forget(be->worker_ctx);
	fdreg_close(be->fd);
	fdreg_close(be->staging_fd);
	if (be->doorbell)
		munmap(be->doorbell, be->pager->page_size);
	if (be->zero_src)
		munmap(be->zero_src, be->zero_src_len);
	pool_map_free(be);
}

static int uffd_start(struct backend *be)
{
	int err = 0;

	for (unsigned int i = 0; i < be->pager->opts.handler_threads; i++) {
		err = start_thread(be, i);
		if (err) {
			log_error("uffd: starting handler thread %u: %s", i, strerror(-err));
			break;
		}
		be->nthreads++;
		atomic_fetch_add(&be->running, 1);
		atomic_fetch_add(&be->free_handlers, 1);
	}
	if (!err && (err = start_worker(be)))
		log_error("uffd: starting the worker thread: %s", strerror(-err));
	if (err) {
		stop_threads(be);
		return err;
	}
	/* Return with every thread in its loop, not still being set up by
	 * the C library or a sanitizer runtime: a fork right after (a
	 * forked child that forks again) must not copy a thread stopped
	 * half way through taking an allocator's lock. */
	pthread_mutex_lock(&be->defer_lock);
	while (be->started < be->nthreads + 1)
		pthread_cond_wait(&be->defer_cond, &be->defer_lock);
	pthread_mutex_unlock(&be->defer_lock);
	return 0;
}

static int uffd_open(struct upager *pager, struct backend **out)
{
	struct backend *be = pool_map_calloc(1, sizeof(*be));
	long ps = (long)pager->page_size;
	int err;

	if (!be)
		return -ENOMEM;
	be->pager = pager;
	be->owner = getpid();
	be->staging_fd = -1;
	pthread_mutex_init(&be->read_lock, NULL);
	pthread_mutex_init(&be->defer_lock, NULL);
	pthread_cond_init(&be->defer_cond, NULL);
	/* Features the running kernel lacks are left out here and refused
	 * later, by the mapping that needs them. The events keep the region
	 * tree in step with what the program does to upager's memory
	 * behind its back (events.h). */
	be->fd = uffd_open_negotiated(UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_MOVE |
					      UFFD_FEATURE_POISON | PRIVATE_FEATURES |
					      UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP |
					      UFFD_FEATURE_EVENT_REMAP,
				      &be->features);
	if (be->fd >= 0 && fcntl(be->fd, F_SETFL, O_NONBLOCK) < 0) {
		close(be->fd);
		be->fd = -errno;
	}
	be->fd = fdreg_hide(be->fd, "userfaultfd");
	if (be->fd < 0) {
		err = be->fd;
		log_error("uffd: cannot open a userfaultfd: %s%s", strerror(-err),
			  err == -EPERM ? " (needs CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1,"
					  " or access to /dev/userfaultfd)" : "");
		goto out_free;
	}
	be->zero_src_len = (size_t)pager->opts.fault_around_max * (size_t)ps;
	be->zero_src = mmap(NULL, be->zero_src_len, PROT_READ,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	/* PROT_NONE until close: a stray access by the program (a read just
	 * past one of its regions, say) is a SIGSEGV, not a stop signal. */
	be->doorbell = mmap(NULL, (size_t)ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (be->zero_src == MAP_FAILED || be->doorbell == MAP_FAILED) {
		err = -ENOMEM;
		be->zero_src = be->zero_src == MAP_FAILED ? NULL : be->zero_src;
		be->doorbell = be->doorbell == MAP_FAILED ? NULL : be->doorbell;
		goto out_free;
	}
	err = register_missing(be->fd, (uintptr_t)be->doorbell, (uintptr_t)be->doorbell + (uintptr_t)ps);
	if (err) {
		log_error("uffd: registering the doorbell page: %s", strerror(-err));
		goto out_free;
	}
	*out = be;
	return 0;

out_free:
	uffd_close(be);
	return err;
}

const struct backend_ops uffd_backend_ops = {
	.name = "userfaultfd",
	.open = uffd_open,
	.start = uffd_start,
	.attach = uffd_attach,
	.detach = uffd_detach,
	.fill_zero = uffd_fill_zero,
	.wake = uffd_wake,
	.copy = uffd_copy,
	.move = uffd_move,
	.fence = uffd_fence,
	.cont = uffd_cont,
	.protect = uffd_protect,
	.poison = uffd_poison,
	.close = uffd_close,
	.forget = uffd_forget,
};
