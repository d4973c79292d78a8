/* SPDX-License-Identifier: ISC */
/*
 * revive: per-target state machine on the loop; the blocking work is in
 * rvjob. Steps reported in heartbeats: connecting, verifying, backoff,
 * escalated, limit, done. "escalated" and "limit" are deliberate waits,
 * so other peers do not take over from them (see membership). The
 * blocking work runs in peerwatch-heal worker processes (rvpool).
 * A revive never acts on a peer that is alive: when the target is heard
 * again while its REVIVE job runs (revive_act_stop with alive), the worker
 * is told to stop before its next write (rvpool_cancel, see rvjob.h); its
 * result is then reported as `revive_aborted`, never as a failure, and
 * nothing is escalated.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/clock.h"
#include "common/evlog.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "heal/guard.h"
#include "heal/incident.h"
#include "heal/revive.h"
#include "heal/rvjob.h"
#include "heal/sftp.h"

#ifndef PW_LIBEXECDIR
#define PW_LIBEXECDIR "/usr/local/libexec"
#endif

#define RV_MAX_REVIVES 64
#define RV_BACKOFF_MIN_MS 2000
#define RV_BACKOFF_MAX_MS 30000
#define RV_PULL_FIRST_MS 2000
#define RV_LOCAL_BACKOFF_MAX_MS (10u * 60 * 1000)

enum rv_phase {
	RV_IDLE,
	RV_RUNNING,
	RV_VERIFYING,
	RV_BACKOFF,
	RV_LIMIT,
	RV_ESCALATED
};
static const char *rv_phase_names[] = {
    "idle", "connecting", "verifying", "backoff", "limit", "escalated"};

struct rv_target {
	struct revive *rv;
	size_t idx;
	char name[CONF_NAME_MAX + 1];
	int acting;
	enum rv_phase phase;
	unsigned attempt;
	uint64_t revives[RV_MAX_REVIVES]; /* mono ms, this hour */
	size_t nrevives;
	uint64_t backoff_ms;
	uint64_t verify_start_ms;
	struct event *timer;
	int running;       /* a REVIVE job in flight */
	struct rvjob *job; /* that job (owned by the pool while it runs) */
	int aborting;      /* told to stop: the target was heard again */
	int pulling;
	uint64_t last_pull_ms; /* mono; 0 = never */
	char last_outcome[640];
	char restored[512];    /* "openclaw from /x.bak; ..." */
	int await_services;    /* restarted; its guards' services not yet up */
	uint64_t restarted_ms; /* mono: the new incarnation arrived */
	struct event *ask_ev;  /* a worker's first ask waits a heartbeat */
	int asked;             /* this job's first ask has been answered */
	uint64_t repair_until; /* this host: a local repair's verify deadline */
	uint64_t repair_wall;  /* when that repair flagged its services */
};

struct revive {
	struct event_base *base;
	const struct conf *conf;
	size_t self;
	struct evlog *ev;
	struct incidents *inc;
	struct rvpool *pool;
	revive_step_cb step_cb;
	revive_would_act_cb would_act_cb;
	revive_service_cb service_cb;
	revive_silent_cb silent_cb;
	void *arg;
	struct rv_target **t; /* stable structs: timers point at them */
	size_t n;
	struct event *tick;
	uint64_t last_local_ms;
	uint64_t local_wait_ms; /* 0: guard_interval; doubled on errors */
	int local_running;
	uint64_t started_ms;
};

struct rv_manual {
	revive_done_cb done;
	void *arg;
};

static void rv_on_job(struct rvjob *, void *);
static void rv_on_timer(evutil_socket_t, short, void *);
static void rv_start_attempt(struct rv_target *);
static void rv_backoff(struct rv_target *, uint64_t, enum rv_phase);
static uint64_t rv_next_backoff(struct rv_target *);
static void rv_local_verify(struct revive *);
static void rv_on_ask_timer(evutil_socket_t, short, void *);

static void
rv_set_phase(struct rv_target *t, enum rv_phase p)
{
	t->phase = p;
	if (t->acting && t->rv->step_cb)
		t->rv->step_cb(
		    t->idx, rv_phase_names[p], t->attempt, t->rv->arg);
}

static void
rv_arm(struct rv_target *t, uint64_t ms)
{
	struct timeval tv = {
	    (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(t->timer, &tv);
}

static struct rv_target *
rv_target_new(struct revive *rv, size_t idx, const char *name)
{
	struct rv_target *t = xcalloc(1, sizeof(*t));

	t->rv = rv;
	t->idx = idx;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->timer = evtimer_new(rv->base, rv_on_timer, t);
	t->ask_ev = evtimer_new(rv->base, rv_on_ask_timer, t);
	return t;
}

static void
rv_target_free(struct rv_target *t)
{
	event_free(t->timer);
	event_free(t->ask_ev);
	free(t);
}

static size_t
rv_guards_of(const struct conf *c, size_t peer)
{
	size_t i, n = 0;

	for (i = 0; i < c->nguards; i++)
		n += c->guards[i].peer_idx == peer;
	return n;
}

/* housekeeping: own guards every guard_interval, mesh pulls, limits */
static void
rv_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct revive *rv = arg;
	const struct conf_mesh *m = &rv->conf->mesh;
	uint64_t now = clock_mono_ms();
	struct rvjob *j;
	size_t i;

	(void)fd;
	(void)what;
	if (!rv->local_running && rv_guards_of(rv->conf, rv->self) > 0 &&
	    (rv->last_local_ms == 0 ||
	        now - rv->last_local_ms >=
	            (rv->local_wait_ms > m->guard_interval_ms
	                    ? rv->local_wait_ms
	                    : m->guard_interval_ms))) {
		rv->last_local_ms = now;
		j = rvjob_new(RVJOB_LOCAL, rv->conf, rv->self, rv->self,
		    "local guard check");
		if (rvpool_submit(rv->pool, j) == 0)
			rv->local_running = 1;
		else
			rvjob_free(j);
	}
	rv_local_verify(rv);
	for (i = 0; i < rv->n; i++) {
		struct rv_target *t = rv->t[i];
		if (t->phase == RV_LIMIT && t->acting)
			rv_start_attempt(t); /* the hour may have passed */
		if (i == rv->self || t->pulling || t->acting ||
		    !rv->conf->peers[i].has_ssh ||
		    rv_guards_of(rv->conf, i) == 0)
			continue;
		if (now - rv->started_ms < RV_PULL_FIRST_MS)
			continue;
		if (t->last_pull_ms != 0 &&
		    now - t->last_pull_ms < m->mesh_backup_interval_ms)
			continue;
		if (!rv->would_act_cb(i, rv->arg))
			continue;
		t->last_pull_ms = now;
		j = rvjob_new(RVJOB_PULL, rv->conf, rv->self, i, "mesh backup");
		if (rvpool_submit(rv->pool, j) == 0)
			t->pulling = 1;
		else
			rvjob_free(j);
	}
}

struct revive *
revive_new(struct event_base *base, const struct conf *conf, size_t self,
    const char *worker, struct evlog *ev, struct incidents *inc,
    revive_step_cb step_cb, revive_would_act_cb would_act_cb, void *arg)
{
	struct revive *rv = xcalloc(1, sizeof(*rv));
	struct timeval tv = {1, 0};
	size_t i;

	rv->base = base;
	rv->conf = conf;
	rv->self = self;
	rv->ev = ev;
	rv->inc = inc;
	rv->step_cb = step_cb;
	rv->would_act_cb = would_act_cb;
	rv->arg = arg;
	rv->started_ms = clock_mono_ms();
	rv->pool = rvpool_new(base, worker, rv_on_job, rv);
	rv->n = conf->npeers;
	rv->t = xcalloc(rv->n, sizeof(*rv->t));
	for (i = 0; i < rv->n; i++)
		rv->t[i] = rv_target_new(rv, i, conf->peers[i].name);
	rv->tick = event_new(base, -1, EV_PERSIST, rv_on_tick, rv);
	event_add(rv->tick, &tv);
	return rv;
}

void
revive_free(struct revive *rv)
{
	size_t i;

	if (rv == NULL)
		return;
	event_free(rv->tick);
	rvpool_free(rv->pool);
	for (i = 0; i < rv->n; i++)
		rv_target_free(rv->t[i]);
	free(rv->t);
	free(rv);
}

/* Targets are matched by name and kept whole (phase, timers, the hourly
 * count): a reload must not restart or forget a revive in progress. */
void
revive_reconf(struct revive *rv, const struct conf *conf, size_t self)
{
	struct rv_target **old = rv->t;
	size_t i, j, nold = rv->n;

	rv->conf = conf;
	rv->self = self;
	rv->n = conf->npeers;
	rv->t = xcalloc(rv->n, sizeof(*rv->t));
	for (i = 0; i < rv->n; i++) {
		for (j = 0; j < nold; j++) {
			if (old[j] == NULL ||
			    strcmp(old[j]->name, conf->peers[i].name) != 0)
				continue;
			rv->t[i] = old[j];
			rv->t[i]->idx = i;
			old[j] = NULL;
			break;
		}
		if (rv->t[i] == NULL)
			rv->t[i] = rv_target_new(rv, i, conf->peers[i].name);
	}
	/* a peer gone from the config: a job still running for it finds no
	 * target by name and is only logged */
	for (j = 0; j < nold; j++)
		if (old[j] != NULL)
			rv_target_free(old[j]);
	free(old);
}

static struct rv_target *
rv_find(struct revive *rv, const char *name)
{
	size_t i;

	for (i = 0; i < rv->n; i++)
		if (strcmp(rv->t[i]->name, name) == 0)
			return rv->t[i];
	return NULL;
}

static void
rv_prune(struct rv_target *t, uint64_t now)
{
	size_t i, k = 0;

	for (i = 0; i < t->nrevives; i++)
		if (now - t->revives[i] < REVIVE_LIMIT_WINDOW_MS)
			t->revives[k++] = t->revives[i];
	t->nrevives = k;
}

static void
rv_start_attempt(struct rv_target *t)
{
	struct revive *rv = t->rv;
	const struct conf_peer *p = &rv->conf->peers[t->idx];
	uint64_t now = clock_wall_ms();
	struct rvjob *j;

	if (t->running)
		return;
	if (!p->has_ssh) {
		incident_raise(rv->inc, "no_ssh", t->name, now,
		    "%s is down and "
		    "has no ssh line: nothing can revive it from here",
		    t->name);
		/* look again later under a new attempt number, so the mesh
		 * sees this peer is still acting, not stuck (membership) */
		t->attempt++;
		rv_backoff(t, REVIVE_ESCALATED_RETRY_MS, RV_ESCALATED);
		return;
	}
	rv_prune(t, clock_mono_ms());
	if (t->nrevives >= rv->conf->mesh.max_revives_per_hour) {
		if (t->phase != RV_LIMIT)
			incident_raise(rv->inc, "revive_limit", t->name, now,
			    "%s: %zu revives in the last hour (max %u); no "
			    "more "
			    "attempts until the hour passes or `peerwatch "
			    "revive %s`",
			    t->name, t->nrevives,
			    rv->conf->mesh.max_revives_per_hour, t->name);
		rv_set_phase(t, RV_LIMIT);
		return;
	}
	t->attempt++;
	j = rvjob_new(RVJOB_REVIVE, rv->conf, rv->self, t->idx,
	    "silent: confirmed down by quorum");
	j->peer_silent = 1;
	evlog_write_new(rv->ev, "revive_start", t->name, "connecting over SSH",
	    json_pack("{sisssi}", "attempt", (int)t->attempt, "ssh",
	        p->ssh_host, "port", (int)p->ssh_port));
	if (rvpool_submit(rv->pool, j) == -1) {
		rvjob_free(j);
		rv_backoff(t, rv_next_backoff(t), RV_BACKOFF);
		return;
	}
	t->running = 1;
	t->job = j;
	t->asked = 0;
	rv_set_phase(t, RV_RUNNING);
}

void
revive_act_start(struct revive *rv, size_t idx)
{
	struct rv_target *t;

	if (idx >= rv->n || (t = rv->t[idx])->acting)
		return;
	t->acting = 1;
	t->attempt = 0;
	t->backoff_ms = 0;
	rv_start_attempt(t);
}

void
revive_act_stop(struct revive *rv, size_t idx, int alive)
{
	struct rv_target *t;

	if (idx >= rv->n)
		return;
	t = rv->t[idx];
	t->acting = 0;
	/* verifying: the flags are out and the restart may still come (a
	 * new incarnation ends it as revive_ok), so the verify timer keeps
	 * running, or a peer back without a restart would stay 'verifying'
	 * for good and a restart much later be counted as this revive */
	if (t->phase != RV_VERIFYING) {
		evtimer_del(t->timer);
		t->phase = RV_IDLE;
	}
	if (alive && t->running && t->job != NULL && !t->aborting &&
	    rvpool_cancel(rv->pool, t->job) == 0) {
		t->aborting = 1;
		log_info("peer=%s heard again: its revive is told to stop "
		         "before its next write",
		    t->name);
	}
	/* another peer took over, or this one lost quorum: the incidents
	 * stay open; only the peer's return closes them */
	if (alive)
		incident_close_peer(rv->inc, t->name, "peer is alive again");
}

/*
 * The services the target's guards name ("service = app@h3"), each with
 * what the target last reported: into buf as "app@h3 up, web@h3 down";
 * returns how many are not up (0 when all are, or none is named).
 */
static int
rv_services(struct revive *rv, struct rv_target *t, char *buf, size_t len)
{
	const struct conf *c = rv->conf;
	const struct conf_service *sv;
	const char *st;
	size_t i, n = 0;
	int down = 0;

	buf[0] = '\0';
	for (i = 0; i < c->nguards; i++) {
		if (c->guards[i].peer_idx != t->idx ||
		    c->guards[i].service_idx < 0)
			continue;
		sv = &c->services[c->guards[i].service_idx];
		st = rv->service_cb ? rv->service_cb(t->idx, sv->name,
		                          t->repair_wall, rv->arg)
		                    : NULL;
		if (st == NULL || st[0] != 'u')
			down++;
		if (n < len)
			n += (size_t)snprintf(buf + n, len - n, "%s%s@%s %s",
			    n ? ", " : "", sv->name, t->name,
			    st == NULL     ? "not reported"
			    : st[0] == 'u' ? "up"
			    : st[0] == 'd' ? "down"
			                   : "starting");
	}
	return down;
}

/* the revive is done: the target restarted and what its guards configure
 * is up again */
static void
rv_revive_ok(struct revive *rv, struct rv_target *t, const char *services)
{
	uint64_t secs;
	char detail[1024];

	evtimer_del(t->timer);
	t->await_services = 0;
	secs = (clock_mono_ms() - t->verify_start_ms + 500) / 1000;
	snprintf(detail, sizeof(detail), "%s%s%s",
	    t->restored[0] ? t->restored : "peerwatch restarted",
	    services[0] ? "; " : "", services);
	evlog_write_new(rv->ev, "revive_ok", t->name, detail,
	    json_pack("{sIsi}", "seconds", (json_int_t)secs, "attempt",
	        (int)t->attempt));
	snprintf(t->last_outcome, sizeof(t->last_outcome), "revived in %llu s",
	    (unsigned long long)secs);
	incident_close_peer(rv->inc, t->name, "revived");
	snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail),
	    " (in %llu s)", (unsigned long long)secs);
	incident_note(rv->inc, "revive_ok", t->name, detail);
	t->phase = RV_IDLE;
	if (t->acting && rv->step_cb)
		rv->step_cb(t->idx, "done", t->attempt, rv->arg);
}

void
revive_peer_restarted(struct revive *rv, size_t idx)
{
	struct rv_target *t;
	char services[512];

	if (idx >= rv->n)
		return;
	t = rv->t[idx];
	if (t->phase != RV_VERIFYING)
		return;
	t->restarted_ms = clock_mono_ms();
	if (rv_services(rv, t, services, sizeof(services)) > 0) {
		/* its peerwatch is back; the revive is done when the
		 * services are (revive_on_status), or incomplete when
		 * revive_verify runs out first */
		t->await_services = 1;
		log_info(
		    "peer=%s restarted; waiting for %s", t->name, services);
		return;
	}
	rv_revive_ok(rv, t, services);
}

void
revive_on_status(struct revive *rv, size_t idx)
{
	struct rv_target *t;
	char services[512];

	if (idx >= rv->n)
		return;
	t = rv->t[idx];
	if (t->phase == RV_VERIFYING && t->await_services) {
		if (rv_services(rv, t, services, sizeof(services)) == 0)
			rv_revive_ok(rv, t, services);
		return;
	}
	/* an incomplete revive's services came up later after all */
	if (incident_is_open(rv->inc, "revive_incomplete", t->name) &&
	    rv_services(rv, t, services, sizeof(services)) == 0) {
		evlog_write(
		    rv->ev, "revive_completed", t->name, services, NULL);
		incident_close(rv->inc, "revive_incomplete", t->name, services);
	}
}

void
revive_set_service_cb(struct revive *rv, revive_service_cb cb)
{
	rv->service_cb = cb;
}

static int
rv_silent(struct revive *rv, struct rv_target *t)
{
	return rv->silent_cb == NULL || rv->silent_cb(t->idx, rv->arg);
}

/* the first ask's wait is over: silent for a whole heartbeat period */
static void
rv_on_ask_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rv_target *t = arg;

	(void)fd;
	(void)what;
	if (t->running && t->job != NULL)
		rvpool_answer(
		    t->rv->pool, t->job, !t->aborting && rv_silent(t->rv, t));
}

/*
 * A worker is about to write on a target it revives as silent. The link
 * may have come back the instant SSH connected, with the target's next
 * heartbeat still on its way: the first ask of a job is answered after
 * one and a half heartbeat periods (go if still silent then), later ones
 * at once.
 */
static void
rv_on_ask(const struct rvjob *j, void *arg)
{
	struct revive *rv = arg;
	struct rv_target *t = rv_find(rv, j->target_name);
	uint64_t ms = rv->conf->mesh.interval_ms * 3 / 2;
	struct timeval tv = {
	    (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	if (t == NULL || t->job != j) {
		rvpool_answer(rv->pool, j, 0);
		return;
	}
	if (!rv_silent(rv, t) || t->asked) {
		rvpool_answer(rv->pool, j, rv_silent(rv, t));
		return;
	}
	t->asked = 1;
	evtimer_add(t->ask_ev, &tv);
}

void
revive_set_silent_cb(struct revive *rv, revive_silent_cb cb)
{
	rv->silent_cb = cb;
	rvpool_set_ask_cb(rv->pool, rv_on_ask);
}

static void
rv_backoff(struct rv_target *t, uint64_t ms, enum rv_phase phase)
{
	if (!t->acting) {
		t->phase = RV_IDLE;
		return;
	}
	rv_set_phase(t, phase);
	rv_arm(t, ms);
}

static uint64_t
rv_next_backoff(struct rv_target *t)
{
	t->backoff_ms = t->backoff_ms ? t->backoff_ms * 2 : RV_BACKOFF_MIN_MS;
	if (t->backoff_ms > RV_BACKOFF_MAX_MS)
		t->backoff_ms = RV_BACKOFF_MAX_MS;
	return t->backoff_ms;
}

static void
rv_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct rv_target *t = arg;
	struct revive *rv = t->rv;

	(void)fd;
	(void)what;
	if (t->phase == RV_VERIFYING && t->await_services) {
		char services[512];

		rv_services(rv, t, services, sizeof(services));
		t->await_services = 0;
		evlog_writef(rv->ev, "revive_incomplete", t->name, NULL,
		    "%s back, but not all it runs: %s, %llu s after the "
		    "restore",
		    t->name, services,
		    (unsigned long long)rv->conf->mesh.revive_verify_ms / 1000);
		incident_raise(rv->inc, "revive_incomplete", t->name,
		    clock_wall_ms(), "%s restarted, but %s after %llu s",
		    t->name, services,
		    (unsigned long long)rv->conf->mesh.revive_verify_ms / 1000);
		snprintf(t->last_outcome, sizeof(t->last_outcome),
		    "incomplete: %s", services);
		t->phase = RV_IDLE;
		if (t->acting && rv->step_cb)
			rv->step_cb(t->idx, "done", t->attempt, rv->arg);
		return;
	}
	if (t->phase == RV_VERIFYING && !t->acting) {
		/* it answers again, but its service manager did not restart
		 * it on the flag: say so; nothing to escalate, it is up */
		evlog_writef(rv->ev, "revive_unconfirmed", t->name, NULL,
		    "%s answers again but did not restart within %llu s of "
		    "its revive flag: is its path unit (or launchd job) "
		    "installed?",
		    t->name,
		    (unsigned long long)rv->conf->mesh.revive_verify_ms / 1000);
		t->phase = RV_IDLE;
		return;
	}
	if (t->phase == RV_VERIFYING) {
		evlog_writef(rv->ev, "revive_failed", t->name, NULL,
		    "no heartbeat with a new incarnation within %llu s",
		    (unsigned long long)rv->conf->mesh.revive_verify_ms / 1000);
		incident_raise(rv->inc, "revive_failed", t->name,
		    clock_wall_ms(),
		    "%s did not come back within %llu s of "
		    "its revive flag",
		    t->name,
		    (unsigned long long)rv->conf->mesh.revive_verify_ms / 1000);
		t->phase = RV_IDLE;
	}
	if (t->acting)
		rv_start_attempt(t);
}

/* events for each guard's outcome; returns how many were restored. A
 * stopped job reports only what it restored: the rest was cut short on
 * purpose and is neither invalid nor an incident. */
static int
rv_report_guards(
    struct revive *rv, struct rvjob *j, struct rv_target *t, int stopped)
{
	uint64_t now = clock_wall_ms();
	char summary[sizeof(t->restored)] = "";
	int restored = 0;
	size_t i, n = 0;

	for (i = 0; i < j->nguards; i++) {
		struct rvjob_guard *g = &j->guards[i];
		char subj[2 * CONF_NAME_MAX + 2];
		const struct guard_result *r = &g->res;
		json_t *f = json_pack("{ss}", "guard", g->g.name);

		snprintf(subj, sizeof(subj), "%s@%s", g->g.name, g->g.peer);
		if (stopped && r->outcome != GUARD_RESTORED) {
			json_decref(f);
			continue;
		}
		if (r->outcome != GUARD_VALID)
			evlog_write(rv->ev, "config_invalid", j->target_name,
			    r->invalid_reason, f);
		switch (r->outcome) {
		case GUARD_VALID:
			incident_close(rv->inc, NULL, subj, "config valid");
			break;
		case GUARD_WOULD_RESTORE: /* dry runs are never reported */
			break;
		case GUARD_RESTORED:
			restored++;
			json_object_set_new(
			    f, "source", json_string(r->source));
			json_object_set_new(
			    f, "broken_copy", json_string(r->broken_copy));
			if (r->warning[0] != '\0')
				json_object_set_new(
				    f, "warning", rvjob_text(r->warning));
			evlog_writef(rv->ev, "config_restored", j->target_name,
			    f, "%s restored from %s%s%s", subj, r->source,
			    r->warning[0] ? ", but " : "", r->warning);
			if (n < sizeof(summary) - 1)
				n += (size_t)snprintf(summary + n,
				    sizeof(summary) - n, "%s%s from %s",
				    n ? "; " : "", g->g.name, r->source);
			incident_close(rv->inc, NULL, subj, "config restored");
			if (r->warning[0] != '\0')
				incident_raise(rv->inc, "restore_incomplete",
				    subj, now, "%s restored from %s, but %s",
				    subj, r->source, r->warning);
			break;
		case GUARD_NO_SOURCE:
			incident_raise(rv->inc, "no_valid_backup", subj, now,
			    "every backup of %s is invalid (%s); file left as "
			    "it is",
			    subj, r->detail);
			break;
		case GUARD_ERROR:
			incident_raise(rv->inc, "restore_failed", subj, now,
			    "restoring %s failed: %s", subj, r->detail);
			break;
		}
		json_decref(f);
	}
	if (t)
		snprintf(t->restored, sizeof(t->restored), "%s", summary);
	return restored;
}

static void
rv_report_flags(struct revive *rv, struct rvjob *j)
{
	json_t *flags = json_array();
	size_t i;

	for (i = 0; i < j->nguards; i++) {
		if (j->guards[i].flag_written)
			json_array_append_new(
			    flags, json_string(j->guards[i].g.flag));
		else if (j->guards[i].err[0])
			log_warnx("peer=%s flag %s not written: %s",
			    j->target_name, j->guards[i].g.flag,
			    j->guards[i].err);
	}
	if (j->peer_flag_written)
		json_array_append_new(flags, json_string(j->revive_flag));
	if (json_array_size(flags) > 0)
		evlog_writef_new(rv->ev, "flag_dropped", j->target_name,
		    json_pack("{so}", "flags", flags), "%zu flag%s written",
		    json_array_size(flags),
		    json_array_size(flags) == 1 ? "" : "s");
	else
		json_decref(flags);
}

static void
rv_ssh_failed(struct revive *rv, struct rvjob *j, struct rv_target *t)
{
	const char *kind = j->fail == SFTP_UNREACHABLE ? "unreachable"
	                   : j->fail == SFTP_HOSTKEY   ? "hostkey"
	                                               : "ssh_failed";

	evlog_write_new(rv->ev, "revive_failed", j->target_name, j->err,
	    json_pack("{sssi}", "reason", kind, "attempt", (int)t->attempt));
	incident_raise(rv->inc, kind, j->target_name, clock_wall_ms(),
	    "%s %s: %s", j->target_name,
	    j->fail == SFTP_UNREACHABLE ? "is unreachable over SSH"
	    : j->fail == SFTP_HOSTKEY
	        ? "presented an unknown or changed host key; nothing written"
	        : "SSH failed",
	    j->err);
	rv_backoff(t, rv_next_backoff(t), RV_BACKOFF);
}

/* the target was heard again while its revive ran (revive_act_stop) */
static void
rv_revive_aborted(struct revive *rv, struct rvjob *j, struct rv_target *t)
{
	int restored = 0, flags = j->peer_flag_written;
	size_t i;

	if (j->fail == SFTP_OK)
		restored = rv_report_guards(rv, j, t, 1);
	else
		log_info("peer=%s stopped revive ended: %s", t->name, j->err);
	for (i = 0; i < j->nguards; i++)
		flags += j->guards[i].flag_written;
	rv_report_flags(rv, j);
	snprintf(t->last_outcome, sizeof(t->last_outcome),
	    "%s heard again (new heartbeat) %s%s", t->name,
	    flags ? "after its flags were written"
	          : "before any flag was written",
	    restored ? "; the restored config stays restored (broken copy "
	               "kept)"
	             : "");
	evlog_write_new(rv->ev, "revive_aborted", t->name, t->last_outcome,
	    json_pack("{sssisisi}", "reason", "heard_again", "attempt",
	        (int)t->attempt, "restored", restored, "flags_written", flags));
	/* silent again meanwhile: act_start found this job still running */
	if (t->acting)
		rv_start_attempt(t);
}

static void
rv_revive_done(struct revive *rv, struct rvjob *j, struct rv_target *t)
{
	if (j->dry_run) /* shown to the operator; changes nothing */
		return;
	t->running = 0;
	t->job = NULL;
	evtimer_del(t->ask_ev);
	/* told to stop, by a signal or by the answer to its ask */
	if (t->aborting || j->stopped) {
		t->aborting = 0;
		rv_revive_aborted(rv, j, t);
		return;
	}
	if (j->fail != SFTP_OK) {
		snprintf(t->last_outcome, sizeof(t->last_outcome), "%s: %s",
		    sftp_fail_name(j->fail), j->err);
		rv_ssh_failed(rv, j, t);
		return;
	}
	incident_close(rv->inc, "unreachable", t->name, "SSH reachable");
	incident_close(rv->inc, "hostkey", t->name, "host key accepted");
	rv_report_guards(rv, j, t, 0);
	rv_report_flags(rv, j);
	if (rvjob_all_good(j) && !j->peer_silent) {
		/* an operator's revive of a peer not confirmed down: its
		 * configs are checked, its peerwatch is left running */
		snprintf(t->last_outcome, sizeof(t->last_outcome),
		    "configs checked; peerwatch left running (not confirmed "
		    "down)");
		t->phase = RV_IDLE;
		return;
	}
	if (!rvjob_all_good(j) || !j->peer_flag_written) {
		snprintf(t->last_outcome, sizeof(t->last_outcome), "%s",
		    rvjob_all_good(j) ? j->err : "no valid config: escalated");
		evlog_write(
		    rv->ev, "revive_failed", t->name, t->last_outcome, NULL);
		rv_backoff(t,
		    rvjob_all_good(j) ? rv_next_backoff(t)
		                      : REVIVE_ESCALATED_RETRY_MS,
		    rvjob_all_good(j) ? RV_BACKOFF : RV_ESCALATED);
		return;
	}
	t->revives[t->nrevives < RV_MAX_REVIVES ? t->nrevives++
	                                        : RV_MAX_REVIVES - 1] =
	    clock_mono_ms();
	t->verify_start_ms = clock_mono_ms() - j->elapsed_ms;
	rv_set_phase(t, RV_VERIFYING);
	rv_arm(t, rv->conf->mesh.revive_verify_ms);
}

static json_t *
rv_result_json(const struct rvjob *j)
{
	json_t *gs = json_array();
	size_t i;

	for (i = 0; i < j->nguards; i++) {
		const struct guard_result *r = &j->guards[i].res;
		json_array_append_new(gs,
		    json_pack("{sssosssosososo}", "guard", j->guards[i].g.name,
		        "file", rvjob_text(j->guards[i].g.file), "outcome",
		        guard_outcome_name(r->outcome), "source",
		        rvjob_text(r->source), "invalid_reason",
		        rvjob_text(r->invalid_reason), "detail",
		        rvjob_text(r->detail), "warning",
		        rvjob_text(r->warning)));
	}
	return json_pack("{sssbsssososbsosbsI}", "peer", j->target_name,
	    "dry_run", j->dry_run, "ssh", sftp_fail_name(j->fail), "error",
	    rvjob_text(j->err), "guards", gs, "flag_written",
	    j->peer_flag_written, "flags", rvjob_flags_json(j), "stopped",
	    j->stopped, "elapsed_ms", (json_int_t)j->elapsed_ms);
}

static void
rv_pull_done(struct revive *rv, struct rvjob *j, struct rv_target *t)
{
	size_t i;

	t->pulling = 0;
	if (j->fail != SFTP_OK) {
		log_info(
		    "peer=%s mesh backup skipped: %s", j->target_name, j->err);
		t->last_pull_ms = clock_mono_ms() -
		                  rv->conf->mesh.mesh_backup_interval_ms +
		                  10000;
		return;
	}
	for (i = 0; i < j->nguards; i++) {
		struct rvjob_guard *g = &j->guards[i];
		if (g->stored == 1)
			evlog_writef_new(rv->ev, "mesh_backup", j->target_name,
			    json_pack("{ss}", "guard", g->g.name),
			    "stored a valid copy of %s", g->g.file);
		else if (g->stored == -1)
			log_info("peer=%s mesh backup of %s not stored: %s",
			    j->target_name, g->g.name, g->err);
	}
}

/*
 * A local repair that failed (a rename refused with EBUSY or ENOSPC, a
 * symlinked file) would fail the same way every guard_interval: the
 * wait doubles up to RV_LOCAL_BACKOFF_MAX_MS, and a clean run resets it.
 */
static void
rv_local_backoff(struct revive *rv, const struct rvjob *j)
{
	uint64_t base = rv->conf->mesh.guard_interval_ms;
	size_t i;

	for (i = 0; i < j->nguards; i++)
		if (j->guards[i].res.outcome == GUARD_ERROR)
			break;
	if (i == j->nguards) {
		rv->local_wait_ms = 0;
		return;
	}
	rv->local_wait_ms =
	    rv->local_wait_ms > base ? 2 * rv->local_wait_ms : 2 * base;
	if (rv->local_wait_ms > RV_LOCAL_BACKOFF_MAX_MS)
		rv->local_wait_ms = RV_LOCAL_BACKOFF_MAX_MS;
	log_info("local guard check: %s failed (%s); next check in %llu s",
	    j->guards[i].g.name, j->guards[i].res.detail,
	    (unsigned long long)(rv->local_wait_ms / 1000));
}

static void
rv_local_done(struct revive *rv, struct rvjob *j)
{
	struct rv_target *t = rv->t[rv->self];
	char services[512];
	size_t i;

	rv->local_running = 0;
	if (rv_report_guards(rv, j, NULL, 0) > 0) {
		rv_report_flags(rv, j);
		/* the same rule as a revive: done when the services the
		 * repaired guards configure are up again */
		for (i = 0; i < j->nguards; i++)
			if (j->guards[i].flag_written &&
			    j->guards[i].g.service_idx >= 0)
				break;
		if (i < j->nguards &&
		    rv_services(rv, t, services, sizeof(services)) >= 0) {
			t->repair_wall = clock_wall_ms();
			t->repair_until =
			    clock_mono_ms() + rv->conf->mesh.revive_verify_ms;
		}
	}
	rv_local_backoff(rv, j);
}

/* a local repair's services: up (repair_ok), or not in time */
static void
rv_local_verify(struct revive *rv)
{
	struct rv_target *t = rv->t[rv->self];
	char services[512], subj[2 * CONF_NAME_MAX + 2];
	uint64_t secs;

	if (t->repair_until == 0) {
		/* an incomplete repair's services came up after all */
		if (incident_is_open(rv->inc, "repair_incomplete", t->name) &&
		    rv_services(rv, t, services, sizeof(services)) == 0) {
			evlog_write(rv->ev, "repair_completed", t->name,
			    services, NULL);
			incident_close(
			    rv->inc, "repair_incomplete", t->name, services);
		}
		return;
	}
	secs = (clock_wall_ms() - t->repair_wall + 500) / 1000;
	if (rv_services(rv, t, services, sizeof(services)) == 0) {
		t->repair_until = 0;
		evlog_writef(rv->ev, "repair_ok", t->name, NULL,
		    "%s after %llu s", services, (unsigned long long)secs);
		incident_close(rv->inc, "repair_incomplete", t->name, services);
		return;
	}
	if (clock_mono_ms() < t->repair_until)
		return;
	t->repair_until = 0;
	snprintf(subj, sizeof(subj), "%s", t->name);
	evlog_writef(rv->ev, "repair_incomplete", t->name, NULL,
	    "config repaired %llu s ago, but %s", (unsigned long long)secs,
	    services);
	incident_raise(rv->inc, "repair_incomplete", subj, clock_wall_ms(),
	    "%s repaired its config, but %s after %llu s", t->name, services,
	    (unsigned long long)secs);
}

static void
rv_on_job(struct rvjob *j, void *arg)
{
	struct revive *rv = arg;
	struct rv_target *t = rv_find(rv, j->target_name);
	struct rv_manual *m = j->done;
	json_t *res;

	if (j->kind == RVJOB_LOCAL)
		rv_local_done(rv, j);
	else if (t == NULL)
		log_info("peer=%s job finished after the peer left the config",
		    j->target_name);
	else if (j->kind == RVJOB_PULL)
		rv_pull_done(rv, j, t);
	else
		rv_revive_done(rv, j, t);
	if (m) {
		res = rv_result_json(j);
		m->done(res, m->arg);
		json_decref(res);
		free(m);
	}
	rvjob_free(j);
}

int
revive_manual(struct revive *rv, size_t idx, int dry_run, revive_done_cb done,
    void *arg, char *err, size_t errlen)
{
	struct rv_target *t;
	struct rv_manual *m;
	struct rvjob *j;

	if (idx >= rv->n || idx == rv->self) {
		snprintf(err, errlen, "cannot revive this host itself");
		return -1;
	}
	t = rv->t[idx];
	if (!rv->conf->peers[idx].has_ssh) {
		snprintf(err, errlen, "%s has no ssh line", t->name);
		return -1;
	}
	if (t->running) {
		snprintf(
		    err, errlen, "a revive of %s is already running", t->name);
		return -1;
	}
	j = rvjob_new(RVJOB_REVIVE, rv->conf, rv->self, idx,
	    dry_run ? "operator: dry run" : "operator: peerwatch revive");
	j->dry_run = dry_run;
	j->manual = 1;
	/* its peerwatch is restarted only if this host saw it confirmed
	 * down and acts for it: an operator's revive of a live peer
	 * restores configs and restarts only their services */
	j->peer_silent = t->acting;
	m = xmalloc(sizeof(*m));
	m->done = done;
	m->arg = arg;
	j->done = m;
	if (rvpool_submit(rv->pool, j) == -1) {
		free(m);
		rvjob_free(j);
		snprintf(err, errlen, "cannot start a heal worker");
		return -1;
	}
	evlog_writef_new(rv->ev, "revive_start", t->name,
	    json_pack("{sbsb}", "manual", 1, "dry_run", dry_run),
	    "operator asked%s", dry_run ? " (dry run)" : "");
	if (!dry_run) {
		t->nrevives = 0; /* the operator lifts the limit */
		evtimer_del(t->timer);
		t->running = 1;
		t->job = j;
		t->asked = 0;
		t->attempt++;
		rv_set_phase(t, RV_RUNNING);
	}
	return 0;
}

json_t *
revive_status_json(const struct revive *rv)
{
	json_t *o = json_object();
	size_t i;

	for (i = 0; i < rv->n; i++) {
		const struct rv_target *t = rv->t[i];
		if (i == rv->self || (t->phase == RV_IDLE && t->nrevives == 0 &&
		                         t->last_outcome[0] == '\0'))
			continue;
		json_object_set_new(o, t->name,
		    json_pack("{sssisisbss}", "phase", rv_phase_names[t->phase],
		        "attempt", (int)t->attempt, "revives_this_hour",
		        (int)t->nrevives, "acting", t->acting, "last_outcome",
		        t->last_outcome));
	}
	return o;
}

char *
revive_worker_path(const char *self_exe)
{
	static const char *rel[] = {
	    "peerwatch-heal", "../libexec/peerwatch-heal"};
	const char *env = getenv("PEERWATCH_HEAL");
	char *dir, *p;
	size_t i;

	if (env && *env)
		return xstrdup(env);
	/* beside the binary (the build tree), then ../libexec (an install,
	 * wherever its prefix went) */
	if (self_exe && (p = strrchr(self_exe, '/')) != NULL) {
		dir = xstrndup(self_exe, (size_t)(p - self_exe));
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			p = xasprintf("%s/%s", dir, rel[i]);
			if (access(p, X_OK) == 0) {
				free(dir);
				return p;
			}
			free(p);
		}
		free(dir);
	}
	return xstrdup(PW_LIBEXECDIR "/peerwatch-heal");
}
