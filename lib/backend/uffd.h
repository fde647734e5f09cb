/* SPDX-License-Identifier: MIT */
/*
 * uffd.h - the userfaultfd mechanism: opening a descriptor (syscall or
 * /dev/userfaultfd), negotiating features with UFFDIO_API, registering
 * ranges and the install ioctls (COPY, ZEROPAGE, MOVE, CONTINUE,
 * WRITEPROTECT, POISON, WAKE). Nothing here reads the descriptor or knows
 * of threads: that is the serving model's (serve-threads.c), which owns a
 * struct uffd and offers the pair as uffd_backend_ops.
 *
 * The install calls answer as backend_ops says (backend.h): bytes done
 * (> 0) or -errno. A run the kernel answers EAGAIN (the address space is
 * changing) is retried, a bounded number of times, unless the calling
 * thread said it may not wait (uffd_no_spin()).
 */
#ifndef UPAGER_UFFD_H
#define UPAGER_UFFD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct uffd {
	int fd;                /* the regions: faults, and events (O_NONBLOCK) */
	int staging_fd;        /* the staging area: a place pages move to; no events */
	uintptr_t staging_start, staging_end; /* [start, end) */
	uint64_t features;     /* negotiated with UFFDIO_API (fd) */
	void *zero_src;        /* zeroes to copy for a writable zero fill */
	size_t zero_src_len;
	unsigned long page_size;
	_Atomic uint64_t *retried; /* counts each EAGAIN retry (stats) */
};

/*
 * Open the regions' descriptor with every feature upager uses that the
 * kernel has (the rest are refused later, by the mapping that needs
 * them), and @zero_pages pages of zeroes. @retried: a counter the retry
 * loops add to. Returns 0 or -errno (logged); on failure @u holds
 * nothing to close.
 */
int uffd_open(struct uffd *u, unsigned long page_size, unsigned int zero_pages,
	      _Atomic uint64_t *retried);
/* Close both descriptors and free the zeroes (also in a forked child:
 * the parent's descriptors stay open). */
void uffd_close(struct uffd *u);

/* Register [start, end) for missing-page faults: the uffd_attach() of
 * BACKEND_FAULTS, also for a page of the serving model's own. */
int uffd_register_missing(struct uffd *u, uintptr_t start, uintptr_t end);

/* The calling thread may not wait: an EAGAIN is answered at once. */
void uffd_no_spin(bool on);

/* As the backend_ops of the same names (backend.h). */
int uffd_attach(struct uffd *u, uintptr_t start, uintptr_t end, int how);
int uffd_detach(struct uffd *u, uintptr_t start, uintptr_t end);
long uffd_fill_zero(struct uffd *u, uintptr_t start, size_t len, bool writable);
int uffd_wake(struct uffd *u, uintptr_t start, size_t len);
long uffd_copy(struct uffd *u, uintptr_t dst, const void *src, size_t len);
long uffd_move(struct uffd *u, uintptr_t dst, uintptr_t src, size_t len);
long uffd_cont(struct uffd *u, uintptr_t start, size_t len, bool wp);
int uffd_protect(struct uffd *u, uintptr_t start, size_t len, bool on);
int uffd_poison(struct uffd *u, uintptr_t addr);

#endif /* UPAGER_UFFD_H */
