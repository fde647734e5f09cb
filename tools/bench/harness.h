/* SPDX-License-Identifier: MIT */
/*
 * harness.h - what every upager-bench subcommand (faults, swap, file)
 * shares: the clock, CPU pinning, page patterns, the command-line
 * conventions (one line and "Try ... --help" on a usage error, a bad value
 * named with its range, exit status 125 for upager-bench's own failure),
 * progress with an estimate of the time left, and undoing what a run
 * created when a signal ends it.
 *
 * Include it after defining _GNU_SOURCE (pthread_setaffinity_np).
 */
#ifndef UPAGER_BENCH_HARNESS_H
#define UPAGER_BENCH_HARNESS_H

#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIB ((uint64_t)1 << 20)

/* Exit status, as upager-run's: 0 measured and every page read back
 * right; 1 measured, but something measured misbehaved (a page read back
 * wrong, a pager failed); 125 upager-bench itself failed (usage, setup,
 * no userfaultfd); 128+N when signal N ended it (re-raised). */
#define BENCH_EXIT_OK 0
#define BENCH_EXIT_BAD 1
#define BENCH_EXIT_FAIL 125

/* "upager-bench faults" and so on, for messages: set by main(). */
extern const char *bench_cmd;

uint64_t now_ns(void);
void sleep_ms(unsigned int ms);
/* Pin @thread to @cpu; 0 or -errno. */
int pin_cpu(pthread_t thread, unsigned int cpu);
/* The @idx-th CPU this process may use, wrapping around; -errno if none. */
int nth_allowed_cpu(unsigned int idx);

/* The name of a file a run creates in @dir: "DIR/upager-bench-SUB-PID.WHAT",
 * SUB the subcommand, so files of runs side by side never clash. */
void bench_file_name(char *buf, size_t len, const char *dir, const char *what);

/* Write @text to the file at @path; 0 or -errno. */
int write_file(const char *path, const char *text);
/* The decimal number the file at @path starts with; 0 or -errno. */
int read_u64_file(const char *path, uint64_t *out);

/* splitmix64's output function: a well-mixed 64-bit hash of @z. */
uint64_t bench_mix64(uint64_t z);
/* What page @idx holds in generation @gen: its first 8 bytes (head) and
 * its last 8 (tail); a page read back is checked against both. */
uint64_t pattern_gen_head(uint64_t idx, uint64_t gen);
uint64_t pattern_gen_tail(uint64_t idx, uint64_t gen);

/* Read the first and last 8 bytes of the page at @p (@page bytes long)
 * into @head and @tail, the reads alone timed; returns their nanoseconds.
 * Inline, so nothing but the reads is inside the two clock reads. */
static inline uint64_t read_page_timed(const char *p, size_t page, uint64_t *head,
				       uint64_t *tail)
{
	uint64_t t0 = now_ns();

	__asm__ volatile("" ::: "memory");
	*head = *(volatile const uint64_t *)p;
	*tail = *(volatile const uint64_t *)(p + page - 8);
	__asm__ volatile("" ::: "memory");
	return now_ns() - t0;
}

/* ---- the command line ------------------------------------------------------------- */

/*
 * Option values. Each parses @s for option --@name and on a bad value
 * prints one line naming the option, the value and the range, then the
 * "Try" line, and returns -EINVAL.
 */
int opt_u64(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A size: bytes or K/M/G/T (binary), in [@min, @max]. */
int opt_size(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* A decimal number in (@min, @max]. */
int opt_double(const char *name, const char *s, double min, double max, double *out);
/* --@name's value @s is none of @range; returns -EINVAL. */
int opt_bad(const char *name, const char *s, const char *range);
/* getopt_long() (its option string starting with ':') returned @c, '?'
 * (unknown option) or ':' (missing value), for argv[optind - 1]: one line
 * and the "Try" line; returns -EINVAL. */
int opt_unknown(char **argv, int c);
/* A usage error said already: the "Try" line; returns -EINVAL. */
int opt_try(void);

/* The options every subcommand takes (upager-bench(1), COMMON OPTIONS),
 * and those of the two that open one pager of their own (swap, file):
 * entries of a subcommand's struct option table. */
enum { OPT_C_RUNS = 0x1000, OPT_C_QUICK, OPT_C_JSON, OPT_C_PROGRESS, OPT_C_VERSION,
       OPT_C_HANDLERS, OPT_C_DIR, OPT_C_BUDGET, OPT_C_OPS };
#define BENCH_LONGOPTS_COMMON                                      \
	{ "runs", required_argument, NULL, OPT_C_RUNS },           \
	{ "quick", no_argument, NULL, OPT_C_QUICK },               \
	{ "json", no_argument, NULL, OPT_C_JSON },                 \
	{ "verbose", no_argument, NULL, 'v' },                     \
	{ "progress", no_argument, NULL, OPT_C_PROGRESS },         \
	{ "help", no_argument, NULL, 'h' },                        \
	{ "version", no_argument, NULL, OPT_C_VERSION }
#define BENCH_LONGOPTS_PAGER                                       \
	{ "handlers", required_argument, NULL, OPT_C_HANDLERS },   \
	{ "dir", required_argument, NULL, OPT_C_DIR },             \
	{ "budget", required_argument, NULL, OPT_C_BUDGET },       \
	{ "ops", required_argument, NULL, OPT_C_OPS }
/* --ops at most: page indices and counts stay far inside 64 bits. */
#define BENCH_MAX_OPS (1ull << 30)

struct common_opts {
	uint64_t runs;           /* --runs; 0: not given */
	unsigned int handlers;   /* upager's handler threads; 0: the library's */
	const char *dir;         /* where files go (swap, file) */
	uint64_t budget;         /* --budget, bytes; 0: not given */
	uint64_t ops;            /* --ops: random accesses a pass; 0: not given */
	bool quick, json;
	bool verbose;            /* -v: say each measurement as it starts */
	bool progress_forced;    /* --progress: progress lines even off a terminal */
};

/*
 * Handle getopt_long()'s @c with @arg if it is a common option: returns
 * 0 (taken), 1 (--help or --version printed: exit 0; @usage prints the
 * subcommand's help), -EINVAL (a bad value, said), or -ENOENT (not a
 * common option: unknown here).
 */
int opt_common(int c, const char *arg, uint64_t max_runs, void (*usage)(void),
	       struct common_opts *o);
/* The end of a subcommand's --help: the common options it has not listed
 * (--json, -v, --progress, -h, --version), their text at column @col, and
 * the exit status, 1 meaning @bad. */
void opt_help_common(int col, const char *bad);

/* A setting: @given when the option was given (not 0), else its --quick
 * value or its default. Explicit values win over --quick, whatever the
 * order. */
uint64_t opt_pick(const struct common_opts *o, uint64_t given, uint64_t quick, uint64_t dflt);
/*
 * The sizes of an out-of-core run (swap's region, file's file): @size
 * bytes and o->budget, each @opt_pick()ed from its defaults, in whole
 * pages of @page bytes. @what ("region", "file") must hold 64 pages, and
 * the budget 256 KiB, else -EINVAL (said). @warn: say when the budget
 * holds all of @what, so that nothing is paged out.
 */
int opt_sizes(const struct common_opts *o, const char *what, const uint64_t sizes[3],
	      const uint64_t budgets[2], size_t page, bool warn, uint64_t *size,
	      uint64_t *budget);
/* The default of a subcommand's option switch: opt_common(), and an
 * option it does not know either is opt_unknown(). */
int opt_other(int c, char **argv, uint64_t max_runs, void (*usage)(void), struct common_opts *o);
/* After the options: no argument is left. 0 or -EINVAL (said). */
int opt_rest(int argc, char **argv);
/*
 * The whole command line of a subcommand: getopt_long() over @longopts,
 * each option handed to @own (with @ctx) first, which returns 0, -EINVAL
 * (said) or -ENOENT (not its own: then a common option, or unknown); then
 * no argument may be left. Returns 0, 1 (--help or --version printed) or
 * -EINVAL.
 */
int opt_parse(int argc, char **argv, const struct option *longopts,
	      int (*own)(int c, const char *arg, void *ctx), void *ctx, uint64_t max_runs,
	      void (*usage)(void), struct common_opts *o);

/* ---- progress ----------------------------------------------------------------------- */

/*
 * Progress of a run of @total steps: on a terminal (stderr), one line
 * rewritten per step with the step, what it is and an estimate of the
 * time left from the steps done so far; forced (--progress), the same as
 * one line per step, for a log. Verbose (-v) alone says each step too,
 * without the estimate.
 */
struct progress {
	unsigned int done, total;
	uint64_t t0;
	bool tty, forced, verbose;
};

void progress_start(struct progress *p, unsigned int total, bool forced, bool verbose);
void progress_step(struct progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Clear the terminal's progress line. */
void progress_end(struct progress *p);

/* ---- cleanup ------------------------------------------------------------------------- */

/*
 * Call @undo at exit and when a fatal signal ends the process (after one
 * line saying which, and during what), then end it by that signal.
 * @undo must be async-signal-safe and idempotent, and does nothing in a
 * child (bench_is_main()). One per process: signal handlers reach no
 * instance. @crashes: SIGBUS and SIGSEGV too, for a subcommand whose
 * measurements do not handle them themselves.
 */
void cleanup_install(void (*undo)(void), bool crashes);
/* A file to remove however the process ends: armed just before it is
 * created, disarmed once something else removed it (upager_close()
 * removes its swap store). */
struct undo_file {
	char path[PATH_MAX];
	volatile sig_atomic_t live;
};

void undo_file_arm(struct undo_file *u, const char *path);
/* Remove the file if armed, and disarm; async-signal-safe. */
void undo_file_run(struct undo_file *u);

/* What runs now, for that line (a string constant), or NULL. */
extern const char *volatile cleanup_pass;
/* This is the process cleanup_install() ran in, not a child of it. */
bool bench_is_main(void);

/* ---- subcommands ---------------------------------------------------------------------- */

int faults_main(int argc, char **argv);
int swap_main(int argc, char **argv);
int file_main(int argc, char **argv);

#endif
