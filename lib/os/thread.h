/* SPDX-License-Identifier: MIT */
/*
 * thread.h - the engine's own threads (handlers, the worker, kswapd):
 * started with every signal blocked, stopped by a flag they wait for.
 *
 * The program's signals are the program's: its handler, run on one of
 * upager's threads, could touch paged memory that thread is meant to
 * serve, or find upager's locks held (signals.h). A thread is therefore
 * born with every signal blocked; the mask is set only around the
 * create, so the caller's own is as it was on every return.
 */
#ifndef UPAGER_THREAD_H
#define UPAGER_THREAD_H

#include <pthread.h>
#include <stdbool.h>

/* pthread_create() (@attr may be NULL) with every signal blocked in the
 * new thread. Returns 0 or -errno. */
int thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

/* Tell @t to end and wait until it has: *@stop set under @lock, @cond
 * signalled (the thread waits on it under @lock and ends once it sees
 * *@stop), then joined. Call only in the process that started @t. */
void thread_stop(pthread_t t, pthread_mutex_t *lock, pthread_cond_t *cond, bool *stop);

#endif /* UPAGER_THREAD_H */
