/* SPDX-License-Identifier: MIT */
/*
 * streams.c - the fault-around stream table: which fault continues which
 * stream, and the windows they earn.
 */
#include "core/streams.h"

#include <string.h>

void fault_streams_init(struct fault_streams *fs, unsigned int max_pages,
			unsigned long page_size)
{
	memset(fs->s, 0, sizeof(fs->s));
	fs->clock = 0;
	fs->max = max_pages ? max_pages : 1;
	fs->start = 1;
	fs->fresh_open = false;
	fs->page_size = page_size;
	pthread_mutex_init(&fs->lock, NULL);
}

void fault_streams_destroy(struct fault_streams *fs)
{
	pthread_mutex_destroy(&fs->lock);
}

unsigned int fault_streams_window(struct fault_streams *fs, uintptr_t page)
{
	unsigned int window;

	if (fs->max == 1)
		return 1;
	pthread_mutex_lock(&fs->lock);
	/* Fresh: halved already if the latest fresh stream went nowhere
	 * (fault_streams_advance() then halves fs->start). */
	window = fs->fresh_open && fs->start > 1 ? fs->start / 2 : fs->start;
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->next == page) {
			window = s->window * 2 > fs->max ? fs->max : s->window * 2;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return window;
}

unsigned int fault_streams_window_down(struct fault_streams *fs, uintptr_t page)
{
	unsigned int window = 0;

	if (fs->max == 1)
		return 0;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->low == page + fs->page_size && s->next != page) {
			window = s->window * 2 > fs->max ? fs->max : s->window * 2;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
	return window;
}

void fault_streams_advance_down(struct fault_streams *fs, uintptr_t low, uintptr_t page)
{
	if (fs->max == 1)
		return;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->low == page + fs->page_size) {
			s->window = s->window * 2 > fs->max ? fs->max : s->window * 2;
			s->low = low;
			s->next = page + fs->page_size;
			s->last_use = ++fs->clock;
			break;
		}
	}
	pthread_mutex_unlock(&fs->lock);
}

void fault_streams_trim(struct fault_streams *fs, uintptr_t page, uintptr_t planned,
			uintptr_t end)
{
	if (fs->max == 1)
		return;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++)
		if (fs->s[i].window && fs->s[i].low == page && fs->s[i].next == planned)
			fs->s[i].next = end;
	if (fs->fresh_open && fs->fresh_next == planned)
		fs->fresh_next = end;
	pthread_mutex_unlock(&fs->lock);
}

void fault_streams_advance(struct fault_streams *fs, uintptr_t page, uintptr_t end)
{
	struct fault_stream *victim = &fs->s[0];
	unsigned int pages_done;

	if (fs->max == 1)
		return;
	pthread_mutex_lock(&fs->lock);
	for (int i = 0; i < FAULT_STREAMS; i++) {
		struct fault_stream *s = &fs->s[i];

		if (s->window && s->next == page) {
			victim = s;
			break;
		}
		if (s->last_use < victim->last_use)
			victim = s;
	}
	/* The window a stream carries is what it was given; the next fault
	 * in sequence doubles it. A fresh stream starts at fs->start, which
	 * learns from whether the latest fresh stream went on. */
	if (victim->next == page && victim->window) {
		pages_done = victim->window * 2;
		if (fs->fresh_open && fs->fresh_next == page) {
			fs->fresh_open = false;
			if (fs->start < fs->max / 2)
				fs->start *= 2;
		}
	} else {
		if (fs->fresh_open && fs->start > 1)
			fs->start /= 2;
		pages_done = fs->start;
		fs->fresh_open = true;
		fs->fresh_next = end;
	}
	victim->window = pages_done > fs->max ? fs->max : pages_done;
	victim->low = page;
	victim->next = end;
	victim->last_use = ++fs->clock;
	pthread_mutex_unlock(&fs->lock);
}
