/* SPDX-License-Identifier: MIT */
/*
 * eiofs.c - a FUSE file system for the tests: one file, "data", of
 * EIOFS_PAGES pages holding the test pattern, whose page EIOFS_BAD_PAGE
 * cannot be read: every read touching it fails with EIO, as a failing
 * disk's would. Reads bypass the kernel's page cache (direct_io), so each
 * read reaches this program and fails or succeeds afresh.
 *
 * Usage: eiofs MOUNTPOINT [fuse options]; runs in the foreground until
 * the file system is unmounted.
 */
#define FUSE_USE_VERSION 31
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "eiofs.h"

static int fs_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
	(void)fi;
	memset(st, 0, sizeof(*st));
	if (!strcmp(path, "/")) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return 0;
	}
	if (strcmp(path, "/data"))
		return -ENOENT;
	st->st_mode = S_IFREG | 0444;
	st->st_nlink = 1;
	st->st_size = EIOFS_PAGES * EIOFS_PAGE;
	return 0;
}

static int fs_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off,
		      struct fuse_file_info *fi, enum fuse_readdir_flags flags)
{
	(void)off;
	(void)fi;
	(void)flags;
	if (strcmp(path, "/"))
		return -ENOENT;
	fill(buf, ".", NULL, 0, 0);
	fill(buf, "..", NULL, 0, 0);
	fill(buf, "data", NULL, 0, 0);
	return 0;
}

static int fs_open(const char *path, struct fuse_file_info *fi)
{
	if (strcmp(path, "/data"))
		return -ENOENT;
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return -EACCES;
	fi->direct_io = 1;
	return 0;
}

static int fs_read(const char *path, char *buf, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	const off_t bad = (off_t)EIOFS_BAD_PAGE * EIOFS_PAGE;
	off_t end = (off_t)EIOFS_PAGES * EIOFS_PAGE;

	(void)path;
	(void)fi;
	if (off >= end)
		return 0;
	if (off + (off_t)size > end)
		size = (size_t)(end - off);
	if (off < bad + EIOFS_PAGE && off + (off_t)size > bad)
		return -EIO;
	for (size_t i = 0; i < size; i++)
		buf[i] = (char)eiofs_byte((size_t)(off + (off_t)i) / EIOFS_PAGE,
					  (size_t)(off + (off_t)i) % EIOFS_PAGE);
	return (int)size;
}

static const struct fuse_operations ops = {
	.getattr = fs_getattr,
	.readdir = fs_readdir,
	.open = fs_open,
	.read = fs_read,
};

int main(int argc, char **argv)
{
	/* Served for one test: end (and unmount) with it, however it ends. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	return fuse_main(argc, argv, &ops, NULL);
}
