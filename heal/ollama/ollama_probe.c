/* SPDX-License-Identifier: ISC */
/*
 * ollama_probe: a timer starts GET /api/tags; when it answers, GET
 * /api/ps; both together make one report. A failed /api/tags means down;
 * a failed /api/ps only means no loaded models known. One probe at a
 * time; each transfer has a deadline shorter than the interval.
 */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "heal/curlev.h"
#include "heal/ollama/ollama_probe.h"
#include "heal/ollama/ollama_report.h"

struct ollama_probe {
	struct curlev *cv;
	char *url;
	char *lo_url; /* the same port on 127.0.0.1, or NULL */
	int use_lo;   /* this round asks lo_url: url did not answer */
	uint64_t interval_ms;
	struct event *timer;
	struct curlev_get *get; /* the request under way */
	json_t *tags;
	struct ollama_report rep;
	ollama_probe_cb cb;
	void *arg;
};

static void ollama_probe_get(struct ollama_probe *, const char *path);

static void
ollama_probe_result(struct ollama_probe *p, const json_t *ps)
{
	struct ollama_report n;

	memset(&n, 0, sizeof(n));
	if (p->tags == NULL || ollama_report_from_api(&n, p->tags, ps) == -1)
		ollama_report_down(&n);
	else if (p->use_lo)
		n.lo_only = 1;
	if (n.lo_only && !p->rep.lo_only)
		log_warnx("ollama at %s answers only on 127.0.0.1: other peers "
		          "cannot use it; set OLLAMA_HOST=0.0.0.0 in its "
		          "service definition",
		    p->url);
	if (!ollama_report_equal(&n, &p->rep)) {
		if (p->rep.known && p->rep.up != n.up)
			log_info("ollama local state=%s->%s",
			    p->rep.up ? "up" : "down", n.up ? "up" : "down");
		ollama_report_clear(&p->rep);
		p->rep = n;
		p->cb(&p->rep, p->arg);
	} else
		ollama_report_clear(&n);
	json_decref(p->tags);
	p->tags = NULL;
}

/* /api/tags answered (or not): then /api/ps, or the result */
static void
ollama_probe_on_tags(const json_t *o, void *arg)
{
	struct ollama_probe *p = arg;

	p->get = NULL;
	if (o == NULL && !p->use_lo && p->lo_url != NULL) {
		/* is it up but bound to loopback only? */
		p->use_lo = 1;
		ollama_probe_get(p, "/api/tags");
		return;
	}
	if (o == NULL) {
		ollama_probe_result(p, NULL);
		return;
	}
	p->tags = json_deep_copy(o);
	ollama_probe_get(p, "/api/ps");
}

static void
ollama_probe_on_ps(const json_t *o, void *arg)
{
	struct ollama_probe *p = arg;

	p->get = NULL;
	ollama_probe_result(p, o);
}

static void
ollama_probe_get(struct ollama_probe *p, const char *path)
{
	long tmo = (long)(p->interval_ms < 3000 ? p->interval_ms : 3000);
	char *url = xasprintf("%s%s", p->use_lo ? p->lo_url : p->url, path);

	p->get = curlev_get_json(p->cv, url, tmo,
	    p->tags == NULL ? ollama_probe_on_tags : ollama_probe_on_ps, p);
	free(url);
}

static void
ollama_probe_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct ollama_probe *p = arg;
	struct timeval tv;

	(void)fd;
	(void)what;
	tv.tv_sec = (time_t)(p->interval_ms / 1000);
	tv.tv_usec = (suseconds_t)(p->interval_ms % 1000) * 1000;
	evtimer_add(p->timer, &tv);
	if (p->get != NULL)
		return; /* the last one is still under way */
	json_decref(p->tags);
	p->tags = NULL;
	p->use_lo = 0;
	ollama_probe_get(p, "/api/tags");
}

void
ollama_probe_now(struct ollama_probe *p)
{
	if (p != NULL)
		ollama_probe_on_timer(-1, 0, p); /* and the next in interval */
}

/* http://HOST:PORT/... -> http://127.0.0.1:PORT/..., NULL if HOST is
 * 127.0.0.1 (or localhost, ::1) already, or the URL does not parse */
static char *
ollama_probe_lo_url(const char *url)
{
	CURLU *u = curl_url();
	char *host = NULL, *out = NULL, *s = NULL;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto done;
	if (strcmp(host, "localhost") == 0 || strcmp(host, "127.0.0.1") == 0 ||
	    strcmp(host, "[::1]") == 0)
		goto done;
	if (curl_url_set(u, CURLUPART_HOST, "127.0.0.1", 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &s, 0) == CURLUE_OK) {
		out = xstrdup(s);
		curl_free(s);
	}
done:
	curl_free(host);
	curl_url_cleanup(u);
	return out;
}

struct ollama_probe *
ollama_probe_new(struct event_base *base, struct curlev *cv, const char *url,
    uint64_t interval_ms, ollama_probe_cb cb, void *arg)
{
	struct ollama_probe *p = xcalloc(1, sizeof(*p));
	size_t len;

	p->cv = cv;
	p->url = xstrdup(url);
	len = strlen(p->url);
	while (len > 0 && p->url[len - 1] == '/')
		p->url[--len] = '\0';
	if ((p->lo_url = ollama_probe_lo_url(p->url)) != NULL) {
		len = strlen(p->lo_url);
		while (len > 0 && p->lo_url[len - 1] == '/')
			p->lo_url[--len] = '\0';
	}
	p->interval_ms = interval_ms ? interval_ms : 5000;
	p->cb = cb;
	p->arg = arg;
	p->timer = evtimer_new(base, ollama_probe_on_timer, p);
	ollama_probe_on_timer(-1, 0, p);
	return p;
}

void
ollama_probe_free(struct ollama_probe *p)
{
	if (p == NULL)
		return;
	curlev_get_cancel(p->cv, p->get);
	event_free(p->timer);
	json_decref(p->tags);
	free(p->url);
	free(p->lo_url);
	ollama_report_clear(&p->rep);
	free(p);
}

const struct ollama_report *
ollama_probe_report(const struct ollama_probe *p)
{
	return &p->rep;
}
