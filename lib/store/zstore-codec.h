/* SPDX-License-Identifier: MIT */
/*
 * zstore-codec.h - compressing one page for the compressed tier
 * (store-zpool.h): lz4, or zstd when the build has it. A codec's working
 * memory is made once per I/O context, so compressing and decompressing
 * never allocate (they run in the fault handlers and in reclaim).
 */
#ifndef UPAGER_ZSTORE_CODEC_H
#define UPAGER_ZSTORE_CODEC_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store-zpool.h"

struct zcodec {
	enum zstore_codec codec;
	void *cstate;           /* lz4: its state; zstd: a static CCtx */
	size_t cstate_len;
	void *dstate;           /* zstd: a static DCtx */
	size_t dstate_len;
};

bool zcodec_available(enum zstore_codec codec);
const char *zcodec_name(enum zstore_codec codec);

/* Returns 0, -EINVAL (not built in), -ENOMEM. */
int zcodec_init(struct zcodec *c, enum zstore_codec codec);
void zcodec_destroy(struct zcodec *c);

/* Compress @len bytes of @src into at most @cap bytes of @dst. Returns
 * the compressed length, or 0 when it does not fit in @cap. */
size_t zcodec_compress(struct zcodec *c, const void *src, size_t len, void *dst, size_t cap);

/* Decompress @clen bytes of @src into exactly @len bytes of @dst.
 * Returns 0, or -EBADMSG (the data is not a valid stream of @len bytes). */
int zcodec_decompress(struct zcodec *c, const void *src, size_t clen, void *dst, size_t len);

#endif /* UPAGER_ZSTORE_CODEC_H */
