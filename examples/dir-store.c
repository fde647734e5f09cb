/* SPDX-License-Identifier: MIT */
/*
 * dir-store.c - a store of your own (struct upager_store_ops): evicted
 * pages kept in a directory, one file per slot ("slot-N"), written and
 * read with pwrite/pread and removed when upager frees the slot. upager
 * allocates the slots, counts their references and checksums every page,
 * so the store is only this: move bytes, say how it went.
 *
 * Usage: upager-dir-store [MIB [DIR]]  (default: 64 MiB written through a
 * 4 MiB budget, into a fresh directory under $TMPDIR or /tmp, removed at
 * the end). Every byte is checked; exit status 0 when all were right.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <upager.h>

struct dir_store {
	int dirfd;
	size_t page_size;
};

/* No malloc on these paths: they run on upager's fault handlers. */
static void slot_name(char *buf, size_t len, uint64_t slot)
{
	snprintf(buf, len, "slot-%" PRIu64, slot);
}

/* Open @req's slot file with @flags and move its page through it: the
 * request's result. A short transfer is an error: upager would catch a
 * short read's bytes by their checksum anyway, but the store knows better.
 * Only a write's close can lose data, so only its failure counts. */
static int slot_transfer(struct dir_store *d, const struct upager_store_req *req, int flags,
			 bool write)
{
	char name[32];
	ssize_t done;
	int fd, err;

	slot_name(name, sizeof(name), req->slot);
	fd = openat(d->dirfd, name, flags | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	done = write ? pwrite(fd, req->page, d->page_size, 0) :
		       pread(fd, req->page, d->page_size, 0);
	err = done == (ssize_t)d->page_size ? 0 : done < 0 ? -errno : -EIO;
	if (close(fd) < 0 && write && !err)
		err = -errno;
	return err;
}

static int dir_write(void *ctx, struct upager_store_req *reqs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		reqs[i].result = slot_transfer(ctx, &reqs[i], O_WRONLY | O_CREAT | O_TRUNC, true);
	return 0;
}

static int dir_read(void *ctx, struct upager_store_req *reqs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		reqs[i].result = slot_transfer(ctx, &reqs[i], O_RDONLY, false);
	return 0;
}

static void dir_free(void *ctx, uint64_t slot)
{
	struct dir_store *d = ctx;
	char name[32];

	slot_name(name, sizeof(name), slot);
	unlinkat(d->dirfd, name, 0);
}

static uint64_t word(size_t i)
{
	return i * 0x9e3779b97f4a7c15ull ^ 0x5bd1e995u;
}

/* Files left in @dirfd (the pager gave every slot back when it closed). */
static unsigned int files_left(int dirfd)
{
	DIR *dir = fdopendir(dup(dirfd));
	struct dirent *e;
	unsigned int n = 0;

	if (!dir)
		return 0;
	while ((e = readdir(dir)))
		n += !strncmp(e->d_name, "slot-", 5);
	closedir(dir);
	return n;
}

int main(int argc, char **argv)
{
	char tmpl[4096];
	const char *dir = argc > 2 ? argv[2] : NULL;
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64, len, words, bad = 0;
	struct dir_store d = { .page_size = (size_t)sysconf(_SC_PAGESIZE) };
	struct upager_store_ops ops = UPAGER_STORE_OPS(.capacity = 1u << 20, .write = dir_write,
						       .read = dir_read, .free = dir_free);
	struct upager_options o = UPAGER_OPTS(.max_resident = 4u << 20, .store_ops = &ops,
					      .store_ctx = &d, .flags = UPAGER_OPEN_FROM_ENV);
	struct upager_stats st = UPAGER_STATS();
	struct upager *pager;
	uint64_t *mem;
	int err;

	if (!dir) {
		const char *t = getenv("TMPDIR");

		snprintf(tmpl, sizeof(tmpl), "%s/upager-dir-store-XXXXXX", t && *t ? t : "/tmp");
		dir = mkdtemp(tmpl);
		if (!dir) {
			perror("upager-dir-store: mkdtemp");
			return 1;
		}
	}
	d.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d.dirfd < 0) {
		fprintf(stderr, "upager-dir-store: %s: %s\n", dir, strerror(errno));
		return 1;
	}
	err = upager_open(&o, &pager);
	if (err) {
		fprintf(stderr, "upager-dir-store: upager_open: %s\n", strerror(-err));
		return 1;
	}
	len = mib << 20;
	if (!len) {
		fprintf(stderr, "upager-dir-store: MIB must be a positive number\n");
		upager_close(pager);
		return 1;
	}
	err = upager_map(pager, NULL, len, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
			 UPAGER_MAP_PRIVATE, (void **)&mem);
	if (err) {
		fprintf(stderr, "upager-dir-store: upager_map: %s\n", strerror(-err));
		upager_close(pager);
		return 1;
	}
	words = len / sizeof(*mem);
	for (size_t i = 0; i < words; i++)
		mem[i] = word(i);
	for (size_t i = 0; i < words; i++)
		bad += mem[i] != word(i);
	upager_stats_read(pager, &st);
	upager_close(pager);
	printf("upager-dir-store: %zu MiB through a %u MiB budget into %s: %" PRIu64
	       " pages written, %" PRIu64 " read back, %zu wrong words, %u files left\n",
	       mib, 4u, dir, st.writebacks, st.swapins, bad, files_left(d.dirfd));
	close(d.dirfd);
	if (argc < 3)
		rmdir(dir);
	return bad || !st.writebacks || !st.swapins ? 1 : 0;
}
