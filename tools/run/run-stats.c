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
#include "hist-json.h"
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

	if (!dest) {
		rs->out_fd = -1; /* collected for --plot alone */
	} else if (!strcmp(dest, "-")) {
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
	if (dest && rs->out_fd < 0) {
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
		if (rs->out_fd >= 0)
			close(rs->out_fd);
		return -1;
	}
	setenv("UPAGER_STATS_JSON", rs->collect_path, 1);
	rs->in = NULL;
	rs->processes = rs->malformed = 0;
	rs->err = 0;
	memset(&rs->total, 0, sizeof(rs->total));
	memset(rs->hist, 0, sizeof(rs->hist));
	return 0;
}

const char *const run_hist_names[RUN_HISTS] = { "fault_service_ns", "swap_read_ns",
						  "swap_write_ns" };

/* Add a process record's histograms into the run's. */
static void pool_hists(struct run_stats *rs, struct json_object *rec)
{
	struct json_object *all, *h;

	if (!json_object_object_get_ex(rec, "histograms", &all))
		return;
	for (int k = 0; k < RUN_HISTS; k++)
		if (json_object_object_get_ex(all, run_hist_names[k], &h))
			hist_json_pool(&rs->hist[k], h);
}

static struct json_object *hists_json(const struct run_stats *rs)
{
	struct json_object *all = json_object_new_object();

	for (int k = 0; k < RUN_HISTS; k++)
		json_object_object_add(all, run_hist_names[k], hist_json_new(&rs->hist[k]));
	return all;
}

static void put_line(struct run_stats *rs, struct json_object *rec, int *err)
{
	const char *s = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_SPACED);

	if (rs->out_fd < 0)
		return;
	if (!*err)
		*err = write_all(rs->out_fd, s, strlen(s));
	if (!*err)
		*err = write_all(rs->out_fd, "\n", 1);
}

/*
 * Copy the records the processes appended since the last call, checked
 * by the parser, to the destination; sum the ones made at exit. A line
 * still being written (no newline yet) waits for the next call.
 */
void run_stats_pump(struct run_stats *rs)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	if (!rs->in && !(rs->in = fdopen(dup(rs->collect_fd), "r")))
		return;
	for (;;) {
		long at = ftell(rs->in);
		struct json_object *rec, *stats, *when;

		n = getline(&line, &cap, rs->in);
		if (n <= 0 || line[n - 1] != '\n') {
			clearerr(rs->in);
			fseek(rs->in, at, SEEK_SET);
			break;
		}
		rec = json_tokener_parse(line);
		if (!rec || !json_object_object_get_ex(rec, "stats", &stats)) {
			rs->malformed++;
			json_object_put(rec);
			continue;
		}
		/* A process's interval records come before its last. */
		if (json_object_object_get_ex(rec, "when", &when) &&
		    !strcmp(json_object_get_string(when), "at exit")) {
			rs->processes++;
#define SUM(f) do { struct json_object *v; \
		if (json_object_object_get_ex(stats, #f, &v)) rs->total.f += json_object_get_uint64(v); \
	} while (0);
			UPAGER_STATS_SUMMED(SUM)
#undef SUM
			pool_hists(rs, rec);
		}
		put_line(rs, rec, &rs->err);
		json_object_put(rec);
	}
	free(line);
}

void run_stats_finish(struct run_stats *rs, const char *command, int exit_code, int signal,
		      bool paged, long maxrss_kib, double secs)
{
	struct json_object *run = json_object_new_object(), *totals = json_object_new_object();
	struct utsname u;

	run_stats_pump(rs);
	if (rs->malformed)
		fprintf(stderr, "upager-run: --stats-json: %u malformed records in %s left out\n",
			rs->malformed, rs->collect_path);
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
	json_object_object_add(run, "processes", json_object_new_int((int)rs->processes));
#define ADD(f) json_object_object_add(totals, #f, json_object_new_uint64(rs->total.f));
	UPAGER_STATS_SUMMED(ADD)
#undef ADD
	json_object_object_add(run, "totals", totals);
	json_object_object_add(run, "histograms", hists_json(rs));
	put_line(rs, run, &rs->err);
	json_object_put(run);
	if (rs->err)
		fprintf(stderr, "upager-run: --stats-json: writing: %s\n", strerror(-rs->err));
	if (rs->in)
		fclose(rs->in);
	close(rs->collect_fd);
	unlink(rs->collect_path);
	if (rs->out_fd >= 0)
		close(rs->out_fd);
}
