/* SPDX-License-Identifier: MIT */
/*
 * thread-exit.c - a program that ends by its threads ending, not by
 * exit: the main thread calls pthread_exit, alone ("alone"), before a
 * detached worker that ends by returning ("worker"), or after forking
 * from a second thread, whose child does the same ("fork"). Natively the
 * C library ends the process with exit(0) when its last thread ends
 * (atexit handlers run); under upager it must too, though upager's own
 * threads are still there.
 *
 * usage: thread-exit alone|worker|fork
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *heap; /* touched by every thread: paged memory */

static void at_exit(void)
{
	printf("atexit ran, heap[0]=%d\n", heap[0]);
	fflush(stdout);
}

static void *worker(void *arg)
{
	(void)arg;
	usleep(100 * 1000);
	memset(heap, 7, 1 << 20);
	puts("worker ends");
	return NULL;
}

static void *forker(void *arg)
{
	pid_t pid;
	int st;

	(void)arg;
	pid = fork();
	if (pid == 0) {
		pthread_t t;

		/* The child's only thread is this one: it starts another and
		 * leaves by pthread_exit. */
		pthread_create(&t, NULL, worker, NULL);
		pthread_detach(t);
		puts("child: forking thread exits");
		fflush(stdout);
		pthread_exit(NULL);
	}
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return (void *)1;
	printf("child status %d\n", st);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	pthread_t t;

	heap = malloc(1 << 20);
	memset(heap, 1, 1 << 20);
	atexit(at_exit);
	if (!strcmp(mode, "worker")) {
		pthread_create(&t, NULL, worker, NULL);
		pthread_detach(t);
	} else if (!strcmp(mode, "fork")) {
		void *ret;

		pthread_create(&t, NULL, forker, NULL);
		pthread_join(t, &ret);
		if (ret)
			return 1;
	} else if (strcmp(mode, "alone")) {
		fprintf(stderr, "usage: thread-exit alone|worker|fork\n");
		return 2;
	}
	puts("main thread exits");
	fflush(stdout);
	pthread_exit(NULL);
}
