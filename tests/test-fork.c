/* SPDX-License-Identifier: MIT */
/*
 * test-fork.c - fork under upager, modelled on the kernel's userfaultfd
 * selftests (events, wp-fork): a child sees every page as it was at the
 * fork, evicted pages included, and gets a pager of its own; writes on
 * either side stay there; a child that outlives its parent keeps its
 * memory; a child that exits, execs or closes gives its swap slots back;
 * forks racing eviction and faults lose nothing. Every test ends with the
 * store's slots in use back at zero.
 *
 * Children report through their exit status (0: every byte right).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mm/cache.h"
#include "common.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define WORDS (PAGE / 8)
/* 16 MiB under a 1 MiB budget: nearly every page is in swap at a fork. */
#define NPAGES 4096u
#define BUDGET (1u << 20)

static int wait_child(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static uint64_t word(uint64_t seed, size_t pg)
{
	return seed * 0x9e3779b97f4a7c15ull + pg + 1;
}

/* Stamp pages [from, to): first and last word of each. */
static void stamp(uint64_t *mem, size_t from, size_t to, uint64_t seed)
{
	for (size_t pg = from; pg < to; pg++) {
		mem[pg * WORDS] = word(seed, pg);
		mem[pg * WORDS + WORDS - 1] = ~word(seed, pg);
	}
}

/* Pages of [from, to) not stamped with @seed. */
static size_t bad_pages(const uint64_t *mem, size_t from, size_t to, uint64_t seed)
{
	size_t bad = 0;

	for (size_t pg = from; pg < to; pg++)
		bad += mem[pg * WORDS] != word(seed, pg) ||
		       mem[pg * WORDS + WORDS - 1] != ~word(seed, pg);
	return bad;
}

static uint64_t slots_in_use(struct upager *pager)
{
	struct upager_stats st = UPAGER_STATS();

	cr_assert_eq(upager_stats_read(pager, &st), 0);
	return st.slots_in_use;
}

/* Slots in use once the pager's background reclaim has stopped changing
 * them (it may still be evicting right after a burst of writes). */
static uint64_t settled_slots(struct upager *pager)
{
	uint64_t last = slots_in_use(pager), now;

	for (int same = 0; same < 3; last = now) {
		usleep(20000);
		now = slots_in_use(pager);
		same = now == last ? same + 1 : 0;
	}
	return last;
}

static struct upager *open_budgeted(void)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET, .compress = test_compress());
	struct upager *pager;

	cr_assert_eq(upager_open(&o, &pager), 0);
	return pager;
}

static uint64_t *map_stamped(struct upager *pager, uint64_t seed)
{
	uint64_t *mem;

	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE,
				(void **)&mem), 0);
	stamp(mem, 0, NPAGES, seed);
	return mem;
}

/* Unmap, check that every slot came back, close. */
static void finish(struct upager *pager, uint64_t *mem)
{
	cr_assert_eq(upager_unmap(pager, mem, NPAGES * PAGE), 0);
	cr_assert_eq(slots_in_use(pager), 0, "slots leaked");
	upager_close(pager);
}

Test(fork, child_gets_a_pager_without_budget, .timeout = 30)
{
	struct upager *pager;
	unsigned char *mem;
	pid_t pid;

	cr_assert_eq(upager_open(NULL, &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, 16 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&mem), 0);
	mem[0] = 11;
	mem[5 * PAGE + 7] = 12;
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		unsigned char *more;

		if (mem[0] != 11 || mem[5 * PAGE + 7] != 12)
			_exit(1); /* touched pages: the parent's bytes */
		if (mem[9 * PAGE] != 0)
			_exit(2); /* untouched pages: zeros, served by the child's pager */
		mem[0] = 99;
		mem[10 * PAGE] = 98;
		if (upager_map(pager, NULL, 4 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&more))
			_exit(3); /* the child's pager is a full pager */
		more[PAGE] = 7;
		if (more[PAGE] != 7 || more[0] != 0)
			_exit(4);
		upager_close(pager);
		_exit(0);
	}
	cr_assert_eq(wait_child(pid), 0);
	cr_assert_eq(mem[0], 11, "the child's write stays in the child");
	cr_assert_eq(mem[10 * PAGE], 0);
	mem[12 * PAGE] = 3; /* the parent's pager still serves faults */
	cr_assert_eq(mem[12 * PAGE], 3);
	upager_close(pager);
}

Test(fork, child_sees_evicted_pages_and_writes_apart, .timeout = 60)
{
	struct upager *pager = open_budgeted();
	uint64_t *mem = map_stamped(pager, 1);
	uint64_t before = slots_in_use(pager);
	pid_t pid;

	cr_assert_gt(before, NPAGES / 2, "most pages are in swap at the fork (%lu slots)",
		     (unsigned long)before);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct upager_stats st = UPAGER_STATS();

		if (bad_pages(mem, 0, NPAGES, 1))
			_exit(1);
		stamp(mem, 0, NPAGES, 2); /* evicts again, in the child's own slots */
		if (bad_pages(mem, 0, NPAGES, 2))
			_exit(2);
		if (upager_stats_read(pager, &st) || !st.swapins || !st.writebacks)
			_exit(3);
		_exit(0); /* no close: exit gives the slots back */
	}
	/* Meanwhile the parent writes the same pages. */
	stamp(mem, 0, NPAGES / 2, 3);
	cr_assert_eq(wait_child(pid), 0, "the child saw the parent's pages as at the fork");
	cr_assert_eq(bad_pages(mem, 0, NPAGES / 2, 3), 0);
	cr_assert_eq(bad_pages(mem, NPAGES / 2, NPAGES, 1), 0, "the child's writes stayed there");
	finish(pager, mem);
}

static int generation(struct upager *pager, uint64_t *mem, int depth)
{
	/* Generation @depth finds pages [0, depth * n/4) stamped with
	 * seeds 10..(9 + depth) by its ancestors and the rest with seed 10. */
	size_t quarter = NPAGES / 4;
	pid_t pid;
	int rc;

	for (int g = 1; g < depth; g++)
		if (bad_pages(mem, (size_t)g * quarter, (size_t)(g + 1) * quarter, 10 + (uint64_t)g))
			return 10 + depth;
	if (bad_pages(mem, 0, quarter, 10))
		return 20 + depth;
	if (depth == 3)
		return 0;
	stamp(mem, (size_t)depth * quarter, (size_t)(depth + 1) * quarter, 10 + (uint64_t)depth);
	pid = fork();
	if (pid < 0)
		return 30 + depth;
	if (pid == 0)
		_exit(generation(pager, mem, depth + 1));
	/* Overwrite what the next generation must still see as it was. */
	stamp(mem, 0, NPAGES, 99);
	rc = wait_child(pid);
	if (rc)
		return rc;
	return bad_pages(mem, 0, NPAGES, 99) ? 40 + depth : 0;
}

Test(fork, three_generations, .timeout = 90)
{
	struct upager *pager = open_budgeted();
	uint64_t *mem = map_stamped(pager, 10);
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(generation(pager, mem, 1));
	cr_assert_eq(wait_child(pid), 0);
	cr_assert_eq(bad_pages(mem, 0, NPAGES, 10), 0);
	finish(pager, mem);
}

Test(fork, child_outlives_its_parent, .timeout = 60)
{
	struct upager *pager = open_budgeted();
	uint64_t *mem = map_stamped(pager, 5);
	pid_t mid, grandchild;
	int pipefd[2], rc;

	/* Adopt the orphaned grandchild, to wait for it. */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	cr_assert_eq(pipe(pipefd), 0);
	mid = fork();
	cr_assert_geq(mid, 0);
	if (mid == 0) {
		pid_t gc = fork();

		if (gc < 0)
			_exit(1);
		if (gc == 0) {
			pid_t parent = getppid();

			while (kill(parent, 0) == 0 && getppid() == parent)
				usleep(1000); /* until the middle process is gone */
			_exit(bad_pages(mem, 0, NPAGES, 5) ? 2 : 0);
		}
		if (write(pipefd[1], &gc, sizeof(gc)) != sizeof(gc))
			_exit(3);
		stamp(mem, 0, NPAGES, 6); /* the middle process moves on and exits */
		_exit(0);
	}
	cr_assert_eq(read(pipefd[0], &grandchild, sizeof(grandchild)), sizeof(grandchild));
	cr_assert_eq(wait_child(mid), 0);
	rc = wait_child(grandchild);
	cr_assert_eq(rc, 0, "the grandchild kept its pages after its parent exited (%d)", rc);
	close(pipefd[0]);
	close(pipefd[1]);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	cr_assert_eq(bad_pages(mem, 0, NPAGES, 5), 0);
	finish(pager, mem);
}

Test(fork, exec_and_close_give_slots_back, .timeout = 60)
{
	struct upager *pager = open_budgeted();
	uint64_t *mem = map_stamped(pager, 7);
	uint64_t before = settled_slots(pager);
	pid_t pid;

	/* exec: the new image holds nothing of ours. */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		stamp(mem, 0, NPAGES, 8); /* slots of its own first */
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(wait_child(pid), 0);
	cr_assert_eq(slots_in_use(pager), before, "exec gave the child's slots back");

	/* upager_close in the child: given back at once. */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		stamp(mem, 0, NPAGES, 9);
		upager_close(pager);
		pause(); /* alive, holding nothing */
		_exit(0);
	}
	for (int i = 0; i < 5000 && slots_in_use(pager) != before; i++)
		usleep(1000);
	cr_assert_eq(slots_in_use(pager), before, "close gave the child's slots back");
	kill(pid, SIGKILL);
	cr_assert_eq(wait_child(pid), 128 + SIGKILL);
	cr_assert_eq(bad_pages(mem, 0, NPAGES, 7), 0);
	finish(pager, mem);
}

/*
 * Forks racing eviction and faults. Writer threads sweep their own pages
 * over and over, each sweep writing its number into every page in order.
 * fork() copies the page tables one by one while other threads run (under
 * the kernel as under upager), so a snapshot is not one instant; but a
 * sweeper stops at its first page that is not resident while the pager is
 * held for the fork, so a child sees each thread's pages within a sweep
 * or two of each other. A lost write or a page served as zeros shows up
 * as a page far behind the others.
 */
#define RACE_THREADS 2
#define RACE_PAGES 1024u

struct race {
	uint64_t *hot;
	atomic_bool stop;
	int id;
};

static void *sweeper(void *arg)
{
	struct race *r = arg;
	uint64_t *mine = r->hot + (size_t)r->id * RACE_PAGES * WORDS;

	for (uint64_t sweep = 1; !atomic_load(&r->stop); sweep++)
		for (size_t pg = 0; pg < RACE_PAGES; pg++)
			__atomic_store_n(&mine[pg * WORDS], sweep, __ATOMIC_RELAXED);
	return NULL;
}

static int sweeps_consistent(const uint64_t *hot)
{
	for (int t = 0; t < RACE_THREADS; t++) {
		const uint64_t *mine = hot + (size_t)t * RACE_PAGES * WORDS;
		uint64_t lo = UINT64_MAX, hi = 0;

		for (size_t pg = 0; pg < RACE_PAGES; pg++) {
			uint64_t v = mine[pg * WORDS];

			lo = v < lo ? v : lo;
			hi = v > hi ? v : hi;
		}
		if (hi - lo > 2)
			return 1;
	}
	return 0;
}

Test(fork, forks_racing_eviction_and_faults, .timeout = 120)
{
	struct upager *pager = open_budgeted();
	uint64_t *stable = map_stamped(pager, 21);
	struct race r[RACE_THREADS];
	pthread_t th[RACE_THREADS];
	uint64_t *hot;

	cr_assert_eq(upager_map(pager, NULL, RACE_THREADS * RACE_PAGES * PAGE, RW,
				UPAGER_MAP_PRIVATE, (void **)&hot), 0);
	for (int t = 0; t < RACE_THREADS; t++) {
		r[t] = (struct race){ .hot = hot, .id = t };
		cr_assert_eq(pthread_create(&th[t], NULL, sweeper, &r[t]), 0);
	}
	for (int i = 0; i < 12; i++) {
		pid_t pid;

		usleep(20000);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			int rc = sweeps_consistent(hot);

			if (!rc && bad_pages(stable, 0, NPAGES, 21))
				rc = 3;
			_exit(rc);
		}
		cr_assert_eq(wait_child(pid), 0, "fork %d: the child's snapshot is whole", i);
	}
	for (int t = 0; t < RACE_THREADS; t++) {
		atomic_store(&r[t].stop, true);
		pthread_join(th[t], NULL);
	}
	cr_assert_eq(sweeps_consistent(hot), 0);
	cr_assert_eq(bad_pages(stable, 0, NPAGES, 21), 0);
	cr_assert_eq(upager_unmap(pager, hot, RACE_THREADS * RACE_PAGES * PAGE), 0);
	finish(pager, stable);
}

/*
 * A shared object that could not be pinned at the fork (cache_pin failed;
 * injected here): the child must leave its memfd alone. The child's
 * reclaim, pressed by private memory, must not evict (punch) the pages
 * the parent holds resident there, and a touch of them in the child is a
 * signal, never the parent's live bytes or zeros.
 */
#define SHARED_PAGES 128u

static sigjmp_buf bus_jump;

static void on_touch(int sig)
{
	(void)sig;
	siglongjmp(bus_jump, 1);
}

Test(fork, unpinned_shared_object_left_alone_by_the_child, .timeout = 60)
{
	struct upager *pager = open_budgeted();
	uint64_t *shared, *mem;
	pid_t pid;

	cr_assert_eq(upager_map(pager, NULL, SHARED_PAGES * PAGE, RW, UPAGER_MAP_SHARED,
				(void **)&shared), 0);
	stamp(shared, 0, SHARED_PAGES, 5);
	cr_assert_eq(upager_map(pager, NULL, NPAGES * PAGE, RW, UPAGER_MAP_PRIVATE,
				(void **)&mem), 0);
	cache_pin_inject = -ENOMEM;
	pid = fork();
	cache_pin_inject = 0;
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = on_touch };
		volatile uint64_t v = 0;

		/* Four times the budget: every frame is reclaimed. */
		for (int round = 0; round < 4; round++)
			stamp(mem, 0, NPAGES, 40 + (uint64_t)round);
		if (bad_pages(mem, 0, NPAGES, 43))
			_exit(1);
		sigaction(SIGBUS, &sa, NULL);
		sigaction(SIGSEGV, &sa, NULL); /* loud either way */
		if (sigsetjmp(bus_jump, 1) == 0) {
			v = shared[0];
			_exit(2); /* read the memfd behind the pager's back */
		}
		(void)v;
		_exit(0);
	}
	int status = wait_child(pid);

	cr_assert_eq(status, 0, "child: %d (1: its own memory wrong, 2: it read the unpinned "
		     "object)", status);
	cr_assert_eq(bad_pages(shared, 0, SHARED_PAGES, 5), 0,
		     "the child's reclaim took the parent's shared pages");
	cr_assert_eq(upager_unmap(pager, shared, SHARED_PAGES * PAGE), 0);
	finish(pager, mem);
}
