/* SPDX-License-Identifier: ISC */
/*
 * xmalloc: allocation that cannot fail. Out of memory is a broken invariant
 * for a daemon this small, so these call fatalx() instead of returning NULL.
 */
#ifndef PW_COMMON_XMALLOC_H
#define PW_COMMON_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
void *xreallocarray(void *, size_t, size_t);
char *xstrdup(const char *);
char *xstrndup(const char *, size_t);
char *xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

#endif
