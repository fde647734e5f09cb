/* SPDX-License-Identifier: MIT */
/*
 * log.h - the one way libupager reports: a replaceable, process-wide
 * callback (upager_set_log()), called once per failure at the boundary
 * where the context is known.
 */
#ifndef UPAGER_LOG_H
#define UPAGER_LOG_H

#include "upager.h"

#if defined(__GNUC__)
#define UPAGER_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define UPAGER_PRINTF(a, b)
#endif

void log_emit(enum upager_log_level level, const char *fmt, ...) UPAGER_PRINTF(2, 3);

#define log_error(...) log_emit(UPAGER_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_emit(UPAGER_LOG_WARN, __VA_ARGS__)
#define log_info(...) log_emit(UPAGER_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_emit(UPAGER_LOG_DEBUG, __VA_ARGS__)

/* Parse a level name ("error", "warn", "info", "debug"); -EINVAL if unknown. */
int log_level_parse(const char *name);

#endif /* UPAGER_LOG_H */
