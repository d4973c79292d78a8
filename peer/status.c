/* SPDX-License-Identifier: ISC */
/*
 * status: evhttp serving /status, /metrics and / from callbacks into the
 * loop's state. Read-only by construction: there is no handler that
 * changes anything.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "common/log.h"
#include "common/tcplisten.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "peer/status.h"

struct status {
	struct evhttp *http;
	status_json_cb json_cb;
	status_metrics_cb metrics_cb;
	void *arg;
};

static void
status_reply(
    struct evhttp_request *req, int code, const char *ctype, const char *body)
{
	struct evbuffer *buf = evbuffer_new();

	evhttp_add_header(
	    evhttp_request_get_output_headers(req), "Content-Type", ctype);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Cache-Control", "no-store");
	evbuffer_add(buf, body, strlen(body));
	evhttp_send_reply(req, code, code == 200 ? "OK" : "Error", buf);
	evbuffer_free(buf);
}

static void
status_page(struct status *st, struct evhttp_request *req)
{
	json_t *o = st->json_cb(st->arg), *p;
	const char *name;
	char *html, *rows = xstrdup(""), *tmp;

	json_object_foreach(json_object_get(o, "peers"), name, p) {
		const json_t *a = json_object_get(p, "acting_peer");
		tmp = xasprintf("%s<tr><td>%s</td><td class=%s>%s</td><td>%s"
		                "</td><td>%s</td></tr>\n",
		    rows, name, json_string_value(json_object_get(p, "state")),
		    json_string_value(json_object_get(p, "state")),
		    json_is_true(json_object_get(p, "confirmed_down")) ? "yes"
		                                                       : "no",
		    json_is_string(a) ? json_string_value(a) : "-");
		free(rows);
		rows = tmp;
	}
	html = xasprintf(
	    "<!doctype html><html><head><meta charset=utf-8>"
	    "<meta http-equiv=refresh content=2><title>peerwatch %s</title>"
	    "<style>body{font-family:sans-serif}td,th{padding:2px 12px}"
	    ".alive{color:green}.suspect{color:orange}.down{color:red}"
	    "</style></head><body><h1>peerwatch: %s</h1><p>quorum: %s</p>"
	    "<table><tr><th>peer</th><th>state</th><th>confirmed down</th>"
	    "<th>acting peer</th></tr>\n%s</table><p><a href=/status>"
	    "/status</a> <a href=/metrics>/metrics</a></p></body></html>\n",
	    json_string_value(json_object_get(o, "self")),
	    json_string_value(json_object_get(o, "self")),
	    json_is_true(json_object_get(o, "has_quorum")) ? "yes" : "no",
	    rows);
	status_reply(req, 200, "text/html; charset=utf-8", html);
	free(html);
	free(rows);
	json_decref(o);
}

static void
status_on_request(struct evhttp_request *req, void *arg)
{
	struct status *st = arg;
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	char *body;
	json_t *o;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		status_reply(req, 405, "text/plain", "read-only: GET only\n");
		return;
	}
	if (path == NULL || strcmp(path, "/") == 0) {
		status_page(st, req);
	} else if (strcmp(path, "/status") == 0) {
		o = st->json_cb(st->arg);
		body = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		status_reply(req, 200, "application/json", body ? body : "{}");
		free(body);
		json_decref(o);
	} else if (strcmp(path, "/metrics") == 0) {
		body = st->metrics_cb(st->arg);
		status_reply(req, 200, "text/plain; version=0.0.4", body);
		free(body);
	} else
		status_reply(req, 404, "text/plain", "not found\n");
}

struct status *
status_new(struct event_base *base, const char *listen, status_json_cb jcb,
    status_metrics_cb mcb, void *arg, char *err, size_t errlen)
{
	struct status *st = xcalloc(1, sizeof(*st));
	char *host = NULL;
	uint16_t port = 0;
	evutil_socket_t fd = -1;

	st->json_cb = jcb;
	st->metrics_cb = mcb;
	st->arg = arg;
	if (conf_parse_hostport(listen, &host, &port) == -1 || port == 0) {
		snprintf(
		    err, errlen, "status_listen %s: want host:port", listen);
		goto fail;
	}
	st->http = evhttp_new(base);
	evhttp_set_allowed_methods(
	    st->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                  EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_timeout(st->http, 10);
	evhttp_set_max_headers_size(st->http, 8192);
	evhttp_set_max_body_size(st->http, 4096);
	evhttp_set_gencb(st->http, status_on_request, st);
	if ((fd = tcplisten(host, port, 64)) == -1 ||
	    evhttp_accept_socket(st->http, fd) == -1) {
		snprintf(err, errlen, "status_listen %s: cannot listen: %s",
		    listen, strerror(errno));
		if (fd != -1)
			evutil_closesocket(fd);
		goto fail;
	}
	free(host);
	return st;
fail:
	free(host);
	status_free(st);
	return NULL;
}

void
status_free(struct status *st)
{
	if (st == NULL)
		return;
	if (st->http)
		evhttp_free(st->http);
	free(st);
}
