/* SPDX-License-Identifier: MIT */
/*
 * unmap-all.c - a program that unmaps its whole address space, as
 * stress-ng's vm-segv does: the kernel answers EINVAL while the length
 * passes the top of user space, then unmaps everything, and the caller
 * dies of SIGSEGV returning into unmapped code.
 *
 * usage: unmap-all refused   memory written, every refused munmap tried,
 *                            memory read back: "refused N, wrong 0"
 *        unmap-all plain     children unmap everything: how each ended
 *        unmap-all traced    the same, each child traced by its parent
 *                            (PTRACE_TRACEME): the tracer must see the
 *                            SIGSEGV stop of the thread that unmapped
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 10

static void unmap_everything(void)
{
	size_t len = ~(size_t)0;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGSEGV);
	sigprocmask(SIG_BLOCK, &set, NULL);
	len ^= len >> 1;
	while (len > 4096) {
		munmap(NULL, len - 4096);
		len >>= 1;
	}
	_exit(3);
}

static int refused(void)
{
	const size_t len = 64ul << 20;
	uint64_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	size_t len_try = ~(size_t)0, wrong = 0;
	int refusals = 0;

	if (m == MAP_FAILED)
		return 1;
	for (size_t i = 0; i < len / 8; i++)
		m[i] = i * 0x9e3779b97f4a7c15ull;
	len_try ^= len_try >> 1;
	/* Only what the kernel refuses: from 2^63 down to 2^48. */
	while (len_try > (1ul << 47)) {
		if (munmap(NULL, len_try - 4096) == -1 && errno == EINVAL)
			refusals++;
		len_try >>= 1;
	}
	if (munmap((char *)m + 1, 4096) == -1 && errno == EINVAL)
		refusals++;
	/* A length that wraps past the end of memory. */
	if (madvise(m, ~(size_t)4095, MADV_DONTNEED) == -1 && errno == EINVAL)
		refusals++;
	for (size_t i = 0; i < len / 8; i++)
		wrong += m[i] != i * 0x9e3779b97f4a7c15ull;
	printf("refused %d, wrong %zu\n", refusals, wrong);
	return 0;
}

static int children(int traced)
{
	int segv = 0, other = 0;

	for (int i = 0; i < CHILDREN; i++) {
		int status;
		pid_t pid = fork();

		if (pid < 0)
			return 1;
		if (pid == 0) {
			if (traced) {
				ptrace(PTRACE_TRACEME, 0, NULL, NULL);
				raise(SIGSTOP);
			}
			unmap_everything();
		}
		if (traced) {
			waitpid(pid, &status, 0); /* the SIGSTOP */
			ptrace(PTRACE_CONT, pid, NULL, NULL);
		}
		waitpid(pid, &status, 0);
		if (traced ? WIFSTOPPED(status) && WSTOPSIG(status) == SIGSEGV
			   : WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV)
			segv++;
		else
			other++;
		if (traced) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
		}
	}
	printf("%s: %d children ended by SIGSEGV, %d otherwise\n", traced ? "traced" : "plain", segv,
	       other);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "refused"))
		return refused();
	if (argc == 2 && !strcmp(argv[1], "plain"))
		return children(0);
	if (argc == 2 && !strcmp(argv[1], "traced"))
		return children(1);
	fprintf(stderr, "usage: unmap-all refused|plain|traced\n");
	return 2;
}
