/* SPDX-License-Identifier: MIT */
/*
 * test-pin.c - UPAGER_OPEN_PIN_HANDLERS: handler thread i runs on CPU
 * (handler_cpu + i) modulo the CPUs online, the worker on the CPU after
 * the last handler's, as the kernel reports each thread's affinity.
 */
#define _GNU_SOURCE
#include <criterion/criterion.h>
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

struct pinned {
	int fault_cpus[8]; /* each "upager-fault" thread's one CPU, in tid order */
	int nfault;
	int worker_cpu;
};

/* The one CPU @tid may run on, or -1 when it may run on several. */
static int only_cpu(pid_t tid)
{
	cpu_set_t set;
	int cpu = -1;

	cr_assert_eq(sched_getaffinity(tid, sizeof(set), &set), 0);
	if (CPU_COUNT(&set) != 1)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set))
			cpu = c;
	return cpu;
}

static struct pinned pinned_threads(void)
{
	struct pinned p = { .worker_cpu = -2 };
	DIR *d = opendir("/proc/self/task");
	pid_t tids[64];
	int n = 0;
	struct dirent *de;

	cr_assert_not_null(d);
	while ((de = readdir(d)) && n < 64)
		if (de->d_name[0] != '.')
			tids[n++] = atoi(de->d_name);
	closedir(d);
	for (int i = 0; i < n; i++) {
		char path[64], comm[32] = "";
		FILE *f;

		snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tids[i]);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		if (!strcmp(comm, "upager-fault\n")) {
			cr_assert_lt(p.nfault, 8);
			p.fault_cpus[p.nfault++] = only_cpu(tids[i]);
		} else if (!strcmp(comm, "upager-worker\n")) {
			p.worker_cpu = only_cpu(tids[i]);
		}
	}
	return p;
}

Test(pin, handlers_and_worker_on_their_cpus, .timeout = 30)
{
	unsigned int ncpu = (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
	struct upager_options o = UPAGER_OPTS(.handler_threads = 2,
					      .flags = UPAGER_OPEN_PIN_HANDLERS, .handler_cpu = 1);
	struct upager *pager;
	struct pinned p;
	bool seen[2] = { false, false };

	cr_assert_eq(upager_open(&o, &pager), 0);
	p = pinned_threads();
	cr_assert_eq(p.nfault, 2, "%d handler threads", p.nfault);
	/* Which tid is handler 0 is not known here: the set is what counts. */
	for (int i = 0; i < 2; i++)
		for (unsigned int h = 0; h < 2; h++)
			if (p.fault_cpus[i] == (int)((1 + h) % ncpu))
				seen[h] = true;
	cr_assert(seen[0] && seen[1], "handlers on CPUs %d and %d, not %u and %u",
		  p.fault_cpus[0], p.fault_cpus[1], 1 % ncpu, 2 % ncpu);
	cr_assert_eq(p.worker_cpu, (int)(3 % ncpu), "worker on CPU %d", p.worker_cpu);
	upager_close(pager);
}
