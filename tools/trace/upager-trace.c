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
 * Exit status: 0 done, 1 the BPF programs could not be loaded or attached,
 * 2 usage (including a PID that does not exist).
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

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "upager-trace.h"

/* The skeleton embeds the BPF object as one long string literal. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverlength-strings"
#include "upager-trace.skel.h"
#pragma GCC diagnostic pop

#define EXIT_LOAD 1
#define EXIT_USAGE 2
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
		"Exit status: 0 done, 1 BPF load/attach failed, 2 usage.\n",
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
				fprintf(stderr, "upager-trace: bad --pid '%s'\n", optarg);
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
				fprintf(stderr, "upager-trace: bad --duration '%s'\n", optarg);
				return -EINVAL;
			}
			break;
		case 'r':
			if (o->nregions == TRACE_MAX_REGIONS) {
				fprintf(stderr, "upager-trace: at most %d --region\n",
					TRACE_MAX_REGIONS);
				return -EINVAL;
			}
			if (parse_region(optarg, &o->regions[o->nregions])) {
				fprintf(stderr, "upager-trace: bad --region '%s' "
					"(want START-END in hex, START < END)\n", optarg);
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
		default:
			usage(stderr, argv[0]);
			return -EINVAL;
		}
	}
	if (optind < argc)
		o->cmd = &argv[optind];
	if (!o->pid == !o->cmd) {
		fprintf(stderr, "upager-trace: give either --pid PID or -- CMD\n");
		usage(stderr, argv[0]);
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

static uint64_t bucket_lo(unsigned int b)
{
	return b ? (uint64_t)1 << b : 0;
}

static uint64_t bucket_hi(unsigned int b)
{
	return b >= 63 ? UINT64_MAX : (uint64_t)1 << (b + 1);
}

static uint64_t hist_count(const uint64_t *h)
{
	uint64_t n = 0;

	for (unsigned int b = 0; b < TRACE_BUCKETS; b++)
		n += h[b];
	return n;
}

/* The bucket holding the nearest-rank @pct percentile of @h (n > 0). */
static unsigned int hist_percentile(const uint64_t *h, uint64_t n, unsigned int pct)
{
	uint64_t rank = (n * pct + 99) / 100, seen = 0;

	if (!rank)
		rank = 1;
	for (unsigned int b = 0; b < TRACE_BUCKETS; b++) {
		seen += h[b];
		if (seen >= rank)
			return b;
	}
	return TRACE_BUCKETS - 1;
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

static void print_hist(FILE *f, const char *name, const uint64_t *h, uint64_t sum, uint64_t max)
{
	static const unsigned int pcts[] = { 50, 90, 99 };
	uint64_t n = hist_count(h), top = 0;
	unsigned int first = TRACE_BUCKETS, last = 0;
	char a[32], b[32];

	fprintf(f, "\n%s: %" PRIu64 " faults", name, n);
	if (!n) {
		fprintf(f, "\n");
		return;
	}
	fprintf(f, ", mean %s, max %s\n", fmt_ns(a, sizeof(a), (double)sum / (double)n),
		fmt_ns(b, sizeof(b), (double)max));
	for (unsigned int i = 0; i < TRACE_BUCKETS; i++) {
		if (!h[i])
			continue;
		if (first == TRACE_BUCKETS)
			first = i;
		last = i;
		if (h[i] > top)
			top = h[i];
	}
	for (unsigned int i = first; i <= last; i++) {
		unsigned int w = (unsigned int)((h[i] * BAR_WIDTH + top - 1) / top);

		fprintf(f, "  %8s .. %-8s %8" PRIu64 " |%-*.*s|\n",
			fmt_ns(a, sizeof(a), (double)bucket_lo(i)),
			fmt_ns(b, sizeof(b), (double)bucket_hi(i)), h[i], BAR_WIDTH, w,
			"****************************************");
	}
	fprintf(f, " ");
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		unsigned int k = hist_percentile(h, n, pcts[i]);

		fprintf(f, " p%u in [%s, %s)", pcts[i], fmt_ns(a, sizeof(a), (double)bucket_lo(k)),
			fmt_ns(b, sizeof(b), (double)bucket_hi(k)));
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

	fprintf(f, "\nHistograms: log2 buckets of nanoseconds, [2^k, 2^(k+1)); a percentile is\n"
		   "known only to its bucket (within a factor of 2); means and maxima are exact.\n");
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

static void json_hist(FILE *f, const char *key, const uint64_t *h, uint64_t sum, uint64_t max,
		      bool last)
{
	static const unsigned int pcts[] = { 50, 90, 99 };
	uint64_t n = hist_count(h);
	bool first = true;

	fprintf(f, "    \"%s\": {\"count\": %" PRIu64 ", \"sum_ns\": %" PRIu64
		", \"max_ns\": %" PRIu64, key, n, sum, max);
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		unsigned int k = n ? hist_percentile(h, n, pcts[i]) : 0;

		if (n)
			fprintf(f, ", \"p%u_ns\": [%" PRIu64 ", %" PRIu64 "]", pcts[i],
				bucket_lo(k), bucket_hi(k));
		else
			fprintf(f, ", \"p%u_ns\": null", pcts[i]);
	}
	fprintf(f, ", \"buckets\": [");
	for (unsigned int b = 0; b < TRACE_BUCKETS; b++) {
		if (!h[b])
			continue;
		fprintf(f, "%s[%" PRIu64 ", %" PRIu64 ", %" PRIu64 "]", first ? "" : ", ",
			bucket_lo(b), bucket_hi(b), h[b]);
		first = false;
	}
	fprintf(f, "]}%s\n", last ? "" : ",");
}

/* One member per line, so that a shell script can pick members with sed. */
static void report_json(FILE *f, const struct trace_opts *o, const struct trace_result *r,
			struct upager_trace *skel)
{
	const struct trace_counts *c = &r->c;
	__u32 key, next, *prev = NULL;
	__u64 val;
	bool first = true;

	fprintf(f, "{\n");
	fprintf(f, "  \"pid\": %d,\n", (int)o->pid);
	fprintf(f, "  \"follow\": %s,\n", o->follow ? "true" : "false");
	fprintf(f, "  \"seconds\": %.6f,\n", r->seconds);
	if (o->cmd) {
		fprintf(f, "  \"command_status\": ");
		if (r->cmd_status == INT32_MIN)
			fprintf(f, "null,\n");
		else
			fprintf(f, "%d,\n", r->cmd_status);
	}
	fprintf(f, "  \"faults\": %" PRIu64 ",\n", (uint64_t)c->faults);
	fprintf(f, "  \"faults_write\": %" PRIu64 ",\n", (uint64_t)c->faults_write);
	fprintf(f, "  \"faults_slept\": %" PRIu64 ",\n", (uint64_t)c->slept);
	fprintf(f, "  \"faults_awake\": %" PRIu64 ",\n", (uint64_t)c->awake);
	fprintf(f, "  \"faults_awake_woken\": %" PRIu64 ",\n", (uint64_t)c->awake_woken);
	fprintf(f, "  \"faults_in_flight\": %" PRIu64 ",\n", r->in_flight);
	fprintf(f, "  \"faults_abandoned\": %" PRIu64 ",\n", (uint64_t)c->abandoned);
	fprintf(f, "  \"faults_lost\": %" PRIu64 ",\n", (uint64_t)c->lost);
	fprintf(f, "  \"slept_no_wakeup\": %" PRIu64 ",\n", (uint64_t)c->no_wakeup);
	fprintf(f, "  \"bucket_resolution\": \"log2: bucket [2^k, 2^(k+1)) ns; "
		   "percentiles are [lo, hi) of their bucket\",\n");
	fprintf(f, "  \"latency\": {\n");
	for (unsigned int h = 0; h < TRACE_NHISTS; h++)
		json_hist(f, hist_key[h], r->hist[h], c->sum_ns[h], c->max_ns[h],
			  h + 1 == TRACE_NHISTS);
	fprintf(f, "  },\n");
	fprintf(f, "  \"regions\": [\n");
	for (unsigned int i = 0; i < o->nregions; i++)
		fprintf(f, "    {\"start\": \"0x%" PRIx64 "\", \"end\": \"0x%" PRIx64
			"\", \"faults\": %" PRIu64 ", \"slept\": %" PRIu64 ", \"awake\": %" PRIu64
			"},\n", (uint64_t)o->regions[i].start, (uint64_t)o->regions[i].end,
			(uint64_t)c->region_faults[i], (uint64_t)c->region_slept[i],
			(uint64_t)c->region_awake[i]);
	fprintf(f, "    {\"start\": null, \"end\": null, \"faults\": %" PRIu64
		", \"slept\": %" PRIu64 "}\n", (uint64_t)c->other_faults,
		(uint64_t)c->other_slept);
	fprintf(f, "  ],\n");
	fprintf(f, "  \"tgids\": {");
	while (bpf_map__get_next_key(skel->maps.tgids, prev, &next, sizeof(next)) == 0) {
		if (bpf_map__lookup_elem(skel->maps.tgids, &next, sizeof(next), &val,
					 sizeof(val), 0) == 0) {
			fprintf(f, "%s\"%u\": %" PRIu64, first ? "" : ", ", next, (uint64_t)val);
			first = false;
		}
		key = next;
		prev = &key;
	}
	fprintf(f, "}\n}\n");
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
		return err > 0 ? 0 : EXIT_USAGE;
	verbose = o.verbose;
	libbpf_set_print(libbpf_print);

	if (o.output) {
		out = fopen(o.output, "we");
		if (!out) {
			fprintf(stderr, "upager-trace: %s: %s\n", o.output, strerror(errno));
			return EXIT_USAGE;
		}
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		fprintf(stderr, "upager-trace: out of memory\n");
		return EXIT_LOAD;
	}

	if (o.cmd) {
		err = child_spawn(o.cmd, &o.pid, &go_fd);
		if (err) {
			fprintf(stderr, "upager-trace: fork: %s\n", strerror(-err));
			return EXIT_LOAD;
		}
		tgid = o.pid;
	} else {
		err = tgid_of(o.pid, &tgid);
		if (err) {
			fprintf(stderr, "upager-trace: pid %d: %s\n", (int)o.pid, strerror(-err));
			return EXIT_USAGE;
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
		return o.cmd ? EXIT_LOAD : EXIT_USAGE;
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
		return EXIT_LOAD;
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
		if (r->cmd_status != 0 && r->cmd_status != INT32_MIN && exited)
			fprintf(stderr, "upager-trace: %s exited with status %d\n", o.cmd[0],
				r->cmd_status);
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
	free(r);
	return 0;
}
