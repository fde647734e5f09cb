/* SPDX-License-Identifier: MIT */
/*
 * test-inject.c - fault injection through the pool (core/pool.h, debug
 * builds): map, protect and unmap sequences with the Nth pool allocation
 * failing, for every N. Each call either succeeds or returns -ENOMEM with
 * the region tree and the kernel's mappings as they were; the debug
 * checks run after each call.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "upager.h"
#include "core/pool.h"
#include "mm/pager.h"

#define PG 4096ul
#define MAXR 64

#ifdef UPAGER_DEBUG_CHECKS
struct snap {
	int n;
	uintptr_t start[MAXR], end[MAXR];
	int prot[MAXR];
	char perms[MAXR][5];
	int nk;
	uintptr_t kstart[MAXR], kend[MAXR];
};

static void snap_region(void *ctx, const struct region *r)
{
	struct snap *s = ctx;

	if (s->n < MAXR) {
		s->start[s->n] = r->start;
		s->end[s->n] = r->end;
		s->prot[s->n] = r->prot;
		s->n++;
	}
}

/* The tree, and the kernel's mappings in [lo, hi) (/proc/self/maps). */
static void take(struct upager *p, uintptr_t lo, uintptr_t hi, struct snap *s)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");

	memset(s, 0, sizeof(*s));
	region_for_each(&p->tree, snap_region, s);
	cr_assert(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		char perms[5];

		if (sscanf(line, "%lx-%lx %4s", &a, &b, perms) != 3 || b <= lo || a >= hi)
			continue;
		if (s->nk < MAXR) {
			s->kstart[s->nk] = a;
			s->kend[s->nk] = b;
			memcpy(s->perms[s->nk], perms, 5);
			s->nk++;
		}
	}
	fclose(f);
}

/* The protection of the page at @a in @s's kernel mappings, or -1. */
static int kernel_prot(const struct snap *s, uintptr_t a)
{
	for (int i = 0; i < s->nk; i++)
		if (a >= s->kstart[i] && a < s->kend[i])
			return (s->perms[i][0] == 'r' ? UPAGER_PROT_READ : 0) |
			       (s->perms[i][1] == 'w' ? UPAGER_PROT_WRITE : 0) |
			       (s->perms[i][2] == 'x' ? UPAGER_PROT_EXEC : 0);
	return -1;
}

static int tree_prot(const struct snap *s, uintptr_t a)
{
	for (int i = 0; i < s->n; i++)
		if (a >= s->start[i] && a < s->end[i])
			return s->prot[i];
	return -1;
}

/* A refused MAP_FIXED may have let go of what it was to replace, as the
 * kernel's own may: then the tree must say so, page by page, and nothing
 * outside [lo, hi) may have changed. */
static void agree(const struct snap *a, const struct snap *b, uintptr_t base, uintptr_t lo,
		  uintptr_t hi, long n)
{
	for (uintptr_t x = base; x < base + 32 * PG; x += PG) {
		/* A hole the pager left may hold anyone's mapping since. */
		if (tree_prot(a, x) < 0 && tree_prot(b, x) < 0 && (x < lo || x >= hi))
			continue;
		cr_assert_eq(tree_prot(b, x), kernel_prot(b, x),
			     "map failing after %ld: page %lu is %d in the tree, %d in the kernel",
			     n, (unsigned long)((x - base) / PG), tree_prot(b, x), kernel_prot(b, x));
		if (x < lo || x >= hi)
			cr_assert_eq(tree_prot(a, x), tree_prot(b, x),
				     "map failing after %ld: page 0x%lx outside it changed", n,
				     (unsigned long)x);
	}
}

/* Nothing changed: the regions, and the kernel's protection of every
 * page some region had or has (a hole may hold anyone's mapping). */
static void same(const struct snap *a, const struct snap *b, uintptr_t base, const char *what,
		 long n)
{
	cr_assert_eq(a->n, b->n, "%s failing after %ld: %d regions before, %d after", what, n,
		     a->n, b->n);
	for (int i = 0; i < a->n; i++)
		cr_assert(a->start[i] == b->start[i] && a->end[i] == b->end[i] &&
			  a->prot[i] == b->prot[i],
			  "%s failing after %ld: region %d changed", what, n, i);
	for (uintptr_t x = base; x < base + 32 * PG; x += PG)
		if (tree_prot(a, x) >= 0)
			cr_assert_eq(kernel_prot(a, x), kernel_prot(b, x),
				     "%s failing after %ld: page %lu is %d in the kernel, was %d",
				     what, n, (unsigned long)((x - base) / PG), kernel_prot(b, x),
				     kernel_prot(a, x));
}

enum op { OP_PROTECT, OP_UNMAP, OP_MAP_FIXED };

/* One call with the pool failing after @n allocations: 0, or -ENOMEM and
 * nothing changed. Returns whether it succeeded. */
static bool try_op(struct upager *p, char *base, enum op op, size_t off, size_t len, int prot,
		   long n)
{
	struct snap before, after;
	void *out;
	int err;

	take(p, (uintptr_t)base, (uintptr_t)base + 32 * PG, &before);
	pool_fail_after(n);
	if (op == OP_PROTECT)
		err = upager_protect(p, base + off, len, prot);
	else if (op == OP_UNMAP)
		err = upager_unmap(p, base + off, len);
	else
		err = upager_map(p, base + off, len, prot, UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED,
				 &out);
	pool_fail_after(-1);
	if (!err)
		return true;
	cr_assert_eq(err, -ENOMEM, "op %d failing after %ld: %s", op, n, strerror(-err));
	take(p, (uintptr_t)base, (uintptr_t)base + 32 * PG, &after);
	if (op == OP_MAP_FIXED) {
		agree(&before, &after, (uintptr_t)base, (uintptr_t)base + off,
		      (uintptr_t)base + off + len, n);
		return false;
	}
	same(&before, &after, (uintptr_t)base, op == OP_PROTECT ? "protect" : op == OP_UNMAP ? "unmap" : "map",
	     n);
	return false;
}

static void sweep(const struct upager_options *o)
{
	for (long n = 0; n < 40; n++) {
		struct upager *p;
		char *base;
		int err = upager_open(o, &p);

		cr_assert_eq(err, 0, "upager_open: %s", strerror(-err));
		pool_fail_after(n);
		err = upager_map(p, NULL, 32 * PG, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
				 UPAGER_MAP_PRIVATE, (void **)&base);
		pool_fail_after(-1);
		if (err) {
			cr_assert_eq(err, -ENOMEM, "map failing after %ld: %s", n, strerror(-err));
			upager_close(p);
			continue;
		}
		for (int i = 0; i < 32; i++)
			base[i * PG] = (char)i;
		/* Splits in the middle, merges back, a hole, a new mapping in it. */
		try_op(p, base, OP_PROTECT, 4 * PG, 4 * PG, UPAGER_PROT_READ, n);
		try_op(p, base, OP_PROTECT, 10 * PG, 2 * PG, UPAGER_PROT_NONE, n);
		try_op(p, base, OP_UNMAP, 14 * PG, 3 * PG, 0, n);
		try_op(p, base, OP_PROTECT, 2 * PG, 10 * PG, UPAGER_PROT_READ | UPAGER_PROT_WRITE, n);
		try_op(p, base, OP_MAP_FIXED, 14 * PG, 2 * PG, UPAGER_PROT_READ, n);
		try_op(p, base, OP_UNMAP, 6 * PG, 2 * PG, 0, n);
		try_op(p, base, OP_MAP_FIXED, 20 * PG, 4 * PG, UPAGER_PROT_READ, n);
		for (int i = 0; i < 32; i++) {
			struct region *r = region_find(&p->tree, (uintptr_t)base + i * PG);

			/* What is still the first mapping keeps its bytes. */
			if (r && (r->prot & UPAGER_PROT_READ) && !(i >= 14 && i < 16) &&
			    !(i >= 20 && i < 24))
				cr_assert_eq(base[i * PG], (char)i, "page %d after failing at %ld", i, n);
		}
		upager_close(p);
	}
}

#else
static void sweep(const struct upager_options *o)
{
	(void)o;
	cr_skip_test("the pool's fault injection is built only with -Ddebug_checks=true");
}
#endif

Test(inject, pool_failures_without_a_budget, .timeout = 120)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = 0);

	sweep(&o);
}

Test(inject, pool_failures_with_a_budget, .timeout = 120)
{
	struct upager_options o = UPAGER_OPTS(.max_resident = 64 * PG, .swap_size = 4u << 20);

	sweep(&o);
}
