/* SPDX-License-Identifier: MIT */
/*
 * upager-trace.c - the user half of upager-trace: how long user page faults
 * keep the threads of one process from running, measured in the kernel by
 * upager-trace.bpf.c (which says how a fault's end is found).
 *
 *   upager-trace [options] --pid PID
 *   upager-trace [options] -- CMD [ARGS...]
 *
 * With a command, the tracer forks, loads and attaches the BPF programs
 * while the child waits on a pipe, then lets the child exec CMD: the first
 * fault of CMD is traced. Tracing ends at Ctrl-C, after --duration, or when
 * the process (the command, or PID) exits; then the report is printed.
 *
 * Exit status: the command's (128+N when signal N ended it), 0 with --pid;
 * 125 for the tracer's own failure (usage, a PID that does not exist, the
 * BPF programs not loaded or attached).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/types.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sys/utsname.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <json-c/json.h>

#include "core/hist.h"

#include "upager-trace.h"

/* The skeleton embeds the BPF object as one long string literal. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverlength-strings"
#include "upager-trace.skel.h"
#pragma GCC diagnostic pop

/* env(1)'s and timeout(1)'s convention: 125 is the tracer's own failure
 * (usage, the BPF programs refused), any other status the command's. */
#define EXIT_FAIL 125
#define BAR_WIDTH 40

static const char *const hist_name[TRACE_NHISTS] = {
	[HIST_TOTAL] = "fault -> running again",
	[HIST_TO_SLEEP] = "fault -> asleep",
	[HIST_SLEEP] = "asleep -> woken",
	[HIST_WAKE_TO_RUN] = "woken -> on CPU",
};

static const char *const hist_key[TRACE_NHISTS] = {
	[HIST_TOTAL] = "fault_to_run",
	[HIST_TO_SLEEP] = "fault_to_sleep",
	[HIST_SLEEP] = "sleep_to_wakeup",
	[HIST_WAKE_TO_RUN] = "wakeup_to_run",
};

struct trace_opts {
	pid_t pid;          /* --pid, or the command's child */
	char **cmd;         /* the command after --, or NULL */
	double duration;    /* seconds; 0: until the process exits or a signal */
	bool json;
	bool follow;        /* trace children forked by traced processes */
	bool verbose;       /* libbpf debug output */
	const char *output; /* report file; NULL: stdout */
	struct trace_region regions[TRACE_MAX_REGIONS];
	unsigned int nregions;
};

/* What the BPF side collected, copied out after detaching. */
struct trace_result {
	struct trace_counts c;
	uint64_t hist[TRACE_NHISTS][TRACE_BUCKETS];
	uint64_t in_flight; /* faults still open when tracing stopped */
	double seconds;
	int cmd_status;     /* exit code, -signal, or INT32_MIN: still running */
};

static volatile sig_atomic_t stop_signal;
static bool verbose;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list args)
{
	if (level == LIBBPF_DEBUG && !verbose)
		return 0;
	return vfprintf(stderr, fmt, args);
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [options] --pid PID\n"
		"       %s [options] -- CMD [ARGS...]\n"
		"Time user page faults of one process: fault entry -> the thread runs again,\n"
		"for faults that sleep (userfaultfd, I/O), split into fault -> asleep ->\n"
		"woken -> on CPU. Needs root (CAP_BPF, CAP_PERFMON) and kernel BTF.\n"
		"  -p, --pid PID           trace process PID (all its threads)\n"
		"  -f, --follow            also trace processes they fork\n"
		"  -d, --duration SECONDS  stop after SECONDS (a command then gets SIGTERM)\n"
		"  -r, --region START-END  count faults in [START, END) (hex; up to %d times)\n"
		"  -j, --json              machine-readable report\n"
		"  -o, --output FILE       write the report to FILE, not stdout\n"
		"  -v, --verbose           show libbpf's debug output\n"
		"  -h, --help              this text\n"
		"      --version           upager-trace's version\n"
		"Exit status: the command's (128+N if signal N ended it), 0 with --pid;\n"
		"125 upager-trace's own failure (usage, no such PID, BPF not loaded).\n",
		prog, prog, TRACE_MAX_REGIONS);
}

static int parse_u64(const char *s, int base, uint64_t *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, base);
	return (errno || end == s || *end) ? -EINVAL : 0;
}

static int parse_region(const char *arg, struct trace_region *r)
{
	char buf[64], *dash;

	if (strlen(arg) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, arg);
	dash = strchr(buf, '-');
	if (!dash)
		return -EINVAL;
	*dash = '\0';
	if (parse_u64(buf, 16, &r->start) || parse_u64(dash + 1, 16, &r->end))
		return -EINVAL;
	return r->start < r->end ? 0 : -EINVAL;
}

/* The one line a bad value gets (with the option and what it takes),
 * as upager-run says it. */
static void bad_value(const char *opt, const char *arg, const char *want)
{
	fprintf(stderr, "upager-trace: %s '%s': not %s\n"
		"Try 'upager-trace --help' for more information.\n", opt, arg, want);
}

/* Returns 0, 1 for --help, or -EINVAL (reported). */
static int parse_args(int argc, char **argv, struct trace_opts *o)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "follow", no_argument, NULL, 'f' },
		{ "duration", required_argument, NULL, 'd' },
		{ "region", required_argument, NULL, 'r' },
		{ "json", no_argument, NULL, 'j' },
		{ "output", required_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	char *end;
	int c;

	/* '+': options end at the command's name. */
	while ((c = getopt_long(argc, argv, "+p:fd:r:jo:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (parse_u64(optarg, 10, &v) || v == 0 || v > INT32_MAX) {
				bad_value("--pid", optarg, "a process id, 1 to 2147483647");
				return -EINVAL;
			}
			o->pid = (pid_t)v;
			break;
		case 'f':
			o->follow = true;
			break;
		case 'd':
			errno = 0;
			o->duration = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->duration > 0)) {
				bad_value("--duration", optarg, "seconds, more than 0");
				return -EINVAL;
			}
			break;
		case 'r':
			if (o->nregions == TRACE_MAX_REGIONS) {
				fprintf(stderr, "upager-trace: --region: at most %d of them\n"
					"Try 'upager-trace --help' for more information.\n",
					TRACE_MAX_REGIONS);
				return -EINVAL;
			}
			if (parse_region(optarg, &o->regions[o->nregions])) {
				bad_value("--region", optarg, "START-END in hex, START < END");
				return -EINVAL;
			}
			o->nregions++;
			break;
		case 'j':
			o->json = true;
			break;
		case 'o':
			o->output = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			usage(stdout, argv[0]);
			return 1;
		case 'V':
			printf("upager-trace %s\n", UPAGER_VERSION);
			return 1;
		default: /* getopt said which */
			fprintf(stderr, "Try 'upager-trace --help' for more information.\n");
			return -EINVAL;
		}
	}
	if (optind < argc)
		o->cmd = &argv[optind];
	if (!o->pid == !o->cmd) {
		fprintf(stderr, "upager-trace: give either --pid PID or -- CMD\n"
			"Try 'upager-trace --help' for more information.\n");
		return -EINVAL;
	}
	return 0;
}

/* The thread group of @pid (a thread id may be given). */
static int tgid_of(pid_t pid, pid_t *tgid)
{
	char path[64], line[256];
	int err = -ESRCH;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", tgid) == 1) {
			err = 0;
			break;
		}
	fclose(f);
	return err;
}

/* Fork the command; it waits until a byte arrives on *@go_fd (EOF: the
 * tracer gave up, it exits 126 without running). */
static int child_spawn(char **cmd, pid_t *pid, int *go_fd)
{
	int fds[2];
	char c;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	*pid = fork();
	if (*pid < 0) {
		int err = -errno;

		close(fds[0]);
		close(fds[1]);
		return err;
	}
	if (*pid == 0) {
		close(fds[1]);
		if (read(fds[0], &c, 1) != 1)
			_exit(126);
		execvp(cmd[0], cmd);
		fprintf(stderr, "upager-trace: %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	close(fds[0]);
	*go_fd = fds[1];
	return 0;
}

static void load_failed(const char *what, int err)
{
	char msg[128];

	libbpf_strerror(err, msg, sizeof(msg));
	fprintf(stderr, "upager-trace: %s: %s\n", what, msg);
	fprintf(stderr, "upager-trace: hint: run as root (CAP_BPF and CAP_PERFMON), on a kernel "
		"with BTF (/sys/kernel/btf/vmlinux) and BTF tracepoints (tp_btf, 5.5+)%s\n",
		geteuid() == 0 ? "" : "; you are not root");
}

/* Open, configure, load and attach; returns 0 or a negative error, after
 * telling the user why. */
static int trace_start(struct upager_trace **out, const struct trace_opts *o, pid_t tgid)
{
	struct upager_trace *skel;
	__u64 zero = 0;
	__u32 key = (__u32)tgid;
	int err;

	skel = upager_trace__open();
	if (!skel) {
		err = -errno;
		load_failed("opening the BPF object", err);
		return err;
	}
	skel->rodata->follow_children = o->follow;
	skel->rodata->nregions = o->nregions;
	memcpy((void *)skel->rodata->regions, o->regions, sizeof(o->regions));

	err = upager_trace__load(skel);
	if (err) {
		load_failed("loading the BPF programs", err);
		goto out_destroy;
	}
	err = bpf_map__update_elem(skel->maps.tgids, &key, sizeof(key), &zero, sizeof(zero),
				   BPF_ANY);
	if (err) {
		load_failed("adding the process to the tgids map", err);
		goto out_destroy;
	}
	err = upager_trace__attach(skel);
	if (err) {
		load_failed("attaching the BPF programs", err);
		goto out_destroy;
	}
	*out = skel;
	return 0;

out_destroy:
	upager_trace__destroy(skel);
	return err;
}

static void trace_collect(struct upager_trace *skel, struct trace_result *r)
{
	__u32 key, next, *prev = NULL;
	__u64 val;

	r->c = skel->bss->counts;
	for (__u32 h = 0; h < TRACE_NHISTS; h++)
		for (__u32 b = 0; b < TRACE_BUCKETS; b++) {
			key = h * TRACE_BUCKETS + b;
			if (bpf_map__lookup_elem(skel->maps.hists, &key, sizeof(key), &val,
						 sizeof(val), 0) == 0)
				r->hist[h][b] = val;
		}
	r->in_flight = 0;
	while (bpf_map__get_next_key(skel->maps.inflight, prev, &next, sizeof(next)) == 0) {
		r->in_flight++;
		key = next;
		prev = &key;
	}
}

/* ---- report ----------------------------------------------------------------- */

_Static_assert(TRACE_BUCKETS == HIST_BUCKETS && TRACE_SUB_BITS == HIST_SUB_BITS,
	       "the BPF side counts in lib/core/hist.h's buckets");

static void snapshot_of(const uint64_t *h, uint64_t max, struct hist_snapshot *s)
{
	s->count = 0;
	for (unsigned int b = 0; b < HIST_BUCKETS; b++) {
		s->bucket[b] = h[b];
		s->count += h[b];
	}
	s->max = max;
}

/* Three significant digits and a unit: "16.4us". */
static const char *fmt_ns(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.3gus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.3gms", ns / 1e6);
	else
		snprintf(buf, len, "%.3gs", ns / 1e9);
	return buf;
}

/* One line per power of two (the buckets within it summed), then the
 * percentiles as the range of the bucket each falls in. */
static void print_hist(FILE *f, const char *name, const uint64_t *h, uint64_t sum, uint64_t max)
{
	static const unsigned int permille[] = { 500, 900, 990 };
	struct hist_snapshot s;
	struct hist_octaves oc;
	char a[32], b[32];

	snapshot_of(h, max, &s);
	fprintf(f, "\n%s: %" PRIu64 " faults", name, s.count);
	if (!s.count) {
		fprintf(f, "\n");
		return;
	}
	fprintf(f, ", mean %s, max %s\n", fmt_ns(a, sizeof(a), (double)sum / (double)s.count),
		fmt_ns(b, sizeof(b), (double)max));
	hist_octaves(s.bucket, &oc);
	for (unsigned int o = oc.first; o <= oc.last; o++) {
		unsigned int w = (unsigned int)((oc.n[o] * BAR_WIDTH + oc.top - 1) / oc.top);

		fprintf(f, "  %8s .. %-8s %8" PRIu64 " |%-*.*s|\n",
			fmt_ns(a, sizeof(a), (double)hist_bucket_lower(o * HIST_SUB)),
			fmt_ns(b, sizeof(b), (double)hist_bucket_upper(o * HIST_SUB + HIST_SUB - 1) + 1),
			oc.n[o], BAR_WIDTH, w, "****************************************");
	}
	fprintf(f, " ");
	for (size_t i = 0; i < sizeof(permille) / sizeof(permille[0]); i++) {
		uint64_t v = hist_snapshot_percentile(&s, permille[i]);
		unsigned int k = hist_bucket_of(v);

		fprintf(f, " p%u in [%s, %s]", permille[i] / 10,
			fmt_ns(a, sizeof(a), (double)hist_bucket_lower(k)), fmt_ns(b, sizeof(b), (double)v));
	}
	fprintf(f, "\n");
}

static void print_cmd_status(FILE *f, int status)
{
	if (status == INT32_MIN)
		fprintf(f, "still running");
	else if (status < 0)
		fprintf(f, "killed by signal %d", -status);
	else
		fprintf(f, "exited %d", status);
}

static void report_text(FILE *f, const struct trace_opts *o, const struct trace_result *r,
			struct upager_trace *skel)
{
	const struct trace_counts *c = &r->c;
	__u32 key, next, *prev = NULL;
	__u64 val;

	fprintf(f, "upager-trace: pid %d%s, %.3f s", (int)o->pid,
		o->follow ? " and its children" : "", r->seconds);
	if (o->cmd) {
		fprintf(f, ", %s ", o->cmd[0]);
		print_cmd_status(f, r->cmd_status);
	}
	fprintf(f, "\n\n");
	fprintf(f, "user page faults     %10" PRIu64 "  (%" PRIu64 " writes)\n", c->faults,
		c->faults_write);
	fprintf(f, "  slept              %10" PRIu64 "  (userfaultfd, I/O, locks: timed below)\n",
		c->slept);
	fprintf(f, "  did not sleep      %10" PRIu64 "  (kernel-handled: duration unknown)\n",
		c->awake);
	if (c->awake_woken)
		fprintf(f, "    woken before sleeping %5" PRIu64 "  (answered before the thread slept)\n",
			c->awake_woken);
	if (r->in_flight)
		fprintf(f, "  still in flight    %10" PRIu64 "\n", r->in_flight);
	if (c->abandoned)
		fprintf(f, "  thread exited      %10" PRIu64 "\n", c->abandoned);
	if (c->lost)
		fprintf(f, "  not tracked (map full) %6" PRIu64 "\n", c->lost);
	if (c->no_wakeup)
		fprintf(f, "  slept, wakeup unseen %8" PRIu64 "  (no split)\n", c->no_wakeup);

	fprintf(f, "\nHistograms: one line per power of two of nanoseconds; a percentile is\n"
		   "known to its bucket (within 6.25%%); means and maxima are exact.\n");
	for (unsigned int h = 0; h < TRACE_NHISTS; h++)
		print_hist(f, hist_name[h], r->hist[h], c->sum_ns[h], c->max_ns[h]);

	if (o->nregions) {
		fprintf(f, "\nregions:\n");
		for (unsigned int i = 0; i < o->nregions; i++)
			fprintf(f, "  0x%" PRIx64 "-0x%" PRIx64 "  faults %" PRIu64 "  slept %"
				PRIu64 "  did not sleep %" PRIu64 "\n", (uint64_t)o->regions[i].start,
				(uint64_t)o->regions[i].end, (uint64_t)c->region_faults[i],
				(uint64_t)c->region_slept[i], (uint64_t)c->region_awake[i]);
		fprintf(f, "  elsewhere  faults %" PRIu64 "  slept %" PRIu64 "\n",
			(uint64_t)c->other_faults, (uint64_t)c->other_slept);
	}
	fprintf(f, "\nfaults by process:\n");
	while (bpf_map__get_next_key(skel->maps.tgids, prev, &next, sizeof(next)) == 0) {
		if (bpf_map__lookup_elem(skel->maps.tgids, &next, sizeof(next), &val,
					 sizeof(val), 0) == 0)
			fprintf(f, "  tgid %-8u %10" PRIu64 "\n", next, (uint64_t)val);
		key = next;
		prev = &key;
	}
}

static struct json_object *json_hist(const uint64_t *h, uint64_t sum, uint64_t max)
{
	static const unsigned int permille[] = { 500, 900, 990 };
	struct hist_snapshot s;
	struct json_object *o = json_object_new_object(), *list = json_object_new_array();

	snapshot_of(h, max, &s);
	json_object_object_add(o, "count", json_object_new_uint64(s.count));
	json_object_object_add(o, "sum_ns", json_object_new_uint64(sum));
	json_object_object_add(o, "max_ns", json_object_new_uint64(max));
	for (size_t i = 0; i < sizeof(permille) / sizeof(permille[0]); i++) {
		struct json_object *range = NULL;
		char key[16];

		if (s.count) {
			uint64_t v = hist_snapshot_percentile(&s, permille[i]);

			range = json_object_new_array();
			json_object_array_add(range, json_object_new_uint64(hist_bucket_lower(hist_bucket_of(v))));
			json_object_array_add(range, json_object_new_uint64(v));
		}
		snprintf(key, sizeof(key), "p%u_ns", permille[i] / 10);
		json_object_object_add(o, key, range);
	}
	for (unsigned int b = 0; b < HIST_BUCKETS; b++) {
		struct json_object *t;

		if (!s.bucket[b])
			continue;
		t = json_object_new_array();
		json_object_array_add(t, json_object_new_uint64(hist_bucket_lower(b)));
		json_object_array_add(t, json_object_new_uint64(hist_bucket_upper(b)));
		json_object_array_add(t, json_object_new_uint64(s.bucket[b]));
		json_object_array_add(list, t);
	}
	json_object_object_add(o, "buckets", list);
	return o;
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_uint64(v));
}

/* @awake: faults that did not sleep, or UINT64_MAX where not counted. */
static struct json_object *json_region(const char *start, const char *end, uint64_t faults,
				       uint64_t slept, uint64_t awake)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "start", start ? json_object_new_string(start) : NULL);
	json_object_object_add(o, "end", end ? json_object_new_string(end) : NULL);
	add_u64(o, "faults", faults);
	add_u64(o, "slept", slept);
	if (awake != UINT64_MAX)
		add_u64(o, "awake", awake);
	return o;
}

/* The report as one JSON object (docs/stats-json.md's conventions: schema,
 * version, kernel; histograms as count, max_ns and [lower, upper, n]
 * buckets), written with json-c, one member per line. */
static void report_json(FILE *f, const struct trace_opts *o, const struct trace_result *r,
			struct upager_trace *skel)
{
	const struct trace_counts *c = &r->c;
	struct json_object *rep = json_object_new_object(), *lat = json_object_new_object();
	struct json_object *regions = json_object_new_array(), *tgids = json_object_new_object();
	__u32 key, next, *prev = NULL;
	struct utsname u;
	__u64 val;

	json_object_object_add(rep, "schema", json_object_new_int(1));
	json_object_object_add(rep, "record", json_object_new_string("trace"));
	json_object_object_add(rep, "version", json_object_new_string(UPAGER_VERSION));
	json_object_object_add(rep, "kernel", json_object_new_string(uname(&u) ? "" : u.release));
	json_object_object_add(rep, "pid", json_object_new_int((int)o->pid));
	json_object_object_add(rep, "follow", json_object_new_boolean(o->follow));
	json_object_object_add(rep, "seconds", json_object_new_double(r->seconds));
	if (o->cmd)
		json_object_object_add(rep, "command_status", r->cmd_status == INT32_MIN ? NULL :
				       json_object_new_int(r->cmd_status));
	add_u64(rep, "faults", c->faults);
	add_u64(rep, "faults_write", c->faults_write);
	add_u64(rep, "faults_slept", c->slept);
	add_u64(rep, "faults_awake", c->awake);
	add_u64(rep, "faults_awake_woken", c->awake_woken);
	add_u64(rep, "faults_in_flight", r->in_flight);
	add_u64(rep, "faults_abandoned", c->abandoned);
	add_u64(rep, "faults_lost", c->lost);
	add_u64(rep, "slept_no_wakeup", c->no_wakeup);
	for (unsigned int h = 0; h < TRACE_NHISTS; h++)
		json_object_object_add(lat, hist_key[h], json_hist(r->hist[h], c->sum_ns[h],
								   c->max_ns[h]));
	json_object_object_add(rep, "latency", lat);
	for (unsigned int i = 0; i < o->nregions; i++) {
		char start[24], end[24];

		snprintf(start, sizeof(start), "0x%" PRIx64, (uint64_t)o->regions[i].start);
		snprintf(end, sizeof(end), "0x%" PRIx64, (uint64_t)o->regions[i].end);
		json_object_array_add(regions, json_region(start, end, c->region_faults[i],
							   c->region_slept[i], c->region_awake[i]));
	}
	json_object_array_add(regions, json_region(NULL, NULL, c->other_faults, c->other_slept, UINT64_MAX));
	json_object_object_add(rep, "regions", regions);
	while (bpf_map__get_next_key(skel->maps.tgids, prev, &next, sizeof(next)) == 0) {
		if (bpf_map__lookup_elem(skel->maps.tgids, &next, sizeof(next), &val,
					 sizeof(val), 0) == 0) {
			char k[16];

			snprintf(k, sizeof(k), "%u", next);
			add_u64(tgids, k, val);
		}
		key = next;
		prev = &key;
	}
	json_object_object_add(rep, "tgids", tgids);
	fprintf(f, "%s\n", json_object_to_json_string_ext(rep, JSON_C_TO_STRING_PRETTY |
							      JSON_C_TO_STRING_SPACED));
	json_object_put(rep);
}

/* ---- main ----------------------------------------------------------------- */

/* Wait for the end: the process exits (its pidfd turns readable), a signal,
 * or the deadline. Returns true when the process exited. */
static bool wait_end(int pidfd, double deadline, const sigset_t *unblocked)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	for (;;) {
		struct timespec ts, *tsp = NULL;
		int n;

		if (deadline > 0) {
			double left = deadline - now_seconds();

			if (left <= 0)
				return false;
			ts.tv_sec = (time_t)left;
			ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
			tsp = &ts;
		}
		n = ppoll(&p, 1, tsp, unblocked);
		if (stop_signal)
			return false;
		if (n > 0)
			return true;
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "upager-trace: ppoll: %s\n", strerror(errno));
			return false;
		}
	}
}

/* The command's status: exit code, -signal, or INT32_MIN if it is still
 * running @grace seconds after @sig (0: no signal) was sent. */
static int child_reap(pid_t pid, int pidfd, int sig, double grace)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };
	int status;

	if (sig)
		kill(pid, sig);
	poll(&p, 1, (int)(grace * 1000));
	if (waitpid(pid, &status, WNOHANG) != pid)
		return INT32_MIN;
	if (WIFSIGNALED(status))
		return -WTERMSIG(status);
	return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
	struct trace_opts o = { 0 };
	struct trace_result *r;
	struct upager_trace *skel = NULL;
	struct sigaction sa = { .sa_handler = on_signal };
	sigset_t stops, unblocked;
	pid_t tgid;
	int err, pidfd, go_fd = -1;
	bool exited;
	double t0;
	FILE *out = stdout;

	err = parse_args(argc, argv, &o);
	if (err)
		return err > 0 ? 0 : EXIT_FAIL;
	verbose = o.verbose;
	libbpf_set_print(libbpf_print);

	if (o.output) {
		out = fopen(o.output, "we");
		if (!out) {
			fprintf(stderr, "upager-trace: %s: %s\n", o.output, strerror(errno));
			return EXIT_FAIL;
		}
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		fprintf(stderr, "upager-trace: out of memory\n");
		return EXIT_FAIL;
	}

	if (o.cmd) {
		err = child_spawn(o.cmd, &o.pid, &go_fd);
		if (err) {
			fprintf(stderr, "upager-trace: fork: %s\n", strerror(-err));
			return EXIT_FAIL;
		}
		tgid = o.pid;
	} else {
		err = tgid_of(o.pid, &tgid);
		if (err) {
			fprintf(stderr, "upager-trace: pid %d: %s\n", (int)o.pid, strerror(-err));
			return EXIT_FAIL;
		}
		o.pid = tgid;
	}
	pidfd = (int)syscall(SYS_pidfd_open, o.pid, 0);
	if (pidfd < 0) {
		fprintf(stderr, "upager-trace: pidfd_open(%d): %s\n", (int)o.pid, strerror(errno));
		if (o.cmd) {
			close(go_fd);
			waitpid(o.pid, NULL, 0);
		}
		return EXIT_FAIL;
	}

	/* Stop signals are taken only inside ppoll(): no race with the wait. */
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGHUP);
	sigprocmask(SIG_BLOCK, &stops, &unblocked);
	sigdelset(&unblocked, SIGINT);
	sigdelset(&unblocked, SIGTERM);
	sigdelset(&unblocked, SIGHUP);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	err = trace_start(&skel, &o, tgid);
	if (err) {
		if (o.cmd) {
			close(go_fd); /* the child exits without running the command */
			waitpid(o.pid, NULL, 0);
		}
		return EXIT_FAIL;
	}

	t0 = now_seconds();
	if (o.cmd) {
		if (write(go_fd, "g", 1) != 1)
			fprintf(stderr, "upager-trace: releasing the command: %s\n", strerror(errno));
		close(go_fd);
	}
	exited = wait_end(pidfd, o.duration > 0 ? t0 + o.duration : 0, &unblocked);
	r->seconds = now_seconds() - t0;
	upager_trace__detach(skel);
	trace_collect(skel, r);

	r->cmd_status = INT32_MIN;
	if (o.cmd) {
		int sig = exited ? 0 : stop_signal ? stop_signal : SIGTERM;

		r->cmd_status = child_reap(o.pid, pidfd, sig, exited ? 0 : 1.0);
		if (r->cmd_status > 0 && exited)
			fprintf(stderr, "upager-trace: %s exited with status %d\n", o.cmd[0],
				r->cmd_status);
		else if (r->cmd_status < 0 && r->cmd_status != INT32_MIN && exited)
			fprintf(stderr, "upager-trace: %s was killed by signal %d\n", o.cmd[0],
				-r->cmd_status);
	}

	if (o.json)
		report_json(out, &o, r, skel);
	else
		report_text(out, &o, r, skel);
	if (out != stdout)
		fclose(out);
	else
		fflush(out);
	upager_trace__destroy(skel);
	close(pidfd);
	err = !o.cmd || r->cmd_status == INT32_MIN ? 0 :
	      r->cmd_status < 0 ? 128 - r->cmd_status : r->cmd_status;
	free(r);
	return err;
}
