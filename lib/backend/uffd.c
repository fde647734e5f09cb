/* SPDX-License-Identifier: MIT */
/*
 * uffd.c - the userfaultfd mechanism (uffd.h): the kernel reports first
 * touches of registered ranges as messages on a file descriptor, and pages
 * are installed with UFFDIO_ZEROPAGE / UFFDIO_COPY / UFFDIO_MOVE /
 * UFFDIO_CONTINUE. Who reads the messages, on which threads, is the
 * serving model's (serve-threads.c).
 *
 * The kernel keeps enforcing protection on its own VMAs, so an access to no
 * mapping or a forbidden access is signalled by the kernel before
 * userfaultfd is involved; the handler sees only legal first touches,
 * unless the program changed its mappings behind the pager's back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/uffd.h"
#include "core/log.h"
#include "core/stats.h"
#include "os/compat.h"
#include "os/fdreg.h"

/* EAGAIN from a fill means the address space is changing under it; the
 * kernel asks for a retry, and a bounded number of them always suffices
 * unless the program remaps forever. */
#define UFFD_EAGAIN_RETRIES 1000

/* Set in a handler that must not wait: a range ioctl answered EAGAIN
 * (the address space is changing, an event is being reported) returns
 * at once instead of retrying, and the faulting thread is woken to
 * fault again later. */
static __thread bool no_spin;

void uffd_no_spin(bool on)
{
	no_spin = on;
}

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

static int open_negotiated(uint64_t wanted, uint64_t *features)
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

int uffd_register_missing(struct uffd *u, uintptr_t start, uintptr_t end)
{
	return register_range(u->fd, start, end, UFFDIO_REGISTER_MODE_MISSING);
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

int uffd_attach(struct uffd *u, uintptr_t start, uintptr_t end, int how)
{
	int err;

	if (how == BACKEND_STAGING) {
		/* UFFDIO_MOVE needs its destination registered with this
		 * userfaultfd, in any mode. Write-protect mode, never armed,
		 * leaves the staging area's faults to the kernel, so upager's
		 * own reads and writes there never reach a handler. */
		if (!(u->features & UFFD_FEATURE_MOVE) ||
		    !(u->features & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
			return -EOPNOTSUPP;
		/* A descriptor of its own, without events: upager discards
		 * staged pages all the time, and each discard would be an
		 * event a handler must read before the discard returns. */
		if (u->staging_fd < 0) {
			uint64_t f;

			u->staging_fd = open_negotiated(UFFD_FEATURE_MOVE |
							      UFFD_FEATURE_PAGEFAULT_FLAG_WP, &f);
			if (u->staging_fd < 0)
				return u->staging_fd;
			u->staging_fd = fdreg_hide(u->staging_fd, "staging userfaultfd");
		}
		err = register_range(u->staging_fd, start, end, UFFDIO_REGISTER_MODE_WP);
		if (!err) {
			u->staging_start = start;
			u->staging_end = end;
		}
	} else if (how == BACKEND_SHARED) {
		if ((u->features & SHARED_FEATURES) != SHARED_FEATURES)
			return -EOPNOTSUPP;
		err = register_range(u->fd, start, end,
				     UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR);
	} else if (how == BACKEND_PRIVATE) {
		if ((u->features & PRIVATE_FEATURES) != PRIVATE_FEATURES ||
		    !kernel_has_continue_wp())
			return -EOPNOTSUPP;
		err = register_range(u->fd, start, end,
				     UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_MINOR |
				     UFFDIO_REGISTER_MODE_WP);
	} else {
		err = uffd_register_missing(u, start, end);
	}

	if (err)
		log_error("uffd: register 0x%lx-0x%lx: %s", (unsigned long)start,
			  (unsigned long)end, strerror(-err));
	return err;
}

int uffd_detach(struct uffd *u, uintptr_t start, uintptr_t end)
{
	struct uffdio_range range = { .start = start, .len = end - start };

	return ioctl(u->fd, UFFDIO_UNREGISTER, &range) < 0 ? ioctl_err(u->fd) : 0;
}

/*
 * Run a range ioctl (COPY, ZEROPAGE, MOVE) whose struct reports progress
 * in *@done, retrying while the kernel answers EAGAIN with no progress
 * (the address space is changing under it). Returns the bytes handled
 * (> 0; partial progress comes back as EAGAIN with a positive count: the
 * first pages are in and their waiters are awake), or -errno.
 */
static long range_ioctl_fd(struct uffd *u, int fd, unsigned long req, void *arg,
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
		stat_add(u->retried, 1);
		if (no_spin)
			break;
		sched_yield();
	}
	return -EAGAIN;
}

static long range_ioctl(struct uffd *u, unsigned long req, void *arg, __s64 *done,
			size_t len)
{
	return range_ioctl_fd(u, u->fd, req, arg, done, len);
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
static size_t install_retry_len(const struct uffd *u, long ret, size_t len)
{
	size_t ps = u->page_size;

	if (ret != -ENOENT || len <= ps)
		return 0;
	return len / ps / 2 * ps;
}

long uffd_fill_zero(struct uffd *u, uintptr_t start, size_t len,
			   bool writable)
{
	long ret;

	if (writable) {
		/* A private zeroed page now saves the write fault that would
		 * follow a mapped zero page. */
		struct uffdio_copy c = {
			.dst = start,
			.src = (uintptr_t)u->zero_src,
			.len = len <= u->zero_src_len ? len : u->zero_src_len,
		};

		while ((ret = range_ioctl(u, UFFDIO_COPY, &c, &c.copy, c.len)) == -ENOENT &&
		       (c.len = install_retry_len(u, ret, c.len)))
			;
	} else {
		struct uffdio_zeropage z = { .range = { .start = start, .len = len } };

		while ((ret = range_ioctl(u, UFFDIO_ZEROPAGE, &z, &z.zeropage,
					  z.range.len)) == -ENOENT &&
		       (z.range.len = install_retry_len(u, ret, z.range.len)))
			;
	}
	return ret;
}

int uffd_wake(struct uffd *u, uintptr_t start, size_t len)
{
	struct uffdio_range range = { .start = start, .len = len };

	return ioctl(u->fd, UFFDIO_WAKE, &range) < 0 ? ioctl_err(u->fd) : 0;
}

long uffd_copy(struct uffd *u, uintptr_t dst, const void *src, size_t len)
{
	struct uffdio_copy c = { .dst = dst, .src = (uintptr_t)src, .len = len };
	long ret;

	while ((ret = range_ioctl(u, UFFDIO_COPY, &c, &c.copy, c.len)) == -ENOENT &&
	       (c.len = install_retry_len(u, ret, c.len)))
		;
	return ret;
}

long uffd_move(struct uffd *u, uintptr_t dst, uintptr_t src, size_t len)
{
	struct uffdio_move m = { .dst = dst, .src = src, .len = len };
	/* UFFDIO_MOVE goes through the descriptor its destination is
	 * registered with. */
	int fd = dst >= u->staging_start && dst < u->staging_end ? u->staging_fd : u->fd;

	return range_ioctl_fd(u, fd, UFFDIO_MOVE, &m, &m.move, len);
}

long uffd_cont(struct uffd *u, uintptr_t start, size_t len, bool wp)
{
	struct uffdio_continue c = {
		.range = { .start = start, .len = len },
		.mode = wp ? UFFDIO_CONTINUE_MODE_WP : 0,
	};
	long ret;

	while ((ret = range_ioctl(u, UFFDIO_CONTINUE, &c, &c.mapped, c.range.len)) == -ENOENT &&
	       (c.range.len = install_retry_len(u, ret, c.range.len)))
		;
	return ret;
}

int uffd_protect(struct uffd *u, uintptr_t start, size_t len, bool on)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = start, .len = len },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	for (int tries = 0; tries < UFFD_EAGAIN_RETRIES; tries++) {
		if (!ioctl(u->fd, UFFDIO_WRITEPROTECT, &wp))
			return 0;
		if (errno != EAGAIN)
			return ioctl_err(u->fd);
		stat_add(u->retried, 1);
		if (no_spin)
			break;
		sched_yield();
	}
	return -EAGAIN;
}

int uffd_poison(struct uffd *u, uintptr_t addr)
{
	size_t ps = u->page_size;
	struct uffdio_poison p = { .range = { .start = addr & ~(uintptr_t)(ps - 1), .len = ps },
				   .mode = UFFDIO_POISON_MODE_DONTWAKE };

	if (!(u->features & UFFD_FEATURE_POISON))
		return -EOPNOTSUPP;
	return ioctl(u->fd, UFFDIO_POISON, &p) < 0 ? ioctl_err(u->fd) : 0;
}

int uffd_open(struct uffd *u, unsigned long page_size, unsigned int zero_pages,
	      _Atomic uint64_t *retried)
{
	int err;

	*u = (struct uffd){ .fd = -1, .staging_fd = -1, .page_size = page_size,
			    .retried = retried };
	/* Features the running kernel lacks are left out here and refused
	 * later, by the mapping that needs them. The events keep the region
	 * tree in step with what the program does to upager's memory
	 * behind its back (events.h). */
	u->fd = open_negotiated(UFFD_FEATURE_THREAD_ID | UFFD_FEATURE_MOVE |
					UFFD_FEATURE_POISON | PRIVATE_FEATURES |
					UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP |
					UFFD_FEATURE_EVENT_REMAP,
				&u->features);
	if (u->fd >= 0 && fcntl(u->fd, F_SETFL, O_NONBLOCK) < 0) {
		close(u->fd);
		u->fd = -errno;
	}
	u->fd = fdreg_hide(u->fd, "userfaultfd");
	if (u->fd < 0) {
		err = u->fd;
		log_error("uffd: cannot open a userfaultfd: %s%s", strerror(-err),
			  err == -EPERM ? " (needs CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1,"
					  " or access to /dev/userfaultfd)" : "");
		u->fd = -1;
		return err;
	}
	u->zero_src_len = (size_t)zero_pages * page_size;
	u->zero_src = mmap(NULL, u->zero_src_len, PROT_READ,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (u->zero_src == MAP_FAILED) {
		u->zero_src = NULL;
		uffd_close(u);
		return -ENOMEM;
	}
	return 0;
}

void uffd_close(struct uffd *u)
{
	fdreg_close(u->fd);
	fdreg_close(u->staging_fd);
	u->fd = u->staging_fd = -1;
	if (u->zero_src)
		munmap(u->zero_src, u->zero_src_len);
	u->zero_src = NULL;
}
