/* SPDX-License-Identifier: MIT */
/*
 * forks - a program that knows nothing of upager, for running under
 * upager-run: it fills SIZE MiB of anonymous memory with a pattern per
 * page, forks by one means, and both processes verify every byte. Exits 0
 * only when the child exited 0 and the parent's bytes are right too.
 *
 * usage: forks MODE [SIZE_MIB]
 *   fork      fork() (the atfork path)
 *   syscall   syscall(SYS_fork)
 *   clone     clone(fn, stack, SIGCHLD, arg) (a fork: no CLONE_VM)
 *   clone3    syscall(SYS_clone3) with only exit_signal = SIGCHLD
 *   _Fork     glibc's _Fork()
 *   thread    a second thread forks; the child starts a thread that
 *             verifies the memory (the child's pager must serve a thread
 *             it did not have at the fork)
 *   raw       a fork by a syscall instruction no symbol sees (x86-64):
 *             the child may also die of SIGSEGV at its first touch (a
 *             loud end, the best a pager can do there), never read a
 *             wrong byte
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

#define PAGE 4096u

static unsigned char *mem;
static size_t npages;

static unsigned char byte_of(size_t page, size_t i)
{
	return (unsigned char)(page * 31u + i * 7u + (page >> 8));
}

static void fill(void)
{
	for (size_t p = 0; p < npages; p++)
		for (size_t i = 0; i < PAGE; i++)
			mem[p * PAGE + i] = byte_of(p, i);
}

/* The number of wrong pages; the first one is reported. */
static size_t verify(const char *who)
{
	size_t bad = 0;

	for (size_t p = 0; p < npages; p++) {
		for (size_t i = 0; i < PAGE; i++) {
			if (mem[p * PAGE + i] != byte_of(p, i)) {
				if (!bad++)
					fprintf(stderr, "forks: %s: page %zu byte %zu is 0x%02x, "
						"expected 0x%02x\n", who, p, i, mem[p * PAGE + i],
						byte_of(p, i));
				break;
			}
		}
	}
	if (bad)
		fprintf(stderr, "forks: %s: %zu of %zu pages wrong\n", who, bad, npages);
	return bad;
}

static int child_main(void)
{
	_exit(verify("child") ? 1 : 0);
}

static int clone_fn(void *arg)
{
	(void)arg;
	return child_main();
}

static void *child_thread(void *arg)
{
	(void)arg;
	return (void *)(uintptr_t)(verify("child's thread") ? 1 : 0);
}

/* The child of a fork made by a thread: a new thread does the work. */
static void thread_child(void)
{
	pthread_t t;
	void *ret;

	if (pthread_create(&t, NULL, child_thread, NULL)) {
		fprintf(stderr, "forks: child: pthread_create failed\n");
		_exit(2);
	}
	pthread_join(t, &ret);
	_exit(ret ? 1 : 0);
}

static pid_t do_fork(const char *mode)
{
	if (!strcmp(mode, "fork"))
		return fork();
	if (!strcmp(mode, "syscall"))
		return (pid_t)syscall(SYS_fork);
	if (!strcmp(mode, "_Fork"))
		return _Fork();
	if (!strcmp(mode, "clone3")) {
		uint64_t args[11] = { 0 };

		args[4] = SIGCHLD; /* exit_signal */
		return (pid_t)syscall(SYS_clone3, args, 88);
	}
	if (!strcmp(mode, "raw")) {
#if defined(__x86_64__)
		long ret;

		__asm__ volatile("syscall" : "=a"(ret) : "a"((long)SYS_fork)
				 : "rcx", "r11", "memory");
		if (ret < 0) {
			errno = (int)-ret;
			return -1;
		}
		return (pid_t)ret;
#else
		fprintf(stderr, "forks: raw: x86-64 only\n");
		exit(77);
#endif
	}
	if (!strcmp(mode, "clone")) {
		static char stack[1 << 16] __attribute__((aligned(16)));

		return clone(clone_fn, stack + sizeof(stack), SIGCHLD, NULL);
	}
	fprintf(stderr, "forks: unknown mode %s\n", mode);
	exit(2);
}

static bool segv_is_right; /* raw: a child killed at its first touch */
static bool child_segv;

static int parent_wait(pid_t pid)
{
	int status;

	if (pid < 0) {
		fprintf(stderr, "forks: fork: %s\n", strerror(errno));
		return 2;
	}
	if (waitpid(pid, &status, 0) != pid) {
		fprintf(stderr, "forks: waitpid: %s\n", strerror(errno));
		return 2;
	}
	if (segv_is_right && WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV) {
		child_segv = true;
		return 0;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		if (WIFSIGNALED(status))
			fprintf(stderr, "forks: child killed by signal %d\n", WTERMSIG(status));
		else
			fprintf(stderr, "forks: child exited %d\n", WEXITSTATUS(status));
		return 1;
	}
	return 0;
}

static void *forking_thread(void *arg)
{
	pid_t pid = fork();

	(void)arg;
	if (pid == 0)
		thread_child();
	return (void *)(intptr_t)parent_wait(pid);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
	const char *mode = argc > 1 ? argv[1] : "";
	int ret;

	if (argc < 2) {
		fprintf(stderr, "usage: forks fork|syscall|clone|clone3|_Fork|thread|raw [SIZE_MIB]\n");
		return 2;
	}
	npages = mib * (1u << 20) / PAGE;
	mem = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("forks: mmap");
		return 2;
	}
	fill();
	if (!strcmp(mode, "thread")) {
		pthread_t t;
		void *r;

		if (pthread_create(&t, NULL, forking_thread, NULL))
			return 2;
		pthread_join(t, &r);
		ret = (int)(intptr_t)r;
	} else {
		pid_t pid;

		segv_is_right = !strcmp(mode, "raw");
		pid = do_fork(mode);

		if (pid == 0)
			child_main();
		ret = parent_wait(pid);
	}
	if (verify("parent"))
		ret = 1;
	if (!ret)
		printf("forks %s: %zu pages right in %s\n", mode, npages,
		       child_segv ? "the parent; the child died of SIGSEGV at its first touch"
				  : "the child and the parent");
	return ret;
}
