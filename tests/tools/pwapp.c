/* SPDX-License-Identifier: ISC */
/*
 * pwapp: the guarded application of the real-systemd tests. It reads its
 * JSON config (argv[1]) at start, exits 1 when the config is not valid (so
 * a broken config makes systemd's Restart= crash-loop it into its start
 * limit), and otherwise answers every HTTP GET on server.port with
 * {"tag": ..., "pid": ...}. Test-only.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <jansson.h>

static void
on_request(struct evhttp_request *req, void *arg)
{
	const char *tag = arg;
	struct evbuffer *b = evbuffer_new();

	evbuffer_add_printf(
	    b, "{\"tag\": \"%s\", \"pid\": %ld}\n", tag, (long)getpid());
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
on_term(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopexit(arg, NULL);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evhttp *http;
	struct event *term;
	json_error_t jerr;
	json_t *conf;
	json_int_t port;
	const char *tag;

	if (argc != 2) {
		fprintf(stderr, "usage: pwapp CONFIG.json\n");
		return 2;
	}
	conf = json_load_file(argv[1], 0, &jerr);
	if (conf == NULL) {
		fprintf(stderr, "pwapp: %s: not JSON (line %d)\n", argv[1],
		    jerr.line);
		return 1;
	}
	port = json_integer_value(
	    json_object_get(json_object_get(conf, "server"), "port"));
	tag = json_string_value(
	    json_object_get(json_object_get(conf, "server"), "tag"));
	if (port < 1 || port > 65535 || tag == NULL) {
		fprintf(stderr, "pwapp: %s: no server.port or server.tag\n",
		    argv[1]);
		return 1;
	}
	base = event_base_new();
	http = evhttp_new(base);
	if (evhttp_bind_socket(http, "0.0.0.0", (unsigned short)port) != 0) {
		fprintf(stderr, "pwapp: cannot listen on port %d\n", (int)port);
		return 1;
	}
	evhttp_set_gencb(http, on_request, (void *)(uintptr_t)tag);
	term = evsignal_new(base, SIGTERM, on_term, base);
	event_add(term, NULL);
	fprintf(stderr, "pwapp: serving tag %s on port %d\n", tag, (int)port);
	event_base_dispatch(base);
	event_free(term);
	evhttp_free(http);
	event_base_free(base);
	json_decref(conf);
	return 0;
}
