/* SPDX-License-Identifier: MIT */
/*
 * upager-run - run an unmodified program with its memory paged by upager
 * under a resident cap: upager-run --max-resident 256M -- PROGRAM ARGS...
 *
 * The launcher checks first that a pager can be opened with the options
 * given (userfaultfd allowed, swap path writable) and that LD_PRELOAD
 * reaches the program (not static, not started in secure-execution mode),
 * and refuses otherwise, then starts the program with libupager-preload.so (and mimalloc, the
 * allocator that takes its memory from mmap()) preloaded, waits for it,
 * forwards signals to it, and exits with its status. Its peak resident
 * set is measured from outside, by the kernel (getrusage of the child).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
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
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "upager.h"
#include "core/options.h"
#include "preload.h"
#include "run-stats.h"

#ifndef UPAGER_PRELOAD_INSTALLED
#define UPAGER_PRELOAD_INSTALLED "/usr/local/lib/x86_64-linux-gnu/libupager-preload.so"
#endif
#define DEFAULT_ALLOCATOR "libmimalloc.so.2"

/* As env(1), timeout(1), nice(1): a script tells the launcher's own
 * failure from the program's. */
#define EXIT_RUN_FAILED 125
#define EXIT_CANNOT_EXEC 126
#define EXIT_NOT_FOUND 127

static const char usage[] =
	"usage: upager-run [OPTIONS] -- PROGRAM [ARGS...]\n"
	"Run PROGRAM with its anonymous memory (heap, large mappings) paged by upager,\n"
	"the process's resident set held to --max-resident, the rest in an io_uring swap store.\n"
	"\n"
	"  -m, --max-resident SIZE  most resident memory per process, all of it counted as the\n"
	"                           kernel does (VmRSS: what upager does not page too), e.g.\n"
	"                           256M; at least 256K (UPAGER_MAX_RESIDENT)\n"
	"      --max-paged SIZE     instead of --max-resident: the most pages upager itself\n"
	"                           keeps in memory; the rest of the process comes on top\n"
	"                           (UPAGER_MAX_PAGED)\n"
	"  -s, --swap PATH          swap store (UPAGER_SWAP): a file to create (each other\n"
	"                           process of the run makes PATH.<pid>), or a directory\n"
	"                           each process makes its own file in; removed when done\n"
	"                           (default a fresh file in $TMPDIR or /var/tmp)\n"
	"  -S, --swap-size SIZE     swap store capacity (UPAGER_SWAP_SIZE; default 8G, sparse;\n"
	"                           at least 256K)\n"
	"  -t, --threads N          fault handler threads, 1 to 64 (UPAGER_THREADS)\n"
	"      --compress ALGO      keep evicted pages compressed in memory first: off, lz4\n"
	"                           or zstd (UPAGER_COMPRESS; default off); the pool counts\n"
	"                           against --max-resident\n"
	"      --compress-pool PCT  the most of --max-resident the pool may hold, 1 to 90\n"
	"                           percent (UPAGER_COMPRESS_POOL; default 20)\n"
	"      --min SIZE           smallest mapping paged (UPAGER_RUN_MIN; default 256K)\n"
	"      --allocator LIB      malloc to preload (default " DEFAULT_ALLOCATOR ";\n"
	"                           'none': keep the program's, whose heap is then not paged)\n"
	"      --stats              print a summary at exit and on SIGUSR1 (UPAGER_STATS=1)\n"
	"      --stats-json FILE    write the run's statistics as JSON lines, one per process\n"
	"                           and one for the run (docs/stats-json.md); '-' is standard\n"
	"                           output; without --stats no text summary (UPAGER_STATS_JSON;\n"
	"                           created 0600, emptied first; never through a symlink)\n"
	"      --plot FILE.svg      draw the run's fault and swap latency CDFs (every process's\n"
	"                           histograms pooled) into FILE.svg, as upager-bench draws its own\n"
	"      --fallback           if upager cannot start or cannot reach the program, run it\n"
	"                           unpaged, with a warning, instead of refusing (UPAGER_FALLBACK=1)\n"
	"  -v, --verbose            log what the pager does (UPAGER_LOG=info)\n"
	"  -h, --help               this text\n"
	"      --version            upager-run's and the library's version\n"
	"\n"
	"Tuning, from the environment only (README, \"Environment\"): UPAGER_FAULT_AROUND\n"
	"(pages made per first-touch fault), UPAGER_SWAP_READAHEAD (pages per swap-in),\n"
	"UPAGER_HANDLER_CPU (pin handlers from that CPU on), UPAGER_LOG (error|warn|info|debug),\n"
	"UPAGER_STATS_INTERVAL=SECONDS (with --stats-json: a record per process that often).\n"
	"Every UPAGER_* value is checked before PROGRAM starts.\n\n"
	"The cap is per process: a child the program forks gets a pager and a budget of its\n"
	"own (its swapped pages stay shared until written); an exec'd program starts afresh.\n"
	"Refused (without --fallback), with the reason: a program LD_PRELOAD cannot reach\n"
	"(statically linked; set-user-ID, set-group-ID or with file capabilities, which the\n"
	"kernel starts in secure-execution mode), #! interpreters followed.\n"
	"Exit status (as env(1)'s): the program's own; 128+N when a signal N killed it;\n"
	"125 when upager-run itself fails (a usage error, a bad UPAGER_* value, upager\n"
	"cannot start, the program cannot be paged without --fallback); 126 when PROGRAM\n"
	"is found but cannot be executed; 127 when it is not found.\n";

static pid_t child = -1;

/* --plot's file, opened before the program runs (a bad path is found
 * before the run, not after it) and never through a symlink. */
static FILE *open_plot(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	FILE *f = fd < 0 ? NULL : fdopen(fd, "w");

	if (!f)
		fprintf(stderr, "upager-run: --plot %s: %s\n", path,
			errno == ELOOP ? "a symbolic link; refusing to follow it" : strerror(errno));
	if (!f && fd >= 0)
		close(fd);
	return f;
}

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

/* One line, then where to read more: as coreutils' tools do. */
static void die_usage(const char *what, const char *why)
{
	fprintf(stderr, "upager-run: %s%s\nTry 'upager-run --help' for more information.\n",
		what, why);
	exit(EXIT_RUN_FAILED);
}

static void set_size_env(const char *name, const char *val, const char *opt)
{
	char why[256];
	uint64_t v;

	if (options_parse_size(val, &v)) {
		snprintf(why, sizeof(why), " '%s': not a size (bytes, or a number with K, M, G or T%s)",
			 val, strcmp(opt, "--min") ? "; at least 256K" : "");
		die_usage(opt, why);
	}
	if (!v)
		die_usage(opt, strcmp(opt, "--max-resident") ?
			  ": 0 is not a size here (leave the option out instead)" :
			  ": 0 is no budget; it takes 256K at least");
	setenv(name, val, 1);
}

static void set_threads_env(const char *val)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(val, &end, 10);
	if (errno || end == val || *end || *val < '0' || *val > '9' || n < 1 || n > 64) {
		char why[128];

		snprintf(why, sizeof(why), " '%s': not a number from 1 to 64", val);
		die_usage("--threads", why);
	}
	setenv("UPAGER_THREADS", val, 1);
}

static void set_compress_env(const char *val)
{
	char why[128];

	if (strcmp(val, "off") && strcmp(val, "lz4") && strcmp(val, "zstd")) {
		snprintf(why, sizeof(why), " '%s': not off, lz4 or zstd", val);
		die_usage("--compress", why);
	}
	setenv("UPAGER_COMPRESS", val, 1);
}

static void set_pool_env(const char *val)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(val, &end, 10);
	if (*end == '%')
		end++;
	if (errno || end == val || *end || *val < '0' || *val > '9' || n < 1 || n > 90) {
		char why[128];

		snprintf(why, sizeof(why), " '%s': not a percentage from 1 to 90", val);
		die_usage("--compress-pool", why);
	}
	setenv("UPAGER_COMPRESS_POOL", val, 1);
}

/*
 * The shim's own variables, checked here as the library checks its own
 * (the probe below): a bad value found by the shim would end the program
 * (status 125) after it started, or, in a descendant, in its middle.
 */
static void check_shim_env(void)
{
	const char *min = getenv("UPAGER_RUN_MIN"), *flag;
	static const char *const flags[] = { "UPAGER_FALLBACK", "UPAGER_STATS" };
	uint64_t v;

	if (min && (options_parse_size(min, &v) || !v)) {
		fprintf(stderr, "upager-run: UPAGER_RUN_MIN=\"%s\": not a size (bytes, or a number "
			"with K, M, G or T; not 0)\n", min);
		exit(EXIT_RUN_FAILED);
	}
	if (preload_max_paged(&v) < 0) {
		fprintf(stderr, "upager-run: UPAGER_MAX_PAGED=\"%s\": not a size (bytes, or a number "
			"with K, M, G or T; at least 256K)\n", getenv("UPAGER_MAX_PAGED"));
		exit(EXIT_RUN_FAILED);
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		flag = getenv(flags[i]);
		if (flag && strcmp(flag, "0") && strcmp(flag, "1")) {
			fprintf(stderr, "upager-run: %s=\"%s\": 0 or 1\n", flags[i], flag);
			exit(EXIT_RUN_FAILED);
		}
	}
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

/* @name as execvp(3) finds it, into @out; false if it finds nothing. */
static bool resolve(const char *name, char *out, size_t len)
{
	const char *path = getenv("PATH");

	if (strchr(name, '/')) {
		snprintf(out, len, "%s", name);
		return access(out, X_OK) == 0;
	}
	for (const char *p = path && *path ? path : "/bin:/usr/bin"; ; p++) {
		const char *end = strchrnul(p, ':');
		struct stat st;

		snprintf(out, len, "%.*s%s%s", (int)(end - p), p, end > p ? "/" : "", name);
		if (!access(out, X_OK) && !stat(out, &st) && S_ISREG(st.st_mode))
			return true;
		if (!*end)
			return false;
		p = end;
	}
}

/* Does the ELF file open as @fd name a program interpreter (PT_INTERP)?
 * -1 when it is not an ELF file we can read. */
static int elf_has_interp(int fd)
{
	Elf64_Ehdr eh;
	unsigned char id[EI_NIDENT];

	if (pread(fd, id, sizeof(id), 0) != (ssize_t)sizeof(id) || memcmp(id, ELFMAG, SELFMAG))
		return -1;
	if (id[EI_CLASS] == ELFCLASS32) {
		Elf32_Ehdr e;
		Elf32_Phdr ph;

		if (pread(fd, &e, sizeof(e), 0) != (ssize_t)sizeof(e))
			return -1;
		for (unsigned i = 0; i < e.e_phnum; i++)
			if (pread(fd, &ph, sizeof(ph), (off_t)(e.e_phoff + (off_t)i * e.e_phentsize)) ==
			    (ssize_t)sizeof(ph) && ph.p_type == PT_INTERP)
				return 1;
		return 0;
	}
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh))
		return -1;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (off_t)i * eh.e_phentsize)) ==
		    (ssize_t)sizeof(ph) && ph.p_type == PT_INTERP)
			return 1;
	}
	return 0;
}

/*
 * Would the kernel start @path in secure-execution mode (AT_SECURE), in
 * which the dynamic loader ignores LD_PRELOAD? As the kernel decides it
 * (commoncap's cap_bprm_creds_from_file): a set-user-ID file whose owner
 * is not the real user, a set-group-ID (and group-executable) file whose
 * group is not the real group, or file capabilities gained by a user
 * other than root. Set-ID bits do nothing on a nosuid mount or under
 * no_new_privs. Says why in @why.
 */
static bool secure_exec(const char *path, const struct stat *st, char *why, size_t len)
{
	struct statvfs vfs;
	bool setid_works = !(statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_NOSUID)) &&
			   prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1;

	if (setid_works && (st->st_mode & S_ISUID) && st->st_uid != getuid()) {
		snprintf(why, len, "%s is set-user-ID (owner uid %u, you are uid %u)", path,
			 (unsigned)st->st_uid, (unsigned)getuid());
		return true;
	}
	if (setid_works && (st->st_mode & S_ISGID) && (st->st_mode & S_IXGRP) &&
	    st->st_gid != getgid()) {
		snprintf(why, len, "%s is set-group-ID (group gid %u, you are gid %u)", path,
			 (unsigned)st->st_gid, (unsigned)getgid());
		return true;
	}
	if (getuid() != 0 && getxattr(path, "security.capability", NULL, 0) > 0) {
		snprintf(why, len, "%s has file capabilities", path);
		return true;
	}
	return false;
}

/*
 * Why @name cannot be paged: LD_PRELOAD cannot reach it (a static
 * binary, or one the kernel starts in secure-execution mode), following
 * "#!" interpreters as the kernel does. Empty @why: it can (or exec will
 * fail, and say so itself).
 */
static void unpageable(const char *name, char *why, size_t len)
{
	char path[PATH_MAX], chain[PATH_MAX + 64] = "";

	why[0] = 0;
	if (!resolve(name, path, sizeof(path)))
		return;
	for (int depth = 0; depth < 5; depth++) { /* the kernel's BINPRM_MAX_RECURSION + 1 */
		char head[PATH_MAX + 3], reason[PATH_MAX + 96];
		struct stat st;
		ssize_t n;
		int fd = open(path, O_RDONLY | O_CLOEXEC), interp;

		if (fd < 0)
			return;
		n = pread(fd, head, sizeof(head) - 1, 0);
		if (n >= 2 && head[0] == '#' && head[1] == '!') {
			char *s = head + 2, *e;

			close(fd);
			head[n] = 0;
			s += strspn(s, " \t");
			e = s + strcspn(s, " \t\n");
			if (*e == '\n')
				e[1] = 0;
			*e = 0;
			if (!*s)
				return;
			snprintf(chain + strlen(chain), sizeof(chain) - strlen(chain), "%s%s runs %s",
				 *chain ? ", which" : "", depth ? "" : path, s);
			snprintf(path, sizeof(path), "%s", s);
			if (!strcmp(basename(s), "env") && e < head + n) {
				/* "#!/usr/bin/env NAME": env runs NAME from PATH. */
				char *a = e + 1 + strspn(e + 1, " \t"), *ae = a + strcspn(a, " \t\n");

				*ae = 0;
				if (*a && *a != '-' && !strchr(a, '=') && resolve(a, path, sizeof(path)))
					snprintf(chain + strlen(chain), sizeof(chain) - strlen(chain),
						 ", which runs %s", path);
			}
			continue;
		}
		interp = elf_has_interp(fd);
		if (fstat(fd, &st) == 0 && secure_exec(path, &st, reason, sizeof(reason)))
			snprintf(why, len, "%s%s%s: the kernel starts it in secure-execution mode, "
				 "which ignores LD_PRELOAD", chain, *chain ? "; " : "", reason);
		else if (interp == 0)
			snprintf(why, len, "%s%s%s is statically linked (no ELF interpreter): "
				 "LD_PRELOAD cannot reach it", chain, *chain ? "; " : "", path);
		close(fd);
		return;
	}
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "max-resident", required_argument, NULL, 'm' },
		{ "max-paged", required_argument, NULL, 'P' },
		{ "swap", required_argument, NULL, 's' },
		{ "swap-size", required_argument, NULL, 'S' },
		{ "threads", required_argument, NULL, 't' },
		{ "compress", required_argument, NULL, 'C' },
		{ "compress-pool", required_argument, NULL, 'Q' },
		{ "min", required_argument, NULL, 'M' },
		{ "allocator", required_argument, NULL, 'A' },
		{ "stats", no_argument, NULL, 'T' },
		{ "stats-json", required_argument, NULL, 'J' },
		{ "plot", required_argument, NULL, 'G' },
		{ "fallback", no_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *allocator = DEFAULT_ALLOCATOR, *preload, *old;
	struct upager_options o = { .sz = sizeof(o), .flags = UPAGER_OPEN_FROM_ENV };
	bool stats = false, fallback = false, paged = true;
	struct run_stats rs;
	const char *json = NULL, *plot = NULL, *env;
	FILE *plot_f = NULL;
	struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
	struct upager *probe;
	struct rusage ru;
	char *ld;
	double t0;
	int c, err, status, code;
	unsigned int interval = 0;

	while ((c = getopt_long(argc, argv, "+m:s:S:t:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'm': set_size_env("UPAGER_MAX_RESIDENT", optarg, "--max-resident"); break;
		case 'P': set_size_env("UPAGER_MAX_PAGED", optarg, "--max-paged"); break;
		case 's': setenv("UPAGER_SWAP", optarg, 1); break;
		case 'S': set_size_env("UPAGER_SWAP_SIZE", optarg, "--swap-size"); break;
		case 't': set_threads_env(optarg); break;
		case 'C': set_compress_env(optarg); break;
		case 'Q': set_pool_env(optarg); break;
		case 'M': set_size_env("UPAGER_RUN_MIN", optarg, "--min"); break;
		case 'A': allocator = optarg; break;
		case 'T': stats = true; break;
		case 'J': json = optarg; break;
		case 'G': plot = optarg; break;
		case 'F': fallback = true; break;
		case 'v': setenv("UPAGER_LOG", "info", 1); break;
		case 'h': fputs(usage, stdout); return 0;
		case 'V': printf("upager-run %s (libupager %s)\n", UPAGER_VERSION, upager_version());
			return 0;
		default: /* getopt said which option, in one line */
			fputs("Try 'upager-run --help' for more information.\n", stderr);
			return EXIT_RUN_FAILED;
		}
	}
	if (optind >= argc)
		die_usage("no program given", "");
	if (!getenv("UPAGER_MAX_RESIDENT") == !getenv("UPAGER_MAX_PAGED"))
		die_usage(getenv("UPAGER_MAX_PAGED") ? "--max-resident and --max-paged: give one" :
			  "--max-resident (or UPAGER_MAX_RESIDENT) is required", "");
	/* The options' twins in the environment mean the same. */
	check_shim_env();
	env = getenv("UPAGER_FALLBACK");
	fallback |= env && !strcmp(env, "1");
	env = getenv("UPAGER_STATS");
	stats |= env && !strcmp(env, "1");
	env = getenv("UPAGER_STATS_JSON");
	if (!json && env && *env)
		json = env;
	if (stats)
		setenv("UPAGER_STATS", "1", 1);
	if (fallback)
		setenv("UPAGER_FALLBACK", "1", 1);

	/* Refuse up front, with the library's own reason, rather than
	 * fail inside the program. The probe's swap file is its own. */
	/* The probe checks the settings; the process cap is the shim's. */
	(void)preload_max_paged(&o.max_resident);
	err = upager_open(&o, &probe);
	if (err == -EINVAL) {
		/* A bad setting, said above by the library: not a machine
		 * --fallback could run around. */
		fprintf(stderr, "upager-run: invalid settings (above); not running %s\n",
			argv[optind]);
		return EXIT_RUN_FAILED;
	}
	if (err) {
		if (!fallback) {
			fprintf(stderr, "upager-run: upager cannot start here (%s); refusing to run "
				"%s unpaged (--fallback allows it)\n", strerror(-err), argv[optind]);
			return EXIT_RUN_FAILED;
		}
		fprintf(stderr, "upager-run: upager cannot start here (%s); --fallback: running "
			"%s UNPAGED, without a memory cap\n", strerror(-err), argv[optind]);
		paged = false;
	} else {
		upager_close(probe);
	}
	if (paged) {
		char why[2 * PATH_MAX + 256];

		unpageable(argv[optind], why, sizeof(why));
		if (*why && !fallback) {
			fprintf(stderr, "upager-run: %s; refusing to run it unpaged (--fallback "
				"allows it)\n", why);
			return EXIT_RUN_FAILED;
		}
		if (*why) {
			fprintf(stderr, "upager-run: %s; --fallback: running %s UNPAGED, without a "
				"memory cap\n", why, argv[optind]);
			paged = false;
		}
	}
	if (paged) {
		preload = find_preload();
		if (access(preload, R_OK)) {
			fprintf(stderr, "upager-run: %s: %s\n", preload, strerror(errno));
			return EXIT_RUN_FAILED;
		}
		if (strcmp(allocator, "none")) {
			void *h = dlopen(allocator, RTLD_LAZY | RTLD_LOCAL);

			if (!h) {
				fprintf(stderr, "upager-run: allocator %s: %s (install libmimalloc2.0, "
					"or --allocator none)\n", allocator, dlerror());
				return EXIT_RUN_FAILED;
			}
			dlclose(h);
		}
		old = getenv("LD_PRELOAD");
		if (asprintf(&ld, "%s%s%s%s%s", preload, strcmp(allocator, "none") ? ":" : "",
			     strcmp(allocator, "none") ? allocator : "", old && *old ? ":" : "",
			     old && *old ? old : "") < 0)
			return EXIT_RUN_FAILED;
		setenv("LD_PRELOAD", ld, 1);
		free(ld);
	}

	env = getenv("UPAGER_STATS_INTERVAL");
	if (env) {
		char *end;
		unsigned long n = strtoul(env, &end, 10);

		if (*env < '0' || *env > '9' || *end || n < 1 || n > 86400 || !json) {
			fprintf(stderr, "upager-run: UPAGER_STATS_INTERVAL=\"%s\": %s\n", env,
				json ? "seconds from 1 to 86400" : "needs --stats-json");
			return EXIT_RUN_FAILED;
		}
		interval = (unsigned int)n;
	}
	/* Before the program runs: a destination found unwritable at its
	 * end would lose the run's statistics. */
	if (plot && !(plot_f = open_plot(plot)))
		return EXIT_RUN_FAILED;
	if ((json || plot) && run_stats_open(&rs, json))
		return EXIT_RUN_FAILED;
	t0 = now_s();
	child = fork();
	if (child < 0) {
		perror("upager-run: fork");
		return EXIT_RUN_FAILED;
	}
	if (child == 0) {
		char pid[16];

		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		setenv("UPAGER_RUN_PID", pid, 1);
		execvp(argv[optind], argv + optind);
		err = errno;
		fprintf(stderr, "upager-run: %s: %s\n", argv[optind], strerror(err));
		_exit(err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGQUIT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	for (;;) {
		/* With UPAGER_STATS_INTERVAL the records reach the destination
		 * while the program runs: look for new ones every second. */
		pid_t w = wait4(child, &status, interval ? WNOHANG : 0, &ru);

		if (w == child)
			break;
		if (w < 0 && errno != EINTR) {
			perror("upager-run: wait");
			return EXIT_RUN_FAILED;
		}
		if (w == 0) {
			run_stats_pump(&rs);
			sleep(1);
		}
	}
	/* The peak is wait4()'s: the program's and its reaped descendants'.
	 * Not getrusage(RUSAGE_CHILDREN): exec keeps that, so a shell that
	 * ran a compiler and then exec'd us would report the compiler's. */
	code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	if (json || plot)
		run_stats_finish(&rs, argv[optind], code, WIFSIGNALED(status) ? WTERMSIG(status) : 0,
				 paged, ru.ru_maxrss, now_s() - t0);
	if (plot && (run_stats_plot(&rs, plot_f, argv[optind]) | fclose(plot_f)))
		fprintf(stderr, "upager-run: --plot %s: writing: %s\n", plot, strerror(errno));
	if (stats)
		fprintf(stderr, "upager-run: %s %s %d after %.2f s; peak resident (kernel, "
			"getrusage) %.1f MiB%s\n", argv[optind],
			WIFEXITED(status) ? "exited with status" : "killed by signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			now_s() - t0, (double)ru.ru_maxrss / 1024, paged ? "" : " (UNPAGED)");
	return code;
}
