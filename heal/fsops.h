/* SPDX-License-Identifier: ISC */
/*
 * fsops: the file-access interface the guard logic runs over. Two backends:
 * fslocal (this host's own files, POSIX) and sftp (a silent peer's files,
 * libssh, in the peerwatch-heal worker process). Every op writes a human
 * message to err on failure. No op deletes or truncates an existing file.
 */
#ifndef PW_HEAL_FSOPS_H
#define PW_HEAL_FSOPS_H

#include <stddef.h>
#include <stdint.h>

/* refuse larger files: bounds the worker's memory (jansson needs about
 * 20 bytes per input byte for a file of small values) */
#define FSOPS_MAX_FILE (4u * 1024 * 1024)

struct fsops_match {
	char *path;
	uint64_t mtime_ms;
};

struct fsops {
	void *ctx;
	/* whole file into *data (malloc'd, NUL-terminated, *len excludes
	 * the NUL). Returns 0; 1 if it does not exist; -1 on error. */
	int (*read)(void *ctx, const char *path, char **data, size_t *len,
	    char *err, size_t errlen);
	/* paths matching a glob (only the last component may hold * ? [),
	 * newest mtime first. *matches malloc'd array (free with
	 * fsops_matches_free). Returns 0 (possibly n=0) or -1. */
	int (*glob)(void *ctx, const char *pattern,
	    struct fsops_match **matches, size_t *n, char *err, size_t errlen);
	/* create path exclusively (O_EXCL: fails if it exists), write data,
	 * fsync, close; mode 0600 unless mode_like names an existing file
	 * whose mode is copied. Returns 0 or -1. */
	int (*create)(void *ctx, const char *path, const char *data, size_t len,
	    const char *mode_like, char *err, size_t errlen);
	/* atomic rename over an existing target. Returns 0 or -1. */
	int (*rename)(void *ctx, const char *from, const char *to, char *err,
	    size_t errlen);
	/* mkdir -p of path's parent directory (mode 0755). 0 or -1. */
	int (*mkparent)(void *ctx, const char *path, char *err, size_t errlen);
};

void fsops_matches_free(struct fsops_match *, size_t);

/* the local POSIX backend (ctx unused) */
const struct fsops *fslocal_ops(void);

#endif
