/* SPDX-License-Identifier: ISC */
/*
 * test_sysinfo: the /proc/meminfo parser on real and hostile text (no
 * swap, missing or malformed figures, free > total, a figure whose bytes
 * overflow 64 bits, a key that is only a prefix of another), and the live
 * calls against this host: swap used <= total, and disk figures equal to
 * statvfs's own for the same path (Linux); a missing path is ENOENT.
 */
#include <sys/statvfs.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/sysinfo.h"

static const char meminfo[] = "MemTotal:        8131548 kB\n"
                              "MemFree:          245732 kB\n"
                              "SwapCached:        11264 kB\n"
                              "SwapTotal:       2097148 kB\n"
                              "SwapFree:        1572860 kB\n"
                              "Dirty:                44 kB\n";

static void
test_parse(void **state)
{
	struct sysinfo_swap sw;

	(void)state;
	assert_int_equal(sysinfo_parse_meminfo(meminfo, &sw), 0);
	assert_true(sw.total_bytes == 2097148ULL * 1024);
	assert_true(sw.used_bytes == (2097148ULL - 1572860) * 1024);
	/* no swap configured */
	assert_int_equal(sysinfo_parse_meminfo("SwapTotal: 0 kB\n"
	                                       "SwapFree: 0 kB\n",
	                     &sw),
	    0);
	assert_true(sw.total_bytes == 0 && sw.used_bytes == 0);
}

static void
test_parse_refuses(void **state)
{
	static const char *bad[] = {
	    "", "SwapTotal: 100 kB\n",               /* no SwapFree */
	    "SwapTotal: 100 kB\nSwapFree: 200 kB\n", /* free > total */
	    "SwapTotal: -1 kB\nSwapFree: 0 kB\n",    /* negative */
	    "SwapTotal: 12x kB\nSwapFree: 0 kB\n",   /* junk */
	    "SwapTotal: 100 MB\nSwapFree: 0 kB\n",   /* unit */
	    "SwapTotal: 18446744073709551615 kB\nSwapFree: 0 kB\n",
	    "SwapTotal: 99999999999999999999999 kB\nSwapFree: 0 kB\n",
	    "SwapTotalX: 100 kB\nSwapFree: 0 kB\n", /* only a prefix */
	};
	struct sysinfo_swap sw = {7, 7};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		assert_int_equal(sysinfo_parse_meminfo(bad[i], &sw), -1);
		assert_int_equal(errno, EINVAL);
		assert_true(sw.total_bytes == 7 && sw.used_bytes == 7);
	}
}

static void
test_live_swap(void **state)
{
	struct sysinfo_swap sw;

	(void)state;
	assert_int_equal(sysinfo_swap(&sw), 0);
	assert_true(sw.used_bytes <= sw.total_bytes);
}

static void
test_live_disk(void **state)
{
	struct sysinfo_disk d;
	struct statvfs sv;

	(void)state;
	assert_int_equal(sysinfo_disk("/tmp", &d), 0);
	assert_int_equal(statvfs("/tmp", &sv), 0);
	assert_true(d.total_bytes > 0 && d.avail_bytes <= d.total_bytes);
#ifndef __APPLE__ /* macOS's statvfs counts blocks in 32 bits */
	assert_true(d.total_bytes == (uint64_t)sv.f_blocks * sv.f_frsize);
#endif
	errno = 0;
	assert_int_equal(sysinfo_disk("/nonexistent/pw-test", &d), -1);
	assert_int_equal(errno, ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_parse_refuses),
	    cmocka_unit_test(test_live_swap),
	    cmocka_unit_test(test_live_disk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
