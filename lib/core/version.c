/* SPDX-License-Identifier: MIT */
/*
 * version.c - the library's version, as meson.build's project() says it.
 */
#include "upager.h"

const char *upager_version(void)
{
	return UPAGER_VERSION;
}
