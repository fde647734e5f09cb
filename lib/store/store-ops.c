/* SPDX-License-Identifier: MIT */
/*
 * store-ops.c - the file store behind the store seam: struct store_ops
 * for it, each op converting the seam's types to the file store's own, and
 * the few calls only the file store has (store-file.h).
 */
#include "store/store-internal.h"

static struct file_store *fs(struct store *s)
{
	return (struct file_store *)s;
}

static const struct file_store *cfs(const struct store *s)
{
	return (const struct file_store *)s;
}

int file_store_open(const struct store_config *cfg, unsigned long page_size,
		    struct store **out)
{
	struct file_store *s;
	int err = fstore_open(cfg, page_size, &s);

	if (!err)
		*out = &s->base;
	return err;
}

bool store_is_file(const struct store *s)
{
	return s && s->ops == &file_store_ops;
}

int file_store_fd(const struct store *s)
{
	return cfs(s)->fd;
}

uint64_t file_store_slot_offset(const struct store *s, uint64_t slot)
{
	return fstore_slot_offset(cfs(s), slot);
}

static void op_close(struct store *s)
{
	fstore_close(fs(s));
}

static const char *op_path(const struct store *s)
{
	return fstore_path(cfs(s));
}

static int op_alloc(struct store *s, unsigned int n, uint64_t *slots)
{
	return fstore_alloc(fs(s), n, slots);
}

static void op_get(struct store *s, uint64_t slot)
{
	fstore_get(fs(s), slot);
}

static void op_put(struct store *s, uint64_t slot)
{
	fstore_put(fs(s), slot);
}

static uint32_t op_refcount(struct store *s, uint64_t slot)
{
	return fstore_refcount(fs(s), slot);
}

static bool op_slot_matches(struct store *s, uint64_t slot, const void *page)
{
	return fstore_slot_matches(fs(s), slot, page);
}

static uint64_t op_reap(struct store *s)
{
	return fstore_reap(fs(s));
}

static void op_stats_read(struct store *s, struct store_stats *out)
{
	fstore_stats_read(fs(s), out);
}

static struct hist *op_read_hist(struct store *s)
{
	return fstore_read_hist(fs(s));
}

static struct hist *op_write_hist(struct store *s)
{
	return fstore_write_hist(fs(s));
}

static int op_fork_prepare(struct store *s)
{
	return fstore_fork_prepare(fs(s));
}

static void op_fork_parent(struct store *s)
{
	fstore_fork_parent(fs(s));
}

static int op_fork_child(struct store *s)
{
	return fstore_fork_child(fs(s));
}

static int op_io_new(struct store *s, unsigned int depth, struct store_io **out)
{
	struct file_store_io *io;
	int err = fstore_io_new(fs(s), depth, &io);

	if (!err)
		*out = fstore_io_base(io);
	return err;
}

static void op_io_free(struct store_io *io)
{
	fstore_io_free(fstore_io_of(io));
}

static void op_io_forget(struct store_io *io)
{
	fstore_io_forget(fstore_io_of(io));
}

static int op_write(struct store_io *io, const uint64_t *slots, void *const *pages,
		    unsigned int n)
{
	return fstore_write(fstore_io_of(io), slots, pages, n);
}

static int op_read(struct store_io *io, const uint64_t *slots, void *const *pages,
		   unsigned int n, int *results)
{
	return fstore_read(fstore_io_of(io), slots, pages, n, results);
}

const struct store_ops file_store_ops = {
	.name = "file",
	.close = op_close,
	.path = op_path,
	.alloc = op_alloc,
	.get = op_get,
	.put = op_put,
	.refcount = op_refcount,
	.slot_matches = op_slot_matches,
	.reap = op_reap,
	.stats_read = op_stats_read,
	.read_hist = op_read_hist,
	.write_hist = op_write_hist,
	.fork_prepare = op_fork_prepare,
	.fork_parent = op_fork_parent,
	.fork_child = op_fork_child,
	.io_new = op_io_new,
	.io_free = op_io_free,
	.io_forget = op_io_forget,
	.write = op_write,
	.read = op_read,
};
