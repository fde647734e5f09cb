/* SPDX-License-Identifier: MIT */
/*
 * log.c - the replaceable log callback and its stderr default.
 */
#include "core/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const level_names[] = { "error", "warn", "info", "debug" };

/* The default's threshold, read once from UPAGER_LOG. */
static int default_threshold = UPAGER_LOG_WARN;
static pthread_once_t threshold_once = PTHREAD_ONCE_INIT;

int log_level_parse(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (!strcmp(name, level_names[i]))
			return (int)i;
	return -EINVAL;
}

static void read_threshold(void)
{
	const char *env = getenv("UPAGER_LOG");
	int level = env ? log_level_parse(env) : -EINVAL;

	if (level >= 0)
		default_threshold = level;
}

static void log_to_stderr(enum upager_log_level level, const char *fmt, va_list args)
{
	char line[512];

	pthread_once(&threshold_once, read_threshold);
	if ((int)level > default_threshold)
		return;
	/* One write per message so lines from several threads do not mix. */
	vsnprintf(line, sizeof(line), fmt, args);
	/* The pid tells apart the pagers of a run's processes (valgrind's
	 * ==pid==): a python3 under upager-run opens several. */
	fprintf(stderr, "upager[%d]: %s: %s\n", (int)getpid(), level_names[level], line);
}

static _Atomic(upager_log_fn) log_fn = log_to_stderr;

upager_log_fn upager_set_log(upager_log_fn fn)
{
	return atomic_exchange(&log_fn, fn);
}

void log_emit(enum upager_log_level level, const char *fmt, ...)
{
	upager_log_fn fn = atomic_load(&log_fn);
	va_list args;

	if (!fn)
		return;
	va_start(args, fmt);
	fn(level, fmt, args);
	va_end(args);
}
