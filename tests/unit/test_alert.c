/* SPDX-License-Identifier: ISC */
/*
 * test_alert: the pure parts of escalation. A burst is packed into few
 * messages, none over Telegram's 4096 (a text longer than that is cut at a
 * line break or a UTF-8 boundary, never inside a character); flap counting
 * over a sliding hour; outbox names sort in write order and only they are
 * read back; the bot token is scrubbed from any string, also a URL's
 * bot<id>:<secret> shape; the token file is refused when group/other can
 * read it or when it is a symlink; the ids a peer reports delivered fit
 * their budget (most recent first, a long one left out, never a quote),
 * and the mesh's record of them: the latest report decides who holds an
 * id, a dead peer's last report still counts, a peer that just dropped
 * an id still counts as a holder for the recovery, the first name wins.
 */
#include <sys/stat.h>

#include <fcntl.h>
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

#include "common/log.h"
#include "heal/alert.h"
#include "heal/alertfmt.h"

static void
test_pack_groups_and_limits(void **state)
{
	const char *texts[20];
	char buf[20][400], **m;
	size_t n, i, total = 0;

	(void)state;
	for (i = 0; i < 20; i++) {
		memset(buf[i], 'a' + (int)i, 399);
		buf[i][399] = '\0';
		texts[i] = buf[i];
	}
	n = alert_pack(texts, 20, ALERT_MSG_MAX, &m);
	/* 20 x 400 + separators = 8038 bytes: two messages */
	assert_int_equal(n, 2);
	for (i = 0; i < n; i++) {
		assert_true(strlen(m[i]) <= ALERT_MSG_MAX);
		total += strlen(m[i]);
	}
	assert_int_equal(total, 20 * 399 + 18 * 2);
	/* order kept: the first message starts with the first text */
	assert_int_equal(m[0][0], 'a');
	assert_int_equal(m[1][strlen(m[1]) - 1], 'a' + 19);
	alert_pack_free(m, n);
}

static void
test_pack_cuts_long_text(void **state)
{
	char *big = malloc(10001), **m;
	const char *t[1];
	size_t n, i, k;

	(void)state;
	/* "é" is two bytes: a cut must not split one */
	for (k = 0; k + 2 <= 10000; k += 2)
		memcpy(big + k, "\xc3\xa9", 2);
	big[10000] = '\0';
	t[0] = big;
	n = alert_pack(t, 1, ALERT_MSG_MAX, &m);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++) {
		assert_true(strlen(m[i]) <= ALERT_MSG_MAX);
		assert_int_equal(strlen(m[i]) % 2, 0);
		assert_int_equal((unsigned char)m[i][0], 0xc3);
	}
	alert_pack_free(m, n);
	/* with lines: cut after a newline */
	for (k = 0; k < 10000; k++)
		big[k] = k % 100 == 99 ? '\n' : 'x';
	n = alert_pack(t, 1, ALERT_MSG_MAX, &m);
	for (i = 0; i < n; i++) {
		assert_true(strlen(m[i]) <= ALERT_MSG_MAX);
		if (i + 1 < n)
			assert_int_equal(m[i][strlen(m[i]) - 1], '\n');
	}
	alert_pack_free(m, n);
	free(big);
}

static void
test_flaps_sliding_hour(void **state)
{
	struct alert_flaps *f = alert_flaps_new();
	uint64_t h = 60 * 60 * 1000ULL, t0 = 1000;
	unsigned i;

	(void)state;
	for (i = 0; i < 5; i++)
		assert_int_equal(
		    alert_flaps_open(f, "x:a", t0 + i * 1000), i + 1);
	assert_int_equal(alert_flaps_open(f, "x:b", t0), 1);
	assert_int_equal(alert_flaps_count(f, "x:a", t0 + 10000), 5);
	/* an hour after the first, four remain */
	assert_int_equal(alert_flaps_count(f, "x:a", t0 + h), 4);
	assert_int_equal(alert_flaps_open(f, "x:a", t0 + h + 500), 5);
	assert_int_equal(alert_flaps_count(f, "x:a", t0 + 3 * h), 0);
	assert_int_equal(alert_flaps_count(f, "nope", t0), 0);
	alert_flaps_free(f);
}

static void
test_outbox_names(void **state)
{
	char a[ALERT_OUTBOX_NAME_LEN], b[ALERT_OUTBOX_NAME_LEN];

	(void)state;
	alert_outbox_name(a, sizeof(a), 1764470000000ULL, 7);
	alert_outbox_name(b, sizeof(b), 1764470000000ULL, 12);
	assert_string_equal(a, "m0001764470000000-000007.json");
	assert_true(strcmp(a, b) < 0);
	alert_outbox_name(b, sizeof(b), 999ULL, 1);
	assert_true(strcmp(b, a) < 0);
	assert_true(alert_outbox_name_ok(a));
	assert_false(
	    alert_outbox_name_ok("rejected-m0001764470000000-000007.json"));
	assert_false(
	    alert_outbox_name_ok(".m0001764470000000-000007.json.tmp"));
	assert_false(alert_outbox_name_ok("m000176447000000x-000007.json"));
	assert_false(alert_outbox_name_ok("m0001764470000000-000007.jso"));
}

static void
test_scrub(void **state)
{
	char out[256];

	(void)state;
	alert_scrub(
	    "Failed to connect to https://api.example/bot123456:ABC-de_f"
	    "/sendMessage port 443",
	    "123456:ABC-de_f", out, sizeof(out));
	assert_null(strstr(out, "ABC-de_f"));
	assert_string_equal(out,
	    "Failed to connect to https://api.example/bot<token>/sendMessage "
	    "port 443");
	/* a token we were not told about, by its shape */
	alert_scrub("x/bot99:zz-Y/y", NULL, out, sizeof(out));
	assert_string_equal(out, "x/bot<token>/y");
	/* the bare token anywhere */
	alert_scrub(
	    "tok=123456:ABC-de_f.", "123456:ABC-de_f", out, sizeof(out));
	assert_string_equal(out, "tok=<token>.");
	/* truncated, still terminated and still clean */
	alert_scrub("bot1:abcdefghijkl", NULL, out, 6);
	assert_null(strstr(out, "abc"));
	assert_true(strlen(out) < 6);
	alert_scrub("nothing here bot: bot1x", NULL, out, sizeof(out));
	assert_string_equal(out, "nothing here bot: bot1x");
}

static void
test_token_file_checks(void **state)
{
	char dir[] = "/tmp/test_alert.XXXXXX", p[PATH_MAX], l[PATH_MAX];
	char tok[256], err[512];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(p, sizeof(p), "%s/token", dir);
	snprintf(l, sizeof(l), "%s/link", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "123:secretXYZ\n", 14), 14);
	close(fd);
	chmod(p, 0644);
	assert_int_equal(
	    alert_read_token(p, tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "readable by group or others"));
	assert_null(strstr(err, "secretXYZ"));
	chmod(p, 0600);
	assert_int_equal(
	    alert_read_token(p, tok, sizeof(tok), err, sizeof(err)), 0);
	assert_string_equal(tok, "123:secretXYZ");
	assert_int_equal(symlink(p, l), 0);
	assert_int_equal(
	    alert_read_token(l, tok, sizeof(tok), err, sizeof(err)), -1);
	assert_null(strstr(err, "secretXYZ"));
	/* not a token: refused without quoting it */
	fd = open(p, O_WRONLY | O_TRUNC);
	assert_int_equal(write(fd, "hello world secretXYZ\n", 22), 22);
	close(fd);
	assert_int_equal(
	    alert_read_token(p, tok, sizeof(tok), err, sizeof(err)), -1);
	assert_null(strstr(err, "secretXYZ"));
	unlink(l);
	unlink(p);
	rmdir(dir);
}

static void
test_ids_fit_budget(void **state)
{
	const char *ids[] = {"unreachable:gamma", "revive_failed:gamma",
	    "x:a\"b", "backups_invalid:openclaw@jack-with-a-long-name",
	    "revive_limit:delta", ""};
	size_t keep[6], n, i, used = 8;

	/* ,"al":[] + "unreachable:gamma", (20) + "revive_failed:gamma", (22) */
	n = alert_ids_fit(ids, 6, 8 + 20 + 22, keep);
	assert_int_equal(n, 2);
	assert_int_equal(keep[0], 0);
	assert_int_equal(keep[1], 1);
	/* the long one does not fit, the shorter after it does; the quoted
	 * and the empty one never */
	n = alert_ids_fit(ids, 6, 8 + 20 + 22 + 30, keep);
	assert_int_equal(n, 3);
	assert_int_equal(keep[2], 4);
	n = alert_ids_fit(ids, 6, 150, keep);
	for (i = 0; i < n; i++) {
		assert_int_not_equal(keep[i], 2);
		assert_int_not_equal(keep[i], 5);
		used += strlen(ids[keep[i]]) + 3;
	}
	(void)state;
	assert_true(used <= 150);
	assert_int_equal(alert_ids_fit(ids, 6, 10, keep), 0);
}

static void
test_mesh_holders(void **state)
{
	struct alert_mesh *m = alert_mesh_new();
	const char *a1[] = {"unreachable:gamma", "bad\"id"};
	const char *b1[] = {"unreachable:gamma"};
	const char *none[] = {NULL};
	char longid[ALERT_MESH_ID_MAX + 2];

	(void)state;
	assert_null(alert_mesh_holder(m, "unreachable:gamma"));
	assert_int_equal(alert_mesh_nreported(m), 0);
	alert_mesh_heard(m, "beta", 1000);
	assert_int_equal(alert_mesh_nreported(m), 0); /* a short heartbeat */
	alert_mesh_report(m, "alpha", a1, 2, 1000);
	assert_string_equal(alert_mesh_holder(m, "unreachable:gamma"), "alpha");
	assert_null(alert_mesh_holder(m, "bad\"id"));
	assert_int_equal(alert_mesh_nreported(m), 1);
	/* alpha dies: its last report still says it delivered */
	assert_string_equal(alert_mesh_holder(m, "unreachable:gamma"), "alpha");
	/* for the recovery only the living count */
	assert_null(alert_mesh_first_holder(m, "unreachable:gamma", 5000, 0));
	alert_mesh_report(m, "beta", b1, 1, 6000);
	assert_string_equal(
	    alert_mesh_first_holder(m, "unreachable:gamma", 5000, 0), "beta");
	/* alpha back, holds it too: the first name */
	alert_mesh_report(m, "alpha", a1, 1, 7000);
	assert_string_equal(
	    alert_mesh_first_holder(m, "unreachable:gamma", 5000, 0), "alpha");
	/* alpha closed it first: no longer the holder, but still counted
	 * as one for a while */
	alert_mesh_report(m, "alpha", none, 0, 8000);
	alert_mesh_report(m, "beta", b1, 1, 8000);
	assert_string_equal(alert_mesh_holder(m, "unreachable:gamma"), "beta");
	assert_string_equal(
	    alert_mesh_first_holder(m, "unreachable:gamma", 5000, 6500),
	    "alpha");
	assert_string_equal(
	    alert_mesh_first_holder(m, "unreachable:gamma", 5000, 7500),
	    "beta");
	/* too long an id is not taken */
	memset(longid, 'x', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	{
		const char *l1[] = {longid};
		alert_mesh_report(m, "delta", l1, 1, 9000);
	}
	assert_null(alert_mesh_holder(m, longid));
	assert_int_equal(alert_mesh_nreported(m), 3);
	alert_mesh_free(m);
}

static void
test_utf8_fix(void **state)
{
	char a[] = "caf\xc3\xa9 ok", b[] = "cut \xc3", c[] = "\xff\xfe x",
	     d[] = "over \xc0\xaf long", e[] = "sur \xed\xa0\x80 rogate",
	     f[] = "\xe2\x80\x9cquoted\xe2\x80\x9d \xf0\x9f\x98\x80";

	(void)state;
	alert_utf8_fix(a);
	assert_string_equal(a, "caf\xc3\xa9 ok"); /* valid stays */
	alert_utf8_fix(b);
	assert_string_equal(b, "cut ?"); /* a character cut in two */
	alert_utf8_fix(c);
	assert_string_equal(c, "?? x");
	alert_utf8_fix(d);
	assert_string_equal(d, "over ?? long"); /* overlong '/' */
	alert_utf8_fix(e);
	assert_string_equal(e, "sur ??? rogate");
	alert_utf8_fix(f);
	assert_string_equal(
	    f, "\xe2\x80\x9cquoted\xe2\x80\x9d \xf0\x9f\x98\x80");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pack_groups_and_limits),
	    cmocka_unit_test(test_pack_cuts_long_text),
	    cmocka_unit_test(test_flaps_sliding_hour),
	    cmocka_unit_test(test_outbox_names),
	    cmocka_unit_test(test_scrub),
	    cmocka_unit_test(test_token_file_checks),
	    cmocka_unit_test(test_ids_fit_budget),
	    cmocka_unit_test(test_mesh_holders),
	    cmocka_unit_test(test_utf8_fix),
	};

	log_init(1, -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
