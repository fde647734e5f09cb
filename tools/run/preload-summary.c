/* SPDX-License-Identifier: MIT */
/*
 * preload-summary.c - the statistics summary of a program run under
 * upager-run: on stderr at exit and on SIGUSR1 (UPAGER_STATS=1), and as a
 * JSON line appended to UPAGER_STATS_JSON by every process of the run
 * (docs/stats-json.md).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <json-c/json.h>

#include "upager.h"
#include "core/hist.h"
#include "hist-json.h"
#include "preload.h"
#include "stats-fields.h"

static int stats_pipe[2] = { -1, -1 };

static uint64_t vm_hwm_kib(void)
{
	char buf[4096];
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	char *hwm;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	hwm = strstr(buf, "VmHWM:");
	return hwm ? strtoull(hwm + 6, NULL, 10) : 0;
}

/* The kernel's name for this process (what ps shows), into @buf. */
static void comm(char *buf, size_t len)
{
	int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = 0;
	buf[strcspn(buf, "\n")] = 0;
}

/* One of this pager's histograms (UPAGER_HIST_*), through the public
 * call, as docs/stats-json.md writes it. */
static struct json_object *hist_json(int which)
{
	/* Not static: the exit, SIGUSR1 and interval records may be made at
	 * once by three threads. */
	struct upager_hist_bucket *b = calloc(UPAGER_HIST_MAX_BUCKETS, sizeof(*b));
	struct hist_snapshot *s = calloc(1, sizeof(*s));
	struct upager_hist h = UPAGER_HIST(b, b ? UPAGER_HIST_MAX_BUCKETS : 0);
	struct json_object *o;

	if (s && b && !upager_stats_hist(preload_pager, which, &h)) {
		for (uint32_t i = 0; i < h.nbuckets; i++)
			s->bucket[hist_bucket_of(b[i].lower_ns)] = b[i].count;
		s->count = h.count;
		s->max = h.max_ns;
	}
	o = s ? hist_json_new(s) : json_object_new_null();
	free(s);
	free(b);
	return o;
}

static struct json_object *histograms_json(void)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "fault_service_ns", hist_json(UPAGER_HIST_FAULT_SERVICE));
	json_object_object_add(o, "swap_read_ns", hist_json(UPAGER_HIST_SWAP_READ));
	json_object_object_add(o, "swap_write_ns", hist_json(UPAGER_HIST_SWAP_WRITE));
	return o;
}

/*
 * This process's record (docs/stats-json.md), one line appended to
 * @path: every process of the run adds its own, and upager-run reads
 * them back. Appended, and never through a symlink: its target is not
 * the run's.
 */
static void append_json(const char *path, const char *why, const struct upager_stats *st,
			uint64_t hwm)
{
	struct json_object *rec = json_object_new_object(), *stats = json_object_new_object();
	char name[32];
	struct utsname u;
	const char *line;
	int fd;

	comm(name, sizeof(name));
	json_object_object_add(rec, "schema", json_object_new_int(STATS_JSON_SCHEMA));
	json_object_object_add(rec, "record", json_object_new_string("process"));
	json_object_object_add(rec, "version", json_object_new_string(upager_version()));
	json_object_object_add(rec, "kernel", json_object_new_string(uname(&u) ? "" : u.release));
	json_object_object_add(rec, "pid", json_object_new_int(getpid()));
	json_object_object_add(rec, "comm", json_object_new_string(name));
	json_object_object_add(rec, "when", json_object_new_string(why));
	json_object_object_add(rec, "peak_resident_kib", json_object_new_uint64(hwm));
	json_object_object_add(rec, "page_size", json_object_new_int((int)sysconf(_SC_PAGESIZE)));
#define ADD(f) json_object_object_add(stats, #f, json_object_new_uint64(st->f));
	UPAGER_STATS_FIELDS(ADD)
#undef ADD
	json_object_object_add(rec, "stats", stats);
	json_object_object_add(rec, "histograms", histograms_json());
	line = json_object_to_json_string_ext(rec, JSON_C_TO_STRING_SPACED);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		preload_say("stats: %s: %s", path,
			    errno == ELOOP ? "a symbolic link; not followed" : strerror(errno));
	} else {
		/* One write: the lines of processes ending together do not mix. */
		struct iovec iov[2] = { { (void *)line, strlen(line) }, { "\n", 1 } };

		(void)!writev(fd, iov, 2);
		close(fd);
	}
	json_object_put(rec);
}

/*
 * A percentile as the range of the histogram bucket it fell in: the
 * histogram knows no more (6.25% wide buckets), and a bucket edge printed
 * to 0.1 us alone ("589.8 us" in unrelated runs) claims a precision it
 * lacks.
 */
static const char *bucket_range(char *buf, size_t len, uint64_t ns)
{
	uint64_t lo = hist_bucket_lower(hist_bucket_of(ns));

	double div = ns >= 10000000 ? 1e6 : 1e3;
	int prec = ns / (uint64_t)div >= 10 ? 0 : 1;

	if (!ns)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.*f-%.*f %s", prec, (double)lo / div, prec, (double)ns / div,
			 div > 1e3 ? "ms" : "us");
	return buf;
}

static double mib(uint64_t pages)
{
	return (double)pages * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

static double per(uint64_t n, uint64_t d)
{
	return d ? (double)n / (double)d : 0;
}

/* The summary: on stderr when @human; as a JSON line appended to
 * UPAGER_STATS_JSON (every process of the run adds its own, upager-run
 * adds them up) when @json. */
void preload_print_summary(const char *why, bool human, const char *json)
{
	struct upager_stats st = UPAGER_STATS();
	uint64_t hwm = vm_hwm_kib();

	if (!preload_pager || upager_stats_read(preload_pager, &st))
		return;
	if (human) {
		/* Printed from the shim's destructor: later destructors and
		 * exit itself still run, so the kernel's final peak
		 * (upager-run's getrusage line) can only be higher. */
		preload_say("%s: peak resident (VmHWM) %.1f MiB so far, budget %.1f MiB, now %.1f MiB paged in",
		    why, (double)hwm / 1024, mib(st.budget_pages), mib(st.pages_resident));
		if (st.rss_cap_pages)
			preload_say("the highest resident set measured, %.1f MiB of the %.1f MiB cap: "
			    "%.1f MiB paged by upager, %.1f MiB not (text, libraries, stacks, small "
			    "and shared mappings, upager's own memory; of it %.1f MiB upager's frame "
			    "table); upager may page %.1f MiB now",
			    mib(st.peak_rss_pages), mib(st.rss_cap_pages), mib(st.peak_paged_pages),
			    mib(st.peak_unpaged_pages), mib(st.peak_own_pages),
			    mib(st.frame_limit_pages));
		if (st.unpaged_over_cap)
			preload_say("WARNING: what upager does not page alone left it less than a "
			    "sixteenth of the %.1f MiB cap: the cap could NOT be held (map less "
			    "outside upager, lower UPAGER_RUN_MIN, or raise --max-resident)",
			    mib(st.rss_cap_pages));
		preload_say("faults %llu (read %llu, write %llu); zero fills %llu",
		    (unsigned long long)st.faults, (unsigned long long)st.faults_read,
		    (unsigned long long)st.faults_write, (unsigned long long)st.zero_fills);
		preload_say("evictions %llu (written %llu = %.1f MiB, clean drops %llu, zero drops %llu); "
		    "swap-ins %llu = %.1f MiB (read ahead %llu); inactive pages touched again %llu "
		    "(and %llu brought back beside them)",
		    (unsigned long long)(st.writebacks + st.clean_drops + st.zero_drops),
		    (unsigned long long)st.writebacks, mib(st.writebacks),
		    (unsigned long long)st.clean_drops, (unsigned long long)st.zero_drops,
		    (unsigned long long)st.swapins, mib(st.swapins),
		    (unsigned long long)st.readahead_pages, (unsigned long long)st.reactivations,
		    (unsigned long long)st.reactivated_around);
		if (st.pool_stored || st.same_filled || st.compress_rejected)
			preload_say("compressed tier: pool %.1f MiB holding %llu pages (ratio %.2f); "
			    "stored %llu, same-filled %llu, rejected (incompressible) %llu, "
			    "written back %llu", (double)st.pool_bytes / 1048576,
			    (unsigned long long)st.pool_pages, (double)st.compress_ratio_pct / 100,
			    (unsigned long long)st.pool_stored, (unsigned long long)st.same_filled,
			    (unsigned long long)st.compress_rejected,
			    (unsigned long long)st.pool_written_back);
		if (st.swap_read_submits || st.swap_write_submits)
			preload_say("swap submits: reads %llu (%.2f requests each, %.2f pages per submit), "
			    "writes %llu (%.2f requests each, %.2f pages per submit)",
			    (unsigned long long)st.swap_read_submits,
			    per(st.swap_read_sqes, st.swap_read_submits),
			    per(st.swapins, st.swap_read_submits),
			    (unsigned long long)st.swap_write_submits,
			    per(st.swap_write_sqes, st.swap_write_submits),
			    per(st.writebacks, st.swap_write_submits));
		char p50[48], p99[48], rd[48], wr[48];

		preload_say("fault service p50 %s, p99 %s; swap read p50 %s, write p50 %s",
		    bucket_range(p50, sizeof(p50), st.service_ns_p50),
		    bucket_range(p99, sizeof(p99), st.service_ns_p99),
		    bucket_range(rd, sizeof(rd), st.swap_read_ns_p50),
		    bucket_range(wr, sizeof(wr), st.swap_write_ns_p50));
	}
	if (json)
		append_json(json, why, &st, hwm);
}

bool preload_is_run_process(void)
{
	const char *pid = getenv("UPAGER_RUN_PID");

	return pid && atoi(pid) == (int)getpid();
}

static void on_sigusr1(int sig)
{
	(void)sig;
	if (stats_pipe[1] >= 0)
		(void)!write(stats_pipe[1], "", 1);
}

/* SIGUSR1 only wakes this thread: the summary takes locks. */
static void *stats_thread(void *arg)
{
	char c;

	(void)arg;
	while (read(stats_pipe[0], &c, 1) == 1 || errno == EINTR)
		preload_print_summary("on SIGUSR1", true, NULL);
	return NULL;
}

/* UPAGER_STATS_INTERVAL: a record every so many seconds, beside the
 * one at exit. Its own thread (not upager-*: it allocates, and is no
 * fault path), sleeping between records. */
static void *interval_thread(void *arg)
{
	struct timespec ts = { .tv_sec = (time_t)(uintptr_t)arg };

	for (;;) {
		while (nanosleep(&ts, &ts))
			;
		ts.tv_sec = (time_t)(uintptr_t)arg;
		preload_print_summary("interval", false, getenv("UPAGER_STATS_JSON"));
	}
	return NULL;
}

void preload_start_stats_interval(unsigned int seconds)
{
	sigset_t all, prev;
	pthread_t t;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &prev);
	if (!pthread_create(&t, NULL, interval_thread, (void *)(uintptr_t)seconds)) {
		pthread_setname_np(t, "stats-interval");
		pthread_detach(t);
	}
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
}

void preload_start_stats_signal(void)
{
	struct sigaction sa = { .sa_handler = on_sigusr1, .sa_flags = SA_RESTART }, old;
	sigset_t all, prev;
	pthread_t t;

	if (sigaction(SIGUSR1, NULL, &old) || old.sa_handler != SIG_DFL)
		return; /* the program's own: leave it */
	if (pipe2(stats_pipe, O_CLOEXEC))
		return;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &prev);
	if (!pthread_create(&t, NULL, stats_thread, NULL)) {
		pthread_detach(t);
		sigaction(SIGUSR1, &sa, NULL);
	}
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
}

