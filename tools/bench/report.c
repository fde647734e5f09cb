/* SPDX-License-Identifier: MIT */
/*
 * report.c - upager-bench's JSON: the envelope and the pieces every
 * subcommand's rows are made of (docs/BENCHMARKS.md, "JSON output").
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "hist-json.h"
#include "upager.h"

struct json_object *report_new(const char *subcommand, struct json_object *config)
{
	struct json_object *root = json_object_new_object();
	struct utsname u;

	/* Ten significant digits: no 0.30000000000000004 in a report. */
	json_c_set_serialization_double_format("%.10g", JSON_C_OPTION_GLOBAL);
	json_object_object_add(root, "schema", json_object_new_int(BENCH_JSON_SCHEMA));
	json_object_object_add(root, "record", json_object_new_string("bench"));
	json_object_object_add(root, "tool", json_object_new_string("upager-bench"));
	json_object_object_add(root, "tool_version", json_object_new_string(UPAGER_VERSION));
	json_object_object_add(root, "version", json_object_new_string(upager_version()));
	json_object_object_add(root, "kernel", json_object_new_string(uname(&u) ? "" : u.release));
	json_object_object_add(root, "subcommand", json_object_new_string(subcommand));
	json_object_object_add(root, "config", config);
	json_object_object_add(root, "rows", json_object_new_array());
	json_object_object_add(root, "targets", json_object_new_array());
	json_object_object_add(root, "notes", json_object_new_array());
	return root;
}

struct json_object *report_config(size_t page, unsigned int runs, uint64_t seed,
				  const char *aggregate)
{
	struct json_object *c = json_object_new_object();

	report_u64(c, "page_size", page);
	report_u64(c, "runs", runs);
	report_u64(c, "seed", seed);
	report_str(c, "aggregate", aggregate);
	return c;
}

void report_config_paged(struct json_object *config, uint64_t budget, unsigned int handlers,
			 uint64_t pages, uint64_t ops)
{
	report_u64(config, "budget_bytes", budget);
	report_u64(config, "handlers", handlers);
	report_u64(config, "pages", pages);
	report_u64(config, "ops", ops);
}

static struct json_object *part(struct json_object *root, const char *key)
{
	struct json_object *a = NULL;

	json_object_object_get_ex(root, key, &a);
	return a;
}

struct json_object *report_row(struct json_object *root, const char *impl)
{
	struct json_object *row = json_object_new_object();

	report_str(row, "impl", impl);
	json_object_array_add(part(root, "rows"), row);
	return row;
}

void report_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

void report_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

void report_bool(struct json_object *o, const char *key, bool v)
{
	json_object_object_add(o, key, json_object_new_boolean(v));
}

void report_num(struct json_object *o, const char *key, double v, bool valid)
{
	json_object_object_add(o, key, valid && isfinite(v) ? json_object_new_double(v) : NULL);
}

void report_ratio(struct json_object *o, const char *key, double v)
{
	report_num(o, key, v, v > 0);
}

/* The shape of docs/stats-json.md's histograms, written as the shim and
 * upager-run write them (tools/run/hist-json.c): the buckets are the
 * library's. */
void report_hist(struct json_object *o, const char *key, const struct bench_hist *h)
{
	struct hist_snapshot s = { .count = h->n, .max = h->max };

	_Static_assert(sizeof(s.bucket) == sizeof(h->count), "the library's buckets");
	memcpy(s.bucket, h->count, sizeof(s.bucket));
	json_object_object_add(o, key, hist_json_new(&s));
}

void report_target(struct json_object *root, const char *what, bool measured, double value,
		   double bound, bool at_most)
{
	struct json_object *t = json_object_new_object();

	report_str(t, "what", what);
	report_num(t, "value", value, measured);
	report_num(t, "bound", bound, true);
	report_bool(t, "at_most", at_most);
	json_object_object_add(t, "met", measured && isfinite(bound) ?
			       json_object_new_boolean(at_most ? value <= bound : value >= bound) :
			       NULL);
	json_object_array_add(part(root, "targets"), t);
}

void report_note(struct json_object *root, const char *text)
{
	json_object_array_add(part(root, "notes"), json_object_new_string(text));
}

int report_print(struct json_object *root, bool data_ok)
{
	int err;

	report_bool(root, "data_ok", data_ok);
	err = puts(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY |
						  JSON_C_TO_STRING_NOSLASHESCAPE)) < 0 ? -EIO : 0;
	json_object_put(root);
	if (fflush(stdout))
		err = -EIO;
	return err;
}
