/* SPDX-License-Identifier: MIT */
/*
 * eiofs.h - what the test file system (eiofs.c) serves, shared with the
 * test that reads it.
 */
#ifndef UPAGER_TESTS_EIOFS_H
#define UPAGER_TESTS_EIOFS_H

#include <stddef.h>

#define EIOFS_PAGE 4096
#define EIOFS_PAGES 16
#define EIOFS_BAD_PAGE 5 /* every read touching it fails with EIO */

/* The byte at offset @i of page @pg of the file. */
static inline unsigned char eiofs_byte(size_t pg, size_t i)
{
	return (unsigned char)(pg * 131 + i * 7 + 1);
}

#endif
