/* SPDX-License-Identifier: MIT */
/*
 * upager-bench.c - upager's one benchmark program: "upager-bench faults"
 * (what one fault costs, kind by kind), "upager-bench swap" (out-of-core
 * anonymous memory against the kernel's swap) and "upager-bench file"
 * (out-of-core file mappings against the kernel's mmap). This file picks
 * the subcommand; harness.c is what they share, report.c their JSON.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "upager.h"

static const struct {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *what;
} subcommands[] = {
	{ "faults", faults_main, "per-fault latency by kind: upager, the kernel, raw handlers" },
	{ "swap", swap_main, "out-of-core anonymous memory: upager against the kernel's swap" },
	{ "file", file_main, "out-of-core file mappings: upager_map_file against mmap" },
};

#define NSUB (sizeof(subcommands) / sizeof(subcommands[0]))

static void usage(void)
{
	printf("usage: upager-bench SUBCOMMAND [options]\n"
	       "       upager-bench SUBCOMMAND --help\n\n"
	       "Benchmarks of upager, the user-space pager, against the kernel and the\n"
	       "smallest alternatives, in one run so the ratios hold.\n\n");
	for (size_t i = 0; i < NSUB; i++)
		printf("  %-8s %s\n", subcommands[i].name, subcommands[i].what);
	printf("\nEvery subcommand takes --runs, --quick, --json, -v (--verbose), --progress,\n"
	       "--help and --version; see upager-bench(1).\n\n"
	       "  -h, --help     this text\n"
	       "      --version  upager-bench's and the library's version\n\n"
	       "Exit status: 0 measured and every page read back right; 1 measured, but a\n"
	       "page read back wrong or a pager failed; 125 upager-bench itself failed (usage,\n"
	       "setup); 128+N when signal N ended it.\n");
}

int main(int argc, char **argv)
{
	static char cmd[64];
	const char *sub = argc > 1 ? argv[1] : NULL;

	if (!sub) {
		fprintf(stderr, "upager-bench: which benchmark? faults, swap or file\n");
		return (opt_try(), BENCH_EXIT_FAIL);
	}
	if (!strcmp(sub, "-h") || !strcmp(sub, "--help")) {
		usage();
		return BENCH_EXIT_OK;
	}
	if (!strcmp(sub, "--version")) {
		printf("upager-bench %s (libupager %s)\n", UPAGER_VERSION, upager_version());
		return BENCH_EXIT_OK;
	}
	for (size_t i = 0; i < NSUB; i++) {
		if (strcmp(sub, subcommands[i].name))
			continue;
		snprintf(cmd, sizeof(cmd), "upager-bench %s", sub);
		bench_cmd = cmd;
		/* The subcommand parses argv[1..] as a program its own argv. */
		return subcommands[i].main(argc - 1, argv + 1);
	}
	if (sub[0] == '-')
		fprintf(stderr, "upager-bench: unknown option %s (a subcommand comes first)\n", sub);
	else
		fprintf(stderr, "upager-bench: unknown subcommand '%s' (faults, swap or file)\n", sub);
	return (opt_try(), BENCH_EXIT_FAIL);
}
