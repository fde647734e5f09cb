/* SPDX-License-Identifier: MIT */
/*
 * compat.h - kernel constants newer than the installed headers (6.1).
 *
 * The build kernel is not the run kernel: everything defined here is only
 * used after UFFDIO_API said the running kernel offers it.
 */
#ifndef UPAGER_COMPAT_H
#define UPAGER_COMPAT_H

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13) /* 6.4 */
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14) /* 6.6 */
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15) /* 6.7 */
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16) /* 6.8 */
#endif

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC 0xAA
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00) /* 6.1 */
#endif

#endif /* UPAGER_COMPAT_H */
