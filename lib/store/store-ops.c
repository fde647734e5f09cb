/* SPDX-License-Identifier: MIT */
/*
 * store-ops.c - the file store behind the store seam: its struct
 * store_ops (each fstore_* op takes the seam's types and converts them
 * itself) and the few calls only the file store has (store-file.h).
 */
#include "store/store-internal.h"

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
	return fstore_const_of(s)->fd;
}

uint64_t file_store_slot_offset(const struct store *s, uint64_t slot)
{
	return fstore_slot_offset(fstore_const_of(s), slot);
}

const struct store_ops file_store_ops = {
	.name = "file",
	.close = fstore_close,
	.path = fstore_path,
	.alloc = fstore_alloc,
	.get = fstore_get,
	.put = fstore_put,
	.refcount = fstore_refcount,
	.slot_matches = fstore_slot_matches,
	.reap = fstore_reap,
	.stats_read = fstore_stats_read,
	.fork_prepare = fstore_fork_prepare,
	.fork_parent = fstore_fork_parent,
	.fork_child = fstore_fork_child,
	.io_new = fstore_io_new,
	.io_free = fstore_io_free,
	.io_forget = fstore_io_forget,
	.write = fstore_write,
	.read = fstore_read,
};
