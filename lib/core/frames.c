/* SPDX-License-Identifier: MIT */
/*
 * frames.c - the frame table and its intrusive doubly linked lists.
 */
#define _GNU_SOURCE
#include "core/frames.h"

#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>

/* The table's address space, reserved for the whole budget: only pages
 * of it that frames in use have touched take memory (never-used frames
 * come from the high-water mark, fr->fresh), so a 16 GiB budget costs
 * what its frames in use need. calloc would do the same with glibc, but
 * an allocator that commits what it hands out (mimalloc, preloaded by
 * upager-run) made it 40 bytes for every budget page at once. */
static size_t table_bytes(uint32_t n)
{
	return (size_t)(n ? n : 1) * sizeof(struct frame);
}

static void unlink_frame(struct frames *fr, uint32_t i)
{
	struct frame *f = &fr->f[i];
	struct frame_list_head *l = &fr->list[f->list];

	if (f->prev != FRAME_NONE)
		fr->f[f->prev].next = f->next;
	else
		l->head = f->next;
	if (f->next != FRAME_NONE)
		fr->f[f->next].prev = f->prev;
	else
		l->tail = f->prev;
	l->count--;
	f->prev = f->next = FRAME_NONE;
}

static void append_frame(struct frames *fr, uint32_t i, enum frame_list to)
{
	struct frame *f = &fr->f[i];
	struct frame_list_head *l = &fr->list[to];

	f->list = (uint8_t)to;
	f->next = FRAME_NONE;
	f->prev = l->tail;
	if (l->tail != FRAME_NONE)
		fr->f[l->tail].next = i;
	else
		l->head = i;
	l->tail = i;
	l->count++;
}

int frames_init(struct frames *fr, uint32_t n)
{
	void *m = mmap(NULL, table_bytes(n), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (m == MAP_FAILED)
		return -ENOMEM;
	fr->n = n;
	fr->f = m;
	for (int l = 0; l < FRAME_LISTS; l++)
		fr->list[l] = (struct frame_list_head){ FRAME_NONE, FRAME_NONE, 0 };
	fr->fresh = n;
	fr->withheld = 0;
	fr->list[FRAME_FREE].count = n;
	return 0;
}

void frames_destroy(struct frames *fr)
{
	if (fr->f)
		munmap(fr->f, table_bytes(fr->n));
	fr->f = NULL;
	fr->n = 0;
}

void frames_set_limit(struct frames *fr, uint32_t limit)
{
	if (limit > fr->n)
		limit = fr->n;
	if (!limit && fr->n)
		limit = 1;
	fr->withheld = fr->n - limit;
}

uint32_t frames_take(struct frames *fr, struct object *obj, uint64_t pgoff,
		     uintptr_t addr, enum frame_list to)
{
	uint32_t i = fr->list[FRAME_FREE].head;

	if (!frames_count(fr, FRAME_FREE))
		return FRAME_NONE;
	if (i != FRAME_NONE) {
		unlink_frame(fr, i);
	} else if (fr->fresh) {
		i = fr->n - fr->fresh--;
		fr->list[FRAME_FREE].count--;
		fr->f[i].prev = fr->f[i].next = FRAME_NONE;
	} else {
		return FRAME_NONE;
	}
	fr->f[i].obj = obj;
	fr->f[i].pgoff = pgoff;
	fr->f[i].addr = addr;
	fr->f[i].referenced = 0;
	fr->f[i].readahead = 0;
	append_frame(fr, i, to);
	return i;
}

void frames_move(struct frames *fr, uint32_t i, enum frame_list to)
{
	unlink_frame(fr, i);
	append_frame(fr, i, to);
}

void frames_release(struct frames *fr, uint32_t i)
{
	unlink_frame(fr, i);
	fr->f[i].obj = NULL;
	append_frame(fr, i, FRAME_FREE);
}

int frames_validate(const struct frames *fr, const char **why)
{
	uint32_t total = 0;

	*why = NULL;
	for (int l = 0; l < FRAME_LISTS && !*why; l++) {
		uint32_t count = 0, prev = FRAME_NONE;

		for (uint32_t i = fr->list[l].head; i != FRAME_NONE; i = fr->f[i].next) {
			if (i >= fr->n || count > fr->n) {
				*why = "list link out of range or cycle";
				break;
			}
			if (fr->f[i].list != l)
				*why = "frame on a list its tag does not name";
			else if (fr->f[i].prev != prev)
				*why = "broken back link";
			prev = i;
			count++;
		}
		if (l == FRAME_FREE)
			count += fr->fresh; /* counted, not linked */
		if (!*why && (count != fr->list[l].count || prev != fr->list[l].tail))
			*why = "list count or tail wrong";
		total += count;
	}
	if (!*why && total != fr->n)
		*why = "frames lost from every list";
	return *why ? -EUCLEAN : 0;
}
