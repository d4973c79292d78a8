/* SPDX-License-Identifier: ISC */
/*
 * test_osdep: pw_self_exe names this very binary (same inode as argv[0],
 * absolute, no symlink left), refuses a buffer too short; pw_fsync_full
 * syncs a real file and reports a bad descriptor.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/osdep.h"

static const char *argv0;

static void
test_self_exe(void **state)
{
	char buf[PATH_MAX], real[PATH_MAX];
	struct stat a, b;

	(void)state;
	assert_int_equal(pw_self_exe(buf, sizeof(buf)), 0);
	assert_int_equal(buf[0], '/');
	assert_non_null(realpath(argv0, real));
	assert_string_equal(buf, real);
	assert_int_equal(stat(buf, &a), 0);
	assert_int_equal(stat(argv0, &b), 0);
	assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
	/* one byte short of the path and its NUL: refused, not cut */
	assert_int_equal(pw_self_exe(buf, strlen(real)), -1);
	assert_int_equal(pw_self_exe(buf, 0), -1);
}

static void
test_fsync_full(void **state)
{
	char path[] = "/tmp/test_osdep.XXXXXX";
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd != -1);
	unlink(path);
	assert_int_equal(write(fd, "x", 1), 1);
	assert_int_equal(pw_fsync_full(fd), 0);
	close(fd);
	errno = 0;
	assert_int_equal(pw_fsync_full(fd), -1);
	assert_int_equal(errno, EBADF);
}

/* a low soft limit goes up to what was asked, never past the hard one */
static void
test_raise_nofile(void **state)
{
	struct rlimit old, low, now;
	rlim_t want;

	(void)state;
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 200;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	want = old.rlim_max == RLIM_INFINITY || old.rlim_max > 300
	           ? 300
	           : old.rlim_max;
	assert_int_equal(pw_raise_nofile(300), (unsigned long)want);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &now), 0);
	assert_int_equal(now.rlim_cur, want);
	/* never lowered */
	assert_int_equal(pw_raise_nofile(100), (unsigned long)want);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_self_exe),
	    cmocka_unit_test(test_fsync_full),
	    cmocka_unit_test(test_raise_nofile),
	};

	(void)argc;
	argv0 = argv[0];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
