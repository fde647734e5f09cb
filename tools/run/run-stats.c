/* SPDX-License-Identifier: MIT */
/*
 * run-stats.c - upager-run's --stats-json: each process of a run appends
 * its record to a private file; at the end the launcher copies them,
 * checked by a JSON parser, to the destination it opened before the run
 * (a file, or standard output through a pipe), and adds up the run's.
 * The destination is written once, in order, never read back: a pipe or
 * a terminal works as well as a file.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <json-c/json.h>

#include "upager.h"
#include "run-stats.h"
#include "stats-fields.h"

static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int run_stats_open(struct run_stats *rs, const char *dest)
{
	const char *tmp = getenv("TMPDIR");

	if (!strcmp(dest, "-")) {
		rs->out_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	} else if (!strncmp(dest, "/dev/", 5)) {
		/* /dev/stdout, /dev/fd/N are symbolic links by design, and
		 * nobody else plants links in /dev. */
		rs->out_fd = open(dest, O_WRONLY | O_APPEND | O_CLOEXEC);
	} else {
		/* Never a symlink's target: a file some other user pointed
		 * the path at. */
		rs->out_fd = open(dest, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	if (rs->out_fd < 0) {
		fprintf(stderr, "upager-run: --stats-json %s: %s\n", dest,
			errno == ELOOP ? "a symbolic link; refusing to follow it" : strerror(errno));
		return -1;
	}
	snprintf(rs->collect_path, sizeof(rs->collect_path), "%s/upager-run-stats.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	rs->collect_fd = mkostemp(rs->collect_path, O_CLOEXEC);
	if (rs->collect_fd < 0) {
		fprintf(stderr, "upager-run: --stats-json: cannot make %s: %s\n", rs->collect_path,
			strerror(errno));
		close(rs->out_fd);
		return -1;
	}
	setenv("UPAGER_STATS_JSON", rs->collect_path, 1);
	return 0;
}

static void put_line(struct run_stats *rs, struct json_object *rec, int *err)
{
	const char *s = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_SPACED);

	if (!*err)
		*err = write_all(rs->out_fd, s, strlen(s));
	if (!*err)
		*err = write_all(rs->out_fd, "\n", 1);
}

void run_stats_finish(struct run_stats *rs, const char *command, int exit_code, int signal,
		      bool paged, long maxrss_kib, double secs)
{
#define TOTAL(f) uint64_t total_##f = 0;
	UPAGER_STATS_SUMMED(TOTAL)
#undef TOTAL
	struct json_object *run = json_object_new_object(), *totals = json_object_new_object();
	FILE *in = fdopen(rs->collect_fd, "r");
	unsigned int processes = 0, malformed = 0;
	char *line = NULL;
	size_t cap = 0;
	struct utsname u;
	int err = 0;

	while (in && getline(&line, &cap, in) > 0) {
		struct json_object *rec = json_tokener_parse(line), *stats;

		if (!rec || !json_object_object_get_ex(rec, "stats", &stats)) {
			malformed++;
			json_object_put(rec);
			continue;
		}
		processes++;
#define SUM(f) do { struct json_object *v; \
		if (json_object_object_get_ex(stats, #f, &v)) total_##f += json_object_get_uint64(v); \
	} while (0);
		UPAGER_STATS_SUMMED(SUM)
#undef SUM
		put_line(rs, rec, &err);
		json_object_put(rec);
	}
	free(line);
	if (malformed)
		fprintf(stderr, "upager-run: --stats-json: %u malformed records in %s left out\n",
			malformed, rs->collect_path);
	json_object_object_add(run, "schema", json_object_new_int(STATS_JSON_SCHEMA));
	json_object_object_add(run, "record", json_object_new_string("run"));
	json_object_object_add(run, "launcher", json_object_new_string("upager-run"));
	json_object_object_add(run, "version", json_object_new_string(upager_version()));
	json_object_object_add(run, "kernel", json_object_new_string(uname(&u) ? "" : u.release));
	json_object_object_add(run, "command", json_object_new_string(command));
	json_object_object_add(run, "status", json_object_new_int(exit_code));
	json_object_object_add(run, "signal", json_object_new_int(signal));
	json_object_object_add(run, "paged", json_object_new_boolean(paged));
	json_object_object_add(run, "seconds", json_object_new_double(secs));
	json_object_object_add(run, "ru_maxrss_kib", json_object_new_int64(maxrss_kib));
	json_object_object_add(run, "processes", json_object_new_int((int)processes));
#define ADD(f) json_object_object_add(totals, #f, json_object_new_uint64(total_##f));
	UPAGER_STATS_SUMMED(ADD)
#undef ADD
	json_object_object_add(run, "totals", totals);
	put_line(rs, run, &err);
	json_object_put(run);
	if (err)
		fprintf(stderr, "upager-run: --stats-json: writing: %s\n", strerror(-err));
	if (in)
		fclose(in);
	else
		close(rs->collect_fd);
	unlink(rs->collect_path);
	close(rs->out_fd);
}
