/* SPDX-License-Identifier: MIT */
/*
 * harness.c - the one harness of upager-bench's subcommands: clock,
 * pinning, patterns, command-line conventions, progress, cleanup.
 */
#define _GNU_SOURCE
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "upager-internal.h"

const char *bench_cmd = "upager-bench";

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int pin_cpu(pthread_t thread, unsigned int cpu)
{
	cpu_set_t cpus;

	CPU_ZERO(&cpus);
	CPU_SET(cpu, &cpus);
	return -pthread_setaffinity_np(thread, sizeof(cpus), &cpus);
}

int nth_allowed_cpu(unsigned int idx)
{
	cpu_set_t allowed;
	unsigned int n = 0, count;

	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return -errno;
	count = (unsigned int)CPU_COUNT(&allowed);
	if (!count)
		return -EINVAL;
	idx %= count;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &allowed) && n++ == idx)
			return cpu;
	return -EINVAL;
}

void bench_file_name(char *buf, size_t len, const char *dir, const char *what)
{
	const char *sub = strchr(bench_cmd, ' ');

	snprintf(buf, len, "%s/upager-bench-%s-%d.%s", dir, sub ? sub + 1 : "run", (int)getpid(),
		 what);
}

int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int err = 0;

	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0)
		err = -errno;
	else if ((size_t)n != strlen(text))
		err = -EIO;
	close(fd);
	return err;
}

int read_u64_file(const char *path, uint64_t *out)
{
	FILE *f = fopen(path, "re");
	unsigned long long v;
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%llu", &v) == 1;
	fclose(f);
	if (!ok)
		return -EINVAL;
	*out = v;
	return 0;
}

uint64_t bench_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* The tail differs from the head, so a page is never all zeros (it must
 * be written out), and a page shifted, swapped with another or from
 * another generation fails. */
uint64_t pattern_gen_head(uint64_t idx, uint64_t gen)
{
	return bench_mix64(idx * 0x9e3779b97f4a7c15ull + (gen << 1) + 1);
}

uint64_t pattern_gen_tail(uint64_t idx, uint64_t gen)
{
	return ~pattern_gen_head(idx, gen) ^ (idx << 8) ^ 0xa5;
}

/* ---- the command line ------------------------------------------------------------- */

int opt_try(void)
{
	fprintf(stderr, "Try '%s --help'.\n", bench_cmd);
	return -EINVAL;
}

int opt_bad(const char *name, const char *s, const char *range)
{
	fprintf(stderr, "%s: invalid value for --%s: '%s' (%s)\n", bench_cmd, name, s, range);
	return opt_try();
}

int opt_unknown(char **argv, int c)
{
	const char *arg = argv[optind - 1];
	bool is_long = !strncmp(arg, "--", 2);

	if (c == ':' && is_long)
		fprintf(stderr, "%s: option %s needs a value\n", bench_cmd, arg);
	else if (c == ':')
		fprintf(stderr, "%s: option -%c needs a value\n", bench_cmd, optopt);
	else if (is_long || !optopt)
		fprintf(stderr, "%s: unknown option %s\n", bench_cmd, arg);
	else
		fprintf(stderr, "%s: unknown option -%c\n", bench_cmd, optopt);
	return opt_try();
}

int opt_u64(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char range[64], *end;
	unsigned long long v;

	snprintf(range, sizeof(range), "a whole number, %llu to %llu", (unsigned long long)min,
		 (unsigned long long)max);
	if (!s || *s < '0' || *s > '9')
		return opt_bad(name, s ? s : "", range);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return opt_bad(name, s, range);
	*out = v;
	return 0;
}

/* A size's bound as the option takes it: "64G", "256K", "4096". */
static void size_text(char *buf, size_t len, uint64_t v)
{
	static const char units[] = "KMGT";
	int u = -1;

	while (u < 3 && v && v % 1024 == 0) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%llu", (unsigned long long)v);
	else
		snprintf(buf, len, "%llu%c", (unsigned long long)v, units[u]);
}

int opt_size(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char range[96], lo[24], hi[24];
	uint64_t v;

	size_text(lo, sizeof(lo), min);
	size_text(hi, sizeof(hi), max);
	snprintf(range, sizeof(range), "a size, %s to %s; K, M, G, T are binary", lo, hi);
	if (options_parse_size(s, &v) || v < min || v > max)
		return opt_bad(name, s, range);
	*out = v;
	return 0;
}

int opt_double(const char *name, const char *s, double min, double max, double *out)
{
	char range[64], *end;
	double v;

	snprintf(range, sizeof(range), "a number above %g, at most %g", min, max);
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || !(v > min && v <= max))
		return opt_bad(name, s, range);
	*out = v;
	return 0;
}

int opt_common(int c, const char *arg, uint64_t max_runs, void (*usage)(void),
	       struct common_opts *o)
{
	uint64_t v;
	int err;

	switch (c) {
	case OPT_C_RUNS:
		return opt_u64("runs", arg, 1, max_runs, &o->runs);
	case OPT_C_QUICK:
	case OPT_C_JSON:
	case 'v':
	case OPT_C_PROGRESS:
		*(c == OPT_C_QUICK ? &o->quick : c == OPT_C_JSON ? &o->json :
		  c == 'v' ? &o->verbose : &o->progress_forced) = true;
		return 0;
	case 'h':
		usage();
		return 1;
	case OPT_C_VERSION:
		printf("upager-bench %s (libupager %s)\n", UPAGER_VERSION, upager_version());
		return 1;
	case OPT_C_HANDLERS:
		err = opt_u64("handlers", arg, 1, 64, &v);
		o->handlers = (unsigned int)v;
		return err;
	case OPT_C_DIR:
		o->dir = arg;
		return 0;
	case OPT_C_BUDGET:
		return opt_size("budget", arg, 1, 1ull << 44, &o->budget);
	case OPT_C_OPS:
		return opt_u64("ops", arg, 1, BENCH_MAX_OPS, &o->ops);
	default:
		return -ENOENT;
	}
}

int opt_other(int c, char **argv, uint64_t max_runs, void (*usage)(void), struct common_opts *o)
{
	int err = opt_common(c, optarg, max_runs, usage, o);

	return err == -ENOENT ? opt_unknown(argv, c) : err;
}

void opt_help_common(int col, const char *bad)
{
	static const char *const lines[][2] = {
		{ "  --json", "one JSON object on stdout (upager-bench(1), JSON)" },
		{ "  -v, --verbose", "say each measurement as it starts, on stderr" },
		{ "      --progress", "progress and time left on stderr even when it is no" },
		{ "", "terminal (on one, always)" },
		{ "  -h, --help", "this text" },
		{ "      --version", "upager-bench's and the library's version" },
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		printf("%-*s%s\n", col, lines[i][0], lines[i][1]);
	printf("\nExit status: 0 measured, every page right; 1 %s;\n"
	       "125 upager-bench failed (usage, setup, no userfaultfd); 128+N signal N.\n", bad);
}

uint64_t opt_pick(const struct common_opts *o, uint64_t given, uint64_t quick, uint64_t dflt)
{
	return given ? given : o->quick ? quick : dflt;
}

int opt_sizes(const struct common_opts *o, const char *what, const uint64_t sizes[3],
	      const uint64_t budgets[2], size_t page, bool warn, uint64_t *size,
	      uint64_t *budget)
{
	*size = opt_pick(o, sizes[0], sizes[1], sizes[2]) / page * page;
	*budget = opt_pick(o, o->budget, budgets[0], budgets[1]) / page * page;
	if (*size / page < 64 || *size / page > UINT32_MAX) {
		fprintf(stderr, "%s: the %s must hold 64 pages at least\n", bench_cmd, what);
		return opt_try();
	}
	if (*budget < (256u << 10)) {
		fprintf(stderr, "%s: the budget must be 256 KiB at least\n", bench_cmd);
		return opt_try();
	}
	if (warn && *budget >= *size)
		fprintf(stderr, "%s: warning: budget >= %s size: nothing will be paged out\n",
			bench_cmd, what);
	return 0;
}

int opt_rest(int argc, char **argv)
{
	if (optind >= argc)
		return 0;
	fprintf(stderr, "%s: unexpected argument: %s\n", bench_cmd, argv[optind]);
	return opt_try();
}

int opt_parse(int argc, char **argv, const struct option *longopts,
	      int (*own)(int c, const char *arg, void *ctx), void *ctx, uint64_t max_runs,
	      void (*usage)(void), struct common_opts *o)
{
	int c, err = 0;

	opterr = 0;
	while (!err && (c = getopt_long(argc, argv, ":hv", longopts, NULL)) != -1) {
		err = own(c, optarg, ctx);
		if (err == -ENOENT)
			err = opt_other(c, argv, max_runs, usage, o);
	}
	return err ? err : opt_rest(argc, argv);
}

/* ---- progress ----------------------------------------------------------------------- */

void progress_start(struct progress *p, unsigned int total, bool forced, bool verbose)
{
	*p = (struct progress){ .total = total, .t0 = now_ns(), .tty = isatty(STDERR_FILENO),
				.forced = forced, .verbose = verbose };
}

/* "1h02m", "3m05s", "12s". */
static void fmt_secs(char *buf, size_t len, double s)
{
	unsigned long t = (unsigned long)(s + 0.5);

	if (t >= 3600)
		snprintf(buf, len, "%luh%02lum", t / 3600, t / 60 % 60);
	else if (t >= 60)
		snprintf(buf, len, "%lum%02lus", t / 60, t % 60);
	else
		snprintf(buf, len, "%lus", t);
}

void progress_step(struct progress *p, const char *fmt, ...)
{
	char what[192], left[32] = "", took[32];
	double secs = (double)(now_ns() - p->t0) / 1e9;
	bool line = p->forced || p->verbose || !p->tty;
	va_list ap;

	if (!p->tty && !p->forced && !p->verbose) {
		p->done++;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fmt_secs(took, sizeof(took), secs);
	/* The steps differ in length; the mean of those done is the best
	 * guess at those left, and none is made before one is done. */
	if (p->done && (p->forced || !line)) {
		char eta[16];

		fmt_secs(eta, sizeof(eta), secs / p->done * (p->total - p->done));
		snprintf(left, sizeof(left), ", %s left", eta);
	}
	p->done++;
	if (line)
		fprintf(stderr, "%s: %u/%u (%s%s): %s\n", bench_cmd, p->done, p->total, took, left,
			what);
	else
		fprintf(stderr, "\r%s: %u/%u (%s%s): %s\033[K", bench_cmd, p->done, p->total, took,
			left, what);
}

void progress_end(struct progress *p)
{
	if (p->tty && !p->forced && !p->verbose && p->done)
		fprintf(stderr, "\r\033[K");
}

/* ---- cleanup ------------------------------------------------------------------------- */

void undo_file_arm(struct undo_file *u, const char *path)
{
	snprintf(u->path, sizeof(u->path), "%s", path);
	u->live = 1;
}

void undo_file_run(struct undo_file *u)
{
	if (u->live)
		unlink(u->path);
	u->live = 0;
}

const char *volatile cleanup_pass;
static pid_t main_pid;
static void (*cleanup_undo)(void);

bool bench_is_main(void)
{
	return getpid() == main_pid;
}

static void say(const char *s)
{
	ssize_t n = write(STDERR_FILENO, s, strlen(s));

	(void)n;
}

static void on_fatal_signal(int sig)
{
	int saved = errno;

	if (bench_is_main()) {
		say("\n");
		say(bench_cmd);
		say(": ");
		say(strsignal(sig) ? strsignal(sig) : "signal");
		if (cleanup_pass) {
			say(" during ");
			say(cleanup_pass);
		}
		say(", cleaning up\n");
	}
	cleanup_undo();
	signal(sig, SIG_DFL);
	errno = saved;
	raise(sig);
}

void cleanup_install(void (*undo)(void), bool crashes)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGABRT, SIGFPE, SIGILL,
				    SIGBUS, SIGSEGV };
	size_t n = sizeof(sigs) / sizeof(sigs[0]) - (crashes ? 0 : 2);
	struct sigaction sa = { .sa_handler = on_fatal_signal };

	main_pid = getpid();
	cleanup_undo = undo;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < n; i++)
		sigaddset(&sa.sa_mask, sigs[i]);
	for (size_t i = 0; i < n; i++)
		sigaction(sigs[i], &sa, NULL);
	atexit(undo);
}
