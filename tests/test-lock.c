/* SPDX-License-Identifier: MIT */
/*
 * test-lock.c - locked memory in a pager's regions (lib/mm/lock.h): a
 * locked range is resident at once and stays so, intact, while the rest
 * pages through a budget four times over; unlocked, it is evicted like
 * any other; a lock beyond what the budget allows fails with -ENOMEM and
 * changes nothing; a fork child inherits no lock.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"
#include "mm/lock.h"
#include "mm/pager.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define MIB (1ul << 20)
#define BUDGET (4 * MIB)

static struct upager *open_budgeted(void)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = BUDGET);
	struct upager *p;
	int err = upager_open(&o, &p);

	cr_assert_eq(err, 0, "upager_open: %s", strerror(-err));
	return p;
}

static unsigned char *map_filled(struct upager *p, size_t len, unsigned seed)
{
	unsigned char *m;

	cr_assert_eq(upager_map(p, NULL, len, RW, UPAGER_MAP_PRIVATE, (void **)&m), 0);
	for (size_t i = 0; i < len; i += PAGE)
		memset(m + i, (int)(i / PAGE * 7 + seed), PAGE);
	return m;
}

static size_t bad_pages(const unsigned char *m, size_t len, unsigned seed)
{
	size_t bad = 0;

	for (size_t i = 0; i < len; i += PAGE)
		bad += m[i] != (unsigned char)(i / PAGE * 7 + seed) ||
		       m[i + PAGE - 1] != (unsigned char)(i / PAGE * 7 + seed);
	return bad;
}

Test(lock, locked_range_stays_resident, .timeout = 60)
{
	struct upager *p = open_budgeted();
	unsigned char *a = map_filled(p, MIB, 1), *b;
	size_t pages = MIB / PAGE;

	cr_assert_eq(lock_range(p, (uintptr_t)a, (uintptr_t)a + MIB, false), 0);
	cr_assert_eq(resident_pages(a, MIB), pages, "locked, yet not all resident");
	b = map_filled(p, 16 * MIB, 2);
	cr_assert_eq(resident_pages(a, MIB), pages, "a locked page was evicted");
	cr_assert_eq(bad_pages(b, 16 * MIB, 2), 0);
	cr_assert_eq(resident_pages(a, MIB), pages, "a locked page was evicted");
	cr_assert_eq(bad_pages(a, MIB, 1), 0);
	/* As madvise(MADV_DONTNEED) of mlock'd memory: refused, nothing lost. */
	cr_assert_eq(upager_discard(p, a + PAGE, PAGE), -EINVAL);
	cr_assert_eq(bad_pages(a, MIB, 1), 0);

	/* Unlocked, its pages go the way of the others. */
	cr_assert_eq(lock_unlock_range(p, (uintptr_t)a, (uintptr_t)a + MIB), 0);
	cr_assert_eq(bad_pages(b, 16 * MIB, 2), 0);
	cr_assert_eq(bad_pages(b, 16 * MIB, 2), 0);
	cr_assert_lt(resident_pages(a, MIB), pages, "unlocked pages were never evicted");
	cr_assert_eq(bad_pages(a, MIB, 1), 0);
	upager_close(p);
}

static _Atomic int warnings;

static void count_warnings(enum upager_log_level level, const char *fmt, va_list args)
{
	(void)fmt;
	(void)args;
	if (level <= UPAGER_LOG_WARN)
		warnings++;
}

Test(lock, beyond_the_budget_is_enomem, .timeout = 60)
{
	struct upager *p = open_budgeted();
	unsigned char *a = map_filled(p, 4 * MIB, 3), *b = map_filled(p, 512 << 10, 4);
	upager_log_fn old = upager_set_log(count_warnings);

	cr_assert_eq(lock_range(p, (uintptr_t)a, (uintptr_t)a + 4 * MIB, false), -ENOMEM);
	cr_assert_eq(p->locked_pages, 0);
	/* Refused again and again (a program retrying): said once. */
	for (int i = 0; i < 10; i++)
		cr_assert_eq(lock_range(p, (uintptr_t)a, (uintptr_t)a + 4 * MIB, false), -ENOMEM);
	cr_assert_eq(lock_all(p, MCL_CURRENT), -ENOMEM);
	upager_set_log(old);
	cr_assert_eq(warnings, 1, "%d warnings for 12 refusals", warnings);
	/* A lock that fits still does, after the refusal. */
	cr_assert_eq(lock_range(p, (uintptr_t)b, (uintptr_t)b + (512 << 10), false), 0);
	cr_assert_eq(p->locked_pages, (512 << 10) / PAGE);
	cr_assert_eq(bad_pages(a, 4 * MIB, 3), 0);
	cr_assert_eq(resident_pages(b, 512 << 10), (512 << 10) / PAGE);
	/* Unmapping a locked range gives its share back. */
	cr_assert_eq(upager_unmap(p, b, 512 << 10), 0);
	cr_assert_eq(p->locked_pages, 0);
	upager_close(p);
}

Test(lock, fork_child_inherits_no_lock, .timeout = 60)
{
	struct upager *p = open_budgeted();
	unsigned char *a = map_filled(p, MIB, 5);
	int status;
	pid_t pid;

	cr_assert_eq(lock_range(p, (uintptr_t)a, (uintptr_t)a + MIB, false), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		unsigned char *b;

		if (p->locked_pages)
			_exit(1);
		b = map_filled(p, 16 * MIB, 6);
		if (bad_pages(b, 16 * MIB, 6) || bad_pages(b, 16 * MIB, 6))
			_exit(2);
		/* Unlocked in the child: evicted like the rest. */
		_exit(resident_pages(a, MIB) < MIB / PAGE && !bad_pages(a, MIB, 5) ? 0 : 3);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	cr_assert_eq(resident_pages(a, MIB), MIB / PAGE);
	upager_close(p);
}

Test(lock, lockall_current_and_future_then_none, .timeout = 60)
{
	struct upager *p = open_budgeted();
	unsigned char *a = map_filled(p, 256 << 10, 7), *b, *c;
	size_t pages = (256 << 10) / PAGE;

	cr_assert_eq(lock_all(p, MCL_CURRENT | MCL_FUTURE), 0);
	cr_assert_eq(p->locked_pages, pages);
	/* MCL_FUTURE: a new mapping is locked and resident from the start. */
	cr_assert_eq(upager_map(p, NULL, 256 << 10, RW, UPAGER_MAP_PRIVATE, (void **)&b), 0);
	cr_assert_eq(p->locked_pages, 2 * pages);
	cr_assert_eq(resident_pages(b, 256 << 10), pages);
	/* Beyond what may be locked: refused as the kernel refuses a
	 * mapping past RLIMIT_MEMLOCK. */
	cr_assert_eq(upager_map(p, NULL, 4 * MIB, RW, UPAGER_MAP_PRIVATE, (void **)&c), -EAGAIN);
	cr_assert_eq(lock_none(p), 0);
	cr_assert_eq(p->locked_pages, 0);
	c = map_filled(p, 16 * MIB, 8);
	cr_assert_eq(bad_pages(c, 16 * MIB, 8), 0);
	cr_assert_eq(bad_pages(c, 16 * MIB, 8), 0);
	cr_assert_lt(resident_pages(a, 256 << 10), pages, "unlocked pages were never evicted");
	cr_assert_eq(bad_pages(a, 256 << 10, 7), 0);
	upager_close(p);
}
