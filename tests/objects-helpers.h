/* SPDX-License-Identifier: MIT */
/* objects-helpers.h - shared by test-objects.c and test-objects-fork.c. */
#ifndef UPAGER_TEST_OBJECTS_HELPERS_H
#define UPAGER_TEST_OBJECTS_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define RW (UPAGER_PROT_READ | UPAGER_PROT_WRITE)
#define RO UPAGER_PROT_READ
#define SHARED UPAGER_MAP_SHARED
#define PRIVATE UPAGER_MAP_PRIVATE
/* A budget small enough that a scenario's pages are all evicted. */
#define TINY_BUDGET (64 * PAGE)

/* The byte a test file holds at offset @i of page @pg. */
unsigned char pat(size_t pg, size_t i);
/* A fresh unlinked file of @pages pages and @tail bytes of pat(), open
 * with @oflags (O_RDWR or O_RDONLY). */
int make_file(size_t pages, size_t tail, int oflags);
/* A pager with a frame budget of @budget bytes and its own swap file
 * (@handlers 0: the default). */
struct upager *open_with_budget(uint64_t budget, unsigned int handlers);
/* Word @w of page @pg in generation @gen (0: the file's pat() bytes). */
uint64_t word(size_t pg, size_t w, uint64_t gen);
bool page_is(const volatile uint64_t *p, size_t pg, uint64_t gen);
void page_fill(volatile uint64_t *p, size_t pg, uint64_t gen);

#endif
