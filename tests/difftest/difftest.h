/* SPDX-License-Identifier: MIT */
/*
 * difftest.h - what the differential tester's two halves share: the
 * arena, its model, the transcript and the touch helpers (difftest.c),
 * and the steps (difftest-ops.c).
 */
#ifndef DIFFTEST_H
#define DIFFTEST_H

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

#define PG 4096UL
#define ARENA_BASE ((char *)0x300000000000UL)
#define NFILES 2
#define FILE_PAGES 2048 /* 8 MiB each */
#define HASH_EVERY 16
#define CHUNK_PAGES 256 /* one hash line per MiB */
#define MAX_OP_PAGES 4096

enum kind { K_HOLE, K_RESERVE, K_ANON, K_SHARED, K_FILE_PRIV, K_FILE_SHARED };
extern const char *const kind_name[];

enum op_class { C_MAP, C_UNMAP, C_PROTECT, C_MREMAP, C_MADVISE, C_FORKADV, C_FORK, C_WRITE,
		C_READ, C_SYS, C_PROCMEM, C_TORTURE, C_COUNT };
extern const char *const class_name[];

/* The tester's idea of each arena page: only a guide for choosing ranges,
 * except `unknown`, which says which bytes the kernel leaves undefined. */
struct page_model {
	uint32_t id; /* the mapping call that made it */
	uint8_t kind;
	uint8_t file;
	bool unknown; /* MADV_FREE'd since last written: old bytes or zeros */
	uint32_t foff; /* page index in the file */
};

extern struct page_model *model;
extern size_t arena_pages;
extern uint64_t rng_state;
extern uint64_t seed;
extern int step;
extern uint32_t next_id;
extern bool skip[C_COUNT];
/* Variants of a class that --skip can leave out alone (the sequence stays the same). */
extern bool skip_badoffset, skip_rawfork, skip_sequential;
extern int file_fd[NFILES];
extern int scratch_fd, mem_fd;
extern char *buf; /* outside the arena: for system calls' other side */
extern char *status; /* per page: 0 hole, '-' no access, 'r', 'w' */
extern bool is_child;

struct touch {
	size_t done, faults, first; /* pages touched, pages that faulted, first faulting page */
	int sig, code; /* of the first fault */
	uint64_t h;
};

size_t below(size_t n);
size_t some_pages(size_t max);
uint64_t mix(uint64_t h, uint64_t v);
uint64_t hash_bytes(uint64_t h, const void *p, size_t n);
const char *err_name(int e);
void out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pattern(char *page, uint64_t tag);
struct touch touch_pages(char *p, size_t n, bool write, uint64_t tag, const bool *unknown,
			 size_t max_faults, bool *written);
void print_touch(const char *what, size_t off, size_t n, const struct touch *t);
void read_status(char *lo, size_t n, char *st);
uint64_t hash_mapped(char *p, size_t n, const bool *unknown, char *st, size_t *faults);
bool *unknown_of(size_t off);
void hash_arena(const char *label);
void pick_mapping(size_t *start, size_t *end);
bool find_hole(size_t *start, size_t *end);
void pick_range(size_t *off, size_t *n);
const char *prot_name(int prot);
int some_prot(void);
void model_set(size_t off, size_t n, enum kind k, int file, size_t foff);
void model_known(size_t off, size_t n);

/* The steps, one per class (difftest-ops.c). */
void do_map(void);
void do_unmap(void);
void do_protect(void);
void do_mremap(void);
void do_madvise(bool fork_advice);
void do_write(void);
void do_read(void);
void do_sys(bool procmem);
void do_fork(void);
void do_torture(void);

#endif
