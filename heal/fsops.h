/* SPDX-License-Identifier: ISC */
/*
 * fsops: the file-access interface the guard logic runs over. Two backends:
 * fslocal (this host's own files, POSIX) and sftp (a silent peer's files,
 * libssh, in the peerwatch-heal worker process). Every op writes a human
 * message to err on failure. No op follows a symbolic link in the last
 * component of a path it reads or creates, and no op sets an owner or a
 * mode by path: only on the open file. Only remove deletes, and the guard
 * calls it on its own artefacts alone (temp files, surplus broken copies).
 */
#ifndef PW_HEAL_FSOPS_H
#define PW_HEAL_FSOPS_H

#include <stddef.h>
#include <stdint.h>

/* no read ever takes more (a guard's max_size is at most this) */
#define FSOPS_MAX_FILE (64u * 1024 * 1024)

enum fsops_type { FSOPS_REG, FSOPS_DIR, FSOPS_LINK, FSOPS_OTHER };

/* what lstat (or fstat of an open file) says; has_owner 0 if the
 * server did not report uid/gid */
struct fsops_stat {
	enum fsops_type type;
	int has_owner;
	uint32_t uid, gid;
	uint32_t mode;  /* permission bits, 07777 */
	uint32_t nlink; /* hard links; 0 if unknown (SFTP) */
	uint64_t size;
	uint64_t mtime_ms;
};

struct fsops_match {
	char *path;
	uint64_t mtime_ms;
};

struct fsops {
	void *ctx;
	/* whole file into *data (malloc'd, NUL-terminated, *len excludes
	 * the NUL); st (may be NULL) gets the open file's attributes. A
	 * symbolic link is refused (-1), never followed, as is anything
	 * that is not a regular file or is over max bytes (or over
	 * FSOPS_MAX_FILE): refused from its size, before it is read.
	 * Returns 0; 1 if it does not exist; -1 on error. */
	int (*read)(void *ctx, const char *path, size_t max, char **data,
	    size_t *len, struct fsops_stat *st, char *err, size_t errlen);
	/* lstat: 0, 1 if nothing is there, -1 on error */
	int (*stat)(void *ctx, const char *path, struct fsops_stat *st,
	    char *err, size_t errlen);
	/* regular files (links not followed) matching a glob (only the
	 * last component may hold * ? [), newest mtime first. *matches
	 * malloc'd array (free with fsops_matches_free). 0 (maybe n=0)
	 * or -1. */
	int (*glob)(void *ctx, const char *pattern,
	    struct fsops_match **matches, size_t *n, char *err, size_t errlen);
	/* create path exclusively (fails if anything, even a dangling
	 * link, is there), mode 0600; then, on the open file, owner
	 * like->uid:gid (if like->has_owner) and mode like->mode & 0777
	 * (like may be NULL); write data, fsync, close. An owner or mode
	 * that cannot be set is said in warn ("" if none) and the file
	 * is still made. Returns 0 or -1. */
	int (*create)(void *ctx, const char *path, const char *data, size_t len,
	    const struct fsops_stat *like, char *warn, size_t warnlen,
	    char *err, size_t errlen);
	/* atomic rename over an existing target. Returns 0 or -1. */
	int (*rename)(void *ctx, const char *from, const char *to, char *err,
	    size_t errlen);
	/* unlink one file (never a directory). 0 or -1. */
	int (*remove)(void *ctx, const char *path, char *err, size_t errlen);
	/* mkdir -p of path's parent directory (mode 0755). 0 or -1. */
	int (*mkparent)(void *ctx, const char *path, char *err, size_t errlen);
};

void fsops_matches_free(struct fsops_match *, size_t);

/* the local POSIX backend (ctx unused) */
const struct fsops *fslocal_ops(void);

#endif
