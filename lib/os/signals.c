/* SPDX-License-Identifier: MIT */
/*
 * signals.c - blocking the program's asynchronous signals across upager's
 * calls (signals.h has why).
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "os/signals.h"

void signals_block(struct signals_saved *s)
{
	static const int synchronous[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS };
	sigset_t async;

	sigfillset(&async);
	for (unsigned i = 0; i < sizeof(synchronous) / sizeof(synchronous[0]); i++)
		sigdelset(&async, synchronous[i]);
	pthread_sigmask(SIG_BLOCK, &async, &s->old);
}

void signals_restore(const struct signals_saved *s)
{
	pthread_sigmask(SIG_SETMASK, &s->old, NULL);
}
