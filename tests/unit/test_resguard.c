/* SPDX-License-Identifier: ISC */
/*
 * test_resguard: the pure parts of the resource guards. The test-hook
 * file parser (good files, every kind of bad line rejected with file:line
 * and the rest still used), the level function's thresholds and
 * hysteresis (a value hovering at a line does not flap), df's rounding of
 * used percent (and no overflow near 2^64), percent swap levels, and the
 * choice of the heaviest model in an /api/ps answer. Then a live guard on
 * a loop reading a test-hook file: /status and the heartbeat payload
 * within every budget, and a figures file planted as a symlink not read.
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
#include <event2/event.h>
#include <jansson.h>

#include "common/evlog.h"
#include "config/conf.h"
#include "heal/incident.h"
#include "heal/resguard.h"

static int
parse(const char *text, struct resguard_figures *fig, char *err, size_t len)
{
	return resguard_parse_figures(text, strlen(text), "f", fig, err, len);
}

static void
test_parse_good(void **state)
{
	static struct resguard_figures fig;
	char err[256];

	(void)state;
	assert_int_equal(parse("# figures\n"
	                       "\n"
	                       "swap_total 1000\n"
	                       "  swap_used\t250  \r\n"
	                       "disk / 2000 300\n"
	                       "disk /data 18446744073709551615 0",
	                     &fig, err, sizeof(err)),
	    0);
	assert_string_equal(err, "");
	assert_true(fig.have_swap);
	assert_true(fig.swap_total == 1000 && fig.swap_used == 250);
	assert_int_equal(fig.ndisk, 2);
	assert_string_equal(fig.disk[0].path, "/");
	assert_true(fig.disk[0].total == 2000 && fig.disk[0].avail == 300);
	assert_string_equal(fig.disk[1].path, "/data");
	assert_true(fig.disk[1].total == UINT64_MAX && fig.disk[1].avail == 0);
	/* empty: nothing read, nothing wrong */
	assert_int_equal(parse("", &fig, err, sizeof(err)), 0);
	assert_false(fig.have_swap);
	assert_int_equal(fig.ndisk, 0);
}

static void
test_parse_bad_lines(void **state)
{
	static const struct {
		const char *text;
		const char *err;
	} bad[] = {
	    {"colour blue\n", "f:1: unknown key"},
	    {"disk / 10 11\n", "f:1: total must be more than 0"},
	    {"disk / 0 0\n", "f:1: total must be more than 0"},
	    {"disk relative 10 1\n", "f:1: expected disk /PATH"},
	    {"disk / 10\n", "f:1: expected disk /PATH"},
	    {"disk / 10 1 9\n", "f:1: expected disk /PATH"},
	    {"disk / -10 1\n", "f:1: expected disk /PATH"},
	    {"disk / 18446744073709551616 1\n", "f:1: expected disk /PATH"},
	    {"disk / 0x10 1\n", "f:1: expected disk /PATH"},
	    {"\n\ndisk / 10 1\ndisk / 10 2\n", "f:4: disk given twice"},
	    {"swap_total\n", "f:1: expected a number"},
	    {"swap_total 1 2\n", "f:1: expected a number"},
	    {"swap_total 5\nswap_total 6\nswap_used 1\n", "f:2: given twice"},
	    {"swap_used 5\n", "f: swap_total and swap_used must both"},
	    {"swap_total 5\nswap_used 6\n", "f: swap_total and swap_used"},
	};
	static struct resguard_figures fig;
	char err[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(parse(bad[i].text, &fig, err, sizeof(err)) >= 1);
		if (strncmp(err, bad[i].err, strlen(bad[i].err)) != 0)
			fail_msg("case %zu: err \"%s\", want \"%s...\"", i, err,
			    bad[i].err);
		/* the message never quotes the line */
		assert_null(strstr(err, "blue"));
	}
	/* swap refused as a pair when one half is bad */
	assert_int_equal(
	    parse("swap_total 10\nswap_used x\n", &fig, err, sizeof(err)), 2);
	assert_false(fig.have_swap);
	assert_true(fig.swap_total == 0 && fig.swap_used == 0);
}

static void
test_parse_rest_used(void **state)
{
	static const char text[] = "disk / 100 10\n"
	                           "disk /bad 5 6\n"
	                           "bogus\n"
	                           "disk /data 100 50\n"
	                           "swap_total 8\nswap_used 2\n";
	static struct resguard_figures fig;
	char err[256], nul[] = "disk / 100 10\nswap_total 1\0 2\ndisk /x 9 9\n";

	(void)state;
	/* two bad lines: counted, the first named, the good ones used */
	assert_int_equal(parse(text, &fig, err, sizeof(err)), 2);
	assert_string_equal(
	    err, "f:2: total must be more than 0 and avail at most total");
	assert_int_equal(fig.ndisk, 2);
	assert_string_equal(fig.disk[1].path, "/data");
	assert_true(fig.have_swap && fig.swap_used == 2);
	/* a NUL byte makes its line bad, not the end of the file */
	assert_int_equal(resguard_parse_figures(
	                     nul, sizeof(nul) - 1, "f", &fig, err, sizeof(err)),
	    1);
	assert_string_equal(err, "f:2: a NUL byte");
	assert_int_equal(fig.ndisk, 2);
	assert_string_equal(fig.disk[1].path, "/x");
}

static void
test_parse_limits(void **state)
{
	static struct resguard_figures fig;
	static char text[RESGUARD_FIG_MAX_DISKS * 40 + 4096];
	char err[256], *p = text;
	int i;

	(void)state;
	for (i = 0; i <= RESGUARD_FIG_MAX_DISKS; i++)
		p += sprintf(p, "disk /d%d 10 5\n", i);
	assert_int_equal(parse(text, &fig, err, sizeof(err)), 1);
	assert_int_equal(fig.ndisk, RESGUARD_FIG_MAX_DISKS);
	assert_string_equal(err, "f:65: too many disks");
	p = text + sprintf(text, "disk /");
	memset(p, 'a', RESGUARD_PATH_MAX);
	strcpy(p + RESGUARD_PATH_MAX, " 10 5\n");
	assert_int_equal(parse(text, &fig, err, sizeof(err)), 1);
	assert_string_equal(err, "f:1: path too long");
}

static void
test_level(void **state)
{
	enum resguard_level l = RESGUARD_OK;
	/* a disk rising and falling through 85/95 with a 2-point margin */
	static const struct {
		uint64_t v;
		enum resguard_level want;
	} walk[] = {
	    {50, RESGUARD_OK},
	    {85, RESGUARD_OK},
	    {86, RESGUARD_WARN},
	    {85, RESGUARD_WARN},
	    {84, RESGUARD_WARN},
	    {86, RESGUARD_WARN},
	    {83, RESGUARD_OK},
	    {84, RESGUARD_OK},
	    {85, RESGUARD_OK},
	    {96, RESGUARD_CRITICAL},
	    {95, RESGUARD_CRITICAL},
	    {94, RESGUARD_CRITICAL},
	    {96, RESGUARD_CRITICAL},
	    {93, RESGUARD_WARN},
	    {95, RESGUARD_WARN},
	    {100, RESGUARD_CRITICAL},
	    {83, RESGUARD_OK},
	    {0, RESGUARD_OK},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(walk) / sizeof(walk[0]); i++) {
		l = resguard_level(l, walk[i].v, 85, 95, 2);
		if (l != walk[i].want)
			fail_msg("step %zu (%llu): %s, want %s", i,
			    (unsigned long long)walk[i].v,
			    resguard_level_name(l),
			    resguard_level_name(walk[i].want));
	}
	/* hovering at the line: one crossing, not one per reading */
	l = RESGUARD_OK;
	for (i = 0; i < 100; i++) {
		enum resguard_level n =
		    resguard_level(l, 85 + i % 2, 85, 95, 2);

		assert_true(i == 1 ? n == RESGUARD_WARN : n == l);
		l = n;
	}
	/* unguarded levels */
	assert_int_equal(
	    resguard_level(RESGUARD_OK, UINT64_MAX, 0, 0, 2), RESGUARD_OK);
	assert_int_equal(
	    resguard_level(RESGUARD_OK, 10, 0, 5, 2), RESGUARD_CRITICAL);
	assert_int_equal(
	    resguard_level(RESGUARD_CRITICAL, 4, 0, 5, 2), RESGUARD_CRITICAL);
	assert_int_equal(
	    resguard_level(RESGUARD_CRITICAL, 3, 0, 5, 2), RESGUARD_OK);
	assert_int_equal(
	    resguard_level(RESGUARD_OK, 10, 5, 0, 2), RESGUARD_WARN);
	/* a margin larger than the line, and values near 2^64 */
	assert_int_equal(
	    resguard_level(RESGUARD_WARN, 0, 1, 0, 5), RESGUARD_OK);
	assert_int_equal(
	    resguard_level(RESGUARD_WARN, 1, 1, 0, 5), RESGUARD_WARN);
	assert_int_equal(resguard_level(RESGUARD_OK, UINT64_MAX, UINT64_MAX - 1,
	                     UINT64_MAX, 1),
	    RESGUARD_WARN);
}

static void
test_pct(void **state)
{
	(void)state;
	assert_int_equal(resguard_disk_pct(0, 0), 0);
	assert_int_equal(resguard_disk_pct(100, 100), 0);
	assert_int_equal(resguard_disk_pct(100, 15), 85);
	/* rounded up, as df does: 85.01 % is 86 */
	assert_int_equal(resguard_disk_pct(10000, 1499), 86);
	assert_int_equal(resguard_disk_pct(100, 0), 100);
	assert_int_equal(resguard_disk_pct(100, 200), 0);
	assert_int_equal(resguard_disk_pct(UINT64_MAX, 0), 100);
	assert_int_equal(resguard_disk_pct(UINT64_MAX, UINT64_MAX / 2), 51);
	assert_true(resguard_swap_bytes(4096, 0, 100) == 4096);
	assert_true(resguard_swap_bytes(50, 1, 1000) == 500);
	assert_true(resguard_swap_bytes(50, 1, 0) == 0);
	assert_true(resguard_swap_bytes(100, 1, UINT64_MAX) == UINT64_MAX);
	assert_true(resguard_swap_bytes(33, 1, 1001) == 330);
}

static void
test_heaviest(void **state)
{
	char model[32];
	uint64_t bytes;
	json_t *ps;

	(void)state;
	ps = json_loads("{\"models\":["
	                "{\"name\":\"tiny:latest\",\"size\":1000},"
	                "{\"name\":\"huge:latest\",\"size\":9000},"
	                "{\"name\":\"big:latest\",\"size\":5000}]}",
	    0, NULL);
	assert_int_equal(
	    resguard_heaviest(ps, model, sizeof(model), &bytes), 3);
	assert_string_equal(model, "huge:latest");
	assert_true(bytes == 9000);
	json_decref(ps);
	/* broken entries are not counted; "model" stands in for "name" */
	ps = json_loads("{\"models\":["
	                "{\"name\":\"neg\",\"size\":-5},"
	                "{\"name\":\"\",\"size\":99999},"
	                "{\"size\":99999},"
	                "{\"name\":\"str\",\"size\":\"99999\"},"
	                "{\"name\":\"waytoolongnameforthisbuffer:latest\","
	                "\"size\":99999},"
	                "7,"
	                "{\"model\":\"only\",\"size\":3}]}",
	    0, NULL);
	assert_int_equal(
	    resguard_heaviest(ps, model, sizeof(model), &bytes), 1);
	assert_string_equal(model, "only");
	json_decref(ps);
	/* equals: the first */
	ps = json_loads("{\"models\":[{\"name\":\"a\",\"size\":5},"
	                "{\"name\":\"b\",\"size\":5}]}",
	    0, NULL);
	assert_int_equal(
	    resguard_heaviest(ps, model, sizeof(model), &bytes), 2);
	assert_string_equal(model, "a");
	json_decref(ps);
	ps = json_loads("{\"models\":[]}", 0, NULL);
	assert_int_equal(
	    resguard_heaviest(ps, model, sizeof(model), &bytes), 0);
	json_decref(ps);
	ps = json_loads("{\"models\":{}}", 0, NULL);
	assert_int_equal(
	    resguard_heaviest(ps, model, sizeof(model), &bytes), -1);
	json_decref(ps);
	ps = json_loads("[]", 0, NULL);
	assert_int_equal(
	    resguard_heaviest(ps, model, sizeof(model), &bytes), -1);
	json_decref(ps);
}

struct live {
	char dir[64], fig[128];
	struct event_base *base;
	struct evlog *ev;
	struct incidents *inc;
	struct conf *conf;
	struct resguard *g;
};

static void
live_write(struct live *l, const char *text)
{
	FILE *f = fopen(l->fig, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* a one-peer mesh guarding / and a long path, figures from l->fig */
static void
live_start(struct live *l, const char *interval)
{
	struct conf_errors errs = {NULL, 0};
	char err[256], text[512];

	snprintf(l->dir, sizeof(l->dir), "/tmp/test_resguard.XXXXXX");
	assert_non_null(mkdtemp(l->dir));
	snprintf(l->fig, sizeof(l->fig), "%s/fig", l->dir);
	setenv(RESGUARD_TEST_ENV, l->fig, 1);
	snprintf(text, sizeof(text),
	    "[mesh]\nresource_interval = %s\n"
	    "disk = /a/path/long/enough/to/matter/here /\n"
	    "swap_warn = 50%%\n[peer a]\naddress = 127.0.0.1\npubkey = "
	    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	    interval);
	l->conf = conf_load_string(text, "test.conf", &errs);
	assert_non_null(l->conf);
	l->base = event_base_new();
	l->ev = evlog_open(l->dir, 0, 1, err, sizeof(err));
	assert_non_null(l->ev);
	l->inc = incidents_new(l->ev, NULL, NULL);
	l->g = resguard_new(l->base, l->ev, l->inc, l->conf, 0);
}

/* run the loop for ms (a reading every 100 ms) */
static void
live_run(struct live *l, long ms)
{
	struct timeval tv = {0, ms * 1000};

	event_base_loopexit(l->base, &tv);
	event_base_dispatch(l->base);
}

static void
live_stop(struct live *l)
{
	char path[256];

	resguard_free(l->g);
	incidents_free(l->inc);
	evlog_free(l->ev);
	conf_free(l->conf);
	event_base_free(l->base);
	unsetenv(RESGUARD_TEST_ENV);
	unlink(l->fig);
	snprintf(path, sizeof(path), "%s/events.jsonl", l->dir);
	unlink(path);
	rmdir(l->dir);
}

/* resguard_status_json's disk./.key (the object stays alive until the
 * next call) */
static json_t *
root_field(const struct resguard *g, const char *key)
{
	static json_t *st;

	json_decref(st);
	st = resguard_status_json(g);
	return json_object_get(
	    json_object_get(json_object_get(st, "disk"), "/"), key);
}

static void
test_live_payload(void **state)
{
	static const char base[] = "{\"view\":{\"a\":1}}";
	struct live l;
	const char *p;
	json_t *st, *o;
	size_t budget;

	(void)state;
	live_start(&l, "100ms");
	live_write(&l, "swap_total 1000\nswap_used 300\n"
	               "disk / 1000 130\n"
	               "disk /a/path/long/enough/to/matter/here 1000 900\n");
	live_run(&l, 250);
	st = resguard_status_json(l.g);
	assert_int_equal(json_integer_value(root_field(l.g, "used_pct")), 87);
	assert_string_equal(
	    json_string_value(root_field(l.g, "level")), "warn");
	assert_int_equal(json_integer_value(json_object_get(
	                     json_object_get(st, "swap"), "used")),
	    300);
	json_decref(st);
	/* everything fits */
	p = resguard_payload(l.g, base, 200);
	o = json_loads(p, 0, NULL);
	assert_non_null(o);
	assert_int_equal(
	    json_integer_value(json_object_get(
	        json_object_get(json_object_get(o, "res"), "d"), "/")),
	    87);
	assert_int_equal(
	    json_integer_value(json_object_get(json_object_get(o, "res"), "s")),
	    30);
	assert_int_equal(json_integer_value(
	                     json_object_get(json_object_get(o, "view"), "a")),
	    1);
	json_decref(o);
	/* a small budget: the long path is left out, the short one kept */
	p = resguard_payload(l.g, base, 40);
	assert_non_null(strstr(p, "\"/\":87"));
	assert_null(strstr(p, "/a/path"));
	/* never over budget, at any budget; base when nothing fits */
	for (budget = 0; budget < 300; budget++) {
		p = resguard_payload(l.g, base, budget);
		assert_true(strlen(p) <= strlen(base) + budget);
	}
	assert_string_equal(resguard_payload(l.g, base, 10), base);
	assert_string_equal(resguard_payload(l.g, "not json", 200), "not json");
	live_stop(&l);
}

static void
test_live_symlink(void **state)
{
	struct live l;
	char real[160];
	json_t *st;

	(void)state;
	live_start(&l, "100ms");
	snprintf(real, sizeof(real), "%s/real", l.dir);
	assert_int_equal(symlink(real, l.fig), 0);
	{
		FILE *f = fopen(real, "w");

		assert_non_null(f);
		fputs("disk / 1000 10\n", f);
		fclose(f);
	}
	live_run(&l, 250);
	st = resguard_status_json(l.g);
	/* the planted link was not followed: no reading */
	assert_string_equal(
	    json_string_value(root_field(l.g, "level")), "unknown");
	assert_true(json_is_null(json_object_get(st, "swap")));
	json_decref(st);
	unlink(real);
	live_stop(&l);
}

/* the first reading comes at once, not an interval later */
static void
test_live_first(void **state)
{
	struct live l;

	(void)state;
	live_start(&l, "1h");
	live_write(&l, "disk / 1000 500\n");
	live_run(&l, 50);
	assert_int_equal(json_integer_value(root_field(l.g, "used_pct")), 50);
	live_stop(&l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),
	    cmocka_unit_test(test_parse_bad_lines),
	    cmocka_unit_test(test_parse_rest_used),
	    cmocka_unit_test(test_parse_limits),
	    cmocka_unit_test(test_level),
	    cmocka_unit_test(test_pct),
	    cmocka_unit_test(test_heaviest),
	    cmocka_unit_test(test_live_payload),
	    cmocka_unit_test(test_live_symlink),
	    cmocka_unit_test(test_live_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
