/* SPDX-License-Identifier: MIT */
/*
 * consumer.c - a program built against libupager the way a user builds it:
 * `#include <upager.h>` and the flags pkg-config (or meson's dependency())
 * gives, nothing from upager's source tree. tests/consumer/check.sh builds
 * it against the installed and the uninstalled .pc, and as a meson
 * subproject.
 */
#include <stdio.h>
#include <string.h>

#include <upager.h>

int main(void)
{
	struct upager_options o = UPAGER_OPTS(.handler_threads = 1);
	struct upager *p;
	unsigned char *mem;
	void *addr;
	size_t len = 1 << 20, i;
	int err;

	err = upager_open(&o, &p);
	if (err) {
		fprintf(stderr, "consumer: upager_open: %s\n", strerror(-err));
		return 1;
	}
	err = upager_map(p, NULL, len, UPAGER_PROT_READ | UPAGER_PROT_WRITE,
			 UPAGER_MAP_PRIVATE, &addr);
	if (err) {
		fprintf(stderr, "consumer: upager_map: %s\n", strerror(-err));
		upager_close(p);
		return 1;
	}
	mem = addr;
	for (i = 0; i < len; i += 4096)
		mem[i] = (unsigned char)(i >> 12);
	for (i = 0; i < len; i += 4096)
		if (mem[i] != (unsigned char)(i >> 12)) {
			fprintf(stderr, "consumer: wrong byte at %zu\n", i);
			upager_close(p);
			return 1;
		}
	printf("consumer: libupager %s, %zu pages ok\n", upager_version(), len / 4096);
	upager_close(p);
	return 0;
}
