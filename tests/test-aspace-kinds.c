/* SPDX-License-Identifier: MIT */
/*
 * test-aspace-kinds.c - the kinds of the address-space seam's mappings
 * (os/aspace.h): the calling process's as the kernel has them, and
 * MADV_FREE's reach (pager_free_reach) told from them alone, on the fake
 * (fake-aspace.h), which calls a mapping shared where the test says.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common.h"
#include "fake-aspace.h"
#include "mm/pager.h"

/* The one mapping at @a, of its kind. */
static enum aspace_kind kind_at(struct aspace *as, void *a)
{
	struct aspace_mapping m;

	cr_assert_eq(aspace_mappings(as, (uintptr_t)a, (uintptr_t)a + 1, &m, 1), 1);
	cr_assert_eq(m.start, (uintptr_t)a);
	return m.kind;
}

Test(aspace_kinds, self_tells_the_kinds_apart, .timeout = 30)
{
	char path[] = "/tmp/upager-kinds-XXXXXX";
	int fd = mkstemp(path);
	struct aspace *as;
	void *anon, *shared, *file, *file_shared;

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(ftruncate(fd, PAGE), 0);
	anon = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	file = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	file_shared = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
	cr_assert(anon != MAP_FAILED && shared != MAP_FAILED && file != MAP_FAILED &&
		  file_shared != MAP_FAILED);
	cr_assert_eq(aspace_self_open(0, &as), 0);

	cr_assert_eq(kind_at(as, anon), ASPACE_ANON);
	cr_assert_eq(kind_at(as, shared), ASPACE_SHARED);
	cr_assert_eq(kind_at(as, file), ASPACE_FILE);
	cr_assert_eq(kind_at(as, file_shared), ASPACE_SHARED);
	/* Named anonymous memory ([anon:NAME]) is anonymous still, where the
	 * kernel names it (CONFIG_ANON_VMA_NAME). */
	if (!prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)anon, PAGE, "kinds"))
		cr_assert_eq(kind_at(as, anon), ASPACE_ANON);

	aspace_close(as);
	munmap(anon, PAGE);
	munmap(shared, PAGE);
	munmap(file, PAGE);
	munmap(file_shared, PAGE);
	close(fd);
}

static struct upager *open_on_fake(struct fake_aspace **fake)
{
	struct upager_options o = UPAGER_OPTS(.handler_threads = 1);
	struct upager *pager;
	int err = fake_aspace_pager(&o, fake, &pager);

	cr_assert_eq(err, 0, "pager_open_on: %s", strerror(-err));
	return pager;
}

/* @n pages of private anonymous memory, each its own kernel mapping (every
 * other page read-only: neighbours of different protection never merge). */
static uintptr_t map_split(size_t n)
{
	void *a = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(a, MAP_FAILED);
	for (size_t pg = 1; pg < n; pg += 2)
		cr_assert_eq(mprotect((char *)a + pg * PAGE, PAGE, PROT_READ), 0);
	return (uintptr_t)a;
}

/* The reach stops where the address space says a shared mapping starts,
 * not where /proc/self/maps does (all of it private anonymous here). */
Test(aspace_kinds, free_reach_stops_where_the_aspace_says, .timeout = 30)
{
	struct fake_aspace *fake;
	struct upager *pager = open_on_fake(&fake);
	uintptr_t a = map_split(3);

	cr_assert_eq(pager_free_reach(pager, (void *)a, 3 * PAGE), 3 * PAGE,
		     "all private anonymous: all of it");
	atomic_store(&fake->shared_lo, a + PAGE);
	atomic_store(&fake->shared_hi, a + 2 * PAGE);
	cr_assert_eq(pager_free_reach(pager, (void *)a, 3 * PAGE), PAGE,
		     "up to the mapping the address space calls shared");
	cr_assert_eq(pager_free_reach(pager, (void *)(a + PAGE), 2 * PAGE), 0,
		     "shared from the start: nothing");
	cr_assert_eq(pager_free_reach(pager, (void *)(a + 2 * PAGE), PAGE), PAGE,
		     "past the shared one: all of it");
	cr_assert_gt(atomic_load(&fake->calls[FA_MAPPINGS]), 0);
	munmap((void *)a, 3 * PAGE);
	upager_close(pager);
	fake_aspace_free(fake);
}

/* More mappings than one query of the reach holds (64): it asks again for
 * less, and still stops at the shared one, far in. */
Test(aspace_kinds, free_reach_over_many_mappings, .timeout = 30)
{
	enum { N = 300, SHARED_AT = 257 };
	struct fake_aspace *fake;
	struct upager *pager = open_on_fake(&fake);
	uintptr_t a = map_split(N);

	cr_assert_eq(pager_free_reach(pager, (void *)a, N * PAGE), N * PAGE);
	atomic_store(&fake->shared_lo, a + SHARED_AT * PAGE);
	atomic_store(&fake->shared_hi, a + (SHARED_AT + 1) * PAGE);
	cr_assert_eq(pager_free_reach(pager, (void *)a, N * PAGE), SHARED_AT * PAGE);
	munmap((void *)a, N * PAGE);
	upager_close(pager);
	fake_aspace_free(fake);
}
