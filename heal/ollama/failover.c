/* SPDX-License-Identifier: ISC */
/*
 * failover: owns the curl multi shared by the proxy and the probe, and
 * merges this host's report into the heartbeat payload within the
 * datagram's budget (the lists when they fit, else a digest the other
 * peers resolve by asking this Ollama's /api/tags).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "heal/curlev.h"
#include "heal/ollama/failover.h"
#include "heal/ollama/ollama_probe.h"
#include "heal/ollama/proxy.h"
#include "transport/wire.h"

struct failover {
	struct event_base *base;
	struct curlev *cv;
	struct proxy *px;
	struct ollama_probe *probe;
	const struct conf *conf;
	size_t self;
	char *probe_url;
	char *payload;
	failover_kick_cb kick;
	void *arg;
};

static void
failover_on_probe(const struct ollama_report *rep, void *arg)
{
	struct failover *f = arg;

	proxy_on_local(f->px, rep);
	f->kick(f->arg);
}

/* the probe follows this host's own `ollama` URL */
static void
failover_probe_start(struct failover *f)
{
	const char *url = f->conf->peers[f->self].ollama;

	if (f->probe_url != NULL && url != NULL &&
	    strcmp(f->probe_url, url) == 0 &&
	    f->conf->mesh.ollama_probe_interval_ms > 0 && f->probe != NULL)
		return;
	ollama_probe_free(f->probe);
	f->probe = NULL;
	free(f->probe_url);
	f->probe_url = NULL;
	if (url == NULL)
		return;
	f->probe_url = xstrdup(url);
	f->probe = ollama_probe_new(f->base, f->cv, url,
	    f->conf->mesh.ollama_probe_interval_ms, failover_on_probe, f);
}

struct failover *
failover_new(struct event_base *base, struct evlog *ev, const struct conf *c,
    size_t self, failover_kick_cb kick, void *arg, char *err, size_t errlen)
{
	struct failover *f;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (!proxy_wanted(c))
		return NULL;
	f = xcalloc(1, sizeof(*f));
	f->base = base;
	f->conf = c;
	f->self = self;
	f->kick = kick;
	f->arg = arg;
	f->cv = curlev_new(base);
	if ((f->px = proxy_new(base, f->cv, ev, c, self, err, errlen)) ==
	    NULL) {
		failover_free(f);
		return NULL;
	}
	failover_probe_start(f);
	return f;
}

void
failover_free(struct failover *f)
{
	if (f == NULL)
		return;
	ollama_probe_free(f->probe);
	proxy_free(f->px);
	curlev_free(f->cv);
	free(f->probe_url);
	free(f->payload);
	free(f);
}

int
failover_wanted(const struct conf *c)
{
	return proxy_wanted(c);
}

int
failover_reconf_prepare(const struct failover *f, const struct conf *c,
    size_t self, int *fd, char *err, size_t errlen)
{
	*fd = -1;
	if (f == NULL || !proxy_wanted(c))
		return 0;
	return proxy_listen_prepare(f->px, c, self, fd, err, errlen);
}

void
failover_reconf(struct failover *f, const struct conf *c, size_t self, int fd)
{
	if (f == NULL)
		return;
	f->conf = c;
	f->self = self;
	proxy_reconf(f->px, c, self, fd);
	failover_probe_start(f);
}

void
failover_on_payload(struct failover *f, size_t peer, const json_t *payload)
{
	if (f == NULL || payload == NULL || peer == f->self)
		return;
	proxy_on_payload(f->px, peer, json_object_get(payload, "ollama"));
}

const char *
failover_payload(struct failover *f, const char *base, const char *self_name)
{
	const struct ollama_report *rep;
	size_t used, budget;
	json_t *o;

	if (f == NULL || f->probe == NULL)
		return base;
	rep = ollama_probe_report(f->probe);
	if (!rep->known)
		return base;
	/* header, name, signature, base, and ,"ollama": around ours */
	used = WIRE_HDR_LEN + 1 + strlen(self_name) + WIRE_SIG_LEN +
	       strlen(base) + 12;
	budget = used < WIRE_MAX ? WIRE_MAX - used : 0;
	if ((o = json_loads(base, 0, NULL)) == NULL || !json_is_object(o)) {
		json_decref(o);
		return base;
	}
	json_object_set_new(o, "ollama", ollama_report_payload(rep, budget));
	free(f->payload);
	f->payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (f->payload == NULL ||
	    strlen(f->payload) > strlen(base) + budget + 12)
		return base; /* even the digest does not fit: say nothing */
	return f->payload;
}

void
failover_probe_now(struct failover *f)
{
	if (f != NULL)
		ollama_probe_now(f->probe);
}

json_t *
failover_status_json(const struct failover *f)
{
	return proxy_status_json(f->px);
}

void
failover_metrics(const struct failover *f, struct metrics *m)
{
	proxy_metrics(f->px, m);
}
