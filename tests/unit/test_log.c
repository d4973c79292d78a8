/* SPDX-License-Identifier: ISC */
/*
 * test_log: the same line logged over and over is written once and then
 * counted (issue 13 item 11: a listener failing in a loop wrote 2.8 M
 * identical lines in 8 s).
 */
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
	};

	log_init(0, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
