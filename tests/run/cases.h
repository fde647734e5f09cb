/* SPDX-License-Identifier: MIT */
/*
 * cases.h - the main of a program of named cases for tests/run/check-as.sh
 * (as-cases, procmem): "PROG list" prints the names, one a line; "PROG
 * CASE" prints "case CASE", runs it and prints "end". Exit status 0; 2 for
 * a usage error or an unknown case; what @setup returns when it fails.
 */
#ifndef UPAGER_TESTS_RUN_CASES_H
#define UPAGER_TESTS_RUN_CASES_H

#include <stddef.h>

struct run_case {
	const char *name;
	void (*run)(void);
};

/* @setup (may be NULL) runs after "case CASE" is printed and before the
 * case: 0, or the exit status to end with. */
int cases_main(const char *prog, const struct run_case *cases, size_t n, int (*setup)(void),
	       int argc, char **argv);

#endif
