/* SPDX-License-Identifier: ISC */
/*
 * statefile: small files the daemon keeps in its state_dir (incarnation,
 * breaker states). Written whole to a temporary file, synced and renamed
 * over the old one, so a crash leaves the old or the new content, never a
 * mix. Neither call follows a symlink planted at the name. Never exits,
 * never logs.
 */
#ifndef PW_COMMON_STATEFILE_H
#define PW_COMMON_STATEFILE_H

#include <stddef.h>

/* dir/name := data (mode 0600). 0, or -1 with "PATH: reason" in err */
int statefile_write(const char *dir, const char *name, const char *data,
    char *err, size_t errlen);

/*
 * dir/name, a regular file of at most max bytes, NUL-terminated in a new
 * buffer (*out, free it). 0; -1 with errno ENOENT when it does not exist,
 * else -1 with err set (a symlink, not a regular file, too large).
 */
int statefile_read(const char *dir, const char *name, size_t max, char **out,
    char *err, size_t errlen);

#endif
