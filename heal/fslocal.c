/* SPDX-License-Identifier: ISC */
/*
 * fslocal: the POSIX backend of struct fsops, for this host's own guarded
 * files and the local mesh store. The daemon runs it as root over
 * directories other users can write, so every last path component may be
 * a planted link: files are opened with O_NOFOLLOW and checked with
 * fstat, created exclusively (O_EXCL), given their owner and mode with
 * fchown/fchmod on the open descriptor, written whole and fsynced;
 * renames are followed by an fsync of the directory. Never truncates;
 * unlinks only in remove (the guard's own artefacts) and a half-written
 * file this very call created with O_EXCL.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/mkdirs.h"
#include "common/osdep.h"
#include "common/xmalloc.h"
#include "heal/fsops.h"

static uint64_t
fslocal_mtime_ms(const struct stat *st)
{
#ifdef __APPLE__
	/* macOS spells it st_mtimespec (needs _DARWIN_C_SOURCE) */
	return (uint64_t)st->st_mtimespec.tv_sec * 1000 +
	       (uint64_t)st->st_mtimespec.tv_nsec / 1000000;
#else
	return (uint64_t)st->st_mtim.tv_sec * 1000 +
	       (uint64_t)st->st_mtim.tv_nsec / 1000000;
#endif
}

static void
fslocal_conv(const struct stat *st, struct fsops_stat *out)
{
	out->type = S_ISREG(st->st_mode)   ? FSOPS_REG
	            : S_ISDIR(st->st_mode) ? FSOPS_DIR
	            : S_ISLNK(st->st_mode) ? FSOPS_LINK
	                                   : FSOPS_OTHER;
	out->has_owner = 1;
	out->uid = (uint32_t)st->st_uid;
	out->gid = (uint32_t)st->st_gid;
	out->mode = (uint32_t)st->st_mode & 07777;
	out->nlink = (uint32_t)st->st_nlink;
	out->size = (uint64_t)st->st_size;
	out->mtime_ms = fslocal_mtime_ms(st);
}

/* hint: the size fstat saw; the loop copes with a file that changes */
static int
fslocal_read_fd(int fd, const char *path, size_t hint, size_t max, char **data,
    size_t *len, char *err, size_t errlen)
{
	size_t cap = hint + 1, n = 0;
	char *buf = xmalloc(cap + 1);
	ssize_t r;

	for (;;) {
		if (n == cap) {
			if (cap > max)
				goto toobig;
			cap *= 2;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		r = read(fd, buf + n, cap - n);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1) {
			snprintf(
			    err, errlen, "read %s: %s", path, strerror(errno));
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max)
		goto toobig;
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
toobig:
	snprintf(err, errlen, "%s: larger than %zu bytes, refused", path, max);
	free(buf);
	return -1;
}

static int
fslocal_read(void *ctx, const char *path, size_t max, char **data, size_t *len,
    struct fsops_stat *sto, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	(void)ctx;
	if (max > FSOPS_MAX_FILE)
		max = FSOPS_MAX_FILE;
	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd == -1) {
		if (errno == ENOENT)
			return 1;
		/* ELOOP from O_NOFOLLOW; FreeBSD says EMLINK */
		if (errno == ELOOP || errno == EMLINK)
			snprintf(err, errlen,
			    "%s: is a symbolic link, not followed", path);
		else
			snprintf(
			    err, errlen, "open %s: %s", path, strerror(errno));
		return -1;
	}
	/* O_NONBLOCK only so a FIFO cannot hang us; refuse non-files. */
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	if ((uint64_t)st.st_size > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes, refused",
		    path, max);
		close(fd);
		return -1;
	}
	rc = fslocal_read_fd(
	    fd, path, (size_t)st.st_size, max, data, len, err, errlen);
	if (rc == 0 && sto != NULL)
		fslocal_conv(&st, sto);
	close(fd);
	return rc;
}

static int
fslocal_stat(void *ctx, const char *path, struct fsops_stat *out, char *err,
    size_t errlen)
{
	struct stat st;

	(void)ctx;
	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 1;
		snprintf(err, errlen, "lstat %s: %s", path, strerror(errno));
		return -1;
	}
	fslocal_conv(&st, out);
	return 0;
}

/*
 * glob(3) would also expand metacharacters in the directory part; the
 * interface allows them only in the last component (as the SFTP backend
 * does), so the directory part is escaped with backslashes.
 */
static char *
fslocal_glob_escape(const char *pattern)
{
	const char *slash = strrchr(pattern, '/');
	size_t dirlen = slash ? (size_t)(slash - pattern) : 0;
	char *out = xmalloc(2 * dirlen + strlen(pattern) + 1);
	size_t i, o = 0;

	for (i = 0; i < dirlen; i++) {
		if (strchr("\\*?[", pattern[i]) != NULL)
			out[o++] = '\\';
		out[o++] = pattern[i];
	}
	strcpy(out + o, pattern + dirlen);
	return out;
}

static int
fslocal_match_cmp(const void *a, const void *b)
{
	const struct fsops_match *ma = a, *mb = b;

	if (ma->mtime_ms != mb->mtime_ms)
		return ma->mtime_ms > mb->mtime_ms ? -1 : 1;
	return -strcmp(ma->path, mb->path);
}

static int
fslocal_glob(void *ctx, const char *pattern, struct fsops_match **matches,
    size_t *n, char *err, size_t errlen)
{
	char *esc = fslocal_glob_escape(pattern);
	struct fsops_match *m;
	struct stat st;
	glob_t gl;
	size_t i, k = 0;
	int rc;

	(void)ctx;
	*matches = NULL;
	*n = 0;
	rc = glob(esc, 0, NULL, &gl);
	free(esc);
	if (rc == GLOB_NOMATCH)
		return 0;
	if (rc != 0) {
		snprintf(err, errlen, "glob %s: %s", pattern,
		    rc == GLOB_NOSPACE ? "out of memory" : "read error");
		globfree(&gl);
		return -1;
	}
	m = xcalloc(gl.gl_pathc, sizeof(*m));
	for (i = 0; i < gl.gl_pathc; i++) {
		/* a match that vanished, a directory or a link (never
		 * followed) is no candidate */
		if (lstat(gl.gl_pathv[i], &st) == -1 || !S_ISREG(st.st_mode))
			continue;
		m[k].path = xstrdup(gl.gl_pathv[i]);
		m[k].mtime_ms = fslocal_mtime_ms(&st);
		k++;
	}
	globfree(&gl);
	if (k > 1)
		qsort(m, k, sizeof(*m), fslocal_match_cmp);
	*matches = m;
	*n = k;
	return 0;
}

static int
fslocal_write_all(int fd, const char *data, size_t len)
{
	ssize_t r;

	while (len > 0) {
		r = write(fd, data, len);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		data += r;
		len -= (size_t)r;
	}
	return 0;
}

/* on macOS fsync(2) stops at the drive's cache; F_FULLFSYNC does not */
static int
fslocal_fsync(int fd)
{
	return pw_fsync_full(fd);
}

/*
 * Owner first (a chown may clear mode bits), then the mode without
 * setuid/setgid/sticky, both on the descriptor: a name can be swapped
 * for a link after the create, the open file cannot.
 */
static void
fslocal_set_attr(
    int fd, const struct fsops_stat *like, char *warn, size_t warnlen)
{
	struct stat st;
	mode_t mode = like != NULL ? (mode_t)(like->mode & 0777) : 0600;

	if (like != NULL && like->has_owner && fstat(fd, &st) == 0 &&
	    (st.st_uid != (uid_t)like->uid || st.st_gid != (gid_t)like->gid) &&
	    fchown(fd, (uid_t)like->uid, (gid_t)like->gid) == -1)
		snprintf(warn, warnlen, "owner %u:%u not kept (%s)",
		    (unsigned)like->uid, (unsigned)like->gid, strerror(errno));
	if (fchmod(fd, mode) == -1)
		snprintf(warn + strlen(warn), warnlen - strlen(warn),
		    "%smode %04o not kept (%s)", warn[0] ? "; " : "",
		    (unsigned)mode, strerror(errno));
}

static int
fslocal_create(void *ctx, const char *path, const char *data, size_t len,
    const struct fsops_stat *like, char *warn, size_t warnlen, char *err,
    size_t errlen)
{
	const char *what = "write";
	int fd, saved;

	(void)ctx;
	warn[0] = '\0';
	fd = open(
	    path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		snprintf(err, errlen, "create %s: %s", path, strerror(errno));
		return -1;
	}
	fslocal_set_attr(fd, like, warn, warnlen);
	if (fslocal_write_all(fd, data, len) == -1)
		what = "write";
	else if (fslocal_fsync(fd) == -1)
		what = "fsync";
	else if (close(fd) == -1) {
		fd = -1;
		what = "close";
	} else
		return 0;
	saved = errno;
	if (fd != -1)
		close(fd);
	/* ours alone (O_EXCL above) and incomplete: nobody's data */
	unlink(path);
	snprintf(err, errlen, "%s %s: %s", what, path, strerror(saved));
	return -1;
}

static int
fslocal_remove(void *ctx, const char *path, char *err, size_t errlen)
{
	(void)ctx;
	if (unlink(path) == -1) {
		snprintf(err, errlen, "unlink %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static char *
fslocal_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static int
fslocal_fsync_dir(const char *path)
{
	char *dir = fslocal_dirname(path);
	int fd, rc = -1;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd != -1) {
		rc = fslocal_fsync(fd);
		close(fd);
	}
	if (rc == -1)
		log_warn("fsync directory %s", dir);
	free(dir);
	return rc;
}

static int
fslocal_rename(
    void *ctx, const char *from, const char *to, char *err, size_t errlen)
{
	(void)ctx;
	if (rename(from, to) == -1) {
		snprintf(err, errlen, "rename %s to %s: %s", from, to,
		    strerror(errno));
		return -1;
	}
	/*
	 * The rename has happened; a failed directory fsync only weakens
	 * durability, so it is logged, not reported as a failed rename
	 * (callers take -1 to mean the target was left as it was).
	 */
	fslocal_fsync_dir(to);
	return 0;
}

static int
fslocal_mkparent(void *ctx, const char *path, char *err, size_t errlen)
{
	char *dir = fslocal_dirname(path);
	int rc;

	(void)ctx;
	rc = mkdirs(dir, 0755, err, errlen);
	free(dir);
	return rc;
}

void
fsops_matches_free(struct fsops_match *m, size_t n)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < n; i++)
		free(m[i].path);
	free(m);
}

const struct fsops *
fslocal_ops(void)
{
	static const struct fsops ops = {
	    .ctx = NULL,
	    .read = fslocal_read,
	    .stat = fslocal_stat,
	    .glob = fslocal_glob,
	    .create = fslocal_create,
	    .rename = fslocal_rename,
	    .remove = fslocal_remove,
	    .mkparent = fslocal_mkparent,
	};

	return &ops;
}
