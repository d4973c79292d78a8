/* SPDX-License-Identifier: ISC */
/*
 * loop: wires the modules together on one libevent loop. Modules report
 * upward through callbacks whose arg is the struct loop; the loop turns
 * them into calls on other modules, so no module knows another's insides.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <sodium.h>

#include "common/clock.h"
#include "common/evlog.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "heal/alert.h"
#include "heal/incident.h"
#include "heal/ollama/failover.h"
#include "heal/revive.h"
#include "heal/cmdrun.h"
#include "heal/resguard.h"
#include "heal/watch.h"
#include "peer/ctl.h"
#include "peer/loop.h"
#include "peer/membership.h"
#include "peer/sleepwatch.h"
#include "peer/status.h"
#include "transport/hb.h"
#include "transport/wire.h"

struct loop {
	struct event_base *base;
	char *conf_path;
	char *name;
	struct conf *conf;
	size_t self;
	unsigned char *sk; /* sodium_malloc'd */
	struct evlog *ev;
	struct hb *hb;
	struct membership *mb;
	struct status *status;
	struct ctl *ctl;
	struct incidents *inc;
	struct alert *alert;     /* NULL: Telegram not configured */
	int had_quorum;          /* quorum_lost is raised only after it held */
	int quorum_raised;       /* the quorum_lost incident is open */
	uint64_t quorum_lost_ms; /* mono: lost since, 0 while held */
	struct revive *rv;
	struct failover *fo; /* NULL: no peer has an ollama URL */
	struct watch *watch;
	struct sleepwatch *sw; /* the system's sleep notices (macOS) */
	struct event
	    *sleep_ev; /* lets the system sleep once the notice is out */
	struct resguard *rg;
	struct event *tick_ev, *sigterm_ev, *sigint_ev, *sighup_ev;
	uint64_t started_ms;
	uint64_t reloads, reload_failures;
	char *worker; /* peerwatch-heal */
};

static void
loop_on_member_event(enum membership_event e, size_t peer, void *arg)
{
	struct loop *l = arg;

	switch (e) {
	case MEMBERSHIP_EV_VIEW_CHANGED:
		hb_kick(l->hb);
		break;
	case MEMBERSHIP_EV_ACT_START:
		revive_act_start(l->rv, peer);
		break;
	case MEMBERSHIP_EV_ACT_STOP:
		revive_act_stop(l->rv, peer,
		    membership_state_of(l->mb, peer) == MEMBERSHIP_ALIVE);
		break;
	case MEMBERSHIP_EV_RESTARTED:
		revive_peer_restarted(l->rv, peer);
		break;
	}
}

static void
loop_on_revive_step(
    size_t target, const char *step, unsigned attempt, void *arg)
{
	struct loop *l = arg;

	membership_set_step(l->mb, target, step, attempt, clock_wall_ms());
}

static int
loop_would_act(size_t target, void *arg)
{
	struct loop *l = arg;

	return membership_would_act(l->mb, target) &&
	       membership_state_of(l->mb, target) == MEMBERSHIP_ALIVE;
}

static const char *
loop_service_state(
    size_t target, const char *service, uint64_t since_wall, void *arg)
{
	struct loop *l = arg;

	if (target == l->self)
		return watch_service_state(l->watch, service, since_wall);
	return membership_service_state(l->mb, target, service);
}

static int
loop_still_silent(size_t target, void *arg)
{
	struct loop *l = arg;

	return membership_state_of(l->mb, target) != MEMBERSHIP_ALIVE;
}

static void
loop_on_heartbeat(const struct hb_msg *msg, void *arg)
{
	struct loop *l = arg;

	membership_note_seq(l->mb, msg->peer, msg->incarnation, msg->seq);
	membership_on_heartbeat(l->mb, msg->peer, msg->incarnation,
	    msg->sent_at_ms, msg->new_incarnation, msg->payload,
	    clock_mono_ms(), clock_wall_ms());
	failover_on_payload(l->fo, msg->peer, msg->payload);
	alert_on_heartbeat(
	    l->alert, l->conf->peers[msg->peer].name, msg->payload);
	if (msg->payload != NULL)
		revive_on_status(l->rv, msg->peer);
}

/* the local Ollama's report, or the incidents delivered, changed */
static void
loop_on_payload_change(void *arg)
{
	struct loop *l = arg;

	hb_kick(l->hb);
}

static void
loop_on_watch_change(void *arg)
{
	struct loop *l = arg;

	hb_kick(l->hb);
	/* the local Ollama may be the service that changed: the failover
	 * endpoint's view of it follows at once, not a probe later */
	failover_probe_now(l->fo);
}

/* the services get at most this much of the datagram, the resource
 * figures this much, Ollama the rest */
#define LOOP_SV_BUDGET 400
#define LOOP_RES_BUDGET 200
#define LOOP_AL_BUDGET 150 /* the incidents delivered (alert.h) */

/* what is left of the datagram after the header, the name, the signature
 * and the status so far (p), at most want */
static size_t
loop_room(const struct loop *l, const char *p, size_t want)
{
	size_t used = WIRE_HDR_LEN + 1 + strlen(l->conf->peers[l->self].name) +
	              WIRE_SIG_LEN + strlen(p) + 16;

	if (used >= WIRE_MAX)
		return 0;
	return WIRE_MAX - used < want ? WIRE_MAX - used : want;
}

static const char *
loop_status_payload(void *arg)
{
	struct loop *l = arg;
	const char *p = membership_payload(l->mb);

	p = watch_payload(l->watch, p, loop_room(l, p, LOOP_SV_BUDGET));
	p = resguard_payload(l->rg, p, loop_room(l, p, LOOP_RES_BUDGET));
	p = alert_payload(l->alert, p, loop_room(l, p, LOOP_AL_BUDGET));
	return failover_payload(l->fo, p, l->conf->peers[l->self].name);
}

static json_t *
loop_status_json(void *arg)
{
	struct loop *l = arg;
	const struct hb_counters *c = hb_counters(l->hb);
	json_t *o = membership_status_json(l->mb, clock_mono_ms());
	json_t *drops = json_object();
	int d;

	for (d = 1; d < WIRE_NDROPS; d++)
		json_object_set_new(drops, wire_drop_name(d),
		    json_integer((json_int_t)c->drops[d]));
	json_object_set_new(o, "drops", drops);
	json_object_set_new(o, "heartbeats",
	    json_pack("{sIsIsIsIsI}", "sent", (json_int_t)c->sent, "received",
	        (json_int_t)c->received, "bytes_sent",
	        (json_int_t)c->bytes_sent, "send_errors",
	        (json_int_t)c->send_errors, "replay_saves",
	        (json_int_t)c->replay_saves));
	json_object_set_new(o, "incidents", incidents_json(l->inc));
	json_object_set_new(o, "alerts",
	    l->alert ? alert_status_json(l->alert)
	             : json_pack("{sb}", "enabled", 0));
	json_object_set_new(o, "revive", revive_status_json(l->rv));
	json_object_set_new(o, "uptime_ms",
	    json_integer((json_int_t)(clock_mono_ms() - l->started_ms)));
	json_object_set_new(o, "config", json_string(l->conf->path));
	if (l->fo != NULL)
		json_object_set_new(o, "ollama", failover_status_json(l->fo));
	json_object_set_new(o, "services", watch_status_json(l->watch));
	json_object_set_new(o, "resources", resguard_status_json(l->rg));
	return o;
}

/* GET /events: from the event log's in-memory ring, never the file */
static char *
loop_events(size_t n, void *arg)
{
	struct loop *l = arg;

	return evlog_recent(l->ev, n);
}

static char *
loop_metrics(void *arg)
{
	struct loop *l = arg;
	const struct hb_counters *c = hb_counters(l->hb);
	struct metrics *m = metrics_new();
	uint64_t sus, down, conf, stall, resolved, held, n[3] = {0, 0, 0};
	char lab[64];
	size_t i;
	int d;

	membership_counts(l->mb, &sus, &down, &conf, &stall, &resolved, &held);
	for (i = 0; i < l->conf->npeers; i++)
		if (i != l->self)
			n[membership_state_of(l->mb, i)]++;
	metrics_family(m, "peerwatch_heartbeats_sent_total", "counter",
	    "Heartbeat datagrams sent, to all peers.");
	metrics_u64(m, "peerwatch_heartbeats_sent_total", NULL, c->sent);
	metrics_family(m, "peerwatch_heartbeats_full_sent_total", "counter",
	    "Heartbeats sent with the full status payload.");
	metrics_u64(
	    m, "peerwatch_heartbeats_full_sent_total", NULL, c->sent_full);
	metrics_family(m, "peerwatch_heartbeat_sent_bytes_total", "counter",
	    "Bytes of heartbeat datagrams sent (UDP payload).");
	metrics_u64(
	    m, "peerwatch_heartbeat_sent_bytes_total", NULL, c->bytes_sent);
	metrics_family(m, "peerwatch_heartbeats_received_total", "counter",
	    "Heartbeats received that passed every check.");
	metrics_u64(
	    m, "peerwatch_heartbeats_received_total", NULL, c->received);
	metrics_family(m, "peerwatch_heartbeat_received_bytes_total", "counter",
	    "Bytes of heartbeat datagrams received (UDP payload).");
	metrics_u64(m, "peerwatch_heartbeat_received_bytes_total", NULL,
	    c->bytes_received);
	metrics_family(m, "peerwatch_heartbeat_send_errors_total", "counter",
	    "Heartbeat sends the kernel refused.");
	metrics_u64(
	    m, "peerwatch_heartbeat_send_errors_total", NULL, c->send_errors);
	metrics_family(m, "peerwatch_heartbeat_drops_total", "counter",
	    "Datagrams dropped before any state change, by reason.");
	for (d = 1; d < WIRE_NDROPS; d++) {
		snprintf(lab, sizeof(lab), "reason=\"%s\"", wire_drop_name(d));
		metrics_u64(
		    m, "peerwatch_heartbeat_drops_total", lab, c->drops[d]);
	}
	metrics_family(m, "peerwatch_peers", "gauge",
	    "Other peers by state in this host's view.");
	metrics_u64(m, "peerwatch_peers", "state=\"alive\"", n[0]);
	metrics_u64(m, "peerwatch_peers", "state=\"suspect\"", n[1]);
	metrics_u64(m, "peerwatch_peers", "state=\"down\"", n[2]);
	metrics_family(m, "peerwatch_has_quorum", "gauge",
	    "1 if this host hears a majority of the mesh, else 0.");
	metrics_u64(m, "peerwatch_has_quorum", NULL,
	    (uint64_t)membership_has_quorum(l->mb));
	metrics_family(m, "peerwatch_detections_total", "counter",
	    "Failure-detector transitions seen by this host.");
	metrics_u64(m, "peerwatch_detections_total", "event=\"suspect\"", sus);
	metrics_u64(m, "peerwatch_detections_total", "event=\"down\"", down);
	metrics_u64(
	    m, "peerwatch_detections_total", "event=\"confirmed_down\"", conf);
	metrics_u64(
	    m, "peerwatch_detections_total", "event=\"self_stall\"", stall);
	metrics_u64(m, "peerwatch_detections_total",
	    "event=\"suspect_resolved\"", resolved);
	metrics_u64(m, "peerwatch_detections_total",
	    "event=\"down_held_by_evidence\"", held);
	metrics_family(m, "peerwatch_config_reloads_total", "counter",
	    "SIGHUP reloads of peers.conf, by result.");
	metrics_u64(
	    m, "peerwatch_config_reloads_total", "result=\"ok\"", l->reloads);
	metrics_u64(m, "peerwatch_config_reloads_total", "result=\"failed\"",
	    l->reload_failures);
	metrics_family(m, "peerwatch_uptime_seconds", "gauge",
	    "Seconds since this daemon started.");
	metrics_u64(m, "peerwatch_uptime_seconds", NULL,
	    (clock_mono_ms() - l->started_ms) / 1000);
	if (l->fo != NULL)
		failover_metrics(l->fo, m);
	watch_metrics(l->watch, m);
	if (l->alert != NULL)
		alert_metrics(l->alert, m);
	resguard_metrics(l->rg, m);
	return metrics_finish(m);
}

static void
loop_on_manual_done(const json_t *result, void *arg)
{
	ctl_reply(arg, json_deep_copy(result));
}

static json_t *
loop_ctl_revive(struct loop *l, const json_t *req, struct ctl_req *r)
{
	const char *peer = json_string_value(json_object_get(req, "peer"));
	int dry = json_is_true(json_object_get(req, "dry_run"));
	char err[256];
	int idx;

	if (peer == NULL || (idx = conf_peer_index(l->conf, peer)) < 0)
		return json_pack("{ss}", "error", "no such peer");
	if (r == NULL) /* each answer pending is a heal worker */
		return json_pack("{ss}", "error",
		    "busy: other revive requests are running; try again");
	if (revive_manual(l->rv, (size_t)idx, dry, loop_on_manual_done, r, err,
	        sizeof(err)) == -1)
		return json_pack("{ss}", "error", err);
	return NULL;
}

static void
loop_on_alert_test(json_t *result, void *arg)
{
	ctl_reply(arg, result);
}

static json_t *
loop_ctl_alert_test(struct loop *l, struct ctl_req *r)
{
	char err[256];

	if (l->alert == NULL)
		return json_pack("{ss}", "error",
		    "escalation is off: telegram_token_file and telegram_chat "
		    "are not set");
	if (r == NULL)
		return json_pack("{ss}", "error",
		    "busy: other requests are running; try again");
	if (alert_test(l->alert, loop_on_alert_test, r, err, sizeof(err)) == -1)
		return json_pack("{ss}", "error", err);
	return NULL;
}

static void
loop_on_sleep_sent(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;

	(void)fd;
	(void)what;
	sleepwatch_ack(l->sw);
}

/* the system is about to sleep (or woke): tell the mesh, then let it */
static void
loop_on_system_sleep(int sleeping, void *arg)
{
	struct loop *l = arg;
	struct timeval tv = {0, 300 * 1000};

	log_info("system %s", sleeping ? "about to sleep" : "awake");
	membership_sleep_notice(l->mb, sleeping);
	hb_kick(l->hb);
	if (sleeping)
		evtimer_add(l->sleep_ev, &tv); /* the notice, sent twice */
}

static int
loop_service_hold(const char *key, void *arg)
{
	struct loop *l = arg;

	return membership_maintenance_until(l->mb, key) != 0;
}

/* maintenance {key, duration_ms}; sleep {sleeping} */
static json_t *
loop_ctl_hold(struct loop *l, const json_t *req, int sleep)
{
	const char *key = json_string_value(json_object_get(req, "key"));
	json_int_t ms = json_integer_value(json_object_get(req, "duration_ms"));
	char err[256];

	if (sleep) {
		membership_sleep_notice(
		    l->mb, json_is_true(json_object_get(req, "sleeping")));
		return json_pack("{sb}", "ok", 1);
	}
	if (key == NULL)
		key = l->conf->peers[l->self].name;
	if (ms < 0 || membership_maintenance(
	                  l->mb, key, (uint64_t)ms, err, sizeof(err)) == -1)
		return json_pack(
		    "{ss}", "error", ms < 0 ? "bad duration" : err);
	return json_pack("{sbsssI}", "ok", 1, "key", key, "until",
	    (json_int_t)membership_maintenance_until(l->mb, key));
}

/* beat NAME, reset NAME */
static json_t *
loop_ctl_service(struct loop *l, const json_t *req, int reset)
{
	const char *sv = json_string_value(json_object_get(req, "service"));
	char err[256];
	int rc;

	if (sv == NULL)
		return json_pack("{ss}", "error", "no service named");
	rc = reset ? watch_reset(l->watch, sv, err, sizeof(err))
	           : watch_beat(l->watch, sv, err, sizeof(err));
	if (rc == -1)
		return json_pack("{ss}", "error", err);
	return json_pack("{sbss}", "ok", 1, "service", sv);
}

static json_t *
loop_on_ctl(const json_t *req, struct ctl_req *r, void *arg)
{
	struct loop *l = arg;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));

	if (strcmp(cmd, "maintenance") == 0 || strcmp(cmd, "sleep") == 0)
		return loop_ctl_hold(l, req, strcmp(cmd, "sleep") == 0);
	if (strcmp(cmd, "beat") == 0 || strcmp(cmd, "reset") == 0)
		return loop_ctl_service(l, req, strcmp(cmd, "reset") == 0);
	if (strcmp(cmd, "revive") == 0)
		return loop_ctl_revive(l, req, r);
	if (strcmp(cmd, "alert-test") == 0)
		return loop_ctl_alert_test(l, r);
	if (strcmp(cmd, "status") == 0)
		return loop_status_json(l);
	if (strcmp(cmd, "metrics") == 0) {
		char *m = loop_metrics(l);
		json_t *o = json_pack("{ss}", "metrics", m);
		free(m);
		return o;
	}
	return json_pack("{ss}", "error", "unknown command");
}

/* this host's own isolation is its own incident: it may still reach the
 * internet while the others cannot reach it */
static void
loop_check_quorum(struct loop *l)
{
	const char *me = l->conf->peers[l->self].name;
	int q = membership_has_quorum(l->mb);
	uint64_t now = clock_mono_ms();

	if (q) {
		if (l->quorum_raised)
			incident_close(
			    l->inc, "quorum_lost", me, "quorum regained");
		l->had_quorum = 1;
		l->quorum_raised = 0;
		l->quorum_lost_ms = 0;
		return;
	}
	if (!l->had_quorum || l->quorum_raised)
		return; /* never had it (starting up), or said so already */
	if (l->quorum_lost_ms == 0)
		l->quorum_lost_ms = now;
	/* a link back within a few seconds (a roaming laptop) is not an
	 * incident: the loss must outlast twice down_after */
	if (now - l->quorum_lost_ms < 2 * l->conf->mesh.down_after_ms)
		return;
	l->quorum_raised = 1;
	incident_raise(l->inc, "quorum_lost", me, clock_wall_ms(),
	    "%s hears fewer than a quorum of the %zu peers", me,
	    l->conf->npeers);
}

static void
loop_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct loop *l = arg;

	(void)fd;
	(void)what;
	membership_tick(l->mb, clock_mono_ms());
	loop_check_quorum(l);
}

static struct conf *
loop_load_conf(const char *path, const char *name, size_t *self,
    unsigned char *sk, char *err, size_t errlen)
{
	struct conf_errors errs = {NULL, 0};
	struct conf *c;
	size_t i, n;
	int idx;

	if ((c = conf_load_file(path, &errs)) == NULL) {
		n = (size_t)snprintf(err, errlen, "%s: invalid (%zu error%s)",
		    path, errs.n, errs.n == 1 ? "" : "s");
		for (i = 0; i < errs.n && n < errlen; i++)
			n += (size_t)snprintf(
			    err + n, errlen - n, "\n  %s", errs.msgs[i]);
		conf_errors_clear(&errs);
		return NULL;
	}
	conf_errors_clear(&errs);
	if ((idx = conf_find_self(c, name, sk, err, errlen)) == -1) {
		conf_free(c);
		return NULL;
	}
	*self = (size_t)idx;
	return c;
}

/*
 * What a reload can fail at, done before anything changes: the Ollama
 * endpoint's new listener, or the endpoint itself when the first `ollama`
 * URL appears. -1 with err refuses the reload whole.
 */
struct loop_pending {
	struct failover *fo; /* the endpoint, new: the first `ollama` URL */
	int ofd;             /* its new listener, or -1 */
	struct alert *alert; /* escalation, new: Telegram set up */
};

static void
loop_pending_drop(struct loop_pending *p)
{
	failover_free(p->fo);
	if (p->ofd != -1)
		evutil_closesocket(p->ofd);
	alert_free(p->alert);
}

static int
loop_reload_prepare_failover(struct loop *l, const struct conf *c, size_t self,
    struct failover **fo_new, int *ofd, char *err, size_t errlen)
{
	if (l->fo != NULL)
		return failover_reconf_prepare(
		    l->fo, c, self, ofd, err, errlen);
	if (!failover_wanted(c))
		return 0;
	*fo_new = failover_new(
	    l->base, l->ev, c, self, loop_on_payload_change, l, err, errlen);
	return *fo_new == NULL ? -1 : 0;
}

static int
loop_reload_prepare(struct loop *l, const struct conf *c, size_t self,
    struct loop_pending *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	p->ofd = -1;
	err[0] = '\0';
	if (loop_reload_prepare_failover(
	        l, c, self, &p->fo, &p->ofd, err, errlen) == -1)
		return -1;
	if (l->alert == NULL && c->mesh.telegram_token_file != NULL &&
	    (p->alert = alert_new(l->base, l->ev, c, self, err, errlen)) ==
	        NULL)
		return -1;
	return 0;
}

/* escalation follows the reloaded config: on when Telegram is set up,
 * off when its settings are gone (what is pending stays in the outbox for
 * a start that has them), else the new settings */
static void
loop_reload_alert(
    struct loop *l, const struct conf *c, size_t self, struct alert *a_new)
{
	const char *me = c->peers[self].name;

	if (a_new != NULL) {
		l->alert = a_new;
		alert_set_change_cb(l->alert, loop_on_payload_change, l);
		incidents_set_cb(l->inc, alert_on_incident, l->alert);
		log_info("escalation to Telegram is on");
		evlog_write(l->ev, "escalation_on", me,
		    "Telegram settings added by a reload", NULL);
	} else if (l->alert != NULL && c->mesh.telegram_token_file == NULL) {
		incidents_set_cb(l->inc, NULL, NULL);
		alert_test_abort(l->alert, "escalation was turned off by a "
		                           "reload before the answer came");
		alert_free(l->alert);
		l->alert = NULL;
		log_info("escalation is off: telegram settings removed; "
		         "messages not yet sent stay in the outbox");
		evlog_write(l->ev, "escalation_off", me,
		    "Telegram settings removed by a reload", NULL);
	} else
		alert_reconf(l->alert, c, self);
}

/* the Ollama endpoint follows the reloaded config: started by the first
 * `ollama` URL, stopped when none is left, else reconfigured */
static void
loop_reload_failover(struct loop *l, const struct conf *c, size_t self,
    struct failover *fo_new, int ofd)
{
	const char *me = c->peers[self].name;

	if (fo_new != NULL) {
		l->fo = fo_new;
		log_info("Ollama failover endpoint started on %s",
		    conf_ollama_listen(c, self));
		evlog_writef(l->ev, "ollama_endpoint_started", me, NULL,
		    "listening on %s", conf_ollama_listen(c, self));
	} else if (l->fo != NULL && !failover_wanted(c)) {
		failover_free(l->fo);
		l->fo = NULL;
		log_info("Ollama failover endpoint stopped: no peer has an "
		         "ollama URL");
		evlog_write(l->ev, "ollama_endpoint_stopped", me,
		    "no peer has an ollama URL", NULL);
	} else
		failover_reconf(l->fo, c, self, ofd);
}

static void
loop_reload(struct loop *l)
{
	unsigned char sk[CONF_SECKEY_LEN];
	char err[4096];
	struct conf *c;
	struct loop_pending p = {NULL, -1, NULL};
	size_t self;

	log_info("SIGHUP: reloading %s", l->conf_path);
	c = loop_load_conf(l->conf_path, l->conf->peers[l->self].name, &self,
	    sk, err, sizeof(err));
	if (c == NULL ||
	    loop_reload_prepare(l, c, self, &p, err, sizeof(err)) == -1 ||
	    hb_reconf(l->hb, c, self, err, sizeof(err)) == -1) {
		sodium_memzero(sk, sizeof(sk));
		loop_pending_drop(&p);
		l->reload_failures++;
		log_warnx("reload failed, keeping the running config: %s", err);
		evlog_write(l->ev, "config_reload_failed",
		    l->conf->peers[l->self].name, err, NULL);
		conf_free(c);
		return;
	}
	/* the key file may have been rotated along with this host's pubkey */
	hb_set_key(l->hb, sk);
	memcpy(l->sk, sk, sizeof(sk));
	sodium_memzero(sk, sizeof(sk));
	membership_reconf(l->mb, c, self, clock_mono_ms());
	revive_reconf(l->rv, c, self);
	status_reconf(l->status, c, self);
	if (strcmp(conf_status_listen(c, self),
	        conf_status_listen(l->conf, l->self)) != 0)
		log_warnx("reload: status_listen changed to %s; it moves "
		          "there with the next restart",
		    conf_status_listen(c, self));
	loop_reload_failover(l, c, self, p.fo, p.ofd);
	loop_reload_alert(l, c, self, p.alert);
	watch_reconf(l->watch, c, self);
	resguard_reconf(l->rg, c, self);
	conf_free(l->conf);
	l->conf = c;
	l->self = self;
	l->reloads++;
	evlog_writef(l->ev, "config_reloaded", c->peers[self].name, NULL,
	    "%zu peer%s, %zu guard%s, %zu service%s", c->npeers,
	    c->npeers == 1 ? "" : "s", c->nguards, c->nguards == 1 ? "" : "s",
	    c->nservices, c->nservices == 1 ? "" : "s");
}

static void
loop_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct loop *l = arg;

	(void)what;
	if (sig == SIGHUP) {
		loop_reload(l);
		return;
	}
	log_info("signal %d: stopping", (int)sig);
	event_base_loopexit(l->base, NULL);
}

static int
loop_start_modules(struct loop *l, char *err, size_t errlen)
{
	const char *sd = conf_state_dir(l->conf, l->self);
	uint64_t now = clock_mono_ms();

	l->ev = evlog_open(sd, l->conf->mesh.events_max_bytes,
	    l->conf->mesh.events_keep, err, errlen);
	if (l->ev == NULL)
		return -1;
	l->hb = hb_new(l->base, l->conf, l->self, l->sk, loop_on_heartbeat,
	    loop_status_payload, l, err, errlen);
	if (l->hb == NULL)
		return -1;
	l->alert = alert_new(l->base, l->ev, l->conf, l->self, err, errlen);
	if (l->alert == NULL && err[0] != '\0')
		return -1;
	alert_set_change_cb(l->alert, loop_on_payload_change, l);
	if (l->alert == NULL)
		log_info("escalation is off: telegram_token_file and "
		         "telegram_chat are not set; incidents go to the event "
		         "log and /status only");
	l->inc =
	    incidents_new(l->ev, l->alert ? alert_on_incident : NULL, l->alert);
	l->rv = revive_new(l->base, l->conf, l->self, l->worker, l->ev, l->inc,
	    loop_on_revive_step, loop_would_act, l);
	revive_set_service_cb(l->rv, loop_service_state);
	revive_set_silent_cb(l->rv, loop_still_silent);
	l->mb = membership_new(l->conf, l->self, hb_incarnation(l->hb), l->ev,
	    loop_on_member_event, l, now);
	l->status = status_new(l->base, l->conf, l->self, loop_status_json,
	    loop_metrics, loop_events, l, err, errlen);
	if (l->status == NULL)
		return -1;
	l->ctl = ctl_new(l->base, sd, loop_on_ctl, l, err, errlen);
	if (l->ctl == NULL)
		return -1;
	l->fo = failover_new(l->base, l->ev, l->conf, l->self,
	    loop_on_payload_change, l, err, errlen);
	if (l->fo == NULL && err[0] != '\0')
		return -1;
	l->watch = watch_new(
	    l->base, l->ev, l->inc, l->conf, l->self, loop_on_watch_change, l);
	watch_set_hold_cb(l->watch, loop_service_hold, l);
	l->rg = resguard_new(l->base, l->ev, l->inc, l->conf, l->self);
	resguard_set_hold_cb(l->rg, loop_service_hold, l);
	l->sleep_ev = evtimer_new(l->base, loop_on_sleep_sent, l);
	l->sw = sleepwatch_new(l->base, loop_on_system_sleep, l, err, errlen);
	if (l->sw == NULL && err[0] != '\0') {
		log_warnx("%s; run `peerwatch sleep-notice` before sleep", err);
		err[0] = '\0';
	}
	return 0;
}

/* libevent's own messages go to the same log */
static void
loop_on_libevent_log(int severity, const char *msg)
{
	if (severity >= EVENT_LOG_WARN)
		log_warnx("libevent: %s", msg);
	else
		log_debug("libevent: %s", msg);
}

struct loop *
loop_new(const struct loop_opts *o, char *err, size_t errlen)
{
	struct loop *l = xcalloc(1, sizeof(*l));
	uint64_t tick = 100;
	struct timeval tv;

	event_set_log_callback(loop_on_libevent_log);
	l->conf_path = xstrdup(o->conf_path);
	l->worker = revive_worker_path(o->self_exe);
	if (access(l->worker, X_OK) == -1)
		log_warnx("heal worker %s: %s: revives and repairs cannot run "
		          "until it is there (or PEERWATCH_HEAL names it)",
		    l->worker, strerror(errno));
	l->name = o->name ? xstrdup(o->name) : NULL;
	if ((l->sk = sodium_malloc(CONF_SECKEY_LEN)) == NULL)
		fatalx("sodium_malloc");
	l->conf =
	    loop_load_conf(o->conf_path, o->name, &l->self, l->sk, err, errlen);
	if (l->conf == NULL)
		goto fail;
	log_settag(l->conf->peers[l->self].name);
	l->base = event_base_new();
	l->started_ms = clock_mono_ms();
	if (loop_start_modules(l, err, errlen) == -1)
		goto fail;
	if (l->conf->mesh.interval_ms / 5 < tick)
		tick = l->conf->mesh.interval_ms / 5
		           ? l->conf->mesh.interval_ms / 5
		           : 1;
	tv.tv_sec = (time_t)(tick / 1000);
	tv.tv_usec = (suseconds_t)(tick % 1000) * 1000;
	l->tick_ev = event_new(l->base, -1, EV_PERSIST, loop_on_tick, l);
	event_add(l->tick_ev, &tv);
	l->sigterm_ev = evsignal_new(l->base, SIGTERM, loop_on_signal, l);
	l->sigint_ev = evsignal_new(l->base, SIGINT, loop_on_signal, l);
	l->sighup_ev = evsignal_new(l->base, SIGHUP, loop_on_signal, l);
	event_add(l->sigterm_ev, NULL);
	event_add(l->sigint_ev, NULL);
	event_add(l->sighup_ev, NULL);
	return l;
fail:
	loop_free(l);
	return NULL;
}

int
loop_run(struct loop *l)
{
	const struct conf_peer *me = &l->conf->peers[l->self];

	evlog_write_new(l->ev, "started", me->name, "peerwatch " PW_VERSION,
	    json_pack("{sIsisi}", "incarnation",
	        (json_int_t)hb_incarnation(l->hb), "peers",
	        (int)l->conf->npeers, "port", (int)me->port));
	log_info("started: incarnation %llu, %zu peer%s, heartbeat %s:%u, "
	         "status http://%s/",
	    (unsigned long long)hb_incarnation(l->hb), l->conf->npeers,
	    l->conf->npeers == 1 ? "" : "s", me->address, me->port,
	    conf_status_listen(l->conf, l->self));
	hb_start(l->hb);
	event_base_dispatch(l->base);
	/* a reload may have replaced the config meanwhile */
	me = &l->conf->peers[l->self];
	evlog_write(l->ev, "stopped", me->name, "clean shutdown", NULL);
	return 0;
}

void
loop_free(struct loop *l)
{
	if (l == NULL)
		return;
	if (l->tick_ev)
		event_free(l->tick_ev);
	if (l->sigterm_ev)
		event_free(l->sigterm_ev);
	if (l->sigint_ev)
		event_free(l->sigint_ev);
	if (l->sighup_ev)
		event_free(l->sighup_ev);
	sleepwatch_free(l->sw);
	if (l->sleep_ev)
		event_free(l->sleep_ev);
	watch_free(l->watch);
	resguard_free(l->rg);
	cmdrun_shutdown(); /* probes and restarts still running */
	failover_free(l->fo);
	ctl_free(l->ctl);
	status_free(l->status);
	revive_free(l->rv);
	incidents_free(l->inc);
	alert_free(l->alert);
	membership_free(l->mb);
	hb_free(l->hb);
	evlog_free(l->ev);
	conf_free(l->conf);
	if (l->base)
		event_base_free(l->base);
	if (l->sk)
		sodium_free(l->sk);
	free(l->conf_path);
	free(l->worker);
	free(l->name);
	free(l);
}
