/* SPDX-License-Identifier: MIT */
/*
 * thread.c - starting and stopping the engine's own threads (thread.h
 * has why their signals are blocked).
 */
#define _GNU_SOURCE
#include <signal.h>

#include "os/thread.h"

int thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = -pthread_create(t, attr, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

void thread_stop(pthread_t t, pthread_mutex_t *lock, pthread_cond_t *cond, bool *stop)
{
	pthread_mutex_lock(lock);
	*stop = true;
	pthread_cond_signal(cond);
	pthread_mutex_unlock(lock);
	pthread_join(t, NULL);
}
