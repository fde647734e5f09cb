/* SPDX-License-Identifier: MIT */
/*
 * preload-threads.c - the program's threads, counted apart from upager's.
 *
 * The C library ends a process when its last thread ends by pthread_exit
 * or by returning from its start routine (glibc calls exit(0) when its
 * thread count reaches zero). upager's own threads (fault handlers, the
 * worker, reclaim, the summary's) are in that count, so a program whose
 * main thread calls pthread_exit after its other threads are done, or
 * before them, would never end under upager: the process lived on with
 * only upager's threads, and a parent waiting for it hung (CPython's
 * test_threading forks from a thread and ends the child that way).
 *
 * So the shim keeps its own count of the program's threads: the main
 * thread, and every thread the program creates with pthread_create
 * (upager's own, created from this library's code, are not counted). A
 * thread-specific key's destructor runs whenever a counted thread ends,
 * however it ends; the last one calls exit(0), as the C library would
 * have. A fork child starts with one: the thread that forked.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "preload.h"

typedef int pthread_create_fn(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);

static pthread_create_fn *real_pthread_create;
static pthread_key_t counted_key;
static bool counting;
static atomic_int program_threads = 1;

struct start {
	void *(*fn)(void *);
	void *arg;
};

static void counted_thread_ended(void *value)
{
	(void)value;
	if (atomic_fetch_sub(&program_threads, 1) == 1)
		exit(0);
}

static void count_this_thread(void)
{
	pthread_setspecific(counted_key, (void *)1);
}

static void *counted_start(void *p)
{
	struct start s = *(struct start *)p;

	free(p);
	count_this_thread();
	return s.fn(s.arg);
}

static void fork_child(void)
{
	atomic_store(&program_threads, 1);
}

static void resolve(void)
{
	/* POSIX's way to take a function from dlsym(). */
	*(void **)&real_pthread_create = dlsym(RTLD_NEXT, "pthread_create");
}

void preload_threads_init(void)
{
	resolve();
	if (!real_pthread_create || pthread_key_create(&counted_key, counted_thread_ended))
		return;
	pthread_atfork(NULL, NULL, fork_child);
	count_this_thread(); /* the constructor runs on the main thread */
	counting = true;
}

EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg)
{
	struct start *s;
	int err;

	if (!real_pthread_create)
		resolve();
	if (!real_pthread_create)
		return EAGAIN;
	if (!counting || preload_from_self((uintptr_t)__builtin_return_address(0)))
		return real_pthread_create(thread, attr, fn, arg);
	if (!(s = malloc(sizeof(*s))))
		return EAGAIN;
	*s = (struct start){ fn, arg };
	atomic_fetch_add(&program_threads, 1);
	err = real_pthread_create(thread, attr, counted_start, s);
	if (err) {
		atomic_fetch_sub(&program_threads, 1);
		free(s);
	}
	return err;
}
