/* SPDX-License-Identifier: MIT */
/*
 * serve-threads.c - the userfaultfd backend's serving model: threads that
 * read the descriptor's messages and hand faults to the engine
 * (serve_fault()) and events to its sink (serve.h). Installing is the
 * mechanism's (uffd.c); this file pairs the two as uffd_backend_ops.
 *
 * Handler threads wait in poll(2) and read from a non-blocking descriptor
 * under read_lock (so events are queued in the order read). A handler
 * that may not wait (the last one free to read) has the faults it cannot
 * serve at once deferred to the worker thread, which also has queued
 * events applied when no fault comes to do it. To stop the handlers
 * without a second file descriptor to poll, the backend keeps a
 * "doorbell" page registered with the same userfaultfd (and inaccessible
 * until then): closing makes it readable and touches it, and each
 * handler that reads the doorbell fault exits, the last one resolving
 * the fault so the closing thread can go on.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/serve.h"
#include "backend/uffd.h"
#include "core/log.h"
#include "core/options.h"
#include "core/pool.h"
#include "os/clock.h"
#include "os/compat.h"
#include "os/fdreg.h"
#include "os/thread.h"

#define UFFD_MAX_THREADS 64

/* Faults a handler could not serve without waiting, for the worker. */
#define UFFD_DEFER_MAX 1024

struct deferred {
	uintptr_t addr;
	unsigned int access;
	uint64_t t0;           /* when it was read, for the service time */
};

struct backend {
	struct upager *pager;
	struct uffd u;         /* the mechanism: descriptors, features */
	unsigned long page_size;
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

/* A handler read the doorbell fault and is about to exit. */
static void ring_doorbell(struct backend *be)
{
	uintptr_t bell = (uintptr_t)be->doorbell;

	/* The last handler out resolves the fault, releasing the closer;
	 * the others only wake it, so it faults again for the next one. */
	if (atomic_fetch_sub(&be->running, 1) == 1)
		uffd_fill_zero(&be->u, bell, be->page_size, false);
	else
		uffd_wake(&be->u, bell, be->page_size);
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
	stat_add(&serve_stats(pager)->faults_dropped, 1);
	uffd_wake(&be->u, addr & ~(uintptr_t)(be->page_size - 1), be->page_size);
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
	uint64_t t0 = clock_now_ns();
	bool may_block;

	if (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE)
		access |= FAULT_WRITE;
	if (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
		access |= FAULT_WP;
	if (msg->arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_MINOR)
		access |= FAULT_MINOR;
	/* The last handler free to read never waits: it may be the one
	 * that must read the event another thread is held for. */
	may_block = atomic_fetch_sub(&be->free_handlers, 1) > 1;
	uffd_no_spin(!may_block);
	res = serve_fault(pager, ctx, addr, access, may_block);
	atomic_fetch_add(&be->free_handlers, 1);
	if (res == FAULT_DEFER) {
		stat_add(&serve_stats(pager)->faults_deferred, 1);
		if (defer_fault(be, addr, access, t0))
			return;
		res = FAULT_FAILED;
	}
	if (res != FAULT_RESOLVED)
		fault_not_served(be, addr, res);
	hist_record(&serve_stats(pager)->service_ns, clock_now_ns() - t0);
}

/* Queue the event @m carries, if it is one (read_lock held, so events
 * are queued in the order read). */
static void push_event(struct backend *be, const struct uffd_msg *m)
{
	bool queued;

	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		return;
	case UFFD_EVENT_REMOVE:
		queued = serve_removed(be->pager, m->arg.remove.start, m->arg.remove.end);
		break;
	case UFFD_EVENT_UNMAP:
		queued = serve_unmapped(be->pager, m->arg.remove.start, m->arg.remove.end);
		break;
	case UFFD_EVENT_REMAP:
		queued = serve_remapped(be->pager, m->arg.remap.from, m->arg.remap.len,
					m->arg.remap.to);
		break;
	default:
		/* Not one we asked for: the number no longer reads our
		 * userfaultfd, or the kernel speaks a language we do not. */
		fdreg_check(be->u.fd);
		log_error("uffd: unexpected event 0x%x on descriptor %d; ending the process "
			  "rather than leaving a fault unserved", m->event, be->u.fd);
		abort();
	}
	if (queued) {
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
		struct pollfd pfd = { .fd = be->u.fd, .events = POLLIN };
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
			fdreg_check(be->u.fd);
			continue;
		}
		/* POLLNVAL: the number is closed; a userfaultfd never reports
		 * POLLERR or POLLHUP once set up. Reading on would either
		 * spin or read the program's file. */
		if (pfd.revents & (POLLNVAL | POLLERR | POLLHUP))
			fdreg_lost(be->u.fd, -EBADF);
		/* One message a read. A handler that took several served them
		 * one after another, the later ones often for a thread on the
		 * other CPU, while that CPU's own handler found nothing to
		 * read (docs/BENCHMARKS.md, "Design figures": one message a
		 * read). A read is cheap beside a fault, and a storm of
		 * messages is read by every handler. */
		pthread_mutex_lock(&be->read_lock);
		serve_reading(be->pager, true);
		n = read(be->u.fd, &msg, sizeof(msg));
		if (n == (ssize_t)sizeof(msg))
			push_event(be, &msg);
		serve_reading(be->pager, false);
		pthread_mutex_unlock(&be->read_lock);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue; /* another handler took the messages */
			int err = -errno;

			if (err == -EBADF)
				fdreg_lost(be->u.fd, err);
			fdreg_check(be->u.fd); /* EISDIR & co: not ours at all */
			handler_died(be, "read", err);
			return NULL;
		}
		if (n != (ssize_t)sizeof(msg)) {
			/* A userfaultfd reads whole messages only. */
			fdreg_check(be->u.fd);
			log_error("uffd: read %zd bytes from descriptor %d, not a message; "
				  "ending the process", n, be->u.fd);
			abort();
		}
		if (msg.event != UFFD_EVENT_PAGEFAULT)
			continue;
		if ((msg.arg.pagefault.address & ~(uint64_t)(be->page_size - 1)) == bell) {
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

	thread_started(be);
	for (;;) {
		struct deferred d;
		bool have = false;
		enum fault_result res;

		pthread_mutex_lock(&be->defer_lock);
		while (!be->worker_stop && !be->defer_count && !serve_events_pending(pager))
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
			serve_events_apply(pager);
			continue;
		}
		res = serve_fault(pager, be->worker_ctx, d.addr, d.access, true);
		if (res != FAULT_RESOLVED)
			fault_not_served(be, d.addr, res == FAULT_DEFER ? FAULT_FAILED : res);
		hist_record(&serve_stats(pager)->service_ns, clock_now_ns() - d.t0);
	}
}

static void threads_fence(struct backend *be)
{
	pthread_mutex_lock(&be->read_lock);
	pthread_mutex_unlock(&be->read_lock);
}

/* Threads made with @attr run on @cpu only. */
static void attr_on_cpu(pthread_attr_t *attr, unsigned int cpu)
{
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	pthread_attr_setaffinity_np(attr, sizeof(cpus), &cpus);
}

/* How many CPUs are online (1 when that cannot be told). */
static unsigned int online_cpus(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n > 0 ? (unsigned int)n : 1;
}

static int start_worker(struct backend *be)
{
	int err;

	const struct upager_options *o = serve_options(be->pager);
	pthread_attr_t attr;

	err = serve_ctx_new(be->pager, &be->worker_ctx);
	if (err)
		return err;
	pthread_attr_init(&attr);
	if (o->flags & UPAGER_OPEN_PIN_HANDLERS) {
		/* With the handlers it serves for, on the CPU after theirs:
		 * not wherever the thread that opened the pager was pinned. */
		attr_on_cpu(&attr, (o->handler_cpu + be->nthreads) % online_cpus());
	}
	err = thread_start(&be->worker, &attr, worker_main, be);
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
	if (getpid() == be->owner)
		thread_stop(be->worker, &be->defer_lock, &be->defer_cond, &be->worker_stop);
	be->worker_running = false;
}

static int start_thread(struct backend *be, unsigned int i)
{
	const struct upager_options *o = serve_options(be->pager);
	pthread_attr_t attr;
	int err;

	pthread_attr_init(&attr);
	if (o->flags & UPAGER_OPEN_PIN_HANDLERS) {
		attr_on_cpu(&attr, (o->handler_cpu + i) % online_cpus());
	} else if (o->flags & OPT_SPREAD) {
		/* One per CPU the process may use (options.h: OPT_SPREAD). */
		cpu_set_t allowed;
		unsigned int seen = 0;

		if (!sched_getaffinity(0, sizeof(allowed), &allowed)) {
			for (int c = 0; c < CPU_SETSIZE; c++) {
				if (!CPU_ISSET(c, &allowed))
					continue;
				if (seen++ == i % (unsigned int)CPU_COUNT(&allowed)) {
					attr_on_cpu(&attr, (unsigned int)c);
					break;
				}
			}
		}
	}
	be->handlers[i].be = be;
	err = serve_ctx_new(be->pager, &be->handlers[i].ctx);
	if (err) {
		pthread_attr_destroy(&attr);
		return err;
	}
	/* Handler threads take no signals: those are the program's. */
	err = thread_start(&be->threads[i], &attr, handler_main, &be->handlers[i]);
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
		mprotect(be->doorbell, be->page_size, PROT_READ);
		(void)*bell; /* returns once the last handler has left */
		for (unsigned int i = 0; i < be->nthreads; i++)
			pthread_join(be->threads[i], NULL);
	}
	be->nthreads = 0;
}

static void threads_close(struct backend *be)
{
	if (!be)
		return;
	stop_threads(be);
	stop_worker(be);
	for (unsigned int i = 0; i < UFFD_MAX_THREADS; i++)
		serve_ctx_free(be->handlers[i].ctx);
	serve_ctx_free(be->worker_ctx);
	/* Closed before the doorbell is unmapped: an unmap of a range of
	 * a live descriptor with events would wait for a reader. */
	uffd_close(&be->u);
	pthread_cond_destroy(&be->defer_cond);
	pthread_mutex_destroy(&be->defer_lock);
	pthread_mutex_destroy(&be->read_lock);
	if (be->doorbell)
		munmap(be->doorbell, be->page_size);
	pool_map_free(be);
}

static void threads_forget(struct backend *be)
{
	if (!be)
		return;
	/* The handler threads are the parent's and did not come along;
	 * closing our copy of the descriptor leaves the parent's open. */
	for (unsigned int i = 0; i < UFFD_MAX_THREADS; i++)
		serve_ctx_forget(be->handlers[i].ctx);
	serve_ctx_forget(be->worker_ctx);
	uffd_close(&be->u);
	if (be->doorbell)
		munmap(be->doorbell, be->page_size);
	pool_map_free(be);
}
static int threads_start(struct backend *be)
{
	int err = 0;

	for (unsigned int i = 0; i < serve_options(be->pager)->handler_threads; i++) {
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

static int threads_open(struct upager *pager, struct backend **out)
{
	struct backend *be = pool_map_calloc(1, sizeof(*be));
	int err;

	if (!be)
		return -ENOMEM;
	be->pager = pager;
	be->page_size = serve_page_size(pager);
	be->owner = getpid();
	pthread_mutex_init(&be->read_lock, NULL);
	pthread_mutex_init(&be->defer_lock, NULL);
	pthread_cond_init(&be->defer_cond, NULL);
	err = uffd_open(&be->u, be->page_size, serve_options(pager)->fault_around_max,
			&serve_stats(pager)->faults_retried);
	if (err) {
		/* Nothing of the mechanism's to close. */
		be->u.fd = be->u.staging_fd = -1;
		goto out_free;
	}
	/* PROT_NONE until close: a stray access by the program (a read just
	 * past one of its regions, say) is a SIGSEGV, not a stop signal. */
	be->doorbell = mmap(NULL, be->page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (be->doorbell == MAP_FAILED) {
		err = -ENOMEM;
		be->doorbell = NULL;
		goto out_free;
	}
	err = uffd_register_missing(&be->u, (uintptr_t)be->doorbell,
				    (uintptr_t)be->doorbell + be->page_size);
	if (err) {
		log_error("uffd: registering the doorbell page: %s", strerror(-err));
		goto out_free;
	}
	*out = be;
	return 0;

out_free:
	threads_close(be);
	return err;
}

/* Installing is the mechanism's, unchanged by how faults are served. */
static int threads_attach(struct backend *be, uintptr_t start, uintptr_t end, int how)
{
	return uffd_attach(&be->u, start, end, how);
}

static int threads_detach(struct backend *be, uintptr_t start, uintptr_t end)
{
	return uffd_detach(&be->u, start, end);
}

static long threads_fill_zero(struct backend *be, uintptr_t start, size_t len, bool writable)
{
	return uffd_fill_zero(&be->u, start, len, writable);
}

static int threads_wake(struct backend *be, uintptr_t start, size_t len)
{
	return uffd_wake(&be->u, start, len);
}

static long threads_copy(struct backend *be, uintptr_t dst, const void *src, size_t len)
{
	return uffd_copy(&be->u, dst, src, len);
}

static long threads_move(struct backend *be, uintptr_t dst, uintptr_t src, size_t len)
{
	return uffd_move(&be->u, dst, src, len);
}

static long threads_cont(struct backend *be, uintptr_t start, size_t len, bool wp)
{
	return uffd_cont(&be->u, start, len, wp);
}

static int threads_protect(struct backend *be, uintptr_t start, size_t len, bool on)
{
	return uffd_protect(&be->u, start, len, on);
}

static int threads_poison(struct backend *be, uintptr_t addr)
{
	return uffd_poison(&be->u, addr);
}

const struct backend_ops uffd_backend_ops = {
	.name = "userfaultfd",
	.open = threads_open,
	.start = threads_start,
	.attach = threads_attach,
	.detach = threads_detach,
	.fill_zero = threads_fill_zero,
	.wake = threads_wake,
	.copy = threads_copy,
	.move = threads_move,
	.fence = threads_fence,
	.cont = threads_cont,
	.protect = threads_protect,
	.poison = threads_poison,
	.close = threads_close,
	.forget = threads_forget,
};
