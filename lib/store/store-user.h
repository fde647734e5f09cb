/* SPDX-License-Identifier: MIT */
/*
 * store-user.h - the user store: a store behind store.h's seam whose
 * pages live wherever the caller's struct upager_store_ops (upager.h)
 * puts them. Only the pager's open names it.
 */
#ifndef UPAGER_STORE_USER_H
#define UPAGER_STORE_USER_H

#include <stdbool.h>

#include "upager.h"
#include "store/store.h"

/*
 * A store over @ops (copied; members past what this library knows must be
 * zero) with @ctx for its calls. Returns 0, or -EINVAL (logged: a bad
 * table), -ENOMEM. store_close() closes it, calling ops->close in the
 * process that opened it only.
 */
int user_store_open(const struct upager_store_ops *ops, void *ctx, unsigned long page_size,
		    struct store **out);

/* Is @s a user store? */
bool store_is_user(const struct store *s);

#endif /* UPAGER_STORE_USER_H */
