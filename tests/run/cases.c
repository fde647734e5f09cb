/* SPDX-License-Identifier: MIT */
/*
 * cases.c - the main the programs of named cases share (cases.h).
 */
#include "cases.h"

#include <stdio.h>
#include <string.h>

int cases_main(const char *prog, const struct run_case *cases, size_t n, int (*setup)(void),
	       int argc, char **argv)
{
	int err;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CASE | %s list\n", prog, prog);
		return 2;
	}
	if (!strcmp(argv[1], "list")) {
		for (size_t i = 0; i < n; i++)
			printf("%s\n", cases[i].name);
		return 0;
	}
	printf("case %s\n", argv[1]);
	fflush(stdout);
	if (setup && (err = setup()))
		return err;
	for (size_t i = 0; i < n; i++) {
		if (!strcmp(argv[1], cases[i].name)) {
			cases[i].run();
			printf("end\n");
			return 0;
		}
	}
	fprintf(stderr, "%s: no case %s\n", prog, argv[1]);
	return 2;
}
