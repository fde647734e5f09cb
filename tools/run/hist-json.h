/* SPDX-License-Identifier: MIT */
/*
 * hist-json.h - a histogram as docs/stats-json.md writes it: count, max_ns
 * and the non-empty buckets as [lower ns, upper ns, count], in
 * core/hist.h's buckets (the shim writes them, upager-run pools them).
 */
#ifndef UPAGER_HIST_JSON_H
#define UPAGER_HIST_JSON_H

#include <json-c/json.h>

#include "core/hist.h"

struct json_object *hist_json_new(const struct hist_snapshot *s);

/* Add the histogram @h (as hist_json_new() writes it) into @into. */
void hist_json_pool(struct hist_snapshot *into, struct json_object *h);

#endif /* UPAGER_HIST_JSON_H */
