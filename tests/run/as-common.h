/* SPDX-License-Identifier: MIT */
/*
 * as-common.h - what the named address-space case programs (as-cases,
 * as-cases2) share: the reservation their memory is laid out in, pages
 * filled with a pattern naming their tag and index, dumps of what memory
 * holds (by offset, never by address), results with errno by name, and
 * the pressure step that evicts under upager-run's cap.
 */
#ifndef UPAGER_TESTS_RUN_AS_COMMON_H
#define UPAGER_TESTS_RUN_AS_COMMON_H

#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESV_PAGES 16384 /* 64 MiB */
#define REGION 512       /* pages: 2 MiB, paged under upager-run */

extern size_t ps;
extern char *resv;
extern sigjmp_buf probe_env;
extern volatile sig_atomic_t probing;

enum kind { K_ZERO, K_SEGV, K_TAG, K_HASH };

struct page_class {
	enum kind kind;
	unsigned tag;
	size_t index;
	uint64_t hash;
};

void on_fault(int sig);
char *at(size_t page);
const char *errname(int e);
void result(const char *what, int ret);
void presult(const char *what, void *ret, const char *name1, void *c1, const char *name2, void *c2);
uint8_t pattern(unsigned tag, size_t i, size_t j);
void fill(char *p, size_t pages, unsigned tag);
struct page_class classify(const char *pg);
bool continues(const struct page_class *a, const struct page_class *b, size_t n);
void print_run(const char *what, size_t from, size_t to, const struct page_class *c);
void dump(const char *what, const char *p, size_t pages);
void pressure(void);
/* Before any case: the page size, the signal catcher, the reservation.
 * 0, or 1 (said). */
int as_setup(void);

#endif
