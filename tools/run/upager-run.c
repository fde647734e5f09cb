/* SPDX-License-Identifier: MIT */
/*
 * upager-run - run an unmodified program with its memory paged by upager
 * under a resident cap: upager-run --max-resident 256M -- PROGRAM ARGS...
 *
 * The launcher checks first that a pager can be opened with the options
 * given (userfaultfd allowed, swap path writable) and refuses otherwise,
 * then starts the program with libupager-preload.so (and mimalloc, the
 * allocator that takes its memory from mmap()) preloaded, waits for it,
 * forwards signals to it, and exits with its status. Its peak resident
 * set is measured from outside, by the kernel (getrusage of the child).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "upager.h"
#include "options.h"

#ifndef UPAGER_PRELOAD_INSTALLED
#define UPAGER_PRELOAD_INSTALLED "/usr/local/lib/x86_64-linux-gnu/libupager-preload.so"
#endif
#define DEFAULT_ALLOCATOR "libmimalloc.so.2"

static const char usage[] =
	"usage: upager-run [OPTIONS] -- PROGRAM [ARGS...]\n"
	"Run PROGRAM with its anonymous memory (heap, large mappings) paged by upager,\n"
	"at most --max-resident of it in memory, the rest in an io_uring swap store.\n"
	"\n"
	"  -m, --max-resident SIZE  resident budget per process, e.g. 256M; at least 256K\n"
	"                           (UPAGER_MAX_RESIDENT)\n"
	"  -s, --swap PATH          swap store (UPAGER_SWAP): a file to create (each other\n"
	"                           process of the run makes PATH.<pid>), or a directory\n"
	"                           each process makes its own file in; removed when done\n"
	"                           (default a fresh file in $TMPDIR or /var/tmp)\n"
	"  -S, --swap-size SIZE     swap store capacity (UPAGER_SWAP_SIZE; default 8G, sparse;\n"
	"                           at least 256K)\n"
	"  -t, --threads N          fault handler threads (UPAGER_THREADS)\n"
	"      --min SIZE           smallest mapping paged (UPAGER_RUN_MIN; default 256K)\n"
	"      --allocator LIB      malloc to preload (default " DEFAULT_ALLOCATOR ";\n"
	"                           'none': keep the program's, whose heap is then not paged)\n"
	"      --stats              print a summary at exit and on SIGUSR1 (UPAGER_STATS=1)\n"
	"      --stats-json FILE    also write the summary as JSON lines (UPAGER_STATS_JSON;\n"
	"                           created 0600, emptied first; never through a symlink)\n"
	"      --fallback           if upager cannot start, run the program unpaged, with a\n"
	"                           warning, instead of refusing (UPAGER_FALLBACK=1)\n"
	"  -v, --verbose            log what the pager does (UPAGER_LOG=info)\n"
	"  -h, --help               this text\n"
	"\n"
	"Tuning, from the environment only (README, \"Environment\"): UPAGER_FAULT_AROUND\n"
	"(pages made per first-touch fault), UPAGER_SWAP_READAHEAD (pages per swap-in),\n"
	"UPAGER_HANDLER_CPU (pin handlers), UPAGER_LOG (error|warn|info|debug).\n\n"
	"The cap is per process: a child the program forks gets a pager and a budget of its\n"
	"own (its swapped pages stay shared until written); an exec'd program starts afresh.\n"
	"Exit status: the program's; 127 if it could not be started, 1 for a usage error or\n"
	"when upager cannot start (without --fallback).\n";

static pid_t child = -1;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

static void die_usage(const char *what, const char *why)
{
	fprintf(stderr, "upager-run: %s%s\n%s", what, why, usage);
	exit(1);
}

static void set_size_env(const char *name, const char *val, const char *opt)
{
	uint64_t v;

	if (options_parse_size(val, &v))
		die_usage(opt, ": not a size");
	if (!v)
		die_usage(opt, strcmp(opt, "--max-resident") ?
			  ": 0 is not a size here (leave the option out instead)" :
			  ": 0 is no budget; it takes 256K at least");
	setenv(name, val, 1);
}

/* libupager-preload.so beside this program (a build tree), else installed. */
static const char *find_preload(void)
{
	static char path[PATH_MAX];
	char exe[PATH_MAX];
	const char *env = getenv("UPAGER_PRELOAD");
	ssize_t n;

	if (env && *env)
		return env;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		snprintf(path, sizeof(path), "%s/libupager-preload.so", dirname(exe));
		if (access(path, R_OK) == 0)
			return path;
	}
	return UPAGER_PRELOAD_INSTALLED;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *const summed[] = {
	"faults", "zero_fills", "writebacks", "clean_drops", "zero_drops", "swapins",
	"readahead_pages", "swap_bytes_written", "swap_bytes_read", "sigbus",
};
#define NSUMMED (sizeof(summed) / sizeof(summed[0]))

/* Each process of the run appended a JSON line of its statistics; add
 * them up in a last line, with what the kernel says of the run. */
static void add_up_json(const char *path, int status, long maxrss_kib, double secs)
{
	unsigned long long total[NSUMMED] = { 0 };
	unsigned processes = 0;
	char line[2048];
	int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "a+");

	if (!f) {
		fprintf(stderr, "upager-run: %s: %s\n", path,
			errno == ELOOP ? "a symbolic link; not followed" : strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		if (!strstr(line, "\"pid\":"))
			continue;
		processes++;
		for (size_t i = 0; i < NSUMMED; i++) {
			char key[64];
			const char *at;

			snprintf(key, sizeof(key), "\"%s\": ", summed[i]);
			at = strstr(line, key);
			if (at)
				total[i] += strtoull(at + strlen(key), NULL, 10);
		}
	}
	fprintf(f, "{\"launcher\": 1, \"status\": %d, \"seconds\": %.3f, \"ru_maxrss_kib\": %ld, "
		"\"processes\": %u", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
		secs, maxrss_kib, processes);
	for (size_t i = 0; i < NSUMMED; i++)
		fprintf(f, ", \"%s\": %llu", summed[i], total[i]);
	fprintf(f, "}\n");
	fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "max-resident", required_argument, NULL, 'm' },
		{ "swap", required_argument, NULL, 's' },
		{ "swap-size", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 't' },
		{ "min", required_argument, NULL, 'M' },
		{ "allocator", required_argument, NULL, 'A' },
		{ "stats", no_argument, NULL, 'T' },
		{ "stats-json", required_argument, NULL, 'J' },
		{ "fallback", no_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *allocator = DEFAULT_ALLOCATOR, *preload, *old;
	struct upager_options o = { .sz = sizeof(o), .flags = UPAGER_OPEN_FROM_ENV };
	bool stats = false, fallback = false, paged = true;
	struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
	struct upager *probe;
	struct rusage ru;
	char *ld;
	double t0;
	int c, err, status;

	while ((c = getopt_long(argc, argv, "+m:s:S:t:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': set_size_env("UPAGER_MAX_RESIDENT", optarg, "--max-resident"); break;
		case 's': setenv("UPAGER_SWAP", optarg, 1); break;
		case 'S': set_size_env("UPAGER_SWAP_SIZE", optarg, "--swap-size"); break;
		case 't': setenv("UPAGER_THREADS", optarg, 1); break;
		case 'M': set_size_env("UPAGER_RUN_MIN", optarg, "--min"); break;
		case 'A': allocator = optarg; break;
		case 'T': stats = true; break;
		case 'J': stats = true; setenv("UPAGER_STATS_JSON", optarg, 1); break;
		case 'F': fallback = true; break;
		case 'v': setenv("UPAGER_LOG", "info", 1); break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 1;
		}
	}
	if (optind >= argc)
		die_usage("no program given", "");
	if (!getenv("UPAGER_MAX_RESIDENT"))
		die_usage("--max-resident (or UPAGER_MAX_RESIDENT) is required", "");
	if (stats)
		setenv("UPAGER_STATS", "1", 1);
	if (fallback)
		setenv("UPAGER_FALLBACK", "1", 1);

	/* Refuse up front, with the library's own reason, rather than
	 * fail inside the program. The probe's swap file is its own. */
	err = upager_open(&o, &probe);
	if (err) {
		if (!fallback) {
			fprintf(stderr, "upager-run: upager cannot start here (%s); refusing to run "
				"%s unpaged (--fallback allows it)\n", strerror(-err), argv[optind]);
			return 1;
		}
		fprintf(stderr, "upager-run: upager cannot start here (%s); --fallback: running "
			"%s UNPAGED, without a memory cap\n", strerror(-err), argv[optind]);
		paged = false;
	} else {
		upager_close(probe);
	}
	if (paged) {
		preload = find_preload();
		if (access(preload, R_OK)) {
			fprintf(stderr, "upager-run: %s: %s\n", preload, strerror(errno));
			return 1;
		}
		if (strcmp(allocator, "none")) {
			void *h = dlopen(allocator, RTLD_LAZY | RTLD_LOCAL);

			if (!h) {
				fprintf(stderr, "upager-run: allocator %s: %s (install libmimalloc2.0, "
					"or --allocator none)\n", allocator, dlerror());
				return 1;
			}
			dlclose(h);
		}
		old = getenv("LD_PRELOAD");
		if (asprintf(&ld, "%s%s%s%s%s", preload, strcmp(allocator, "none") ? ":" : "",
			     strcmp(allocator, "none") ? allocator : "", old && *old ? ":" : "",
			     old && *old ? old : "") < 0)
			return 1;
		setenv("LD_PRELOAD", ld, 1);
		free(ld);
	}

	/* The run's file, empty; never a symlink's target (a file some
	 * other user pointed the path at). */
	if (getenv("UPAGER_STATS_JSON")) {
		int fd = open(getenv("UPAGER_STATS_JSON"),
			      O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);

		if (fd < 0) {
			fprintf(stderr, "upager-run: --stats-json %s: %s\n", getenv("UPAGER_STATS_JSON"),
				errno == ELOOP ? "a symbolic link; refusing to follow it" :
				strerror(errno));
			return 1;
		}
		close(fd);
	}
	t0 = now_s();
	child = fork();
	if (child < 0) {
		perror("upager-run: fork");
		return 127;
	}
	if (child == 0) {
		char pid[16];

		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("UPAGER_RUN_PID", pid, 1);
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "upager-run: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	while (wait4(child, &status, 0, &ru) < 0)
		if (errno != EINTR) {
			perror("upager-run: wait");
			return 127;
		}
	getrusage(RUSAGE_CHILDREN, &ru); /* the largest of the program and its descendants */
	if (getenv("UPAGER_STATS_JSON"))
		add_up_json(getenv("UPAGER_STATS_JSON"), status, ru.ru_maxrss, now_s() - t0);
	if (stats)
		fprintf(stderr, "upager-run: %s %s %d after %.2f s; peak resident (kernel, "
			"getrusage) %.1f MiB%s\n", argv[optind],
			WIFEXITED(status) ? "exited with status" : "killed by signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			now_s() - t0, (double)ru.ru_maxrss / 1024, paged ? "" : " (UNPAGED)");
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
