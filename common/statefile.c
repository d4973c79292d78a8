/* SPDX-License-Identifier: ISC */
/*
 * statefile: atomic small files in state_dir (statefile.h).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/statefile.h"
#include "common/xmalloc.h"

int
statefile_write(const char *dir, const char *name, const char *data, char *err,
    size_t errlen)
{
	char tmp[4096], path[4096];
	size_t len = strlen(data);
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, name);
	/* a leftover (or planted) temporary is removed, never followed */
	if (unlink(tmp) == -1 && errno != ENOENT)
		goto fail;
	fd = open(
	    tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1)
		goto fail;
	while (len > 0) {
		if ((n = write(fd, data, len)) == -1) {
			if (errno == EINTR)
				continue;
			close(fd);
			goto fail;
		}
		data += n;
		len -= (size_t)n;
	}
	if (fsync(fd) == -1) {
		close(fd);
		goto fail;
	}
	close(fd);
	/* rename replaces a symlink at path itself, it does not follow it */
	if (rename(tmp, path) == -1)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", path, strerror(errno));
	unlink(tmp);
	return -1;
}

int
statefile_read(const char *dir, const char *name, size_t max, char **out,
    char *err, size_t errlen)
{
	char path[4096], *buf;
	struct stat st;
	size_t got = 0;
	ssize_t n;
	int fd, e;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	/* O_NONBLOCK: a FIFO planted at the name must not hang the loop */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)) ==
	    -1) {
		e = errno;
		snprintf(err, errlen, "%s: %s", path,
		    e == ELOOP ? "is a symlink" : strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (size_t)st.st_size > max) {
		snprintf(err, errlen, "%s: %s", path,
		    !S_ISREG(st.st_mode) ? "not a regular file" : "too large");
		close(fd);
		errno = EINVAL;
		return -1;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	return 0;
}
