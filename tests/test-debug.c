/* SPDX-License-Identifier: MIT */
/*
 * test-debug.c - the debug build's invariant checks (mm/debug.h) can fail:
 * one structure is corrupted on purpose in a forked child, and the next
 * call must abort it with what was wrong.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "upager.h"
#include "mm/pager.h"
#include "store/store.h"

#define PAGES 256 /* over a budget of 64: some go to swap */

enum corruption {
	ENTRY_WRONG_FRAME, /* an entry names another page's frame */
	FRAME_TWO_LISTS,   /* a frame tagged for one list, linked on another */
	SLOT_UNREFERENCED, /* a swapped entry's slot dropped behind its back */
};

/* In a child: a budgeted pager with PAGES pages touched, @c done to it,
 * then one more call. Returns what the child wrote to stderr; *@status
 * how it ended. */
static void run_corrupted(enum corruption c, char *out, size_t outlen, int *status)
{
	char path[64];
	int fds[2];
	pid_t pid;
	ssize_t n, got = 0;

	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct upager_options o = UPAGER_OPTS(.max_resident = 64 * 4096, .swap_path = path,
						       .swap_size = 4u << 20);
		struct upager *p;
		char *m;
		void *more;

		dup2(fds[1], STDERR_FILENO);
		snprintf(path, sizeof(path), "/var/tmp/upager-test-debug-%d", getpid());
		unlink(path);
		if (upager_open(&o, &p) || upager_map(p, NULL, PAGES * 4096,
						      UPAGER_PROT_READ | UPAGER_PROT_WRITE,
						      UPAGER_MAP_PRIVATE, (void **)&m))
			_exit(2);
		/* Half the budget for the frame cases, so that reclaim stays
		 * idle; four times it for a page in swap. */
		for (int i = 0; i < (c == SLOT_UNREFERENCED ? PAGES : 32); i++)
			m[i * 4096] = (char)(i + 1);
		{
			struct region *r = region_find(&p->tree, (uintptr_t)m);
			struct object *obj = r->object;
			struct frames *fr = &p->rc.frames;
			struct page_entry *e = NULL, *other = NULL;

			pthread_mutex_lock(&p->rc.lock); /* background reclaim stays out */
			for (uint64_t i = 0; i < PAGES && c == SLOT_UNREFERENCED; i++) {
				struct page_entry *x = object_entry(obj, r->pgoff + i);

				if (x->state == PAGE_SWAPPED && x->has_slot)
					e = x;
			}
			/* Pages in memory, found from their frames. */
			for (int l = FRAME_ACTIVE; l <= FRAME_STAGED && c != SLOT_UNREFERENCED; l++)
				for (uint32_t i = frames_oldest(fr, l); i != FRAME_NONE;
				     i = frames_next(fr, i)) {
					struct page_entry *x = object_entry(fr->f[i].obj, fr->f[i].pgoff);

					if (x->frame != i)
						continue;
					if (!e)
						e = x;
					else if (!other)
						other = x;
				}
			if (!e || (c == ENTRY_WRONG_FRAME && !other)) {
				fprintf(stderr, "no page to corrupt: %u frames free of %u\n",
					frames_count(fr, FRAME_FREE), fr->n);
				_exit(3);
			}
			if (c == ENTRY_WRONG_FRAME)
				e->frame = other->frame;
			else if (c == FRAME_TWO_LISTS)
				fr->f[e->frame].list = fr->f[e->frame].list == FRAME_STAGED ?
							       FRAME_ACTIVE : FRAME_STAGED;
			else
				store_put(p->rc.store, e->slot);
			pthread_mutex_unlock(&p->rc.lock);
		}
		/* A check that finds the page lock busy waits for the next call. */
		for (int i = 0; i < 100; i++)
			upager_map(p, NULL, 4096, UPAGER_PROT_READ, UPAGER_MAP_PRIVATE, &more);
		_exit(0); /* the checks saw nothing */
	}
	close(fds[1]);
	while (got + 1 < (ssize_t)outlen && (n = read(fds[0], out + got, outlen - 1 - got)) > 0)
		got += n;
	out[got] = 0;
	close(fds[0]);
	cr_assert_eq(waitpid(pid, status, 0), pid);
}

static void expect_abort(enum corruption c, const char *what)
{
	char out[4096];
	int status;

#ifndef UPAGER_DEBUG_CHECKS
	cr_skip_test("built without -Ddebug_checks=true");
#endif
	run_corrupted(c, out, sizeof(out), &status);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
		  "the corrupted child ended with status 0x%x, not SIGABRT; it said: %s",
		  status, out);
	cr_assert(strstr(out, "upager: debug check failed after "), "no message: %s", out);
	cr_assert(strstr(out, what), "expected \"%s\" in: %s", what, out);
}

Test(debug, entry_naming_a_wrong_frame_aborts, .timeout = 30)
{
	expect_abort(ENTRY_WRONG_FRAME, "whose entry names frame");
}

Test(debug, frame_on_a_list_its_tag_does_not_name_aborts, .timeout = 30)
{
	expect_abort(FRAME_TWO_LISTS, "frame lists: frame on a list its tag does not name");
}

Test(debug, swapped_page_without_a_slot_reference_aborts, .timeout = 30)
{
	expect_abort(SLOT_UNREFERENCED, "which this process holds no reference to");
}
