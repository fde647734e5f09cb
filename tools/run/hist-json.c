/* SPDX-License-Identifier: MIT */
/*
 * hist-json.c - histograms to and from docs/stats-json.md's JSON.
 */
#include "hist-json.h"

struct json_object *hist_json_new(const struct hist_snapshot *s)
{
	struct json_object *h = json_object_new_object(), *list = json_object_new_array();

	for (unsigned int i = 0; i < HIST_BUCKETS; i++) {
		struct json_object *t;

		if (!s->bucket[i])
			continue;
		t = json_object_new_array();
		json_object_array_add(t, json_object_new_uint64(hist_bucket_lower(i)));
		json_object_array_add(t, json_object_new_uint64(hist_bucket_upper(i)));
		json_object_array_add(t, json_object_new_uint64(s->bucket[i]));
		json_object_array_add(list, t);
	}
	json_object_object_add(h, "count", json_object_new_uint64(s->count));
	json_object_object_add(h, "max_ns", json_object_new_uint64(s->max));
	json_object_object_add(h, "buckets", list);
	return h;
}

void hist_json_pool(struct hist_snapshot *into, struct json_object *h)
{
	struct json_object *v, *list;

	if (!json_object_object_get_ex(h, "buckets", &list) ||
	    json_object_get_type(list) != json_type_array)
		return;
	if (json_object_object_get_ex(h, "max_ns", &v) && json_object_get_uint64(v) > into->max)
		into->max = json_object_get_uint64(v);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		struct json_object *t = json_object_array_get_idx(list, i);
		uint64_t lower = json_object_get_uint64(json_object_array_get_idx(t, 0));
		uint64_t n = json_object_get_uint64(json_object_array_get_idx(t, 2));

		into->bucket[hist_bucket_of(lower)] += n;
		into->count += n;
	}
}
