/* SPDX-License-Identifier: MIT */
/*
 * zstore-codec.c - lz4 and zstd for the compressed tier (zstore-codec.h).
 */
#include <errno.h>
#include <lz4.h>
#include <string.h>

#ifdef UPAGER_HAVE_ZSTD
#define ZSTD_STATIC_LINKING_ONLY /* the static contexts: no malloc after init */
#include <zstd.h>
#endif

#include "core/pool.h"
#include "store/zstore-codec.h"

/* zstd's fastest level: the tier competes with a swap-in from disk, not
 * with an archiver. */
#define ZSTD_LEVEL 1

bool zcodec_available(enum zstore_codec codec)
{
	if (codec == ZSTORE_LZ4)
		return true;
#ifdef UPAGER_HAVE_ZSTD
	if (codec == ZSTORE_ZSTD)
		return true;
#endif
	return false;
}

const char *zcodec_name(enum zstore_codec codec)
{
	return codec == ZSTORE_LZ4 ? "lz4" : codec == ZSTORE_ZSTD ? "zstd" : "?";
}

int zcodec_init(struct zcodec *c, enum zstore_codec codec)
{
	memset(c, 0, sizeof(*c));
	c->codec = codec;
	if (codec == ZSTORE_LZ4) {
		c->cstate_len = (size_t)LZ4_sizeofState();
		c->cstate = pool_map_calloc(1, c->cstate_len);
		return c->cstate ? 0 : -ENOMEM;
	}
#ifdef UPAGER_HAVE_ZSTD
	if (codec == ZSTORE_ZSTD) {
		c->cstate_len = ZSTD_estimateCCtxSize(ZSTD_LEVEL);
		c->dstate_len = ZSTD_estimateDCtxSize();
		c->cstate = pool_map_calloc(1, c->cstate_len);
		c->dstate = pool_map_calloc(1, c->dstate_len);
		if (!c->cstate || !c->dstate ||
		    !ZSTD_initStaticCCtx(c->cstate, c->cstate_len) ||
		    !ZSTD_initStaticDCtx(c->dstate, c->dstate_len)) {
			zcodec_destroy(c);
			return -ENOMEM;
		}
		return 0;
	}
#endif
	return -EINVAL;
}

void zcodec_destroy(struct zcodec *c)
{
	pool_map_free(c->cstate);
	pool_map_free(c->dstate);
	c->cstate = c->dstate = NULL;
}

size_t zcodec_compress(struct zcodec *c, const void *src, size_t len, void *dst, size_t cap)
{
	if (c->codec == ZSTORE_LZ4) {
		int n = LZ4_compress_fast_extState(c->cstate, src, dst, (int)len, (int)cap, 1);

		return n > 0 ? (size_t)n : 0;
	}
#ifdef UPAGER_HAVE_ZSTD
	if (c->codec == ZSTORE_ZSTD) {
		size_t n = ZSTD_compressCCtx(c->cstate, dst, cap, src, len, ZSTD_LEVEL);

		return ZSTD_isError(n) ? 0 : n;
	}
#endif
	return 0;
}

int zcodec_decompress(struct zcodec *c, const void *src, size_t clen, void *dst, size_t len)
{
	if (c->codec == ZSTORE_LZ4) {
		int n = LZ4_decompress_safe(src, dst, (int)clen, (int)len);

		return n == (int)len ? 0 : -EBADMSG;
	}
#ifdef UPAGER_HAVE_ZSTD
	if (c->codec == ZSTORE_ZSTD) {
		size_t n = ZSTD_decompressDCtx(c->dstate, dst, len, src, clen);

		return !ZSTD_isError(n) && n == len ? 0 : -EBADMSG;
	}
#endif
	return -EBADMSG;
}
