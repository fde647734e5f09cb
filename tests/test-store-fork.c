/* SPDX-License-Identifier: MIT */
/*
 * test-store-fork.c - the swap store shared by forked processes, against
 * a real file system: inherited references, dead and exec'd holders
 * reaped, children that never became holders, concurrent allocation,
 * running out of holders, grandchildren.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "store-helpers.h"
#include "store/store.h"

/* ---- processes ------------------------------------------------------------ */

/*
 * fork() bracketed by the store's protocol, as the pager's atfork handlers
 * bracket it. Returns the child's pid in the parent (with prepare's result
 * in *prepare_err) and 0 in the child, which has become a holder or not
 * (store_fork_child()'s result in *child_err). A child reports only
 * through its exit code, and dies with the test: a store bug must not
 * leave it blocked forever, holding the runner's output open.
 */
static pid_t fork_store(struct store *s, int *prepare_err, int *child_err)
{
	pid_t parent = getpid();
	int err = store_fork_prepare(s);
	pid_t pid = fork();

	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
			_exit(99);
		*child_err = store_fork_child(s);
		return 0;
	}
	store_fork_parent(s);
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (prepare_err)
		*prepare_err = err;
	else
		cr_assert_eq(err, 0, "store_fork_prepare: %s", strerror(-err));
	return pid;
}

/* The exit code of @pid, which must exit rather than die. */
static int wait_exit(pid_t pid)
{
	int status;

	cr_assert_eq(waitpid(pid, &status, 0), pid, "waitpid: %s", strerror(errno));
	cr_assert(WIFEXITED(status), "child %d died of signal %d", (int)pid,
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return WEXITSTATUS(status);
}

static void child_ok(pid_t pid)
{
	int code = wait_exit(pid);

	cr_assert_eq(code, 0, "the child failed its check %d", code);
}

/* In a child: leave with code @code unless @ok. */
#define CHILD_CHECK(ok, code)      \
	do {                       \
		if (!(ok))         \
			_exit(code); \
	} while (0)

static void pipe_new(int fds[2])
{
	cr_assert_eq(pipe2(fds, O_CLOEXEC), 0, "pipe: %s", strerror(errno));
}

/* One byte through a pipe: a step of a two-process protocol. */
static bool pipe_send(int fd)
{
	return write(fd, "x", 1) == 1;
}

static bool pipe_wait(int fd)
{
	char c;

	return read(fd, &c, 1) == 1;
}

/* Allocate @n slots and write page (tag = slot, seed) to each, in batches
 * as reclaim does. Returns 0 or the first error. */
static int alloc_and_write(struct store *s, struct store_io *io, unsigned int n,
			   uint64_t seed, uint64_t *slots)
{
	char *buf = pages_new(MAX_BATCH);
	void *bp[MAX_BATCH];
	int err = 0;

	for (unsigned int done = 0; done < n && !err;) {
		unsigned int want = n - done < MAX_BATCH ? n - done : MAX_BATCH;
		int got = store_alloc(s, want, slots + done);

		if (got < 0) {
			err = got;
			break;
		}
		for (int i = 0; i < got; i++) {
			bp[i] = buf + (size_t)i * PAGE;
			pattern_fill(bp[i], slots[done + (unsigned int)i], seed);
		}
		err = store_write(io, slots + done, bp, (unsigned int)got);
		done += (unsigned int)got;
	}
	pages_free(buf, MAX_BATCH);
	return err;
}

/* Read back @n slots written by alloc_and_write(): 0 when all are intact
 * and verified, else a nonzero count of the pages that are not. */
static unsigned int read_and_check(struct store *s, struct store_io *io, unsigned int n,
				   uint64_t seed, const uint64_t *slots)
{
	char *buf = pages_new(MAX_BATCH), *want = pages_new(1);
	void *bp[MAX_BATCH];
	int res[MAX_BATCH];
	unsigned int bad = 0;

	for (unsigned int done = 0; done < n; done += MAX_BATCH) {
		unsigned int m = n - done < MAX_BATCH ? n - done : MAX_BATCH;

		for (unsigned int i = 0; i < m; i++)
			bp[i] = buf + (size_t)i * PAGE;
		store_read(io, slots + done, bp, m, res);
		for (unsigned int i = 0; i < m; i++) {
			pattern_fill(want, slots[done + i], seed);
			if (res[i] || memcmp(bp[i], want, PAGE))
				bad++;
		}
	}
	pages_free(buf, MAX_BATCH);
	pages_free(want, 1);
	(void)s;
	return bad;
}

static void put_all(struct store *s, const uint64_t *slots, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		store_put(s, slots[i]);
}

/*
 * In a child of fork_store() (@child_err its result): leave the parent's
 * ring alone, open our own and write @n new slots stamped @seed into
 * @slots. Exits 10 to 12 on failure; returns the child's I/O context.
 */
static struct store_io *child_writes(struct store *s, struct store_io *parent_io,
				     int child_err, unsigned int n, uint64_t seed, uint64_t *slots)
{
	struct store_io *cio;

	CHILD_CHECK(child_err == 0, 10);
	store_io_forget(parent_io);
	CHILD_CHECK(store_io_new(s, 0, &cio) == 0, 11);
	CHILD_CHECK(alloc_and_write(s, cio, n, seed, slots) == 0, 12);
	return cio;
}

/* Every slot is free again, and this process is the store's only holder. */
static void assert_empty_alone(struct store *s)
{
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	cr_assert_eq(stats_of(s).holders, 1);
}

Test(store, child_keeps_a_slot_its_parent_put, .timeout = 30)
{
	enum { N = 8 };
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t slots[N];
	int ready[2], go[2], child_err = 0;
	pid_t pid;

	s = open_store_in(&d, &p, 4);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(alloc_and_write(s, io, N, 21, slots), 0);
	pipe_new(ready);
	pipe_new(go);

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		struct store_io *cio;
		struct store_stats st;

		CHILD_CHECK(child_err == 0, 10);
		/* The parent's ring is the parent's. */
		store_io_forget(io);
		CHILD_CHECK(store_refcount(s, slots[0]) == 2, 11);
		CHILD_CHECK(pipe_send(ready[1]) && pipe_wait(go[0]), 12);
		/* The parent has put every slot: ours keep them. */
		CHILD_CHECK(store_refcount(s, slots[0]) == 1, 13);
		store_stats_read(s, &st);
		CHILD_CHECK(st.slots_in_use == N && st.holders == 2, 14);
		CHILD_CHECK(st.pages_written == 0, 15); /* the parent's, not ours */
		CHILD_CHECK(store_io_new(s, 0, &cio) == 0, 16);
		CHILD_CHECK(read_and_check(s, cio, N, 21, slots) == 0, 17);
		store_stats_read(s, &st);
		CHILD_CHECK(st.pages_read == N && st.checksum_failures == 0, 19);
		put_all(s, slots, N);
		store_stats_read(s, &st);
		CHILD_CHECK(st.slots_in_use == 0, 20);
		store_io_free(cio);
		store_close(s);
		_exit(0);
	}
	cr_assert(pipe_wait(ready[0]));
	cr_assert_eq(store_refcount(s, slots[0]), 2, "the child holds it too");
	put_all(s, slots, N);
	cr_assert_eq(store_refcount(s, slots[0]), 1, "the child's reference");
	cr_assert_eq(stats_of(s).slots_in_use, N, "still in use: the child holds them");
	cr_assert_eq(stats_of(s).holders, 2);
	cr_assert(pipe_send(go[1]));
	child_ok(pid);
	assert_empty_alone(s);
	cr_assert_eq(store_reap(s), 0, "the child closed: nothing to reap");
	store_io_free(io);
	close_store_in(s, p, &d);
}

/*
 * A child that exits without closing the store: reaping drops its
 * references and frees exactly the slots only it held (those it inherited
 * and the parent has put since, and its own), and their clusters are
 * returned to the file system.
 */
Test(store, dead_child_is_reaped, .timeout = 30)
{
	enum { A = 100, B = 100, C = 150 };
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t a[A], b[B];
	int done[2], child_err = 0;
	upager_log_fn old = upager_set_log(capture_log);
	char want[128];
	pid_t pid;

	s = open_store_in(&d, &p, 16);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(alloc_and_write(s, io, A, 1, a), 0);
	cr_assert_eq(alloc_and_write(s, io, B, 2, b), 0);
	pipe_new(done);

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		uint64_t c[C];

		child_writes(s, io, child_err, C, 3, c);
		/* Half of A put: the parent still holds those. */
		put_all(s, a, A / 2);
		CHILD_CHECK(pipe_send(done[1]), 13);
		_exit(0); /* no store_close() */
	}
	put_all(s, b, B); /* B: now the child's alone */
	cr_assert(pipe_wait(done[0]));
	child_ok(pid);
	cr_assert_eq(store_reap(s), B + C, "B and the child's own C, nothing of A");
	snprintf(want, sizeof(want), "store: reaped holder 1 (pid %d): %u slots", (int)pid,
		 B + C);
	cr_assert_str_eq(last_info, want);
	cr_assert_eq(stats_of(s).slots_in_use, A);
	cr_assert_eq(stats_of(s).holders, 1);
	cr_assert_eq(store_refcount(s, a[0]), 1);
	cr_assert_eq(read_and_check(s, io, A, 1, a), 0, "A intact");
	cr_assert_eq(store_reap(s), 0, "reaped once");

	put_all(s, a, A);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	cr_assert_lt(blocks_of(s) * 512, CLUSTER_BYTES, "%" PRIu64 " blocks left", blocks_of(s));
	cr_assert_eq(atomic_load(&log_errors), 0, "%s", last_error);
	store_io_free(io);
	close_store_in(s, p, &d);
	upager_set_log(old);
}

/*
 * exec drops the child's hold even though the process lives on: the new
 * program (cat, waiting on a pipe) knows nothing of the store.
 */
Test(store, exec_child_is_reaped, .timeout = 30)
{
	enum { A = 40, C = 70 };
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t a[A];
	int in[2], execd[2], child_err = 0;
	char c;
	pid_t pid;

	s = open_store_in(&d, &p, 8);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(alloc_and_write(s, io, A, 4, a), 0);
	cr_assert_eq(pipe(in), 0); /* cat's stdin: not close-on-exec */
	pipe_new(execd);           /* closed by the exec */

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		uint64_t cs[C];
		int null = open("/dev/null", O_WRONLY);

		child_writes(s, io, child_err, C, 5, cs);
		CHILD_CHECK(null >= 0, 13);
		CHILD_CHECK(dup2(in[0], 0) == 0 && dup2(null, 1) == 1, 14);
		close(in[1]);
		execl("/bin/cat", "cat", (char *)NULL);
		_exit(15);
	}
	close(in[0]);
	close(execd[1]);
	cr_assert_eq(read(execd[0], &c, 1), 0, "EOF: the child has exec'd");
	put_all(s, a, A);
	/* cat is alive, and the store does not know it. */
	cr_assert_eq(kill(pid, 0), 0);
	cr_assert_eq(store_reap(s), A + C);
	assert_empty_alone(s);
	cr_assert_lt(blocks_of(s) * 512, CLUSTER_BYTES, "%" PRIu64 " blocks left", blocks_of(s));
	close(in[1]); /* cat ends */
	child_ok(pid);
	store_io_free(io);
	close_store_in(s, p, &d);
}

/*
 * Parent and child allocate and write at the same time, each pages
 * stamped with its own pid and the slot: no slot is handed to both, and
 * once both are done each reads its own pages back intact.
 */
#define EACH 2000u

Test(store, parent_and_child_allocate_concurrently, .timeout = 60)
{
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t *mine = calloc(EACH, sizeof(*mine)), *theirs;
	uint8_t *owner;
	unsigned int mixed = 0;
	int go[2], done[2], check[2], child_err = 0;
	pid_t pid;

	s = open_store_in(&d, &p, 2 * EACH / CLUSTER + 4);
	cr_assert_eq(store_io_new(s, 16, &io), 0);
	/* Where the child tells its slots. */
	theirs = mmap(NULL, EACH * sizeof(*theirs), PROT_READ | PROT_WRITE,
		      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(theirs, MAP_FAILED);
	pipe_new(go);
	pipe_new(done);
	pipe_new(check);

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		struct store_io *cio;
		uint64_t seed = (uint64_t)getpid();

		CHILD_CHECK(child_err == 0, 10);
		store_io_forget(io);
		CHILD_CHECK(store_io_new(s, 16, &cio) == 0, 11);
		CHILD_CHECK(pipe_wait(go[0]), 12);
		CHILD_CHECK(alloc_and_write(s, cio, EACH, seed, theirs) == 0, 13);
		CHILD_CHECK(pipe_send(done[1]) && pipe_wait(check[0]), 14);
		CHILD_CHECK(read_and_check(s, cio, EACH, seed, theirs) == 0, 15);
		store_io_free(cio);
		store_close(s);
		_exit(0);
	}
	cr_assert(pipe_send(go[1]));
	cr_assert_eq(alloc_and_write(s, io, EACH, (uint64_t)getpid(), mine), 0);
	cr_assert(pipe_wait(done[0]));
	cr_assert_eq(stats_of(s).slots_in_use, 2 * EACH);
	cr_assert_eq(stats_of(s).slots_peak, 2 * EACH);

	owner = calloc(stats_of(s).capacity_slots, 1);
	for (unsigned int i = 0; i < EACH; i++) {
		cr_assert_eq(owner[mine[i]], 0, "slot %" PRIu64 " twice", mine[i]);
		owner[mine[i]] = 1;
	}
	for (unsigned int i = 0; i < EACH; i++) {
		cr_assert_eq(owner[theirs[i]], 0, "slot %" PRIu64 " given to both (or twice)",
			     theirs[i]);
		owner[theirs[i]] = 2;
	}
	/* How much they met: clusters holding slots of both. */
	for (uint64_t c = 0; c < stats_of(s).capacity_slots / CLUSTER; c++) {
		unsigned int seen = 0;

		for (uint64_t i = c * CLUSTER; i < (c + 1) * CLUSTER; i++)
			seen |= owner[i];
		mixed += seen == 3;
	}
	cr_log_info("%u clusters hold slots of both processes", mixed);

	cr_assert(pipe_send(check[1]));
	cr_assert_eq(read_and_check(s, io, EACH, (uint64_t)getpid(), mine), 0);
	child_ok(pid);
	cr_assert_eq(stats_of(s).slots_in_use, EACH, "the child closed: ours are left");
	put_all(s, mine, EACH);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	free(owner);
	munmap(theirs, EACH * sizeof(*theirs));
	free(mine);
	store_io_free(io);
	close_store_in(s, p, &d);
}

/*
 * STORE_HOLDERS processes (this one and 63 children kept alive) use every
 * holder: the next fork gets -EAGAIN, and its child, no holder, fails
 * every call cleanly and changes nothing of anybody's slots.
 */
Test(store, holders_run_out, .timeout = 60)
{
	struct tmpdir d;
	char *p;
	struct store *s;
	uint64_t slot, spare;
	pid_t kids[STORE_HOLDERS - 1], pid;
	int ready[2], release[2], prep_err = 0, child_err = 0;
	upager_log_fn old = upager_set_log(capture_log);

	s = open_store_in(&d, &p, 2);
	cr_assert_eq(store_alloc(s, 1, &slot), 1);
	pipe_new(ready);
	pipe_new(release);
	for (unsigned int i = 0; i < STORE_HOLDERS - 1; i++) {
		kids[i] = fork_store(s, NULL, &child_err);
		if (kids[i] == 0) {
			CHILD_CHECK(child_err == 0, 10);
			CHILD_CHECK(pipe_send(ready[1]), 11);
			close(release[1]);
			pipe_wait(release[0]); /* EOF when released */
			_exit(0);
		}
		cr_assert(pipe_wait(ready[0]), "child %u", i);
	}
	cr_assert_eq(stats_of(s).holders, STORE_HOLDERS);
	cr_assert_eq(store_refcount(s, slot), STORE_HOLDERS, "every child holds it");

	pid = fork_store(s, &prep_err, &child_err);
	if (pid == 0) {
		struct store_io *cio = NULL;
		uint64_t got;

		CHILD_CHECK(child_err == -EAGAIN, 20);
		CHILD_CHECK(store_alloc(s, 1, &got) == -EAGAIN, 21);
		CHILD_CHECK(store_io_new(s, 0, &cio) == -EAGAIN && !cio, 22);
		store_put(s, slot);
		store_get(s, slot);
		CHILD_CHECK(store_refcount(s, slot) == STORE_HOLDERS, 23);
		CHILD_CHECK(!store_slot_matches(s, slot, pages_new(1)), 24);
		CHILD_CHECK(store_reap(s) == 0, 25);
		CHILD_CHECK(store_fork_prepare(s) == -EAGAIN, 26);
		store_fork_parent(s);
		store_close(s);
		_exit(0);
	}
	cr_assert_eq(prep_err, -EAGAIN);
	child_ok(pid);
	cr_assert_eq(store_refcount(s, slot), STORE_HOLDERS, "the holderless child changed nothing");
	cr_assert_eq(stats_of(s).holders, STORE_HOLDERS);
	cr_assert_eq(atomic_load(&log_errors), 0, "%s", last_error);

	/* The children end without closing: every holder is reaped. */
	close(release[1]);
	for (unsigned int i = 0; i < STORE_HOLDERS - 1; i++)
		child_ok(kids[i]);
	cr_assert_eq(store_reap(s), 0, "the slot is still ours");
	cr_assert_eq(stats_of(s).holders, 1);
	cr_assert_eq(store_refcount(s, slot), 1);
	/* And holders are there again for the next fork. */
	pid = fork_store(s, NULL, &child_err);
	if (pid == 0)
		_exit(child_err == 0 ? 0 : 30);
	child_ok(pid);
	cr_assert_eq(store_alloc(s, 1, &spare), 1);
	store_put(s, spare);
	store_put(s, slot);
	cr_assert_eq(stats_of(s).slots_in_use, 0);
	close_store_in(s, p, &d);
	upager_set_log(old);
}

/* A child's store_close() gives its references back at once: no reaping. */
Test(store, child_close_gives_back, .timeout = 30)
{
	enum { A = 100, C = 50 };
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t a[A];
	int closed[2], leave[2], child_err = 0;
	upager_log_fn old = upager_set_log(capture_log);
	pid_t pid;

	s = open_store_in(&d, &p, 8);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(alloc_and_write(s, io, A, 6, a), 0);
	pipe_new(closed);
	pipe_new(leave);

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		uint64_t c[C];
		struct store_io *cio = child_writes(s, io, child_err, C, 7, c);

		close(leave[1]);
		store_io_free(cio);
		store_close(s);
		CHILD_CHECK(pipe_send(closed[1]), 13);
		pipe_wait(leave[0]); /* alive while the parent looks */
		_exit(0);
	}
	put_all(s, a, A); /* the child's, until it closes */
	cr_assert(pipe_wait(closed[0]));
	cr_assert_eq(store_reap(s), 0, "nothing left to reap");
	assert_empty_alone(s);
	cr_assert_eq(last_info[0], 0, "no holder was reaped: %s", last_info);
	cr_assert_lt(blocks_of(s) * 512, CLUSTER_BYTES, "%" PRIu64 " blocks left", blocks_of(s));
	close(leave[1]);
	child_ok(pid);
	store_io_free(io);
	close_store_in(s, p, &d);
	upager_set_log(old);
}

/*
 * A child that never became a holder: fork() failed after the prepare
 * (the parent handler runs all the same), or the child died before
 * store_fork_child(). Its holder is reaped, and the slots it would have
 * inherited are freed once the parent puts them.
 */
Test(store, unborn_children_are_reaped, .timeout = 30)
{
	enum { A = 30 };
	struct tmpdir d;
	char *p;
	struct store *s;
	uint64_t a[A];
	pid_t pid;

	s = open_store_in(&d, &p, 2);
	cr_assert_eq(store_alloc(s, A, a), A);

	/* As when fork() fails: prepare, then the parent's handler. */
	cr_assert_eq(store_fork_prepare(s), 0);
	store_fork_parent(s);
	put_all(s, a, A);
	cr_assert_eq(store_refcount(s, a[0]), 1, "the embryo's reference");
	cr_assert_eq(store_reap(s), A);
	assert_empty_alone(s);

	/* A child killed before it could become a holder. */
	cr_assert_eq(store_alloc(s, A, a), A);
	cr_assert_eq(store_fork_prepare(s), 0);
	pid = fork();
	if (pid == 0)
		_exit(0);
	store_fork_parent(s);
	child_ok(pid);
	put_all(s, a, A);
	cr_assert_eq(store_reap(s), A);
	assert_empty_alone(s);
	close_store_in(s, p, &d);
}

/* A child's child inherits the child's references, as the child did the
 * parent's: the slot outlives both of them putting it. */
Test(store, grandchild_inherits, .timeout = 30)
{
	struct tmpdir d;
	char *p;
	struct store *s;
	struct store_io *io;
	uint64_t slot;
	int forked[2], put[2], child_err = 0;
	pid_t pid;

	s = open_store_in(&d, &p, 2);
	cr_assert_eq(store_io_new(s, 0, &io), 0);
	cr_assert_eq(alloc_and_write(s, io, 1, 8, &slot), 0);
	pipe_new(forked);
	pipe_new(put);

	pid = fork_store(s, NULL, &child_err);
	if (pid == 0) {
		pid_t gpid;
		int gerr = 0, code;

		CHILD_CHECK(child_err == 0, 10);
		store_io_forget(io);
		gpid = fork_store(s, NULL, &gerr);
		if (gpid == 0) {
			struct store_io *gio;

			CHILD_CHECK(gerr == 0, 20);
			/* Both elders put it; ours keeps it. */
			CHILD_CHECK(pipe_wait(put[0]), 21);
			CHILD_CHECK(store_refcount(s, slot) == 1, 22);
			CHILD_CHECK(store_io_new(s, 0, &gio) == 0, 23);
			CHILD_CHECK(read_and_check(s, gio, 1, 8, &slot) == 0, 24);
			store_put(s, slot);
			store_io_free(gio);
			store_close(s);
			_exit(0);
		}
		CHILD_CHECK(store_refcount(s, slot) == 3, 11);
		store_put(s, slot);
		store_close(s);
		CHILD_CHECK(pipe_send(forked[1]), 14);
		CHILD_CHECK(waitpid(gpid, &code, 0) == gpid, 12);
		_exit(WIFEXITED(code) ? WEXITSTATUS(code) : 13);
	}
	cr_assert(pipe_wait(forked[0]));
	cr_assert_eq(store_refcount(s, slot), 2, "ours and the grandchild's; the child closed");
	store_put(s, slot);
	cr_assert_eq(stats_of(s).slots_in_use, 1, "held by the grandchild");
	cr_assert(pipe_send(put[1]));
	child_ok(pid);
	assert_empty_alone(s);
	store_io_free(io);
	close_store_in(s, p, &d);
}
