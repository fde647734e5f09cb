/* SPDX-License-Identifier: MIT */
/*
 * as-common.c - the named address-space case programs' shared helpers
 * (as-common.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "as-common.h"

size_t ps;
char *resv; /* the reservation */
sigjmp_buf probe_env;
volatile sig_atomic_t probing;

void on_fault(int sig)
{
	if (probing)
		siglongjmp(probe_env, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

char *at(size_t page)
{
	return resv + page * ps;
}

const char *errname(int e)
{
	const char *n = strerrorname_np(e);

	return n ? n : "E?";
}

void result(const char *what, int ret)
{
	if (ret < 0)
		printf("%s: -1 %s\n", what, errname(errno));
	else
		printf("%s: %d\n", what, ret);
	fflush(stdout);
}

/* A pointer result, named by which of the candidates it is. */
void presult(const char *what, void *ret, const char *name1, void *c1,
		    const char *name2, void *c2)
{
	if (ret == MAP_FAILED)
		printf("%s: MAP_FAILED %s\n", what, errname(errno));
	else if (name1 && ret == c1)
		printf("%s: at %s\n", what, name1);
	else if (name2 && ret == c2)
		printf("%s: at %s\n", what, name2);
	else
		printf("%s: elsewhere\n", what);
	fflush(stdout);
}

uint8_t pattern(unsigned tag, size_t i, size_t j)
{
	return (uint8_t)(tag * 151 + i * 31 + j * 7 + (j >> 8));
}

void fill(char *p, size_t pages, unsigned tag)
{
	for (size_t i = 0; i < pages; i++) {
		char *pg = p + i * ps;

		for (size_t j = 0; j < ps; j++)
			pg[j] = (char)pattern(tag, i, j);
		memcpy(pg, &tag, sizeof(tag));
		memcpy(pg + sizeof(tag), &i, sizeof(i));
	}
}


struct page_class classify(const char *pg)
{
	static char buf[65536];
	struct page_class c = { K_HASH, 0, 0, 1469598103934665603ull };
	bool zero = true, tagged;

	probing = 1;
	if (sigsetjmp(probe_env, 1)) {
		probing = 0;
		c.kind = K_SEGV;
		return c;
	}
	memcpy(buf, pg, ps);
	probing = 0;
	for (size_t j = 0; j < ps; j++) {
		zero &= !buf[j];
		c.hash = (c.hash ^ (uint8_t)buf[j]) * 1099511628211ull;
	}
	if (zero) {
		c.kind = K_ZERO;
		return c;
	}
	memcpy(&c.tag, buf, sizeof(c.tag));
	memcpy(&c.index, buf + sizeof(c.tag), sizeof(c.index));
	tagged = c.tag < 64 && c.index < RESV_PAGES;
	for (size_t j = sizeof(c.tag) + sizeof(c.index); tagged && j < ps; j++)
		tagged = (uint8_t)buf[j] == pattern(c.tag, c.index, j);
	if (tagged)
		c.kind = K_TAG;
	return c;
}

bool continues(const struct page_class *a, const struct page_class *b, size_t n)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == K_TAG)
		return a->tag == b->tag && b->index == a->index + n;
	return a->kind != K_HASH;
}

void print_run(const char *what, size_t from, size_t to, const struct page_class *c)
{
	printf("%s: pages %zu-%zu ", what, from, to);
	switch (c->kind) {
	case K_ZERO: printf("zero\n"); break;
	case K_SEGV: printf("SEGV\n"); break;
	case K_TAG: printf("A%u[%zu..%zu]\n", c->tag, c->index, c->index + (to - from)); break;
	case K_HASH: printf("hash %016llx\n", (unsigned long long)c->hash); break;
	}
}

/* What @pages pages from @p hold, in runs. */
void dump(const char *what, const char *p, size_t pages)
{
	struct page_class first = { 0 }, c;
	size_t from = 0;

	for (size_t i = 0; i < pages; i++) {
		c = classify(p + i * ps);
		if (i && continues(&first, &c, i - from))
			continue;
		if (i)
			print_run(what, from, i - 1, &first);
		first = c;
		from = i;
	}
	if (pages)
		print_run(what, from, pages - 1, &first);
	fflush(stdout);
}

/* More than upager-run's cap, written once: what the case filled
 * before is evicted under upager (natively nothing happens to it). */
void pressure(void)
{
	size_t len = 24u << 20;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		printf("pressure: MAP_FAILED %s\n", errname(errno));
		exit(1);
	}
	for (size_t i = 0; i < len; i += ps)
		p[i] = 1;
	munmap(p, len);
}

/* Before any case: the page size, the signal catcher, the reservation. */
int as_setup(void)
{
	ps = (size_t)sysconf(_SC_PAGESIZE);
	signal(SIGSEGV, on_fault);
	signal(SIGBUS, on_fault);
	resv = mmap(NULL, RESV_PAGES * ps, PROT_NONE, MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (resv == MAP_FAILED) {
		printf("reservation: %s\n", errname(errno));
		return 1;
	}
	return 0;
}

