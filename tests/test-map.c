/* SPDX-License-Identifier: MIT */
/*
 * test-map.c - upager_map/unmap/protect side by side with mmap/munmap/
 * mprotect: the same scenario on both kinds must leave the same
 * transcript (bytes read, signals with si_code and offset of si_addr,
 * errno values).
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "common.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define RO UPAGER_PROT_READ

/* An address range nobody has mapped (reserved, then released). */
static unsigned char *free_range(size_t len)
{
	void *p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	cr_assert_neq(p, MAP_FAILED);
	munmap(p, len);
	return p;
}

static void demand_zero(struct mem *m, struct transcript *t)
{
	unsigned char *p;

	cr_assert_eq(mem_map(m, NULL, 64 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	if (mem_is_upager(m))
		cr_assert_eq(resident_pages(p, 64 * PAGE), 0, "no page exists before first touch");
	for (size_t i = 0; i < 64; i += 7)
		transcript_access(t, "read fresh page", p, probe_read(p + i * PAGE + i));
	for (size_t i = 0; i < 64 * PAGE; i += 509)
		p[i] = (unsigned char)(i * 31);
	for (size_t i = 0; i < 64 * PAGE; i += 509)
		if (p[i] != (unsigned char)(i * 31))
			transcript_printf(t, "byte %zu lost\n", i);
	transcript_printf(t, "last byte %u\n", p[64 * PAGE - 1]);
	cr_assert_eq(mem_unmap(m, p, 64 * PAGE), 0);
}

Test(map, demand_zero_like_kernel, .timeout = 20)
{
	differential(demand_zero);
}

static void invalid_arguments(struct mem *m, struct transcript *t)
{
	unsigned char *fr = free_range(16 * PAGE), *p;
	void *out;
	int err, err2;
	struct {
		const char *what;
		void *hint;
		size_t len;
		unsigned int flags;
	} maps[] = {
		{ "zero length", NULL, 0, UPAGER_MAP_PRIVATE },
		{ "unaligned fixed", fr + 1, PAGE, UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED },
		{ "unaligned noreplace", fr + 1, PAGE, UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED_NOREPLACE },
		{ "fixed wrapping around", (void *)(~0ul - PAGE + 1), 2 * PAGE,
		  UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED },
		{ "fixed past user space", (void *)0x7ffffffff000ul, 2 * PAGE,
		  UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED },
		{ "huge length", NULL, SIZE_MAX - PAGE, UPAGER_MAP_PRIVATE },
		{ "no sharing flag", NULL, PAGE, 0 },
	};

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		transcript_printf(t, "map %s: %d\n", maps[i].what,
				  mem_map(m, maps[i].hint, maps[i].len, RW, maps[i].flags, &out));

	cr_assert_eq(mem_map(m, fr, 4 * PAGE, RW, UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED, (void **)&p), 0);
	transcript_printf(t, "overlap noreplace: %d\n",
			  mem_map(m, fr + 2 * PAGE, 4 * PAGE, RW,
				  UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED_NOREPLACE, &out));
	transcript_printf(t, "unmap unaligned: %d\n", mem_unmap(m, p + 1, PAGE));
	transcript_printf(t, "unmap zero length: %d\n", mem_unmap(m, p, 0));
	transcript_printf(t, "unmap wrapping around: %d\n",
			  mem_unmap(m, (void *)(~0ul - PAGE + 1), 2 * PAGE));
	transcript_printf(t, "protect unaligned: %d\n", mem_protect(m, p + 1, PAGE, RO));
	transcript_printf(t, "protect zero length: %d\n", mem_protect(m, p, 0, RO));
	/* Punch the hole right before the call, so no allocation of the
	 * process (ASan's, say) can move into it. Same protection as before:
	 * Linux applies mprotect() up to a hole before failing, upager
	 * changes nothing (see upager_only_argument_checks). */
	cr_assert_eq(mem_map(m, p + 4 * PAGE, 4 * PAGE, RW,
			     UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED, &out), 0);
	err = mem_unmap(m, p + 5 * PAGE, 3 * PAGE);
	err2 = mem_protect(m, p, 8 * PAGE, RW);
	transcript_printf(t, "protect past the mapping: %d %d\n", err, err2);
	cr_assert_eq(mem_unmap(m, p + 4 * PAGE, PAGE), 0);
	transcript_printf(t, "protect wrapping around: %d\n",
			  mem_protect(m, (void *)(~0ul - PAGE + 1), 2 * PAGE, RO));
	transcript_printf(t, "protect bad prot: %d\n", mem_protect(m, p, PAGE, 0x40));
	/* Nothing was lost by the refusals. */
	p[0] = 7;
	transcript_access(t, "mapping still there", p, probe_read(p));
	cr_assert_eq(mem_unmap(m, p, 4 * PAGE), 0);
}

Test(map, invalid_arguments_like_kernel, .timeout = 20)
{
	differential(invalid_arguments);
}

Test(map, upager_only_argument_checks)
{
	struct mem u;
	void *out;

	mem_open(&u, "upager", NULL);
	cr_assert_eq(upager_map(u.pager, NULL, PAGE, 0x40, UPAGER_MAP_PRIVATE, &out), -EINVAL,
		     "unknown protection bits");
	cr_assert_eq(upager_map(u.pager, NULL, PAGE, RW, UPAGER_MAP_PRIVATE | (1u << 20), &out), -EINVAL,
		     "unknown flags");
	cr_assert_eq(upager_map(u.pager, NULL, PAGE, RW,
				UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED | UPAGER_MAP_FIXED_NOREPLACE, &out),
		     -EINVAL, "both FIXED flags");
	cr_assert_eq(upager_map(u.pager, NULL, PAGE, RW, UPAGER_MAP_PRIVATE, NULL), -EINVAL,
		     "no place for the address");
	cr_assert_eq(upager_map(NULL, NULL, PAGE, RW, UPAGER_MAP_PRIVATE, &out), -EBADF);

	/* A protect that cannot be applied to the whole range is applied to
	 * none of it (Linux changes the part before the hole, then fails). */
	unsigned char *p;
	cr_assert_eq(upager_map(u.pager, NULL, 4 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	cr_assert_eq(upager_unmap(u.pager, p + 2 * PAGE, 2 * PAGE), 0);
	cr_assert_eq(upager_protect(u.pager, p, 4 * PAGE, RO), -ENOMEM);
	cr_assert_eq(probe_write(p, 1).sig, 0, "still writable: the refused protect changed nothing");
	mem_close(&u);
}

static void fixed_replaces(struct mem *m, struct transcript *t)
{
	unsigned char *fr = free_range(8 * PAGE), *p, *q;

	cr_assert_eq(mem_map(m, fr, 8 * PAGE, RW, UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED, (void **)&p), 0);
	memset(p, 0xab, 8 * PAGE);
	cr_assert_eq(mem_map(m, p + 2 * PAGE, 2 * PAGE, RO, UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED,
			     (void **)&q), 0);
	transcript_printf(t, "placed at offset %td\n", q - p);
	transcript_access(t, "before replaced", p, probe_read(p + 2 * PAGE - 1));
	transcript_access(t, "replaced, read", p, probe_read(p + 2 * PAGE));
	transcript_access(t, "replaced, write", p, probe_write(p + 3 * PAGE + 5, 1));
	transcript_access(t, "after replaced", p, probe_read(p + 4 * PAGE));
	cr_assert_eq(mem_unmap(m, p, 8 * PAGE), 0);
}

Test(map, fixed_replaces_like_kernel, .timeout = 20)
{
	differential(fixed_replaces);
}

static void unmap_splits(struct mem *m, struct transcript *t)
{
	unsigned char *p;

	cr_assert_eq(mem_map(m, NULL, 16 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	for (size_t i = 0; i < 16; i++)
		p[i * PAGE] = (unsigned char)(i + 1);
	transcript_printf(t, "unmap middle: %d\n", mem_unmap(m, p + 5 * PAGE, 3 * PAGE));
	for (size_t i = 0; i < 16; i++) {
		char what[32];

		snprintf(what, sizeof(what), "page %zu", i);
		transcript_access(t, what, p, probe_read(p + i * PAGE + 17));
		transcript_access(t, what, p, probe_read(p + i * PAGE));
	}
	transcript_printf(t, "unmap over hole and tail: %d\n", mem_unmap(m, p + 4 * PAGE, 12 * PAGE));
	transcript_printf(t, "unmap what is gone: %d\n", mem_unmap(m, p + 4 * PAGE, 12 * PAGE));
	transcript_access(t, "head survives", p, probe_read(p + 3 * PAGE));
	transcript_access(t, "tail gone", p, probe_read(p + 9 * PAGE));
	cr_assert_eq(mem_unmap(m, p, 4 * PAGE), 0);
}

Test(map, unmap_splits_like_kernel, .timeout = 20)
{
	differential(unmap_splits);
}

static void protect_splits(struct mem *m, struct transcript *t)
{
	unsigned char *p;

	cr_assert_eq(mem_map(m, NULL, 12 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	p[4 * PAGE] = 44;
	transcript_printf(t, "protect middle RO: %d\n", mem_protect(m, p + 4 * PAGE, 4 * PAGE, RO));
	transcript_access(t, "write RO touched", p, probe_write(p + 4 * PAGE + 8, 1));
	transcript_access(t, "write RO untouched", p, probe_write(p + 6 * PAGE + 8, 1));
	transcript_access(t, "read RO touched", p, probe_read(p + 4 * PAGE));
	transcript_access(t, "read RO untouched", p, probe_read(p + 7 * PAGE));
	transcript_access(t, "write RW after", p, probe_write(p + 8 * PAGE, 2));
	transcript_printf(t, "protect NONE: %d\n", mem_protect(m, p, 2 * PAGE, UPAGER_PROT_NONE));
	transcript_access(t, "read NONE", p, probe_read(p + PAGE + 3));
	transcript_access(t, "write NONE", p, probe_write(p + 3, 3));
	transcript_printf(t, "protect back RW: %d\n", mem_protect(m, p, 12 * PAGE, RW));
	transcript_access(t, "write formerly RO", p, probe_write(p + 6 * PAGE + 8, 9));
	transcript_access(t, "read formerly RO", p, probe_read(p + 6 * PAGE + 8));
	transcript_access(t, "touched byte kept", p, probe_read(p + 4 * PAGE));
	if (mem_is_upager(m)) {
		struct upager_stats st = UPAGER_STATS();

		cr_assert_eq(upager_stats_read(m->pager, &st), 0);
		cr_assert_eq(st.regions, 1, "RW everywhere again: one region (merged)");
	}
	cr_assert_eq(mem_unmap(m, p, 12 * PAGE), 0);
}

Test(map, protect_splits_like_kernel, .timeout = 20)
{
	differential(protect_splits);
}

Test(map, closed_pager_is_refused_and_its_memory_gone, .timeout = 20)
{
	struct upager_stats st = UPAGER_STATS();
	struct upager *pager;
	unsigned char *p;
	void *out;
	struct access_result r;

	cr_assert_eq(upager_open(NULL, &pager), 0);
	cr_assert_eq(upager_map(pager, NULL, 4 * PAGE, RW, UPAGER_MAP_PRIVATE, (void **)&p), 0);
	p[0] = 1;
	upager_close(pager);
	cr_assert_eq(upager_map(pager, NULL, PAGE, RW, UPAGER_MAP_PRIVATE, &out), -EBADF);
	cr_assert_eq(upager_unmap(pager, p, PAGE), -EBADF);
	cr_assert_eq(upager_protect(pager, p, PAGE, RO), -EBADF);
	cr_assert_eq(upager_stats_read(pager, &st), -EBADF);
	upager_close(pager); /* a second close is refused, not a double free */
	r = probe_read(p);
	cr_assert_eq(r.sig, SIGSEGV, "a closed pager's regions are unmapped");
	cr_assert_eq(r.code, SEGV_MAPERR);
	cr_assert_eq(r.addr, p);
}

Test(map, hundred_thousand_regions, .timeout = 120)
{
	enum { N = 100000 };
	struct upager_stats st = UPAGER_STATS();
	unsigned char *base, *p;
	struct upager *pager;
	FILE *f;
	long max_map = 0;

	/* Each region is a kernel mapping too: the kernel must allow that many. */
	f = fopen("/proc/sys/vm/max_map_count", "r+");
	if (f && fscanf(f, "%ld", &max_map) == 1 && max_map < 2 * N + 1000) {
		rewind(f);
		fprintf(f, "%d\n", 2 * N + 1000);
		fflush(f);
		rewind(f);
		if (fscanf(f, "%ld", &max_map) != 1)
			max_map = 0;
	}
	if (f)
		fclose(f);
	if (max_map < 2 * N)
		cr_skip_test("vm.max_map_count is %ld and cannot be raised (needs root)", max_map);

	cr_assert_eq(upager_open(NULL, &pager), 0);
	/* Keep the range reserved (PROT_NONE) so nothing else moves in while
	 * the regions are placed over it one by one with MAP_FIXED. */
	base = mmap(NULL, 2 * N * PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	cr_assert_neq(base, MAP_FAILED);
	/* Every other page, alternating protection: nothing merges. */
	for (size_t i = 0; i < N; i++) {
		int err = upager_map(pager, base + 2 * i * PAGE, PAGE, i % 2 ? RO : RW,
				     UPAGER_MAP_PRIVATE | UPAGER_MAP_FIXED, (void **)&p);

		if (err)
			cr_assert_fail("region %zu: %s", i, strerror(-err));
	}
	cr_assert_eq(upager_stats_read(pager, &st), 0);
	cr_assert_eq(st.regions, N);
	for (size_t i = 0; i < N; i += 2)
		base[2 * i * PAGE + 1] = (unsigned char)i;
	for (size_t i = 0; i < N; i += 2)
		if (base[2 * i * PAGE + 1] != (unsigned char)i)
			cr_assert_fail("region %zu lost its byte", i);
	cr_assert_eq(probe_write(base + 3 * PAGE, 1).code, SEGV_ACCERR, "the PROT_NONE reservation");
	cr_assert_eq(probe_write(base + 2 * PAGE, 1).code, SEGV_ACCERR, "a read-only region");
	cr_assert_eq(upager_unmap(pager, base, 2 * N * PAGE), 0);
	cr_assert_eq(upager_stats_read(pager, &st), 0);
	cr_assert_eq(st.regions, 0);
	cr_assert_eq(st.pages_resident, 0);
	upager_close(pager);
	munmap(base, 2 * N * PAGE); /* what is left of the reservation */
}
