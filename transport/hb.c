/* SPDX-License-Identifier: ISC */
/*
 * hb: UDP heartbeats on libevent. See hb.h for the contract. The receive
 * path checks in the order that costs least first and trusts nothing before
 * the signature verifies: size, header, sender name, signature, replay
 * window, payload JSON. Only then is any state touched.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>
#include <jansson.h>
#include <sodium.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mkdirs.h"
#include "common/statefile.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "transport/hb.h"
#include "transport/resolve.h"
#include "transport/wire.h"

struct hb_peer {
	char name[CONF_NAME_MAX + 1];
	struct sockaddr_storage ss;
	socklen_t sslen; /* 0 while unresolved */
	uint64_t last_inc;
	uint64_t last_seq;
	uint64_t saved_inc;   /* what replay.json holds */
	uint64_t inc_save_ms; /* when a new incarnation of it was last saved */
	struct hb_dns *dns;   /* a lookup in flight, or NULL */
};

/* One name lookup, in a resolver thread (transport/resolve). The
 * callback finds its peer by the lookup it started; a reload cancels the
 * old array's lookups, so no answer lands in a peer it was not for. */
struct hb_dns {
	struct hb *hb;
	char name[CONF_NAME_MAX + 1];
	struct resolve_req *req;
};

struct hb {
	struct event_base *base;
	struct resolve *dns;
	const struct conf *conf;
	size_t self;
	unsigned char *sk; /* sodium_malloc'd */
	hb_recv_cb recv_cb;
	hb_status_cb status_cb;
	void *arg;
	int fd4, fd6;
	struct event *ev4, *ev6, *send_ev, *dns_ev, *save_ev, *soon_ev;
	int replay_dirty; /* a seq advanced since replay.json */
	struct hb_peer *peers;
	size_t npeers;
	char *state_dir;
	uint64_t incarnation;
	uint64_t seq;
	char *last_full; /* payload last sent in full */
	uint64_t last_full_ms;
	int force_full;
	struct hb_counters c;
};

static void hb_on_read(evutil_socket_t, short, void *);
static void hb_on_send_timer(evutil_socket_t, short, void *);
static void hb_on_dns_timer(evutil_socket_t, short, void *);
static void hb_resolve_all(struct hb *);
static void hb_dns_cancel(struct hb_peer *);
static void hb_on_save_timer(evutil_socket_t, short, void *);
static void hb_on_soon_timer(evutil_socket_t, short, void *);

int
hb_next_incarnation(const char *state_dir, uint64_t now_s, uint64_t *inc,
    char *err, size_t errlen)
{
	char path[4096], buf[64];
	unsigned long long saved = 0;
	FILE *f;

	if (mkdirs(state_dir, 0700, err, errlen) == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/incarnation", state_dir);
	if ((f = fopen(path, "r")) != NULL) {
		if (fscanf(f, "%llu", &saved) != 1)
			saved = 0;
		fclose(f);
	}
	*inc = saved + 1 > now_s ? saved + 1 : now_s;
	snprintf(buf, sizeof(buf), "%llu\n", (unsigned long long)*inc);
	return statefile_write(state_dir, "incarnation", buf, err, errlen);
}

/* replay.json: {"beta": {"inc": 1795386990, "seq": 4711}, ...}. The seq
 * is saved every HB_SAVE_MS, so a restarted receiver refuses recordings
 * of older incarnations and of all but the last few seconds of this one. */
static void
hb_load_replay(struct hb *hb)
{
	char path[4096];
	json_t *root, *v;
	size_t i;

	snprintf(path, sizeof(path), "%s/replay.json", hb->state_dir);
	if ((root = json_load_file(path, 0, NULL)) == NULL)
		return;
	for (i = 0; i < hb->npeers; i++) {
		v = json_object_get(root, hb->peers[i].name);
		if (json_integer_value(json_object_get(v, "inc")) <= 0)
			continue;
		hb->peers[i].saved_inc =
		    (uint64_t)json_integer_value(json_object_get(v, "inc"));
		hb->peers[i].last_inc = hb->peers[i].saved_inc;
		hb->peers[i].last_seq =
		    (uint64_t)json_integer_value(json_object_get(v, "seq"));
	}
	json_decref(root);
}

static void
hb_save_replay(struct hb *hb)
{
	char err[256], *s;
	json_t *root = json_object();
	size_t i;

	for (i = 0; i < hb->npeers; i++)
		if (hb->peers[i].last_inc)
			json_object_set_new(root, hb->peers[i].name,
			    json_pack("{sIsI}", "inc",
			        (json_int_t)hb->peers[i].last_inc, "seq",
			        (json_int_t)hb->peers[i].last_seq));
	s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(root);
	if (s == NULL)
		return;
	hb->c.replay_saves++;
	if (statefile_write(
	        hb->state_dir, "replay.json", s, err, sizeof(err)) == -1)
		log_warnx("replay window not saved: %s", err);
	else
		hb->replay_dirty = 0;
	free(s);
}

/*
 * A new incarnation should reach replay.json soon, so that a restarted
 * receiver refuses the old one's datagrams, but never from the receive
 * path: each save is an fsync, and a signed peer can send new
 * incarnations as fast as it likes. So it is saved from a timer, at most
 * once per HB_INC_SAVE_MS for each peer, and one save covers every peer.
 */
static void
hb_save_soon(struct hb *hb, size_t idx)
{
	struct hb_peer *p = &hb->peers[idx];
	uint64_t now = clock_mono_ms(), due = p->inc_save_ms + HB_INC_SAVE_MS;
	uint64_t ms = due > now ? due - now : 0;
	struct timeval tv = {
	    (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	if (!evtimer_pending(hb->soon_ev, NULL))
		evtimer_add(hb->soon_ev, &tv);
}

static void
hb_on_soon_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hb *hb = arg;
	uint64_t now = clock_mono_ms();
	size_t i;

	(void)fd;
	(void)what;
	for (i = 0; i < hb->npeers; i++) {
		if (hb->peers[i].last_inc <= hb->peers[i].saved_inc)
			continue;
		hb->peers[i].saved_inc = hb->peers[i].last_inc;
		hb->peers[i].inc_save_ms = now;
	}
	hb_save_replay(hb);
}

static void
hb_on_save_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hb *hb = arg;

	(void)fd;
	(void)what;
	if (hb->replay_dirty)
		hb_save_replay(hb);
}

static int
hb_bind(int family, const char *addr, uint16_t port, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, on = 1;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons(port);
		if (addr == NULL ||
		    inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
			s4->sin_addr.s_addr = htonl(INADDR_ANY);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(port);
		if (addr == NULL ||
		    inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
			s6->sin6_addr = in6addr_any;
		len = sizeof(*s6);
	}
	/* no SOCK_NONBLOCK | SOCK_CLOEXEC: macOS has only the fcntls */
	fd = socket(family, SOCK_DGRAM, 0);
	if (fd == -1)
		goto fail;
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    evutil_make_socket_closeonexec(fd) == -1) {
		close(fd);
		goto fail;
	}
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1) {
		close(fd);
		goto fail;
	}
	return fd;
fail:
	snprintf(err, errlen, "udp %s port %u: %s",
	    addr ? addr : (family == AF_INET ? "0.0.0.0" : "::"), port,
	    strerror(errno));
	return -1;
}

static int
hb_family_of(const char *addr)
{
	unsigned char buf[16];

	if (inet_pton(AF_INET, addr, buf) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, addr, buf) == 1)
		return AF_INET6;
	return AF_UNSPEC;
}

/* Bind the self address when it is a literal (several hosts may share one
 * machine on 127.0.0.x); the other family only when some peer needs it. */
static int
hb_open_sockets(struct hb *hb, char *err, size_t errlen)
{
	const struct conf_peer *me = &hb->conf->peers[hb->self];
	int fam = hb_family_of(me->address), need4 = 0, need6 = 0;
	size_t i;

	for (i = 0; i < hb->conf->npeers; i++) {
		int f = hb_family_of(hb->conf->peers[i].address);
		need4 |= f == AF_INET || f == AF_UNSPEC;
		need6 |= f == AF_INET6;
	}
	/* idempotent: a reload may add the first peer of another family */
	if (hb->fd4 == -1 && (fam == AF_INET || need4)) {
		hb->fd4 = hb_bind(AF_INET, fam == AF_INET ? me->address : NULL,
		    me->port, err, errlen);
		if (hb->fd4 == -1)
			return -1;
	}
	if (hb->fd6 == -1 && (fam == AF_INET6 || need6)) {
		hb->fd6 =
		    hb_bind(AF_INET6, fam == AF_INET6 ? me->address : NULL,
		        me->port, err, errlen);
		if (hb->fd6 == -1 && fam == AF_INET6)
			return -1;
	}
	if (hb->fd4 != -1 && hb->ev4 == NULL) {
		hb->ev4 = event_new(
		    hb->base, hb->fd4, EV_READ | EV_PERSIST, hb_on_read, hb);
		event_add(hb->ev4, NULL);
	}
	if (hb->fd6 != -1 && hb->ev6 == NULL) {
		hb->ev6 = event_new(
		    hb->base, hb->fd6, EV_READ | EV_PERSIST, hb_on_read, hb);
		event_add(hb->ev6, NULL);
	}
	return 0;
}

static void
hb_set_peers(struct hb *hb)
{
	struct hb_peer *old = hb->peers;
	size_t i, j, nold = hb->npeers;

	hb->npeers = hb->conf->npeers;
	hb->peers = xcalloc(hb->npeers, sizeof(*hb->peers));
	for (i = 0; i < hb->npeers; i++) {
		struct hb_peer *p = &hb->peers[i];
		snprintf(
		    p->name, sizeof(p->name), "%s", hb->conf->peers[i].name);
		for (j = 0; j < nold; j++) {
			if (strcmp(old[j].name, p->name) != 0)
				continue;
			p->last_inc = old[j].last_inc;
			p->last_seq = old[j].last_seq;
			p->saved_inc = old[j].saved_inc;
			p->inc_save_ms = old[j].inc_save_ms;
		}
	}
	for (j = 0; j < nold; j++)
		hb_dns_cancel(&old[j]);
	free(old);
}

struct hb *
hb_new(struct event_base *base, const struct conf *conf, size_t self,
    const unsigned char *seckey, hb_recv_cb recv_cb, hb_status_cb status_cb,
    void *arg, char *err, size_t errlen)
{
	struct hb *hb = xcalloc(1, sizeof(*hb));
	struct timeval tv = {60, 0};
	struct timeval save_tv = {HB_SAVE_MS / 1000, 0};

	hb->base = base;
	hb->conf = conf;
	hb->self = self;
	hb->recv_cb = recv_cb;
	hb->status_cb = status_cb;
	hb->arg = arg;
	hb->fd4 = hb->fd6 = -1;
	hb->state_dir = xstrdup(conf_state_dir(conf, self));
	if ((hb->sk = sodium_malloc(CONF_SECKEY_LEN)) == NULL)
		fatalx("sodium_malloc");
	memcpy(hb->sk, seckey, CONF_SECKEY_LEN);
	if (hb_next_incarnation(hb->state_dir, clock_wall_ms() / 1000,
	        &hb->incarnation, err, errlen) == -1)
		goto fail;
	hb_set_peers(hb);
	hb_load_replay(hb);
	if (hb_open_sockets(hb, err, errlen) == -1)
		goto fail;
	if ((hb->dns = resolve_new(base, err, errlen)) == NULL)
		goto fail;
	hb->send_ev = evtimer_new(base, hb_on_send_timer, hb);
	hb->dns_ev = event_new(base, -1, EV_PERSIST, hb_on_dns_timer, hb);
	event_add(hb->dns_ev, &tv);
	hb->save_ev = event_new(base, -1, EV_PERSIST, hb_on_save_timer, hb);
	event_add(hb->save_ev, &save_tv);
	hb->soon_ev = evtimer_new(base, hb_on_soon_timer, hb);
	hb_resolve_all(hb);
	return hb;
fail:
	hb_free(hb);
	return NULL;
}

void
hb_free(struct hb *hb)
{
	size_t i;

	if (hb == NULL)
		return;
	for (i = 0; i < hb->npeers; i++)
		hb_dns_cancel(&hb->peers[i]);
	if (hb->ev4)
		event_free(hb->ev4);
	if (hb->ev6)
		event_free(hb->ev6);
	if (hb->send_ev)
		event_free(hb->send_ev);
	if (hb->dns_ev)
		event_free(hb->dns_ev);
	if (hb->save_ev)
		event_free(hb->save_ev);
	if (hb->soon_ev)
		event_free(hb->soon_ev);
	if (hb->replay_dirty)
		hb_save_replay(hb);
	resolve_free(hb->dns);
	if (hb->fd4 != -1)
		close(hb->fd4);
	if (hb->fd6 != -1)
		close(hb->fd6);
	if (hb->sk)
		sodium_free(hb->sk);
	free(hb->peers);
	free(hb->state_dir);
	free(hb->last_full);
	free(hb);
}

static void
hb_set_addr(struct hb_peer *p, struct addrinfo *res)
{
	memcpy(&p->ss, res->ai_addr, res->ai_addrlen);
	p->sslen = (socklen_t)res->ai_addrlen;
	freeaddrinfo(res);
}

static void
hb_on_resolved(int result, struct addrinfo *res, void *arg)
{
	struct hb_dns *d = arg;
	struct hb *hb = d->hb;
	size_t i;

	for (i = 0; i < hb->npeers; i++) {
		if (hb->peers[i].dns != d)
			continue;
		hb->peers[i].dns = NULL;
		if (result == 0 && res != NULL) {
			hb_set_addr(&hb->peers[i], res);
			res = NULL;
		}
	}
	if (result != 0)
		log_warnx("peer=%s address not resolved: %s", d->name,
		    gai_strerror(result));
	if (res)
		freeaddrinfo(res);
	free(d);
}

static void
hb_dns_cancel(struct hb_peer *p)
{
	if (p->dns == NULL)
		return;
	resolve_cancel(p->dns->req);
	free(p->dns);
	p->dns = NULL;
}

static void
hb_resolve(struct hb *hb, size_t i)
{
	const struct conf_peer *cp = &hb->conf->peers[i];
	struct hb_peer *p = &hb->peers[i];
	struct addrinfo hints, *res = NULL;
	struct hb_dns *d;
	char port[8];

	if (i == hb->self || p->dns != NULL)
		return;
	snprintf(port, sizeof(port), "%u", cp->port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	/* literals resolve at once, without the network */
	if (getaddrinfo(cp->address, port, &hints, &res) == 0) {
		hb_set_addr(p, res);
		return;
	}
	hints.ai_flags = AI_NUMERICSERV;
	d = xcalloc(1, sizeof(*d));
	d->hb = hb;
	snprintf(d->name, sizeof(d->name), "%s", p->name);
	/* NULL: too many lookups hang already; the next round retries */
	d->req = resolve_start(
	    hb->dns, cp->address, port, &hints, hb_on_resolved, d);
	if (d->req == NULL) {
		log_debug(
		    "peer=%s lookup of %s postponed", p->name, cp->address);
		free(d);
		return;
	}
	p->dns = d;
}

static void
hb_resolve_all(struct hb *hb)
{
	size_t i;

	for (i = 0; i < hb->npeers; i++)
		hb_resolve(hb, i);
}

static void
hb_on_dns_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	hb_resolve_all(arg);
}

static uint64_t
hb_jitter_ms(uint64_t interval)
{
	/* +-10 %: interval * (0.9 .. 1.1) */
	uint64_t span = interval / 5;

	if (span == 0)
		return interval;
	return interval - interval / 10 + randombytes_uniform((uint32_t)span);
}

static void
hb_schedule(struct hb *hb)
{
	uint64_t ms = hb_jitter_ms(hb->conf->mesh.interval_ms);
	struct timeval tv = {
	    (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(hb->send_ev, &tv);
}

static void
hb_send_all(struct hb *hb, int full)
{
	unsigned char buf[WIRE_MAX];
	struct wire_hb w;
	const char *status = hb->status_cb(hb->arg);
	size_t i;
	int len, fd;

	memset(&w, 0, sizeof(w));
	w.incarnation = hb->incarnation;
	w.seq = ++hb->seq;
	w.sent_at_ms = clock_wall_ms();
	snprintf(w.name, sizeof(w.name), "%s", hb->conf->peers[hb->self].name);
	if (!full && hb->last_full && strcmp(hb->last_full, status) == 0 &&
	    clock_mono_ms() - hb->last_full_ms < HB_FULL_EVERY_MS)
		full = 0;
	else
		full = 1;
	if (full) {
		w.payload = status;
		w.payload_len = strlen(status);
	}
	if ((len = wire_encode(&w, hb->sk, buf, sizeof(buf))) == -1) {
		log_warnx("status too large for one datagram (%zu bytes); "
		          "sending a short heartbeat",
		    strlen(status));
		w.payload = NULL;
		w.payload_len = 0;
		full = 0;
		if ((len = wire_encode(&w, hb->sk, buf, sizeof(buf))) == -1)
			return;
	}
	if (full) {
		free(hb->last_full);
		hb->last_full = xstrdup(status);
		hb->last_full_ms = clock_mono_ms();
		hb->c.sent_full++;
	}
	for (i = 0; i < hb->npeers; i++) {
		struct hb_peer *p = &hb->peers[i];
		if (i == hb->self || p->sslen == 0)
			continue;
		fd = p->ss.ss_family == AF_INET6 ? hb->fd6 : hb->fd4;
		if (fd == -1 ||
		    sendto(fd, buf, (size_t)len, 0, (struct sockaddr *)&p->ss,
		        p->sslen) != len) {
			hb->c.send_errors++;
			continue;
		}
		hb->c.sent++;
		hb->c.bytes_sent += (uint64_t)len;
	}
}

static void
hb_on_send_timer(evutil_socket_t fd, short what, void *arg)
{
	struct hb *hb = arg;

	(void)fd;
	(void)what;
	hb_send_all(hb, hb->force_full);
	hb->force_full = 0;
	hb_schedule(hb);
}

void
hb_start(struct hb *hb)
{
	hb_send_all(hb, 1);
	hb_schedule(hb);
}

void
hb_kick(struct hb *hb)
{
	hb_send_all(hb, 1);
	/* and again with the next heartbeat: a changed view is what peers
	 * judge indirect evidence by, and on a lossy link one copy may not
	 * arrive (a few hundred bytes, only when something changed) */
	hb->force_full = 1;
}

static int
hb_peer_by_name(const struct hb *hb, const char *name)
{
	size_t i;

	for (i = 0; i < hb->npeers; i++)
		if (strcmp(hb->peers[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* Checks after the signature: replay window, then payload. */
static enum wire_drop
hb_accept(struct hb *hb, size_t idx, const struct wire_hb *w, json_t **payload)
{
	struct hb_peer *p = &hb->peers[idx];
	json_error_t jerr;

	if (!wire_is_newer(w->incarnation, w->seq, p->last_inc, p->last_seq))
		return WIRE_REPLAY;
	*payload = NULL;
	if (w->payload_len > 0) {
		*payload = json_loadb(
		    w->payload, w->payload_len, JSON_REJECT_DUPLICATES, &jerr);
		if (*payload == NULL || !json_is_object(*payload)) {
			json_decref(*payload);
			*payload = NULL;
			return WIRE_BAD_PAYLOAD;
		}
	}
	return WIRE_OK;
}

static void
hb_receive(struct hb *hb, const unsigned char *buf, size_t len)
{
	struct wire_hb w;
	struct hb_msg m;
	json_t *payload = NULL;
	enum wire_drop d;
	int idx;

	if ((d = wire_parse(buf, len, &w)) != WIRE_OK)
		goto drop;
	idx = hb_peer_by_name(hb, w.name);
	if (idx == -1 || (size_t)idx == hb->self) {
		d = WIRE_UNKNOWN_PEER;
		goto drop;
	}
	if (wire_verify(buf, len, hb->conf->peers[idx].pubkey) == -1) {
		d = WIRE_BAD_SIGNATURE;
		goto drop;
	}
	if ((d = hb_accept(hb, (size_t)idx, &w, &payload)) != WIRE_OK)
		goto drop;
	m.peer = (size_t)idx;
	m.incarnation = w.incarnation;
	m.seq = w.seq;
	m.sent_at_ms = w.sent_at_ms;
	m.new_incarnation = w.incarnation != hb->peers[idx].last_inc;
	m.payload = payload;
	hb->peers[idx].last_inc = w.incarnation;
	hb->peers[idx].last_seq = w.seq;
	hb->replay_dirty = 1;
	/* a new incarnation is saved within HB_INC_SAVE_MS, seqs every
	 * HB_SAVE_MS */
	if (w.incarnation > hb->peers[idx].saved_inc)
		hb_save_soon(hb, (size_t)idx);
	hb->c.received++;
	hb->c.bytes_received += len;
	hb->recv_cb(&m, hb->arg);
	json_decref(payload);
	return;
drop:
	hb->c.drops[d]++;
	/* one line per drop at debug: a flood must not flood the log */
	log_debug("heartbeat dropped: %s (%zu bytes)", wire_drop_name(d), len);
}

static void
hb_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct hb *hb = arg;
	unsigned char buf[WIRE_MAX + 1];
	ssize_t n;
	int i;

	(void)what;
	/* drain a bounded batch so one busy socket cannot starve timers */
	for (i = 0; i < 64; i++) {
		n = recv(fd, buf, sizeof(buf), MSG_TRUNC);
		if (n == -1)
			return;
		if ((size_t)n > WIRE_MAX) {
			hb->c.drops[WIRE_TOO_LONG]++;
			continue;
		}
		hb_receive(hb, buf, (size_t)n);
	}
}

int
hb_reconf(struct hb *hb, const struct conf *conf, size_t self, char *err,
    size_t errlen)
{
	const struct conf_peer *o = &hb->conf->peers[hb->self];
	const struct conf_peer *n = &conf->peers[self];
	const struct conf *oldconf = hb->conf;
	size_t oldself = hb->self;

	if (strcmp(o->address, n->address) != 0 || o->port != n->port) {
		snprintf(err, errlen,
		    "this host's address or port changed; "
		    "restart peerwatch to apply");
		return -1;
	}
	hb->conf = conf;
	hb->self = self;
	if (hb_open_sockets(hb, err, errlen) == -1) {
		hb->conf = oldconf; /* the reload is refused whole */
		hb->self = oldself;
		return -1;
	}
	hb_set_peers(hb);
	hb_resolve_all(hb);
	free(hb->last_full);
	hb->last_full = NULL;
	return 0;
}

void
hb_set_key(struct hb *hb, const unsigned char *seckey)
{
	memcpy(hb->sk, seckey, CONF_SECKEY_LEN);
}

uint64_t
hb_incarnation(const struct hb *hb)
{
	return hb->incarnation;
}

const struct hb_counters *
hb_counters(const struct hb *hb)
{
	return &hb->c;
}

void
hb_last(const struct hb *hb, size_t peer, uint64_t *inc, uint64_t *seq)
{
	*inc = peer < hb->npeers ? hb->peers[peer].last_inc : 0;
	*seq = peer < hb->npeers ? hb->peers[peer].last_seq : 0;
}
