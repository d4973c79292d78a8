/* SPDX-License-Identifier: ISC */
/*
 * test_membership: the failure detector, quorum votes and the acting-peer
 * choice, driven tick by tick with injected time (no sockets, no loop).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"
#include "config/conf.h"
#include "heal/revive.h"
#include "peer/membership.h"

#define T0 1000000

struct fixture {
	struct conf *conf;
	struct membership *m;
	int starts[8], stops[8];
	uint64_t now;
};

static void
on_event(enum membership_event e, size_t peer, void *arg)
{
	struct fixture *f = arg;

	if (e == MEMBERSHIP_EV_ACT_START)
		f->starts[peer]++;
	if (e == MEMBERSHIP_EV_ACT_STOP)
		f->stops[peer]++;
}

/* a mesh of n peers named a, b, c, ... with default timings */
static struct fixture *
mesh(size_t n, size_t self)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct conf_errors errs = {NULL, 0};
	char text[4096], key[64];
	size_t i, len;

	len = (size_t)snprintf(text, sizeof(text), "[mesh]\n");
	for (i = 0; i < n; i++) {
		/* distinct valid 32-byte keys: base64 of 32 bytes of 'A'+i */
		memset(key, 0, sizeof(key));
		snprintf(key, sizeof(key), "%c%c%c%c", 'A' + (int)i,
		    'A' + (int)i, 'A' + (int)i, 'A' + (int)i);
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		    "[peer %c]\naddress = 127.0.0.%zu\npubkey = "
		    "%s%s%s%s%s%s%s%s%s%sAAA=\n",
		    'a' + (int)i, i + 1, key, key, key, key, key, key, key, key,
		    key, key);
	}
	f->conf = conf_load_string(text, "test.conf", &errs);
	if (f->conf == NULL)
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
	assert_non_null(f->conf);
	conf_errors_clear(&errs);
	f->now = T0;
	f->m = membership_new(f->conf, self, 42, NULL, on_event, f, f->now);
	return f;
}

static void
teardown(struct fixture *f)
{
	membership_free(f->m);
	conf_free(f->conf);
	free(f);
}

/* a heartbeat from peer `from` reporting its view; view[i] one letter:
 * a alive, s suspect, d down, '-' self; quorum flag; acting target or -1 */
static void
beat_step(struct fixture *f, size_t from, const char *view, int quorum,
    int acting_for, const char *step, int attempt)
{
	json_t *p = json_object(), *v = json_object(), *a = json_object();
	char name[2] = {0, 0};
	size_t i;

	for (i = 0; view[i]; i++) {
		name[0] = (char)('a' + i);
		if (view[i] == '-')
			continue;
		json_object_set_new(v, name,
		    json_string(view[i] == 'a'   ? "alive"
		                : view[i] == 's' ? "suspect"
		                                 : "down"));
	}
	if (acting_for >= 0) {
		name[0] = (char)('a' + acting_for);
		json_object_set_new(a, name,
		    json_pack("{sssi}", "step", step, "attempt", attempt));
	}
	json_object_set_new(p, "view", v);
	json_object_set_new(p, "acting", a);
	json_object_set_new(p, "quorum", json_boolean(quorum));
	membership_on_heartbeat(f->m, from, 100 + from, 0, 0, p, f->now, 0);
	json_decref(p);
}

static void
beat(struct fixture *f, size_t from, const char *view, int quorum,
    int acting_for)
{
	beat_step(f, from, view, quorum, acting_for, "waiting", 1);
}

/* advance time in 100 ms ticks */
static void
run_for(struct fixture *f, uint64_t ms)
{
	uint64_t end = f->now + ms;

	while (f->now < end) {
		f->now += 100;
		membership_tick(f->m, f->now);
	}
}

static void
test_all_alive(void **state)
{
	struct fixture *f = mesh(3, 0);

	(void)state;
	beat(f, 1, "a-a", 1, -1);
	beat(f, 2, "aa-", 1, -1);
	run_for(f, 300);
	assert_int_equal(membership_state_of(f->m, 1), MEMBERSHIP_ALIVE);
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_ALIVE);
	assert_true(membership_has_quorum(f->m));
	assert_int_equal(membership_acting_peer(f->m, 1), -1);
	teardown(f);
}

/* c goes silent: suspect after 1 s, down after 2 s; confirmed once b
 * also reports it down; a (smallest name with quorum) acts. */
static void
test_confirm_and_act(void **state)
{
	struct fixture *f = mesh(3, 0);
	int i;

	(void)state;
	beat(f, 1, "a-a", 1, -1);
	beat(f, 2, "aa-", 1, -1);
	for (i = 0; i < 11; i++) {
		run_for(f, 100);
		beat(f, 1, "a-a", 1, -1);
	}
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_SUSPECT);
	for (i = 0; i < 10; i++) {
		run_for(f, 100);
		beat(f, 1, "a-s", 1, -1); /* b lost c, but not for down_after */
	}
	/* silent here for down_after, held at suspect while b's report says
	 * b has not lost c that long; our own vote alone is 1 of 2 needed */
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_SUSPECT);
	assert_false(membership_confirmed_down(f->m, 2));
	beat(f, 1, "a-d", 1, -1);
	run_for(f, 100);
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_DOWN);
	assert_true(membership_confirmed_down(f->m, 2));
	assert_int_equal(membership_acting_peer(f->m, 2), 0);
	assert_true(membership_is_acting(f->m, 2));
	assert_int_equal(f->starts[2], 1);
	/* c comes back with a new incarnation: alive, and nobody acts from
	 * that very heartbeat on, not from the next tick */
	membership_on_heartbeat(f->m, 2, 500, 0, 1, NULL, f->now, 0);
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_ALIVE);
	assert_false(membership_confirmed_down(f->m, 2));
	assert_false(membership_is_acting(f->m, 2));
	assert_int_equal(membership_acting_peer(f->m, 2), -1);
	assert_int_equal(f->stops[2], 1);
	beat(f, 1, "a-a", 1, -1);
	run_for(f, 100);
	assert_false(membership_is_acting(f->m, 2));
	assert_int_equal(f->stops[2], 1);
	teardown(f);
}

/* a acts for e; a is cut off and b takes e up meanwhile. When the
 * partition heals, the first heartbeats a hears back are light ones
 * (no status): a must not take e up again on the strength of their stale
 * statuses, and once b's fresh status says it is at work, b acts */
static void
test_return_waits_for_status(void **state)
{
	struct fixture *f = mesh(5, 0);
	int i;

	(void)state;
	for (i = 0; i < 30; i++) {
		beat(f, 1, "a-aad", 1, -1);
		beat(f, 2, "aa-ad", 1, -1);
		beat(f, 3, "aaa-d", 1, -1);
		run_for(f, 100);
	}
	assert_true(membership_is_acting(f->m, 4));
	run_for(f, 3000); /* cut off: a hears nobody, loses quorum */
	assert_false(membership_has_quorum(f->m));
	assert_false(membership_is_acting(f->m, 4));
	for (i = 0; i < 5; i++) { /* back: light heartbeats only */
		membership_on_heartbeat(f->m, 1, 101, 0, 0, NULL, f->now, 0);
		membership_on_heartbeat(f->m, 2, 102, 0, 0, NULL, f->now, 0);
		membership_on_heartbeat(f->m, 3, 103, 0, 0, NULL, f->now, 0);
		run_for(f, 100);
		assert_true(membership_has_quorum(f->m));
		assert_false(membership_is_acting(f->m, 4));
	}
	for (i = 0; i < 10; i++) { /* their statuses: b is at work on e */
		beat_step(f, 1, "a-aad", 1, 4, "connecting", 1);
		beat(f, 2, "aa-ad", 1, -1);
		beat(f, 3, "aaa-d", 1, -1);
		run_for(f, 100);
		assert_false(membership_is_acting(f->m, 4));
	}
	assert_int_equal(membership_acting_peer(f->m, 4), 1);
	assert_int_equal(f->starts[4], 1);
	teardown(f);
}

/* a loses c's datagrams while b, fresh, keeps reporting c alive: c is
 * held at suspect (heard by b), never down; once b's report turns to
 * down, or goes stale, c goes down at once */
static void
test_indirect_evidence(void **state)
{
	struct fixture *f = mesh(3, 0);
	json_t *st;
	uint64_t resolved, held, x;
	int i;

	(void)state;
	beat(f, 1, "a-a", 1, -1);
	beat(f, 2, "aa-", 1, -1);
	for (i = 0; i < 50; i++) {
		run_for(f, 100);
		beat(f, 1, "a-a", 1, -1);
	}
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_SUSPECT);
	membership_counts(f->m, &x, &x, &x, &x, &resolved, &held);
	assert_int_equal(held, 1);
	st = membership_status_json(f->m, f->now);
	assert_string_equal(
	    json_string_value(json_object_get(
	        json_object_get(
	            json_object_get(json_object_get(st, "peers"), "c"),
	            "heard_by"),
	        "peer")),
	    "b");
	json_decref(st);
	/* c answers again: a resolved suspicion, no event of its own */
	beat(f, 2, "aa-", 1, -1);
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_ALIVE);
	membership_counts(f->m, &x, &x, &x, &x, &resolved, &held);
	assert_int_equal(resolved, 1);
	/* silent again; b's report says suspect (held still), then down:
	 * down at once */
	for (i = 0; i < 21; i++) {
		run_for(f, 100);
		beat(f, 1, i < 10 ? "a-a" : "a-s", 1, -1);
	}
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_SUSPECT);
	beat(f, 1, "a-d", 1, -1);
	run_for(f, 100);
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_DOWN);
	/* and a report that only comes as small beats (no view) goes stale */
	beat(f, 2, "aa-", 1, -1);
	beat(f, 1, "a-a", 1, -1);
	for (i = 0; i < 25; i++) {
		run_for(f, 100);
		membership_on_heartbeat(f->m, 1, 101, 0, 0, NULL, f->now, 0);
	}
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_SUSPECT);
	for (i = 0; i < 50; i++) {
		run_for(f, 100);
		membership_on_heartbeat(f->m, 1, 101, 0, 0, NULL, f->now, 0);
	}
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_DOWN);
	teardown(f);
}

/* e is lost by a, b and c (enough votes), but d still hears it: never
 * confirmed. Once d loses it too it is, and votes that come and go
 * within one silence confirm it once, not once per return of a vote */
static void
test_held_never_confirmed(void **state)
{
	struct fixture *f = mesh(5, 0);
	uint64_t confirmed, x;
	int i;

	(void)state;
	beat(f, 4, "aaaa-", 1, -1);
	for (i = 0; i < 40; i++) {
		beat(f, 1, "a-aad", 1, -1);
		beat(f, 2, "aa-ad", 1, -1);
		beat(f, 3, "aaa-a", 1, -1);
		run_for(f, 100);
		assert_false(membership_confirmed_down(f->m, 4));
	}
	assert_int_equal(membership_state_of(f->m, 4), MEMBERSHIP_SUSPECT);
	for (i = 0; i < 30; i++) {
		/* ticks 10-19: b and c report e suspect, votes drop to 2 */
		beat(f, 1, i / 10 == 1 ? "a-aas" : "a-aad", 1, -1);
		beat(f, 2, i / 10 == 1 ? "aa-as" : "aa-ad", 1, -1);
		beat(f, 3, "aaa-d", 1, -1);
		run_for(f, 100);
		if (i == 9 || i == 29)
			assert_true(membership_confirmed_down(f->m, 4));
		if (i == 19)
			assert_false(membership_confirmed_down(f->m, 4));
	}
	membership_counts(f->m, &x, &x, &confirmed, &x, NULL, NULL);
	assert_int_equal(confirmed, 1);
	teardown(f);
}

/* b, not the smallest, does not act while a takes the job up */
static void
test_only_smallest_acts(void **state)
{
	struct fixture *f = mesh(3, 1);
	int i;

	(void)state;
	for (i = 0; i < 25; i++) {
		beat(f, 0, "-ad", 1, i > 20 ? 2 : -1);
		run_for(f, 100);
	}
	assert_true(membership_confirmed_down(f->m, 2));
	assert_int_equal(membership_acting_peer(f->m, 2), 0);
	assert_false(membership_is_acting(f->m, 2));
	teardown(f);
}

/* a never reports acting for c: after the take-up window b takes over */
static void
test_takeover(void **state)
{
	struct fixture *f = mesh(3, 1);
	int i;

	(void)state;
	for (i = 0; i < 25; i++) {
		beat(f, 0, "-ad", 1, -1);
		run_for(f, 100);
	}
	assert_int_equal(membership_acting_peer(f->m, 2), 0);
	for (i = 0; i < 30; i++) {
		beat(f, 0, "-ad", 1, -1);
		run_for(f, 100);
	}
	assert_int_equal(membership_acting_peer(f->m, 2), 1);
	assert_true(membership_is_acting(f->m, 2));
	teardown(f);
}

/* a reports step for c, bumping the attempt every bump_ms (0: never);
 * returns how long until b took over, or 0 if it did not within max_ms */
static uint64_t
takeover_after(const char *step, uint64_t bump_ms, uint64_t max_ms)
{
	struct fixture *f = mesh(3, 1);
	uint64_t start, since_bump = 0, took = 0;
	int attempt = 1, i;

	for (i = 0; i < 25; i++) {
		beat_step(f, 0, "-ad", 1, i > 20 ? 2 : -1, step, attempt);
		run_for(f, 100);
	}
	assert_int_equal(membership_acting_peer(f->m, 2), 0);
	start = f->now;
	while (f->now - start < max_ms) {
		if (bump_ms != 0 && (since_bump += 1000) >= bump_ms) {
			attempt++;
			since_bump = 0;
		}
		beat_step(f, 0, "-ad", 1, 2, step, attempt);
		run_for(f, 500);
		beat_step(f, 0, "-ad", 1, 2, step, attempt);
		run_for(f, 500);
		if (membership_is_acting(f->m, 2)) {
			took = f->now - start;
			break;
		}
	}
	teardown(f);
	return took;
}

/* a signed peer that reports escalated or limit cannot hold a target
 * forever; one that keeps trying (a new attempt each retry) keeps it */
static void
test_stuck_steps_bounded(void **state)
{
	uint64_t hour = REVIVE_LIMIT_WINDOW_MS,
	         retry = REVIVE_ESCALATED_RETRY_MS;
	uint64_t took;

	(void)state;
	took = takeover_after("escalated", 0, 2 * hour);
	assert_true(took > retry);
	assert_true(took < retry + 5 * 60 * 1000);
	took = takeover_after("limit", 0, 3 * hour);
	assert_true(took > hour);
	assert_true(took < hour + 5 * 60 * 1000);
	assert_int_equal(takeover_after("escalated", retry, 3 * retry), 0);
	/* any other step stalls after the bound for one revive */
	took = takeover_after("connecting", 0, hour);
	assert_true(took > 0 && took < retry);
}

/* a frozen loop (monotonic jump) restarts timers: nobody goes down */
static void
test_stall_distrusts_self(void **state)
{
	struct fixture *f = mesh(3, 0);

	(void)state;
	beat(f, 1, "a-a", 1, -1);
	beat(f, 2, "aa-", 1, -1);
	run_for(f, 200);
	f->now += 10000; /* SIGSTOP for 10 s */
	membership_tick(f->m, f->now);
	assert_int_equal(membership_state_of(f->m, 1), MEMBERSHIP_ALIVE);
	assert_int_equal(membership_state_of(f->m, 2), MEMBERSHIP_ALIVE);
	assert_false(membership_is_acting(f->m, 1));
	assert_false(membership_is_acting(f->m, 2));
	teardown(f);
}

/* 5 peers split 2 | 3: the 2-side has no quorum and never acts */
static void
test_partition_minority(void **state)
{
	struct fixture *f = mesh(5, 0);
	int i;

	(void)state;
	for (i = 0; i < 40; i++) {
		beat(f, 1, "a-ddd", 0, -1);
		run_for(f, 100);
	}
	assert_false(membership_has_quorum(f->m));
	for (i = 2; i < 5; i++) {
		assert_int_equal(
		    membership_state_of(f->m, (size_t)i), MEMBERSHIP_DOWN);
		assert_false(membership_confirmed_down(f->m, (size_t)i));
		assert_false(membership_is_acting(f->m, (size_t)i));
	}
	teardown(f);
}

/* ... and the 3-side confirms both and one of them acts */
static void
test_partition_majority(void **state)
{
	struct fixture *f = mesh(5, 2);
	int i;

	(void)state;
	for (i = 0; i < 40; i++) {
		beat(f, 3, "dda-a", 1, -1);
		beat(f, 4, "ddaa-", 1, -1);
		run_for(f, 100);
	}
	assert_true(membership_has_quorum(f->m));
	assert_true(membership_confirmed_down(f->m, 0));
	assert_true(membership_confirmed_down(f->m, 1));
	assert_int_equal(membership_acting_peer(f->m, 0), 2);
	assert_true(membership_is_acting(f->m, 0));
	teardown(f);
}

/* a and b cut off; d acts for b. When a returns (a healed partition) it
 * does not pre-empt d's revive under way, and when d steps down because
 * it hears b again, e (which has not heard b yet) does not take over:
 * a, just back, has its own take-up window */
static void
test_heal_no_takeover(void **state)
{
	struct fixture *f = mesh(5, 4);
	int i;

	(void)state;
	for (i = 0; i < 40; i++) {
		beat(f, 2, "dd-aa", 1, -1);
		beat(f, 3, "dda-a", 1, i > 22 ? 1 : -1);
		run_for(f, 100);
	}
	assert_true(membership_confirmed_down(f->m, 1));
	assert_int_equal(membership_acting_peer(f->m, 1), 3);
	assert_false(membership_is_acting(f->m, 1));
	/* a is back (it hears b, it never took b up); d is still at work */
	beat(f, 0, "-aaaa", 1, -1);
	beat(f, 2, "ad-aa", 1, -1);
	beat(f, 3, "ada-a", 1, 1);
	run_for(f, 100);
	assert_int_equal(membership_acting_peer(f->m, 1), 3);
	assert_false(membership_is_acting(f->m, 1));
	/* d hears b and steps down; e does not hear b yet */
	for (i = 0; i < 10; i++) {
		beat(f, 0, "-aaaa", 1, -1);
		beat(f, 2, "ad-aa", 1, -1);
		beat(f, 3, "aaa-a", 1, -1);
		run_for(f, 100);
		assert_false(membership_is_acting(f->m, 1));
	}
	assert_int_equal(f->starts[1], 0);
	teardown(f);
}

/* a 2-host mesh acts on one vote */
static void
test_two_node(void **state)
{
	struct fixture *f = mesh(2, 1);

	(void)state;
	beat(f, 0, "-a", 1, -1);
	run_for(f, 2500);
	assert_true(membership_has_quorum(f->m));
	assert_true(membership_confirmed_down(f->m, 0));
	assert_true(membership_is_acting(f->m, 0));
	teardown(f);
}

/* the status object carries the contract's fields */
static void
test_status_contract(void **state)
{
	struct fixture *f = mesh(3, 0);
	json_t *o, *b;

	(void)state;
	beat(f, 1, "a-a", 1, -1);
	run_for(f, 100);
	o = membership_status_json(f->m, f->now);
	assert_string_equal(json_string_value(json_object_get(o, "self")), "a");
	assert_true(json_is_boolean(json_object_get(o, "has_quorum")));
	assert_true(json_is_integer(json_object_get(o, "incarnation")));
	assert_true(json_is_object(json_object_get(o, "acting")));
	b = json_object_get(json_object_get(o, "peers"), "b");
	assert_string_equal(
	    json_string_value(json_object_get(b, "state")), "alive");
	assert_true(json_is_false(json_object_get(b, "confirmed_down")));
	assert_int_equal(
	    json_integer_value(json_object_get(b, "last_heard_ms")), 100);
	assert_int_equal(
	    json_integer_value(json_object_get(b, "incarnation")), 101);
	assert_true(json_is_integer(json_object_get(b, "votes_down")));
	assert_true(json_is_null(json_object_get(b, "acting_peer")));
	json_decref(o);
	teardown(f);
}

/* b's clock_skew_ms as a has it after one heartbeat sent at `sent` */
static json_int_t
skew_after(struct fixture *f, uint64_t sent, uint64_t wall)
{
	json_t *o, *b;
	json_int_t v;

	membership_on_heartbeat(f->m, 1, 101, sent, 0, NULL, f->now, wall);
	o = membership_status_json(f->m, f->now);
	b = json_object_get(json_object_get(o, "peers"), "b");
	v = json_integer_value(json_object_get(b, "clock_skew_ms"));
	json_decref(o);
	return v;
}

/* sent_at is a number off the wire: the skew saturates, never overflows
 * (the sanitizer build aborted on 2^63; the release build reported a
 * negative skew for a peer far ahead) */
static void
test_skew_extremes(void **state)
{
	struct fixture *f = mesh(3, 0);
	const uint64_t wall = 1795388462345ULL;

	(void)state;
	assert_int_equal(skew_after(f, wall + 1500, wall), 1500);
	assert_int_equal(skew_after(f, wall - 1500, wall), -1500);
	assert_true(skew_after(f, (uint64_t)1 << 63, wall) ==
	            (json_int_t)((uint64_t)INT64_MAX - wall + 1));
	assert_true(skew_after(f, UINT64_MAX, wall) == INT64_MAX);
	assert_true(skew_after(f, UINT64_MAX, 0) == INT64_MAX);
	assert_true(skew_after(f, 0, UINT64_MAX) == -INT64_MAX);
	assert_true(skew_after(f, 0, wall) == -(json_int_t)wall);
	teardown(f);
}

/* 100 ms ticks for ms, beats from a (acting for e, while a_alive), b and
 * d every 500 ms; e silent */
static void
five_run(struct fixture *f, uint64_t ms, int a_alive)
{
	uint64_t end = f->now + ms;

	while (f->now < end) {
		if (f->now % 500 == 0) {
			if (a_alive)
				beat_step(f, 0, "-aaad", 1, 4, "connecting", 1);
			beat(f, 1, "a-aad", 1, -1);
			beat(f, 3, "aaa-d", 1, -1);
		}
		f->now += 100;
		membership_tick(f->m, f->now);
	}
}

/* the acting peer dies long after the target was confirmed down: its
 * successor (the smallest name, b) gets a take-up window of its own, so c
 * does not take the target up too (before: every survivor saw the others
 * "stalled" since the confirmation and acted at once) */
static void
test_acting_peer_dies(void **state)
{
	struct fixture *f = mesh(5, 2);

	(void)state;
	five_run(f, 10000, 1);
	assert_true(membership_confirmed_down(f->m, 4));
	assert_int_equal(membership_acting_peer(f->m, 4), 0);
	assert_int_equal(f->starts[4], 0);
	/* a goes silent: b, not c, takes e up */
	five_run(f, 2500, 0);
	assert_int_not_equal(membership_state_of(f->m, 0), MEMBERSHIP_ALIVE);
	assert_int_equal(membership_acting_peer(f->m, 4), 1);
	assert_int_equal(f->starts[4], 0);
	teardown(f);
}

/* peer 1's down_after as this host's status gives it */
static json_int_t
down_after_of(struct fixture *f, const char *name)
{
	json_t *st = membership_status_json(f->m, f->now), *p;
	json_int_t v;

	p = json_object_get(json_object_get(st, "peers"), name);
	v = json_integer_value(json_object_get(p, "down_after_ms"));
	json_decref(st);
	return v;
}

/* a lossy link stretches down_after (sequence gaps measure the loss); a
 * clean one keeps the configured one; a long outage is not loss */
static void
test_loss_stretches_down_after(void **state)
{
	struct fixture *f = mesh(3, 0);
	uint64_t seq = 1, i;
	json_t *st;

	(void)state;
	beat(f, 1, "a-a", 1, -1);
	beat(f, 2, "aa-", 1, -1);
	/* clean: every datagram of b's arrives */
	for (i = 0; i < 300; i++)
		membership_note_seq(f->m, 1, 101, seq++);
	assert_int_equal(down_after_of(f, "b"), 2000);
	/* 10 % loss: the configured 2 s still makes a false down unlikely */
	for (i = 0; i < 500; i++, seq++)
		if (i % 10 != 0)
			membership_note_seq(f->m, 1, 101, seq);
	assert_int_equal(down_after_of(f, "b"), 2000);
	/* 50 %: every other one lost; 14 intervals would be 7 s, capped at
	 * four times down_after */
	for (i = 0; i < 500; i++, seq += 2)
		membership_note_seq(f->m, 1, 101, seq);
	st = membership_status_json(f->m, f->now);
	assert_true(json_integer_value(json_object_get(
	                json_object_get(json_object_get(st, "peers"), "b"),
	                "loss_pct")) >= 45);
	json_decref(st);
	assert_int_equal(down_after_of(f, "b"), 7000);
	/* c lost nothing: its own */
	assert_int_equal(down_after_of(f, "c"), 2000);
	/* b silent 3 s on this lossy link: suspect, not down */
	membership_on_heartbeat(f->m, 1, 101, 0, 0, NULL, f->now, 0);
	beat(f, 2, "aa-", 1, -1);
	run_for(f, 3000);
	assert_int_not_equal(membership_state_of(f->m, 1), MEMBERSHIP_DOWN);
	run_for(f, 4500);
	assert_int_equal(membership_state_of(f->m, 1), MEMBERSHIP_DOWN);
	teardown(f);

	/* an outage (1000 datagrams in a row) is not loss */
	f = mesh(3, 0);
	membership_note_seq(f->m, 1, 101, 1);
	membership_note_seq(f->m, 1, 101, 1002);
	assert_int_equal(down_after_of(f, "b"), 2000);
	teardown(f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_all_alive),
	    cmocka_unit_test(test_confirm_and_act),
	    cmocka_unit_test(test_only_smallest_acts),
	    cmocka_unit_test(test_takeover),
	    cmocka_unit_test(test_stall_distrusts_self),
	    cmocka_unit_test(test_stuck_steps_bounded),
	    cmocka_unit_test(test_partition_minority),
	    cmocka_unit_test(test_partition_majority),
	    cmocka_unit_test(test_heal_no_takeover),
	    cmocka_unit_test(test_indirect_evidence),
	    cmocka_unit_test(test_return_waits_for_status),
	    cmocka_unit_test(test_held_never_confirmed),
	    cmocka_unit_test(test_two_node),
	    cmocka_unit_test(test_status_contract),
	    cmocka_unit_test(test_skew_extremes),
	    cmocka_unit_test(test_loss_stretches_down_after),
	    cmocka_unit_test(test_acting_peer_dies),
	};

	log_init(1, -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
