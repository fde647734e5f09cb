/* SPDX-License-Identifier: MIT */
/*
 * options.h - turning what a caller asked for into a pager's settings.
 */
#ifndef UPAGER_OPTIONS_H
#define UPAGER_OPTIONS_H

#include <stddef.h>

#include "upager.h"

#define OPT_DEFAULT_THREADS 1u
#define OPT_MAX_THREADS 64u
/* 256 pages: one ioctl of 1 MiB costs about as much as 2-3 single faults
 * here, and the stream must be long to get there. */
#define OPT_DEFAULT_FAULT_AROUND 256u
#define OPT_MAX_FAULT_AROUND 4096u
#define OPT_MAX_CPU 1023u

/*
 * Copy @in (NULL: defaults) into @out with defaults filled in, the
 * environment applied when asked, and every value checked.
 * Returns 0 or -EINVAL (logged).
 */
int options_resolve(const struct upager_options *in, struct upager_options *out);

#endif /* UPAGER_OPTIONS_H */
