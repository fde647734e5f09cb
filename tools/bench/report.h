/* SPDX-License-Identifier: MIT */
/*
 * report.h - upager-bench's one JSON schema (docs/BENCHMARKS.md, "JSON
 * output"), written with json-c: every subcommand's object has the same
 * envelope (schema, tool and library versions, kernel release,
 * subcommand, configuration) and the same parts (rows, targets, notes,
 * data_ok), with one name for one measure across subcommands
 * (pages_per_s, p50_us, max_us, ...).
 */
#ifndef UPAGER_BENCH_REPORT_H
#define UPAGER_BENCH_REPORT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hist.h"

/* The schema's version: new keys keep it; a key removed or changed in
 * meaning bumps it. */
#define BENCH_JSON_SCHEMA 1

/* The envelope of @subcommand's report; @config (owned from here on) is
 * its settings. Put it with report_print(). */
struct json_object *report_new(const char *subcommand, struct json_object *config);
/* A report's config object with what every run has: the page size, the
 * runs, the seed of its random orders and how rows are made of runs. */
struct json_object *report_config(size_t page, unsigned int runs, uint64_t seed,
				  const char *aggregate);
/* And what an out-of-core run (swap, file) has: upager's frame budget and
 * handler threads (0: the library's), the pages, the random accesses. */
void report_config_paged(struct json_object *config, uint64_t budget, unsigned int handlers,
			 uint64_t pages, uint64_t ops);
/* A new row of @root for implementation @impl, owned by @root. */
struct json_object *report_row(struct json_object *root, const char *impl);
void report_str(struct json_object *o, const char *key, const char *v);
void report_u64(struct json_object *o, const char *key, uint64_t v);
void report_bool(struct json_object *o, const char *key, bool v);
/* A measure; null when @valid is false. */
void report_num(struct json_object *o, const char *key, double v, bool valid);
/* A ratio: null when it has no value (a missing baseline, @v <= 0). */
void report_ratio(struct json_object *o, const char *key, double v);
/* [lower ns, upper ns, count] of each non-empty bucket of @h. */
void report_hist(struct json_object *o, const char *key, const struct bench_hist *h);
/* A target: what, its value (null when not @measured), its bound (null
 * when NAN: a comparison without one) and whether it is an upper bound;
 * met (null without a value or a bound). */
void report_target(struct json_object *root, const char *what, bool measured, double value,
		   double bound, bool at_most);
void report_note(struct json_object *root, const char *text);
/* Add data_ok, write @root to stdout and put it. Returns 0 or -EIO. */
int report_print(struct json_object *root, bool data_ok);

#endif
