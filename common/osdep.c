/* SPDX-License-Identifier: ISC */
/*
 * osdep: executable path, a full fsync and the descriptor limit, for
 * Linux and macOS.
 */
#include <sys/types.h>
#include <sys/resource.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef __APPLE__
/* <mach-o/dyld.h>'s one prototype we need, so the file builds against any
 * SDK (and the stand-in one of macos-check) */
extern int _NSGetExecutablePath(char *, uint32_t *);
#endif

#include "common/osdep.h"

int
pw_self_exe(char *buf, size_t len)
{
#ifdef __APPLE__
	char raw[PATH_MAX], real[PATH_MAX];
	uint32_t size = sizeof(raw);

	/* the path it was started by (maybe relative, maybe a symlink) */
	if (_NSGetExecutablePath(raw, &size) != 0 ||
	    realpath(raw, real) == NULL || strlen(real) >= len)
		return -1;
	memcpy(buf, real, strlen(real) + 1);
	return 0;
#else
	ssize_t n;

	if (len == 0 || (n = readlink("/proc/self/exe", buf, len - 1)) <= 0 ||
	    (size_t)n >= len - 1)
		return -1;
	buf[n] = '\0';
	return 0;
#endif
}

int
pw_fsync_full(int fd)
{
#ifdef F_FULLFSYNC
	if (fcntl(fd, F_FULLFSYNC) == 0)
		return 0;
#endif
	return fsync(fd);
}

unsigned long
pw_raise_nofile(unsigned long want)
{
	struct rlimit rl;
	rlim_t target = (rlim_t)want;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && target > rl.rlim_max)
		target = rl.rlim_max;
#ifdef OPEN_MAX
	if (target > OPEN_MAX)
		target = OPEN_MAX; /* macOS refuses more for a process */
#endif
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < target) {
		rl.rlim_cur = target;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? want : (unsigned long)rl.rlim_cur;
}
