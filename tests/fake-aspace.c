/* SPDX-License-Identifier: MIT */
/*
 * fake-aspace.c - the calling process's address space with errors
 * injected (fake-aspace.h).
 */
#define _GNU_SOURCE
#include "fake-aspace.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "backend/backend.h"
#include "mm/pager.h"
#include "os/signals.h"

static struct fake_aspace *fake_of(struct aspace *as)
{
	return (struct fake_aspace *)as;
}

/* Counts the call; nonzero: the error to answer instead. */
static int intercept(struct aspace *as, enum fake_aspace_call c)
{
	struct fake_aspace *f = fake_of(as);
	int err = atomic_load(&f->fail[c]);

	atomic_fetch_add(&f->calls[c], 1);
	if (err)
		atomic_fetch_add(&f->failed[c], 1);
	return err;
}

static void fake_close(struct aspace *as)
{
	struct fake_aspace *f = fake_of(as);

	aspace_close(f->real);
	f->real = NULL;
	atomic_store(&f->closed, true);
}

static int fake_fork_child(struct aspace *as)
{
	return aspace_fork_child(fake_of(as)->real);
}

static int fake_map(struct aspace *as, uintptr_t hint, size_t len, int prot, int flags, int fd,
		    off_t off, uintptr_t *out)
{
	int err = intercept(as, FA_MAP);

	return err ? err : aspace_map(fake_of(as)->real, hint, len, prot, flags, fd, off, out);
}

static int fake_unmap(struct aspace *as, uintptr_t addr, size_t len)
{
	int err = intercept(as, FA_UNMAP);

	return err ? err : aspace_unmap(fake_of(as)->real, addr, len);
}

static int fake_protect(struct aspace *as, uintptr_t addr, size_t len, int prot)
{
	int err = intercept(as, FA_PROTECT);

	return err ? err : aspace_protect(fake_of(as)->real, addr, len, prot);
}

static int fake_remap(struct aspace *as, uintptr_t old, size_t old_len, size_t new_len, int flags,
		      uintptr_t new_addr, uintptr_t *out)
{
	int err = intercept(as, FA_REMAP);

	return err ? err : aspace_remap(fake_of(as)->real, old, old_len, new_len, flags, new_addr, out);
}

static int fake_advise(struct aspace *as, uintptr_t addr, size_t len, int advice)
{
	int err = intercept(as, FA_ADVISE);

	return err ? err : aspace_advise(fake_of(as)->real, addr, len, advice);
}

static int fake_zap(struct aspace *as, uintptr_t addr, size_t len, enum aspace_zap how)
{
	int err = intercept(as, FA_ZAP);

	return err ? err : aspace_zap(fake_of(as)->real, addr, len, how);
}

static int fake_break_cow(struct aspace *as, uintptr_t addr)
{
	int err = intercept(as, FA_BREAK_COW);

	return err ? err : aspace_break_cow(fake_of(as)->real, addr);
}

static ssize_t fake_read(struct aspace *as, uintptr_t addr, void *buf, size_t len)
{
	int err = intercept(as, FA_READ);

	return err ? err : aspace_read(fake_of(as)->real, addr, buf, len);
}

static ssize_t fake_write(struct aspace *as, uintptr_t addr, const void *buf, size_t len)
{
	int err = intercept(as, FA_WRITE);

	return err ? err : aspace_write(fake_of(as)->real, addr, buf, len);
}

static int fake_pages(struct aspace *as, uintptr_t addr, uint32_t n, uint64_t *out)
{
	struct fake_aspace *f = fake_of(as);
	int err = intercept(as, FA_PAGES);
	uintptr_t lo = atomic_load(&f->migrating_lo), hi = atomic_load(&f->migrating_hi);
	uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);

	if (err || (err = aspace_pages(f->real, addr, n, out)))
		return err;
	for (uint32_t i = 0; i < n; i++) {
		uintptr_t a = addr + i * ps;

		if (a >= lo && a < hi && (out[i] & ASPACE_PAGE_PRESENT))
			out[i] = (out[i] & ~ASPACE_PAGE_ID) | ASPACE_PAGE_SWAP;
	}
	return 0;
}

static int fake_resident(struct aspace *as, uintptr_t addr, size_t len, unsigned char *vec)
{
	int err = intercept(as, FA_RESIDENT);

	return err ? err : aspace_resident(fake_of(as)->real, addr, len, vec);
}

static int fake_rss(struct aspace *as, uint64_t *pages)
{
	int err = intercept(as, FA_RSS);

	return err ? err : aspace_rss(fake_of(as)->real, pages);
}

static int fake_mappings(struct aspace *as, uintptr_t start, uintptr_t end,
			 struct aspace_mapping *out, int max)
{
	struct fake_aspace *f = fake_of(as);
	uintptr_t lo = atomic_load(&f->shared_lo), hi = atomic_load(&f->shared_hi);
	int n = intercept(as, FA_MAPPINGS);

	if (n || (n = aspace_mappings(f->real, start, end, out, max)) < 0)
		return n;
	for (int i = 0; i < n; i++)
		if (out[i].start >= lo && out[i].start < hi)
			out[i].kind = ASPACE_SHARED;
	return n;
}

static const struct aspace_ops fake_ops = {
	.name = "fake",
	.close = fake_close,
	.fork_child = fake_fork_child,
	.map = fake_map,
	.unmap = fake_unmap,
	.protect = fake_protect,
	.remap = fake_remap,
	.advise = fake_advise,
	.zap = fake_zap,
	.break_cow = fake_break_cow,
	.read = fake_read,
	.write = fake_write,
	.pages = fake_pages,
	.resident = fake_resident,
	.rss = fake_rss,
	.mappings = fake_mappings,
};

struct fake_aspace *fake_aspace_new(void)
{
	struct fake_aspace *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->base.ops = &fake_ops;
	if (aspace_self_open(1, &f->real)) {
		free(f);
		return NULL;
	}
	return f;
}

int fake_aspace_pager(const struct upager_options *o, struct fake_aspace **fake,
		      struct upager **out)
{
	struct signals_saved saved;
	int err;

	*fake = fake_aspace_new();
	if (!*fake)
		return -ENOMEM;
	signals_block(&saved);
	err = pager_open_on(o, &uffd_backend_ops, NULL, &(*fake)->base, out);
	signals_restore(&saved);
	if (err) {
		fake_aspace_free(*fake);
		*fake = NULL;
	}
	return err;
}

void fake_aspace_free(struct fake_aspace *f)
{
	if (f && !atomic_load(&f->closed))
		aspace_close(f->real);
	free(f);
}
