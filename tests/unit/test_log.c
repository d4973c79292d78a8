/* SPDX-License-Identifier: ISC */
/*
 * test_log: log_open sends lines to a file (0640, appended), follows a
 * rotation (rename, or removal) to a fresh file at the same path without
 * losing or duplicating a line, and refuses a symlink or a directory
 * without touching standard error. Standard error is restored after each.
 * And the same line over and over is written once, then counted.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/log.h"

struct env {
	char dir[64];
	char path[128];
	int saved_stderr;
};

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	snprintf(e->dir, sizeof(e->dir), "/tmp/pw-test-log.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->path, sizeof(e->path), "%s/peerwatch.log", e->dir);
	e->saved_stderr = dup(STDERR_FILENO);
	assert_true(e->saved_stderr != -1);
	log_init(1, 0);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	dup2(e->saved_stderr, STDERR_FILENO);
	close(e->saved_stderr);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

/* how many lines of path contain s */
static int
count(const char *path, const char *s)
{
	char line[4096];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, s))
			n++;
	fclose(f);
	return n;
}

static void
test_rename_followed(void **state)
{
	struct env *e = *state;
	char old[160];
	struct stat st;

	assert_int_equal(log_open(e->path), 0);
	log_info("line-one");
	assert_int_equal(stat(e->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0640);
	/* what newsyslog does: rename, then (maybe) a fresh empty file */
	snprintf(old, sizeof(old), "%s.0", e->path);
	assert_int_equal(rename(e->path, old), 0);
	log_warnx("line-two");
	log_warnx("line-three");
	assert_int_equal(count(old, "line-one"), 1);
	assert_int_equal(count(old, "line-two"), 0);
	assert_int_equal(count(e->path, "line-two"), 1);
	assert_int_equal(count(e->path, "line-three"), 1);
	assert_int_equal(count(e->path, "line-one"), 0);
	/* what a fresh file made by the rotator gets: the next lines */
	assert_int_equal(rename(e->path, old), 0);
	close(open(e->path, O_WRONLY | O_CREAT | O_EXCL, 0640));
	log_info("line-four");
	assert_int_equal(count(e->path, "line-four"), 1);
	assert_int_equal(count(old, "line-four"), 0);
	/* removed outright: recreated */
	assert_int_equal(unlink(e->path), 0);
	log_info("line-five");
	assert_int_equal(count(e->path, "line-five"), 1);
}

static void
test_refuses_symlink_and_dir(void **state)
{
	struct env *e = *state;
	char target[160];
	struct stat before, after;

	snprintf(target, sizeof(target), "%s/elsewhere", e->dir);
	assert_int_equal(symlink(target, e->path), 0);
	assert_int_equal(fstat(STDERR_FILENO, &before), 0);
	assert_int_equal(log_open(e->path), -1);
	assert_int_equal(access(target, F_OK), -1); /* nothing created */
	assert_int_equal(unlink(e->path), 0);
	assert_int_equal(mkdir(e->path, 0700), 0);
	errno = 0;
	assert_int_equal(log_open(e->path), -1);
	assert_int_equal(fstat(STDERR_FILENO, &after), 0);
	assert_true(
	    before.st_ino == after.st_ino && before.st_dev == after.st_dev);
}

/* stderr into a file while fn runs; the file's text (the caller frees) */
static char *
capture(void (*fn)(void))
{
	char path[] = "/tmp/test_log.XXXXXX", *text;
	int fd = mkstemp(path), saved = dup(2);
	off_t len;

	assert_true(fd >= 0 && saved >= 0);
	unlink(path);
	dup2(fd, 2);
	fn();
	dup2(saved, 2);
	close(saved);
	len = lseek(fd, 0, SEEK_END);
	text = calloc(1, (size_t)len + 1);
	assert_int_equal(pread(fd, text, (size_t)len, 0), len);
	close(fd);
	return text;
}

static int
count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void
flood(void)
{
	int i;

	for (i = 0; i < 10000; i++)
		log_warnx("accept: Too many open files");
	log_warnx("something else");
	log_warnx("something else");
	log_info("a third line");
}

static void
test_repeats_counted(void **state)
{
	char *text = capture(flood);

	(void)state;
	print_message("%s", text);
	assert_int_equal(count_lines(text), 5);
	assert_non_null(strstr(text, "warn: accept: Too many open files\n"));
	assert_non_null(strstr(text, "last message repeated 9999 times\n"));
	assert_non_null(strstr(text, "last message repeated 1 times\n"));
	assert_non_null(strstr(text, "info: a third line\n"));
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_repeats_counted),
	    cmocka_unit_test_setup_teardown(
	        test_rename_followed, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_refuses_symlink_and_dir, setup, teardown),
	};

	log_init(0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
