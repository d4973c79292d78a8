/* SPDX-License-Identifier: ISC */
/*
 * membership: failure detector, quorum and the acting peer. See
 * membership.h. The rules are DESIGN.md's "Failure detection and quorum";
 * every peer computes them from the same heartbeats, so they agree on who
 * acts without a leader election.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/evlog.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "heal/revive.h"
#include "peer/membership.h"

/* how old a peer's full status may be and still count as evidence that
 * it hears a third peer (two full-status periods of transport/hb) */
#define MB_EVIDENCE_MS 6000

struct mb_act { /* what a peer reports doing for a target */
	char step[32];
	unsigned attempt;
	uint64_t changed_ms; /* local receipt time of the last change */
};

struct mb_peer {
	char name[CONF_NAME_MAX + 1];
	enum membership_state state;
	int heard; /* any heartbeat since we started */
	uint64_t last_heard_ms;
	uint64_t alive_since_ms; /* mono: its last return to alive */
	uint64_t incarnation;
	int64_t skew_ms;
	int skew_warned;
	int confirmed; /* quorum verdict */
	uint64_t confirmed_since_ms;
	int acting_peer;     /* who acts for this peer, -1 none */
	int has_view;        /* a full status has arrived */
	uint64_t view_at_ms; /* mono: when the last one did */
	int held_by;         /* down held at suspect by this peer's
	                        report, -1 none */
	int raw_down;        /* silent for down_after here, held or not */
	int confirm_logged;  /* peer_confirmed_down logged for this silence */
	int quorum;          /* their reported has_quorum */
	enum membership_state *view; /* their view of each peer */
	struct mb_act *acts;         /* their acting, by target */
	json_t *services;            /* their "sv": {NAME: "u"|"d"|"?"...} */
	uint64_t asleep_until;       /* wall ms: said it goes to sleep */
	uint64_t seq_inc, seq;       /* the last datagram counted for loss */
	double loss;                 /* its datagrams lost here, EWMA 0..1 */
	/* this host's own acting for this peer as target */
	int self_acting;
	char step[32];
	unsigned attempt;
	uint64_t step_since_wall_ms;
};

struct membership {
	const struct conf *conf;
	size_t self;
	size_t n;
	uint64_t incarnation;
	struct mb_peer *p;
	struct evlog *ev;
	membership_event_cb cb;
	void *arg;
	int has_quorum;
	uint64_t last_tick_ms;
	int distrust; /* our loop stalled: no down votes yet */
	uint64_t wake_ms;
	char *payload;
	int payload_dirty;
	int self_sleeping; /* sleep-notice: "sleeping" in our status */
	uint64_t sleep_at; /* wall ms of that notice */
	json_t *maint;     /* {"peer" or "svc@peer": [until, set_at]} */
	uint64_t n_suspect, n_down, n_confirmed, n_stall;
	uint64_t n_resolved, n_held;
};

static const char *mb_state_names[] = {"alive", "suspect", "down", "unknown"};

const char *
membership_state_name(enum membership_state s)
{
	return s <= MEMBERSHIP_UNKNOWN ? mb_state_names[s] : "unknown";
}

static enum membership_state
mb_state_parse(const char *s)
{
	int i;

	for (i = 0; i < MEMBERSHIP_UNKNOWN; i++)
		if (s && strcmp(s, mb_state_names[i]) == 0)
			return (enum membership_state)i;
	return MEMBERSHIP_UNKNOWN;
}

static void mb_event(struct membership *m, const char *type, size_t peer,
    json_t *f, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
mb_event(struct membership *m, const char *type, size_t peer, json_t *f,
    const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	log_info("peer=%s %s %s", m->p[peer].name, type, detail);
	if (m->ev)
		evlog_write(m->ev, type, m->p[peer].name, detail, f);
	json_decref(f);
}

static void
mb_init_peer(
    struct membership *m, struct mb_peer *p, const char *name, uint64_t now_ms)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	/* unheard: not alive until a heartbeat says so; down_after from
	 * start if it never speaks */
	p->state = MEMBERSHIP_SUSPECT;
	p->last_heard_ms = now_ms;
	p->acting_peer = -1;
	p->held_by = -1;
	p->view = xcalloc(m->n, sizeof(*p->view));
	p->acts = xcalloc(m->n, sizeof(*p->acts));
	for (i = 0; i < m->n; i++)
		p->view[i] = MEMBERSHIP_UNKNOWN;
}

static void
mb_free_peers(struct mb_peer *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(p[i].view);
		free(p[i].acts);
		json_decref(p[i].services);
	}
	free(p);
}

struct membership *
membership_new(const struct conf *conf, size_t self, uint64_t incarnation,
    struct evlog *ev, membership_event_cb cb, void *arg, uint64_t now_ms)
{
	struct membership *m = xcalloc(1, sizeof(*m));
	size_t i;

	m->conf = conf;
	m->self = self;
	m->n = conf->npeers;
	m->incarnation = incarnation;
	m->ev = ev;
	m->cb = cb;
	m->arg = arg;
	m->last_tick_ms = now_ms;
	m->p = xcalloc(m->n, sizeof(*m->p));
	for (i = 0; i < m->n; i++)
		mb_init_peer(m, &m->p[i], conf->peers[i].name, now_ms);
	m->p[self].heard = 1;
	m->p[self].state = MEMBERSHIP_ALIVE;
	m->payload_dirty = 1;
	m->maint = json_object();
	return m;
}

void
membership_free(struct membership *m)
{
	if (m == NULL)
		return;
	mb_free_peers(m->p, m->n);
	json_decref(m->maint);
	free(m->payload);
	free(m);
}

void
membership_reconf(
    struct membership *m, const struct conf *conf, size_t self, uint64_t now_ms)
{
	struct mb_peer *old = m->p;
	size_t i, j, k, nold = m->n;
	int *map;

	m->conf = conf;
	m->self = self;
	m->n = conf->npeers;
	m->p = xcalloc(m->n, sizeof(*m->p));
	/* map[new index] = old index or -1: peers are matched by name */
	map = xcalloc(m->n, sizeof(*map));
	for (i = 0; i < m->n; i++) {
		map[i] = -1;
		for (j = 0; j < nold; j++)
			if (strcmp(old[j].name, conf->peers[i].name) == 0)
				map[i] = (int)j;
	}
	for (i = 0; i < m->n; i++) {
		struct mb_peer *p = &m->p[i];
		enum membership_state *view;
		struct mb_act *acts;

		mb_init_peer(m, p, conf->peers[i].name, now_ms);
		if (map[i] < 0)
			continue;
		/* everything carries over: the verdicts, this host's acting
		 * and what each peer reported, so a reload changes nothing
		 * the others can see */
		view = p->view;
		acts = p->acts;
		*p = old[map[i]];
		p->view = view;
		p->acts = acts;
		for (k = 0; k < m->n; k++) {
			if (map[k] < 0)
				continue;
			p->view[k] = old[map[i]].view[map[k]];
			p->acts[k] = old[map[i]].acts[map[k]];
		}
		old[map[i]].services = NULL; /* moved */
		p->acting_peer = -1; /* old index: re-chosen next tick */
		p->held_by = -1;     /* likewise */
	}
	m->p[self].heard = 1;
	m->p[self].state = MEMBERSHIP_ALIVE;
	free(map);
	mb_free_peers(old, nold);
	m->payload_dirty = 1;
}

/* a peer's reported services, kept only in the shape watch_payload sends:
 * names of [A-Za-z0-9_.-], states u, d or ?, "!" for an open breaker */
static json_t *
mb_parse_services(const json_t *sv)
{
	json_t *o, *v;
	const char *k, *st;

	if (!json_is_object(sv))
		return NULL;
	o = json_object();
	json_object_foreach((json_t *)(uintptr_t)sv, k, v) {
		st = json_string_value(v);
		if (st == NULL || strlen(k) == 0 || strlen(k) > CONF_NAME_MAX ||
		    strspn(k,
		        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		        "0123456789_.-") != strlen(k) ||
		    strchr("ud?", st[0]) == NULL || st[0] == '\0' ||
		    (st[1] != '\0' && (st[1] != '!' || st[2] != '\0')))
			continue;
		json_object_set_new(o, k, json_string(st));
	}
	return o;
}

/* --- laptops and planned work ---------------------------------------- */

/* entries of "maint" reach this far into the future at most */
#define MB_MAINT_MAX_MS (7ULL * 24 * 60 * 60 * 1000)
/* how far ahead of this host's clock a setting's time may be */
#define MB_MAINT_SKEW_MS (2ULL * 60 * 1000)
/* at most this much of a status goes to maintenance entries */
#define MB_MAINT_BYTES 240
/* an ended entry is still sent this long, so "off" reaches everyone */
#define MB_MAINT_LINGER_MS (10ULL * 60 * 1000)

static void
mb_parse_sleep(struct membership *m, struct mb_peer *p, int sleeping)
{
	size_t i = (size_t)(p - m->p);

	if (sleeping && p->asleep_until == 0) {
		p->asleep_until = clock_wall_ms() + m->conf->mesh.max_sleep_ms;
		mb_event(m, "peer_asleep", i, NULL,
		    "%s says it goes to sleep: not watched for up to %llu s",
		    p->name,
		    (unsigned long long)m->conf->mesh.max_sleep_ms / 1000);
		m->payload_dirty = 1;
	} else if (!sleeping && p->asleep_until != 0) {
		p->asleep_until = 0;
		mb_event(m, "peer_awake", i, NULL, "%s is awake", p->name);
		m->payload_dirty = 1;
	}
}

/* [until, set_at]: the newer setting of a key wins everywhere */
static int
mb_maint_entry(const json_t *v, uint64_t *until, uint64_t *set_at)
{
	json_int_t u, s;

	if (!json_is_array(v) || json_array_size(v) != 2 ||
	    !json_is_integer(json_array_get(v, 0)) ||
	    !json_is_integer(json_array_get(v, 1)))
		return -1;
	u = json_integer_value(json_array_get(v, 0));
	s = json_integer_value(json_array_get(v, 1));
	/* a setting from the future would win over every later one: a
	 * peer's clock may be ahead by MB_MAINT_SKEW_MS at most */
	if (u < 0 || s <= 0 ||
	    (uint64_t)u > clock_wall_ms() + MB_MAINT_MAX_MS ||
	    (uint64_t)s > clock_wall_ms() + MB_MAINT_SKEW_MS)
		return -1;
	*until = (uint64_t)u;
	*set_at = (uint64_t)s;
	return 0;
}

/* valid keys: a peer name, or NAME@PEER, of at most 127 characters */
static int
mb_maint_key_ok(const char *k)
{
	size_t n = strlen(k);

	return n > 0 && n <= 2 * CONF_NAME_MAX + 1 &&
	       strspn(k, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                 "0123456789_.-@") == n;
}

static void
mb_maint_set(struct membership *m, const char *key, uint64_t until,
    uint64_t set_at, int local)
{
	json_t *cur = json_object_get(m->maint, key);
	uint64_t cu, cs;

	if (cur != NULL && mb_maint_entry(cur, &cu, &cs) == 0 && cs >= set_at)
		return;
	json_object_set_new(m->maint, key,
	    json_pack("[II]", (json_int_t)until, (json_int_t)set_at));
	m->payload_dirty = 1;
	if (m->ev)
		evlog_writef_new(m->ev,
		    until > clock_wall_ms() ? "maintenance_on"
		                            : "maintenance_off",
		    m->p[m->self].name,
		    json_pack("{sssb}", "subject", key, "local", local),
		    until > clock_wall_ms() ? "%s in maintenance for %llu s"
		                            : "%s back to normal watching",
		    key,
		    (unsigned long long)(until > clock_wall_ms()
		                             ? (until - clock_wall_ms()) / 1000
		                             : 0));
}

static void
mb_merge_maint(struct membership *m, const json_t *maint)
{
	const char *k;
	json_t *v;
	uint64_t until, set_at;

	if (!json_is_object(maint))
		return;
	json_object_foreach((json_t *)(uintptr_t)maint, k, v) {
		if (!mb_maint_key_ok(k) || mb_maint_entry(v, &until, &set_at))
			continue;
		mb_maint_set(m, k, until, set_at, 0);
	}
}

/* the newest maintenance settings that fit MB_MAINT_BYTES */
static json_t *
mb_maint_newest(const struct membership *m)
{
	json_t *out = json_object(), *v, *best;
	const char *k, *bk;
	uint64_t until, set_at, bset, used = 2;

	for (;;) {
		best = NULL;
		bk = NULL;
		bset = 0;
		json_object_foreach(m->maint, k, v) {
			if (json_object_get(out, k) != NULL ||
			    mb_maint_entry(v, &until, &set_at) == -1)
				continue;
			if (best == NULL || set_at > bset) {
				best = v;
				bk = k;
				bset = set_at;
			}
		}
		/* "key":[until,set_at], with 13-digit numbers */
		if (best == NULL || used + strlen(bk) + 36 > MB_MAINT_BYTES)
			return out;
		used += strlen(bk) + 36;
		json_object_set(out, bk, best);
	}
}

int
membership_maintenance(struct membership *m, const char *key,
    uint64_t duration_ms, char *err, size_t errlen)
{
	uint64_t now = clock_wall_ms();

	if (!mb_maint_key_ok(key)) {
		snprintf(
		    err, errlen, "\"%s\" is not a peer or SERVICE@PEER", key);
		return -1;
	}
	if (duration_ms > MB_MAINT_MAX_MS) {
		snprintf(err, errlen, "at most 7 days of maintenance");
		return -1;
	}
	mb_maint_set(m, key, duration_ms ? now + duration_ms : 0, now, 1);
	{
		uint64_t u, at;

		if (mb_maint_entry(json_object_get(m->maint, key), &u, &at) ==
		        -1 ||
		    at != now) {
			snprintf(err, errlen,
			    "a newer setting of %s (from a peer whose clock "
			    "is ahead) wins; try again in a minute",
			    key);
			return -1;
		}
	}
	if (m->cb)
		m->cb(MEMBERSHIP_EV_VIEW_CHANGED, m->self, m->arg);
	return 0;
}

uint64_t
membership_maintenance_until(const struct membership *m, const char *key)
{
	uint64_t until, set_at;

	if (mb_maint_entry(json_object_get(m->maint, key), &until, &set_at))
		return 0;
	return until > clock_wall_ms() ? until : 0;
}

/* asleep or in maintenance: never down, never revived, never paged */
static const char *
mb_hold(const struct membership *m, size_t i)
{
	if (m->p[i].asleep_until > clock_wall_ms())
		return "asleep";
	if (membership_maintenance_until(m, m->p[i].name))
		return "maintenance";
	return NULL;
}

void
membership_sleep_notice(struct membership *m, int sleeping)
{
	if (m->self_sleeping == sleeping)
		return;
	m->self_sleeping = sleeping;
	m->sleep_at = clock_wall_ms();
	m->payload_dirty = 1;
	if (m->ev)
		evlog_write(m->ev,
		    sleeping ? "sleep_notice" : "sleep_cancelled",
		    m->p[m->self].name,
		    sleeping ? "going to sleep: peers will not revive or page"
		             : "not sleeping after all",
		    NULL);
	if (m->cb)
		m->cb(MEMBERSHIP_EV_VIEW_CHANGED, m->self, m->arg);
}

static void
mb_parse_view(struct membership *m, struct mb_peer *p, const json_t *payload,
    uint64_t now_ms)
{
	const json_t *view = json_object_get(payload, "view");
	const json_t *acting = json_object_get(payload, "acting");
	size_t i;

	p->has_view = 1;
	p->view_at_ms = now_ms;
	p->quorum = json_is_true(json_object_get(payload, "quorum"));
	json_decref(p->services);
	p->services = mb_parse_services(json_object_get(payload, "sv"));
	mb_parse_sleep(
	    m, p, json_is_true(json_object_get(payload, "sleeping")));
	mb_merge_maint(m, json_object_get(payload, "maint"));
	for (i = 0; i < m->n; i++) {
		const json_t *a = json_object_get(acting, m->p[i].name);
		const char *step =
		    json_string_value(json_object_get(a, "step"));
		unsigned att =
		    (unsigned)json_integer_value(json_object_get(a, "attempt"));
		struct mb_act *act = &p->acts[i];

		p->view[i] = mb_state_parse(
		    json_string_value(json_object_get(view, m->p[i].name)));
		if (step == NULL)
			step = "";
		if (strcmp(act->step, step) != 0 || act->attempt != att) {
			snprintf(act->step, sizeof(act->step), "%s", step);
			act->attempt = att;
			act->changed_ms = now_ms;
		}
	}
}

static void
mb_note_skew(
    struct membership *m, size_t idx, uint64_t sent_at_ms, uint64_t wall_ms)
{
	struct mb_peer *p = &m->p[idx];
	/* both clocks come as uint64_t, one of them off the wire: take the
	 * difference unsigned and saturate it, never overflow an int64_t */
	uint64_t mag =
	    sent_at_ms >= wall_ms ? sent_at_ms - wall_ms : wall_ms - sent_at_ms;
	int64_t skew;

	if (mag > (uint64_t)INT64_MAX)
		mag = (uint64_t)INT64_MAX;
	skew = sent_at_ms >= wall_ms ? (int64_t)mag : -(int64_t)mag;
	p->skew_ms = skew;
	if (mag > m->conf->mesh.max_skew_ms && !p->skew_warned) {
		p->skew_warned = 1;
		mb_event(m, "clock_skew", idx,
		    json_pack("{sI}", "clock_skew_ms", (json_int_t)skew),
		    "clock differs by %lld ms (max_skew %llu ms); not dropped",
		    (long long)skew,
		    (unsigned long long)m->conf->mesh.max_skew_ms);
	} else if (mag <= m->conf->mesh.max_skew_ms / 2)
		p->skew_warned = 0;
}

static void mb_update_target(struct membership *, size_t, unsigned, uint64_t);

void
membership_on_heartbeat(struct membership *m, size_t idx, uint64_t incarnation,
    uint64_t sent_at_ms, int new_incarnation, const json_t *payload,
    uint64_t now_ms, uint64_t wall_ms)
{
	struct mb_peer *p;
	uint64_t prev_heard_ms;
	int restarted, came_back;

	if (idx >= m->n || idx == m->self)
		return;
	p = &m->p[idx];
	came_back = p->heard && p->state != MEMBERSHIP_ALIVE;
	prev_heard_ms = p->last_heard_ms;
	p->confirm_logged = 0;
	if (p->raw_down) {
		p->raw_down = 0;
		m->payload_dirty = 1;
	}
	restarted = new_incarnation && p->incarnation != 0 &&
	            incarnation > p->incarnation;
	p->last_heard_ms = now_ms;
	if (restarted)
		mb_event(m, "peer_restarted", idx,
		    json_pack("{sIsI}", "incarnation", (json_int_t)incarnation,
		        "previous", (json_int_t)p->incarnation),
		    "new incarnation %llu", (unsigned long long)incarnation);
	p->incarnation = incarnation;
	if (new_incarnation) {
		/* what the old incarnation said of its services is stale */
		json_decref(p->services);
		p->services = NULL;
	}
	if (p->heard && p->state == MEMBERSHIP_SUSPECT && !restarted) {
		/* a suspicion that resolved: counted, not an event */
		m->n_resolved++;
		log_debug("peer=%s state suspect->alive after %llu ms", p->name,
		    (unsigned long long)(now_ms - prev_heard_ms));
		p->state = MEMBERSHIP_ALIVE;
		p->alive_since_ms = now_ms;
		m->payload_dirty = 1;
	} else if (p->state != MEMBERSHIP_ALIVE || !p->heard) {
		mb_event(m, "peer_alive", idx,
		    json_pack("{sssI}", "from",
		        p->heard ? membership_state_name(p->state) : "unheard",
		        "incarnation", (json_int_t)incarnation),
		    "state %s->alive",
		    p->heard ? membership_state_name(p->state) : "unheard");
		p->state = MEMBERSHIP_ALIVE;
		p->alive_since_ms = now_ms;
		m->payload_dirty = 1;
	}
	p->heard = 1;
	if (payload)
		mb_parse_view(m, p, payload, now_ms);
	mb_note_skew(m, idx, sent_at_ms, wall_ms);
	if (restarted && m->cb)
		m->cb(MEMBERSHIP_EV_RESTARTED, idx, m->arg);
	/* in the same step as revive_ok: a peer heard again is no longer
	 * confirmed down, so nobody acts for it any more (status and event
	 * log must never disagree, not even until the next tick) */
	if (came_back || restarted)
		mb_update_target(m, idx, conf_needed_votes(m->conf), now_ms);
}

static int
mb_fresh(const struct membership *m, size_t i)
{
	return i == m->self ||
	       (m->p[i].heard && m->p[i].state == MEMBERSHIP_ALIVE);
}

static int
mb_compute_quorum(const struct membership *m)
{
	size_t i, heard = 0;

	if (m->n <= 2)
		return 1; /* like Corosync's two_node */
	for (i = 0; i < m->n; i++)
		heard += (size_t)mb_fresh(m, i);
	return heard >= m->n / 2 + 1;
}

/* voters: every configured peer but the target, counted if fresh */
static unsigned
mb_votes_down(const struct membership *m, size_t t)
{
	unsigned votes = 0;
	size_t v;

	for (v = 0; v < m->n; v++) {
		if (v == t || !mb_fresh(m, v))
			continue;
		if (v == m->self) {
			if (!m->distrust && m->p[t].raw_down)
				votes++;
		} else if (m->p[v].has_view &&
		           m->p[v].view[t] == MEMBERSHIP_DOWN)
			votes++;
	}
	return votes;
}

/* A candidate that has not taken up a target in time, or whose step has
 * not moved for longer than a revive may take, is passed over. */
static int
mb_candidate_stalled(
    const struct membership *m, size_t c, size_t t, uint64_t now_ms)
{
	const struct conf_mesh *mesh = &m->conf->mesh;
	const struct mb_act *a = &m->p[c].acts[t];
	uint64_t takeup = 3 * mesh->interval_ms + 1000;
	/* a revive's longest silent stretch: a heal worker may run until it
	 * is killed (4 x ssh_timeout + 10 s, see rvpool), then the verify
	 * wait, then the longest backoff step (30 s), plus slack */
	uint64_t progress = 4 * mesh->ssh_timeout_ms + 10000 +
	                    mesh->revive_verify_ms + 30000 + 5000;

	/* the take-up window runs from when the candidate could first have
	 * taken the target up: a peer that has just come back (a healed
	 * partition) gets its own window, or everyone who still hears the
	 * old acting peer step down would take over at once */
	if (a->step[0] == '\0')
		return now_ms -
		           (m->p[c].alive_since_ms > m->p[t].confirmed_since_ms
		                   ? m->p[c].alive_since_ms
		                   : m->p[t].confirmed_since_ms) >
		       takeup;
	/* waiting for a human or for the hourly limit is not a stall, but
	 * an honest peer leaves those steps in bounded time (an escalated
	 * revive tries again, with a new attempt number, every
	 * REVIVE_ESCALATED_RETRY_MS; the limit lifts within the hour): a
	 * peer that stays longer is stuck or lying and is passed over */
	if (strcmp(a->step, "escalated") == 0)
		progress += REVIVE_ESCALATED_RETRY_MS;
	else if (strcmp(a->step, "limit") == 0)
		progress += REVIVE_LIMIT_WINDOW_MS;
	return now_ms - a->changed_ms > progress;
}

/* does candidate c report a step for t (is it at work on t)? */
static int
mb_is_at_work(const struct membership *m, size_t c, size_t t)
{
	return c == m->self ? m->p[t].self_acting
	                    : m->p[c].acts[t].step[0] != '\0';
}

/* c is heard, but its last full status predates its return: what it
 * does now (at work on a target?) is not known yet */
static int
mb_view_stale(const struct membership *m, size_t c)
{
	const struct mb_peer *p = &m->p[c];

	return c != m->self && mb_fresh(m, c) &&
	       (!p->has_view || p->view_at_ms < p->alive_since_ms);
}

/*
 * The acting peer for t: among the fresh candidates with quorum that have
 * not stalled, one already at work on t (so a revive under way is never
 * pre-empted by a peer that returns with a smaller name), else the
 * smallest name. Every peer applies the same rule to the same reports.
 */
static int
mb_choose_acting(const struct membership *m, size_t t, uint64_t now_ms)
{
	size_t c, best = m->n;
	int work, best_work = 0, unknown = 0;

	for (c = 0; c < m->n; c++) {
		if (c == t || !mb_fresh(m, c))
			continue;
		if (mb_view_stale(m, c)) {
			unknown = 1;
			continue;
		}
		if (c == m->self ? !m->has_quorum || m->distrust
		                 : !(m->p[c].has_view && m->p[c].quorum))
			continue;
		if (c != m->self && mb_candidate_stalled(m, c, t, now_ms))
			continue;
		work = mb_is_at_work(m, c, t);
		if (best == m->n || work > best_work ||
		    (work == best_work &&
		        strcmp(m->p[c].name, m->p[best].name) < 0)) {
			best = c;
			best_work = work;
		}
	}
	/* a peer just back (a healed partition) may be at work on t; until
	 * its fresh status says, this host takes nothing new up (it may
	 * keep what it already does) */
	if (unknown && best == m->self && !m->p[t].self_acting)
		return -1;
	return best == m->n ? -1 : (int)best;
}

static void
mb_set_self_acting(struct membership *m, size_t t, int on, uint64_t now_ms)
{
	struct mb_peer *p = &m->p[t];
	const struct conf_peer *cp = &m->conf->peers[t];

	(void)now_ms;
	if (p->self_acting == on)
		return;
	p->self_acting = on;
	m->payload_dirty = 1;
	if (on) {
		snprintf(p->step, sizeof(p->step), "%s",
		    cp->has_ssh ? "waiting" : "escalating");
		p->attempt = 1;
		p->step_since_wall_ms = clock_wall_ms();
		mb_event(m, "acting", t, json_pack("{ss}", "step", p->step),
		    "this host acts for %s (%s)", p->name,
		    cp->has_ssh ? "revive" : "no ssh line: escalate only");
	} else {
		p->step[0] = '\0';
		mb_event(m, "acting_end", t, NULL, "no longer acting for %s",
		    p->name);
	}
	if (m->cb)
		m->cb(on ? MEMBERSHIP_EV_ACT_START : MEMBERSHIP_EV_ACT_STOP, t,
		    m->arg);
}

static void
mb_update_target(
    struct membership *m, size_t t, unsigned needed, uint64_t now_ms)
{
	struct mb_peer *p = &m->p[t];
	unsigned votes = mb_votes_down(m, t);
	/* down here too: a peer held at suspect because another still hears
	 * it is never confirmed, however many others lost it for a while */
	int confirmed = votes >= needed && p->state == MEMBERSHIP_DOWN;
	int acting;

	if (confirmed && !p->confirmed) {
		p->confirmed_since_ms = now_ms;
		/* once per silence: votes may come and go while it lasts */
		if (!p->confirm_logged) {
			p->confirm_logged = 1;
			m->n_confirmed++;
			mb_event(m, "peer_confirmed_down", t,
			    json_pack(
			        "{sisi}", "votes", votes, "needed", needed),
			    "%u of %u votes", votes, needed);
		}
	} else if (!confirmed && p->confirmed)
		m->payload_dirty = 1;
	p->confirmed = confirmed;
	acting = confirmed ? mb_choose_acting(m, t, now_ms) : -1;
	p->acting_peer = acting;
	mb_set_self_acting(m, t, acting == (int)m->self, now_ms);
}

/*
 * Indirect evidence, in the spirit of SWIM's indirect probes: a fresh
 * peer whose recent full status says it has not lost i for down_after
 * (alive or suspect in what it observes itself, not held by evidence of
 * its own) means this host lost i's datagrams, not that i died. The peer
 * with the freshest such report, or -1. A status is sent (twice) at once
 * when its view changes, so after a real death these reports turn to down
 * at the others' own down_after and hold nothing back for longer than
 * their delivery; a report older than MB_EVIDENCE_MS (two full-status
 * periods, or down_after if longer) is not evidence.
 */
static int
mb_heard_by(const struct membership *m, size_t i, uint64_t now_ms)
{
	uint64_t window = m->conf->mesh.down_after_ms > MB_EVIDENCE_MS
	                      ? m->conf->mesh.down_after_ms
	                      : MB_EVIDENCE_MS;
	size_t v;
	int best = -1;

	for (v = 0; v < m->n; v++) {
		const struct mb_peer *q = &m->p[v];
		if (v == m->self || v == i || !mb_fresh(m, v) || !q->has_view ||
		    q->view[i] == MEMBERSHIP_DOWN ||
		    q->view[i] == MEMBERSHIP_UNKNOWN ||
		    now_ms - q->view_at_ms > window)
			continue;
		if (best == -1 || q->view_at_ms > m->p[best].view_at_ms)
			best = (int)v;
	}
	return best;
}

/* a datagram lost here counts this much in a peer's loss estimate */
#define MB_LOSS_WEIGHT 0.02
/* a longer gap is an outage (a roaming laptop, a cable), not random loss:
 * at 50 % loss 9 in a row happen once in 500 */
#define MB_LOSS_MAX_GAP 8
/* how unlikely a false down may be: every datagram lost for that long */
#define MB_FALSE_DOWN 1e-4

void
membership_note_seq(
    struct membership *m, size_t i, uint64_t incarnation, uint64_t seq)
{
	struct mb_peer *p;
	uint64_t gap, k;

	if (i >= m->n || i == m->self)
		return;
	p = &m->p[i];
	if (incarnation == p->seq_inc && seq > p->seq) {
		gap = seq - p->seq - 1;
		if (gap > MB_LOSS_MAX_GAP)
			gap = 0;
		for (k = 0; k < gap; k++)
			p->loss += MB_LOSS_WEIGHT * (1.0 - p->loss);
		p->loss -= MB_LOSS_WEIGHT * p->loss;
	}
	if (incarnation > p->seq_inc ||
	    (incarnation == p->seq_inc && seq > p->seq)) {
		p->seq_inc = incarnation;
		p->seq = seq;
	}
}

/*
 * down_after for peer i, stretched on a lossy link (in the spirit of
 * Lifeguard's local health): long enough that losing every datagram of it
 * by chance is below MB_FALSE_DOWN at the loss measured from its sequence
 * gaps; never shorter than down_after, never more than four times it. At
 * 10 % loss it is down_after itself; at 50 % about 14 intervals.
 */
static uint64_t
mb_down_after(const struct membership *m, size_t i)
{
	const struct conf_mesh *mesh = &m->conf->mesh;
	double loss = m->p[i].loss, chance = 1.0;
	uint64_t n = 0, w;

	if (loss < 0.1)
		return mesh->down_after_ms;
	while (chance > MB_FALSE_DOWN && n < 64) {
		chance *= loss;
		n++;
	}
	w = n * mesh->interval_ms;
	if (w < mesh->down_after_ms)
		return mesh->down_after_ms;
	return w > 4 * mesh->down_after_ms ? 4 * mesh->down_after_ms : w;
}

static void
mb_detect(struct membership *m, size_t i, uint64_t now_ms)
{
	struct mb_peer *p = &m->p[i];
	uint64_t age = now_ms - p->last_heard_ms;
	enum membership_state s = p->state;
	uint64_t down_after = mb_down_after(m, i);
	int by = -1;

	if (p->raw_down != (age >= down_after && mb_hold(m, i) == NULL)) {
		p->raw_down = !p->raw_down;
		m->payload_dirty = 1; /* the others vote by it */
	}
	if (age >= down_after) {
		s = MEMBERSHIP_DOWN;
		/* once down, down until heard: evidence only holds it back */
		if (p->state != MEMBERSHIP_DOWN && p->heard &&
		    (by = mb_heard_by(m, i, now_ms)) != -1) {
			s = MEMBERSHIP_SUSPECT;
			if (p->held_by == -1)
				m->n_held++;
		}
	} else if (age >= m->conf->mesh.suspect_after_ms)
		s = MEMBERSHIP_SUSPECT;
	/* asleep or in maintenance: silent, but never down */
	if (s == MEMBERSHIP_DOWN && mb_hold(m, i) != NULL)
		s = MEMBERSHIP_SUSPECT;
	p->held_by = by;
	if (s == p->state || s < p->state)
		return;
	m->payload_dirty = 1;
	if (s == MEMBERSHIP_SUSPECT) {
		/* most suspicions resolve (a lost datagram or two): counted
		 * and at debug level, not an event line of their own */
		m->n_suspect++;
		log_debug("peer=%s state %s->suspect after %llu ms", p->name,
		    membership_state_name(p->state), (unsigned long long)age);
		p->state = s;
		return;
	}
	m->n_down++;
	mb_event(m, "peer_down", i,
	    json_pack("{sI}", "silent_ms", (json_int_t)age),
	    "state %s->down after %llu ms", membership_state_name(p->state),
	    (unsigned long long)age);
	p->state = s;
}

/* Distrust yourself first: a jump of the monotonic clock between ticks
 * means this process was frozen, not that everyone else died. */
static void
mb_check_stall(struct membership *m, uint64_t now_ms)
{
	uint64_t gap = now_ms - m->last_tick_ms;
	size_t i;

	m->last_tick_ms = now_ms;
	if (m->distrust && now_ms - m->wake_ms >= m->conf->mesh.down_after_ms)
		m->distrust = 0;
	if (gap <= m->conf->mesh.suspect_after_ms)
		return;
	m->n_stall++;
	m->distrust = 1;
	/* the sleep we announced is over */
	if (m->self_sleeping)
		membership_sleep_notice(m, 0);
	m->wake_ms = now_ms;
	for (i = 0; i < m->n; i++)
		if (i != m->self)
			m->p[i].last_heard_ms = now_ms;
	log_warnx("loop stalled for %llu ms; restarting peer timers, no votes "
	          "until fresh heartbeats",
	    (unsigned long long)gap);
	if (m->ev)
		evlog_writef(m->ev, "self_stall", m->p[m->self].name, NULL,
		    "loop stalled for %llu ms; peer timers restarted",
		    (unsigned long long)gap);
}

void
membership_tick(struct membership *m, uint64_t now_ms)
{
	unsigned needed = conf_needed_votes(m->conf);
	int q;
	size_t i;

	mb_check_stall(m, now_ms);
	if (m->self_sleeping &&
	    clock_wall_ms() - m->sleep_at > m->conf->mesh.max_sleep_ms)
		membership_sleep_notice(m, 0);
	for (i = 0; i < m->n; i++)
		if (i != m->self)
			mb_detect(m, i, now_ms);
	q = mb_compute_quorum(m);
	if (q != m->has_quorum) {
		if (m->ev)
			evlog_writef(m->ev,
			    q ? "quorum_regained" : "quorum_lost",
			    m->p[m->self].name, NULL, "%s",
			    q ? "hears a majority of the mesh"
			      : "hears less than a majority: will not act");
		log_info("quorum=%s", q ? "yes" : "no");
		m->has_quorum = q;
		m->payload_dirty = 1;
	}
	for (i = 0; i < m->n; i++)
		if (i != m->self)
			mb_update_target(m, i, needed, now_ms);
	if (m->payload_dirty && m->cb)
		m->cb(MEMBERSHIP_EV_VIEW_CHANGED, m->self, m->arg);
}

void
membership_set_step(struct membership *m, size_t t, const char *step,
    unsigned attempt, uint64_t wall_ms)
{
	struct mb_peer *p = &m->p[t];

	if (!p->self_acting)
		return;
	if (strcmp(p->step, step) == 0 && p->attempt == attempt)
		return;
	snprintf(p->step, sizeof(p->step), "%s", step);
	p->attempt = attempt;
	p->step_since_wall_ms = wall_ms;
	m->payload_dirty = 1;
	if (m->cb)
		m->cb(MEMBERSHIP_EV_VIEW_CHANGED, m->self, m->arg);
}

const char *
membership_payload(struct membership *m)
{
	json_t *root, *view, *acting;
	size_t i;

	if (!m->payload_dirty && m->payload)
		return m->payload;
	view = json_object();
	acting = json_object();
	for (i = 0; i < m->n; i++) {
		if (i == m->self)
			continue;
		/* what this host observes itself (held or not): the others
		 * judge their own evidence and votes by it */
		json_object_set_new(view, m->p[i].name,
		    json_string(membership_state_name(
		        m->p[i].raw_down ? MEMBERSHIP_DOWN : m->p[i].state)));
		if (m->p[i].self_acting)
			json_object_set_new(acting, m->p[i].name,
			    json_pack("{sssi}", "step", m->p[i].step, "attempt",
			        (int)m->p[i].attempt));
	}
	root = json_pack("{soso*sb}", "view", view, "acting", acting, "quorum",
	    m->has_quorum);
	if (m->self_sleeping)
		json_object_set_new(root, "sleeping", json_true());
	if (json_object_size(m->maint) > 0) {
		/* ended entries linger a while, so an "off" reaches all */
		const char *k;
		json_t *v, *tmp;
		uint64_t until, set_at, now = clock_wall_ms();

		json_object_foreach_safe(m->maint, tmp, k, v)
		{
			if (mb_maint_entry(v, &until, &set_at) == -1 ||
			    (until < now && set_at + MB_MAINT_LINGER_MS < now &&
			        until + MB_MAINT_LINGER_MS < now))
				json_object_del(m->maint, k);
		}
		/* within MB_MAINT_BYTES of the datagram: the newest
		 * settings first, the rest wait (they expire anyway) */
		if (json_object_size(m->maint) > 0)
			json_object_set_new(root, "maint", mb_maint_newest(m));
	}
	free(m->payload);
	m->payload = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (m->payload == NULL)
		m->payload = xstrdup("{}");
	m->payload_dirty = 0;
	return m->payload;
}

static json_t *
mb_peer_json(
    const struct membership *m, size_t i, unsigned needed, uint64_t now_ms)
{
	const struct mb_peer *p = &m->p[i];
	json_t *o, *view = json_object();
	size_t j;

	for (j = 0; p->has_view && j < m->n; j++)
		if (j != i)
			json_object_set_new(view, m->p[j].name,
			    json_string(membership_state_name(p->view[j])));
	o = json_pack("{sssbsosIsIsisosIsbsb}", "state",
	    mb_hold(m, i) && p->state != MEMBERSHIP_ALIVE
	        ? mb_hold(m, i)
	        : membership_state_name(p->state),
	    "confirmed_down", p->confirmed, "last_heard_ms",
	    p->heard ? json_integer((json_int_t)(now_ms - p->last_heard_ms))
	             : json_null(),
	    "incarnation", (json_int_t)p->incarnation, "votes_down",
	    (json_int_t)mb_votes_down(m, i), "votes_needed", (int)needed,
	    "acting_peer",
	    p->acting_peer >= 0 ? json_string(m->p[p->acting_peer].name)
	                        : json_null(),
	    "clock_skew_ms", (json_int_t)p->skew_ms, "clock_skew_warning",
	    p->skew_warned, "quorum", p->quorum);
	json_object_set_new(o, "view", view);
	json_object_set_new(
	    o, "address", json_string(m->conf->peers[i].address));
	/* down held at suspect: who still hears it, and how recently */
	if (p->held_by >= 0)
		json_object_set_new(o, "heard_by",
		    json_pack("{sssI}", "peer", m->p[p->held_by].name, "ms_ago",
		        (json_int_t)(now_ms - m->p[p->held_by].view_at_ms)));
	else
		json_object_set_new(o, "heard_by", json_null());
	json_object_set_new(
	    o, "loss_pct", json_integer((json_int_t)(p->loss * 100.0 + 0.5)));
	json_object_set_new(
	    o, "down_after_ms", json_integer((json_int_t)mb_down_after(m, i)));
	if (p->asleep_until > clock_wall_ms())
		json_object_set_new(o, "asleep_until",
		    json_integer((json_int_t)p->asleep_until));
	if (membership_maintenance_until(m, p->name))
		json_object_set_new(o, "maintenance_until",
		    json_integer(
		        (json_int_t)membership_maintenance_until(m, p->name)));
	/* the services it watches, as its last full status said */
	if (p->services != NULL)
		json_object_set_new(o, "services", json_copy(p->services));
	return o;
}

json_t *
membership_status_json(const struct membership *m, uint64_t now_ms)
{
	unsigned needed = conf_needed_votes(m->conf);
	json_t *root, *peers = json_object(), *acting = json_object();
	char iso[CLOCK_ISO_LEN];
	size_t i;

	for (i = 0; i < m->n; i++) {
		const struct mb_peer *p = &m->p[i];
		if (i == m->self)
			continue;
		json_object_set_new(
		    peers, p->name, mb_peer_json(m, i, needed, now_ms));
		if (p->self_acting)
			json_object_set_new(acting, p->name,
			    json_pack("{sssiss}", "step", p->step, "attempt",
			        (int)p->attempt, "since",
			        clock_iso8601(
			            p->step_since_wall_ms, iso, sizeof(iso))));
	}
	root = json_pack("{sssbsIsbsoso}", "self", m->p[m->self].name,
	    "has_quorum", m->has_quorum, "incarnation",
	    (json_int_t)m->incarnation, "distrust_self", m->distrust, "peers",
	    peers, "acting", acting);
	json_object_set_new(root, "sleeping", json_boolean(m->self_sleeping));
	{
		json_t *mt = json_object(), *v;
		const char *k;

		json_object_foreach(m->maint, k, v)
			if (membership_maintenance_until(m, k))
				json_object_set_new(mt, k,
				    json_integer((json_int_t)
				            membership_maintenance_until(
				                m, k)));
		json_object_set_new(root, "maintenance", mt);
	}
	return root;
}

const char *
membership_service_state(
    const struct membership *m, size_t peer, const char *service)
{
	if (peer >= m->n || m->p[peer].services == NULL)
		return NULL;
	return json_string_value(json_object_get(m->p[peer].services, service));
}

int
membership_would_act(const struct membership *m, size_t t)
{
	size_t c, best = m->n;

	if (t >= m->n || t == m->self || !m->has_quorum || m->distrust)
		return 0;
	for (c = 0; c < m->n; c++) {
		if (c == t || !mb_fresh(m, c))
			continue;
		if (c != m->self && !(m->p[c].has_view && m->p[c].quorum))
			continue;
		if (best == m->n || strcmp(m->p[c].name, m->p[best].name) < 0)
			best = c;
	}
	return best == m->self;
}

enum membership_state
membership_state_of(const struct membership *m, size_t i)
{
	return i < m->n ? m->p[i].state : MEMBERSHIP_UNKNOWN;
}

int
membership_confirmed_down(const struct membership *m, size_t i)
{
	return i < m->n && m->p[i].confirmed;
}

int
membership_has_quorum(const struct membership *m)
{
	return m->has_quorum;
}

int
membership_acting_peer(const struct membership *m, size_t t)
{
	return t < m->n ? m->p[t].acting_peer : -1;
}

int
membership_is_acting(const struct membership *m, size_t t)
{
	return t < m->n && m->p[t].self_acting;
}

uint64_t
membership_incarnation_of(const struct membership *m, size_t i)
{
	return i < m->n ? m->p[i].incarnation : 0;
}

void
membership_counts(const struct membership *m, uint64_t *suspects,
    uint64_t *downs, uint64_t *confirmed, uint64_t *stalls, uint64_t *resolved,
    uint64_t *held)
{
	*suspects = m->n_suspect;
	*downs = m->n_down;
	*confirmed = m->n_confirmed;
	*stalls = m->n_stall;
	if (resolved != NULL)
		*resolved = m->n_resolved;
	if (held != NULL)
		*held = m->n_held;
}
