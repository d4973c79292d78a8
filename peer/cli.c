/* SPDX-License-Identifier: ISC */
/*
 * cli: `peerwatch status` and the shared "which config, which host" logic.
 * The table mimics `serf members`: one row per peer, fixed columns.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/log.h"
#include "config/conf.h"
#include "peer/cli.h"
#include "peer/ctl.h"
#include "heal/resguard.h"
#include "heal/watch.h"
#include "heal/cmdrun.h"

#include <event2/event.h>

const char *
cli_config_path(const char *opt)
{
	const char *env = getenv("PEERWATCH_CONFIG");

	if (opt)
		return opt;
	if (env && *env)
		return env;
	return CONF_DEFAULT_PATH;
}

const char *
cli_name(const char *opt)
{
	const char *env = getenv("PEERWATCH_NAME");

	if (opt)
		return opt;
	return env && *env ? env : NULL;
}

struct conf *
cli_load(const char *cpath_opt, const char *name_opt, int *self)
{
	struct conf_errors errs = {NULL, 0};
	const char *cpath = cli_config_path(cpath_opt);
	const char *name = cli_name(name_opt);
	struct conf *c;
	char err[1024];
	size_t i;

	if (access(cpath, F_OK) == -1 && errno == ENOENT) {
		fprintf(stderr,
		    "peerwatch: no config at %s: give one with -c FILE or "
		    "$PEERWATCH_CONFIG\n(an example: "
		    "deploy/peers.conf.example; "
		    "the format: man peers.conf)\n",
		    cpath);
		return NULL;
	}
	if ((c = conf_load_file(cpath, &errs)) == NULL) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		fprintf(stderr,
		    "peerwatch: %s is invalid (peerwatch "
		    "check-config -c %s)\n",
		    cpath, cpath);
		conf_errors_clear(&errs);
		return NULL;
	}
	conf_errors_clear(&errs);
	/* the CLI needs only to know which host it is, not the key itself */
	if (name && (*self = conf_peer_index(c, name)) >= 0)
		return c;
	if ((*self = conf_find_self(c, name, NULL, err, sizeof(err))) == -1) {
		fprintf(stderr, "peerwatch: %s\n", err);
		conf_free(c);
		return NULL;
	}
	return c;
}

/* what the commands that talk to the daemon take */
struct cli_args {
	const char *cpath, *name; /* -c, --name */
	const char *peer, *svc;   /* --peer, --service */
	uint64_t ms;              /* --for (0: not given) */
	int json, dry, cancel;    /* --json, --dry-run, --cancel */
};

/*
 * getopt_long over the options every such command shares, accepting only
 * those whose short letters are in `accept` ("c:n:jh" and so on). 0, or
 * the exit code: 0 after --help (printed), 2 for a bad option.
 */
static int
cli_opts(int argc, char **argv, const char *accept, const char *help,
    struct cli_args *a, int *done)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"name", required_argument, NULL, 'n'},
	    {"peer", required_argument, NULL, 'p'},
	    {"service", required_argument, NULL, 's'},
	    {"for", required_argument, NULL, 'f'},
	    {"dry-run", no_argument, NULL, 'd'},
	    {"cancel", no_argument, NULL, 'x'},
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	int ch;

	memset(a, 0, sizeof(*a));
	*done = 1;
	while ((ch = getopt_long(argc, argv, accept, opts, NULL)) != -1) {
		/* a long option of another command is refused here too */
		if (ch == '?' || strchr(accept, ch) == NULL) {
			if (ch != '?')
				fprintf(stderr,
				    "peerwatch: %s: unknown option\n",
				    argv[optind - 1]);
			return 2;
		}
		switch (ch) {
		case 'c':
			a->cpath = optarg;
			break;
		case 'n':
			a->name = optarg;
			break;
		case 'p':
			a->peer = optarg;
			break;
		case 's':
			a->svc = optarg;
			break;
		case 'f':
			if (conf_parse_duration(optarg, &a->ms) == -1 ||
			    a->ms == 0) {
				fprintf(stderr,
				    "peerwatch: --for %s: not a duration "
				    "(like 30m, 2h)\n",
				    optarg);
				return 2;
			}
			break;
		case 'd':
			a->dry = 1;
			break;
		case 'x':
			a->cancel = 1;
			break;
		case 'j':
			a->json = 1;
			break;
		case 'h':
			printf("%s", help);
			return 0;
		}
	}
	*done = 0;
	return 0;
}

/*
 * One request to the running daemon (takes req): prints the reply as JSON
 * or through print, and returns it (new reference); NULL after printing
 * why there is none (no daemon, no answer, or an error reply).
 */
static json_t *
cli_ask(const struct conf *c, int self, json_t *req, int timeout_ms, int json,
    void (*print)(json_t *))
{
	json_t *reply = NULL;
	char err[1024];

	if (ctl_request(conf_state_dir(c, (size_t)self), req, &reply,
	        timeout_ms, err, sizeof(err)) == -1) {
		fprintf(stderr, "peerwatch: %s\n", err);
		reply = NULL;
	} else if (json_object_get(reply, "error") &&
	           !json_object_get(reply, "peer")) {
		/* a refusal; a revive's result carries its own error */
		fprintf(stderr, "peerwatch: %s\n",
		    json_string_value(json_object_get(reply, "error")));
		json_decref(reply);
		reply = NULL;
	} else if (json) {
		json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else
		print(reply);
	json_decref(req);
	return reply;
}

/* the failover endpoint's backends, when there is one */
static void
cli_print_ollama(json_t *o)
{
	json_t *b, *m, *loaded, *f, *v;
	const char *name, *state, *k;
	size_t i, j;
	long long failed;

	if ((o = json_object_get(o, "ollama")) == NULL)
		return;
	printf("\nOllama failover on %s\n%-16s %-12s %-8s %-7s %s\n",
	    json_string_value(json_object_get(o, "listen")), "Backend", "State",
	    "Requests", "Failed", "Models (* loaded)");
	json_object_foreach(json_object_get(o, "backends"), name, b) {
		failed = 0;
		json_object_foreach(json_object_get(b, "failures"), k, f)
			if (strcmp(k, "client_gone") != 0)
				failed += json_integer_value(f);
		state = json_object_get(b, "diagnostic") ? "unreachable"
		        : json_is_true(json_object_get(b, "marked_down"))
		            ? "failing"
		        : json_is_true(json_object_get(b, "reported_up"))
		            ? "up"
		            : "down";
		printf("%-16s %-12s %-8lld %-7lld", name, state,
		    (long long)json_integer_value(
		        json_object_get(b, "requests")),
		    failed);
		m = json_object_get(b, "models");
		loaded = json_object_get(b, "loaded");
		if (!json_is_array(m))
			printf(" ?");
		json_array_foreach(m, i, v) {
			int star = 0;
			json_t *l;
			json_array_foreach(loaded, j, l)
				star |= json_equal(l, v);
			printf("%s%s%s", i ? ", " : " ", json_string_value(v),
			    star ? "*" : "");
		}
		printf("\n");
	}
}

/* the local watch's services, under the peers */
static void
cli_print_services(json_t *a)
{
	const char *name;
	json_t *sv;

	if (json_object_size(a) == 0)
		return;
	printf("\n%-20s %-8s %-10s %-9s %s\n", "Service", "State", "Breaker",
	    "Restarts", "Last probe");
	json_object_foreach(a, name, sv) {
		printf("%-20s %-8s %-10s %-9lld %s\n", name,
		    json_string_value(json_object_get(sv, "state")),
		    json_string_value(json_object_get(sv, "breaker")),
		    (long long)json_integer_value(
		        json_object_get(sv, "restarts")),
		    json_string_value(json_object_get(sv, "detail")));
	}
}

/* the resource guards' figures, under the services */
static void
cli_print_resources(json_t *r)
{
	json_t *disk = json_object_get(r, "disk"), *d,
	       *swap = json_object_get(r, "swap"),
	       *stuck = json_object_get(r, "stuck");
	const char *path, *what;
	double total;

	if (json_object_size(disk) == 0 && !json_is_object(swap) &&
	    !json_is_object(stuck))
		return;
	printf("\n%-24s %-6s %s\n", "Resource", "Used", "Level");
	json_object_foreach(disk, path, d) {
		if (json_is_integer(json_object_get(d, "used_pct")))
			printf("%-24s %3lld%%   %s\n", path,
			    (long long)json_integer_value(
			        json_object_get(d, "used_pct")),
			    json_string_value(json_object_get(d, "level")));
		else
			printf("%-24s %-6s %s\n", path, "-", "unknown");
	}
	if (json_is_object(swap)) {
		total =
		    (double)json_integer_value(json_object_get(swap, "total"));
		printf("%-24s %3.0f%%   %s (%lld unloads)\n", "swap",
		    total > 0 ? (double)json_integer_value(
		                    json_object_get(swap, "used")) *
		                    100 / total
		              : 0.0,
		    json_string_value(json_object_get(swap, "level")),
		    (long long)json_integer_value(
		        json_object_get(r, "unloads")));
	}
	what = json_string_value(json_object_get(stuck, "reading"));
	if (what != NULL)
		printf("reading %s stuck for %lld s (a hung file system?)\n",
		    what,
		    (long long)json_integer_value(
		        json_object_get(stuck, "seconds")));
}

static void
cli_print_table(json_t *o)
{
	json_t *peers = json_object_get(o, "peers"), *p, *v;
	const char *name;
	char heard[32], votes[32];

	printf("%-16s %-8s %-9s %-7s %-16s %-10s %s\n", "Node", "State",
	    "Confirmed", "Votes", "Acting peer", "Heard", "Incarnation");
	printf("%-16s %-8s %-9s %-7s %-16s %-10s %lld\n",
	    json_string_value(json_object_get(o, "self")), "self", "-", "-",
	    "-", "-",
	    (long long)json_integer_value(json_object_get(o, "incarnation")));
	json_object_foreach(peers, name, p) {
		v = json_object_get(p, "last_heard_ms");
		if (json_is_integer(v))
			snprintf(heard, sizeof(heard), "%lldms",
			    (long long)json_integer_value(v));
		else
			snprintf(heard, sizeof(heard), "never");
		snprintf(votes, sizeof(votes), "%lld/%lld",
		    (long long)json_integer_value(
		        json_object_get(p, "votes_down")),
		    (long long)json_integer_value(
		        json_object_get(p, "votes_needed")));
		v = json_object_get(p, "acting_peer");
		printf("%-16s %-8s %-9s %-7s %-16s %-10s %lld\n", name,
		    json_string_value(json_object_get(p, "state")),
		    json_is_true(json_object_get(p, "confirmed_down")) ? "down"
		                                                       : "no",
		    votes, json_is_string(v) ? json_string_value(v) : "-",
		    heard,
		    (long long)json_integer_value(
		        json_object_get(p, "incarnation")));
	}
	printf("\nquorum: %s", json_is_true(json_object_get(o, "has_quorum"))
	                           ? "yes"
	                           : "NO (this host will not act)");
	json_object_foreach(json_object_get(o, "acting"), name, p)
		printf("; acting for %s (%s)", name,
		    json_string_value(json_object_get(p, "step")));
	printf("\n");
	/* a peer whose datagrams this host lost while others still hear it
	 * is held at suspect, not down: say who vouches for it */
	json_object_foreach(peers, name, p) {
		v = json_object_get(p, "heard_by");
		if (json_is_object(v))
			printf("%s: suspect here, heard by %s %lldms ago\n",
			    name, json_string_value(json_object_get(v, "peer")),
			    (long long)json_integer_value(
			        json_object_get(v, "ms_ago")));
	}
	cli_print_ollama(o);
	cli_print_services(json_object_get(o, "services"));
	cli_print_resources(json_object_get(o, "resources"));
}

int
cli_status(int argc, char **argv)
{
	static const char help[] =
	    "usage: peerwatch status [-c FILE] [--name NAME] [--json]\n"
	    "       peerwatch members ...\n\nAsk the running daemon (through "
	    "state_dir/control.sock) for its view of the mesh.\n"
	    "  --json  the same object as GET /status\n";
	struct cli_args a;
	json_t *reply;
	struct conf *c;
	int self, rc, done;

	if ((rc = cli_opts(argc, argv, "c:n:jh", help, &a, &done)) != 0 || done)
		return rc;
	if (optind != argc) {
		fprintf(stderr, "usage: peerwatch status [--json]\n");
		return 2;
	}
	if ((c = cli_load(a.cpath, a.name, &self)) == NULL)
		return 1;
	reply = cli_ask(c, self, json_pack("{ss}", "cmd", "status"), 5000,
	    a.json, cli_print_table);
	rc = reply ? 0 : 1;
	json_decref(reply);
	conf_free(c);
	return rc;
}

static void
cli_print_revive(json_t *r)
{
	json_t *g;
	size_t i;

	printf("%s %s: ssh %s%s%s\n",
	    json_is_true(json_object_get(r, "dry_run")) ? "dry run of revive of"
	                                                : "revive of",
	    json_string_value(json_object_get(r, "peer")),
	    json_string_value(json_object_get(r, "ssh")),
	    *json_string_value(json_object_get(r, "error")) ? ": " : "",
	    json_string_value(json_object_get(r, "error")));
	json_array_foreach(json_object_get(r, "guards"), i, g) {
		const char *src =
		    json_string_value(json_object_get(g, "source"));
		const char *why =
		    json_string_value(json_object_get(g, "invalid_reason"));
		printf("  %-16s %-14s %s%s%s%s\n",
		    json_string_value(json_object_get(g, "guard")),
		    json_string_value(json_object_get(g, "outcome")),
		    json_string_value(json_object_get(g, "file")),
		    *why ? " (" : "", why, *why ? ")" : "");
		if (src && *src)
			printf("  %-16s %-14s from %s\n", "", "", src);
	}
	json_array_foreach(json_object_get(r, "flags"), i, g) {
		int want = json_is_true(json_object_get(g, "write"));
		printf("  flag %-11s %-14s %s\n  %-16s %-14s (%s)\n",
		    json_string_value(json_object_get(g, "for")),
		    json_is_true(json_object_get(r, "dry_run"))
		        ? (want ? "would_write" : "not_written")
		    : json_is_true(json_object_get(g, "written"))
		        ? "written"
		        : "not_written",
		    json_string_value(json_object_get(g, "flag")), "", "",
		    json_string_value(json_object_get(g, "why")));
	}
	if (json_is_true(json_object_get(r, "stopped")))
		printf("  stopped: the peer was heard again\n");
}

int
cli_revive(int argc, char **argv)
{
	static const char help[] =
	    "usage: peerwatch revive PEER [--dry-run] [--json] [-c FILE] "
	    "[--name NAME]\n\nRevive PEER now, through the running daemon: "
	    "over SSH, check each of its\nguarded files, restore broken ones "
	    "from the backup cascade, and flag what needs\na restart: each "
	    "restored guard, and PEER's peerwatch if this host acts for "
	    "it\n(confirmed down). Lifts the hourly limit. --dry-run shows "
	    "what it would do,\nwhich flags it would write and why, and "
	    "writes nothing.\n";
	struct cli_args a;
	json_t *reply;
	struct conf *c;
	int self, rc, done;

	if ((rc = cli_opts(argc, argv, "c:n:djh", help, &a, &done)) != 0 ||
	    done)
		return rc;
	if (optind != argc - 1) {
		fprintf(stderr, "usage: peerwatch revive PEER [--dry-run]\n");
		return 2;
	}
	if ((c = cli_load(a.cpath, a.name, &self)) == NULL)
		return 1;
	reply = cli_ask(c, self,
	    json_pack("{sssssb}", "cmd", "revive", "peer", argv[optind],
	        "dry_run", a.dry),
	    (int)(4 * c->mesh.ssh_timeout_ms + 15000), a.json,
	    cli_print_revive);
	rc = reply && strcmp(json_string_value(json_object_get(reply, "ssh")),
	                  "ok") == 0
	         ? 0
	         : 1;
	json_decref(reply);
	conf_free(c);
	return rc;
}

static void
cli_print_ok(json_t *r)
{
	(void)r;
}

/*
 * A command with the common options and, when key is not NULL, one
 * argument sent as key (beat SERVICE, reset SERVICE; alert-test has none).
 * Returns the daemon's reply (new reference), or NULL with *rc the exit
 * code (0 after --help).
 */
static json_t *
cli_simple(int argc, char **argv, const char *cmd, const char *key,
    const char *help, int timeout_ms, void (*print)(json_t *), int *rc)
{
	struct cli_args a;
	json_t *reply, *req;
	struct conf *c;
	int self, done;

	if ((*rc = cli_opts(argc, argv, "c:n:jh", help, &a, &done)) != 0 ||
	    done)
		return NULL;
	*rc = 2;
	if (optind != argc - (key ? 1 : 0)) {
		fprintf(stderr, "usage: peerwatch %s%s\n", cmd,
		    key ? " SERVICE" : "");
		return NULL;
	}
	*rc = 1;
	if ((c = cli_load(a.cpath, a.name, &self)) == NULL)
		return NULL;
	req = json_pack("{ss}", "cmd", cmd);
	if (key != NULL)
		json_object_set_new(req, key, json_string(argv[optind]));
	reply = cli_ask(c, self, req, timeout_ms, a.json, print);
	conf_free(c);
	return reply;
}

/* peerwatch beat NAME / peerwatch reset NAME */
static int
cli_service_cmd(int argc, char **argv, const char *cmd, const char *help)
{
	int rc;
	json_t *reply = cli_simple(
	    argc, argv, cmd, "service", help, 5000, cli_print_ok, &rc);

	if (reply == NULL)
		return rc;
	json_decref(reply);
	return 0;
}

int
cli_beat(int argc, char **argv)
{
	return cli_service_cmd(argc, argv, "beat",
	    "usage: peerwatch beat SERVICE [-c FILE] [--name NAME] [--json]\n\n"
	    "Report a push beat for SERVICE (a [service] whose probe is "
	    "beat:DURATION)\nto the running daemon: the service counts as up "
	    "while beats come within\nDURATION. Talks to state_dir/"
	    "control.sock, so it needs the daemon's user;\na worker running "
	    "as another user touches the service's beat_file instead.\n"
	    "Exit 0 when the daemon took the beat.\n");
}

int
cli_reset(int argc, char **argv)
{
	return cli_service_cmd(argc, argv, "reset",
	    "usage: peerwatch reset SERVICE [-c FILE] [--name NAME] [--json]\n"
	    "\nRe-arm SERVICE's circuit breaker and restart backoff at once "
	    "(instead of\nwaiting for breaker_cooldown), close its "
	    "circuit_open incident, and probe\nit now: if it is still down "
	    "the next restart follows.\n");
}

static void
cli_print_alert_test(json_t *r)
{
	json_t *ans = json_object_get(r, "answer");
	char *s;

	printf("%s: HTTP %d\n",
	    json_is_true(json_object_get(r, "ok")) ? "sent" : "not sent",
	    (int)json_integer_value(json_object_get(r, "http")));
	if (json_object_get(r, "error"))
		printf("error: %s\n",
		    json_string_value(json_object_get(r, "error")));
	if (ans != NULL) {
		s = json_dumps(ans, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("answer: %s\n", s);
		free(s);
	}
}

int
cli_alert_test(int argc, char **argv)
{
	int rc;
	json_t *reply = cli_simple(argc, argv, "alert-test", NULL,
	    "usage: peerwatch alert-test [-c FILE] [--name NAME] [--json]\n\n"
	    "Send a test message to telegram_chat through the running daemon "
	    "(not\nthrough the outbox) and print the Bot API's answer. Exit 0 "
	    "when the API\nsaid ok.\n",
	    20000, cli_print_alert_test, &rc);

	if (reply == NULL)
		return rc;
	rc = json_is_true(json_object_get(reply, "ok")) ? 0 : 1;
	json_decref(reply);
	return rc;
}

static void
cli_on_once_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

int
cli_run_once(const char *cpath, const char *name, int json)
{
	struct event_base *base;
	struct event *deadline;
	struct watch *w;
	struct resguard *rg;
	struct conf *c;
	struct timeval tv = {0, 200 * 1000};
	uint64_t max_ms = 0;
	json_t *st, *res;
	size_t i, n = 0;
	int self, rc;

	if ((c = cli_load(cpath, name, &self)) == NULL)
		return 1;
	for (i = 0; i < c->nservices; i++)
		if (c->services[i].peer_idx == (size_t)self) {
			n++;
			if (c->services[i].timeout_ms > max_ms)
				max_ms = c->services[i].timeout_ms;
		}
	base = event_base_new();
	w = watch_new_once(base, NULL, NULL, c, (size_t)self, NULL, NULL, 1);
	rg = resguard_new_once(base, c, (size_t)self);
	watch_probe_all(w);
	/* every probe ends by its own timeout; a little more for the reaping */
	max_ms += 2000;
	tv.tv_sec = (time_t)(max_ms / 1000);
	tv.tv_usec = (suseconds_t)(max_ms % 1000) * 1000;
	deadline = evtimer_new(base, cli_on_once_deadline, base);
	evtimer_add(deadline, &tv);
	while (!(watch_settled(w) && resguard_settled(rg)) &&
	       event_base_loop(base, EVLOOP_ONCE) == 0 &&
	       !event_base_got_break(base))
		;
	st = watch_status_json(w);
	res = resguard_status_json(rg);
	rc = watch_down_count(w) > 0 || !watch_settled(w) ||
	             !resguard_settled(rg) || resguard_critical(rg) > 0
	         ? 1
	         : 0;
	if (json) {
		json_t *o = json_pack("{sssOsOsb}", "host", c->peers[self].name,
		    "services", st, "resources", res, "ok", rc == 0);

		json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		json_decref(o);
	} else {
		if (n == 0)
			printf("no [service ...@%s] sections in %s\n",
			    c->peers[self].name, c->path);
		else
			cli_print_services(st);
		cli_print_resources(res);
	}
	json_decref(st);
	json_decref(res);
	event_free(deadline);
	resguard_free(rg);
	watch_free(w);
	cmdrun_shutdown();
	event_base_free(base);
	conf_free(c);
	return rc;
}

static void
cli_print_hold(json_t *r)
{
	json_t *until = json_object_get(r, "until");

	if (json_is_string(json_object_get(r, "key")))
		printf("%s: %s\n", json_string_value(json_object_get(r, "key")),
		    json_integer_value(until) > 0 ? "in maintenance"
		                                  : "normal watching");
}

int
cli_maintenance(int argc, char **argv)
{
	static const char help[] =
	    "usage: peerwatch maintenance on|off [--for DURATION] "
	    "[--peer NAME | --service SERVICE@PEER]\n"
	    "                             [-c FILE] [--name NAME] [--json]\n"
	    "\nPut a peer (default: this host) or a service in maintenance: "
	    "it is shown\nas such, never revived or restarted, never paged "
	    "about, on every peer (the\nsetting travels in the heartbeats). "
	    "It ends by itself after DURATION\n(default 1h, at most 7 days) "
	    "or with `off`.\n";
	struct cli_args a;
	json_t *reply;
	struct conf *c;
	int self, rc, on, done;

	if ((rc = cli_opts(argc, argv, "c:n:p:s:f:jh", help, &a, &done)) != 0 ||
	    done)
		return rc;
	if (a.ms == 0)
		a.ms = 60 * 60 * 1000;
	if (optind != argc - 1 ||
	    (strcmp(argv[optind], "on") != 0 &&
	        strcmp(argv[optind], "off") != 0) ||
	    (a.peer && a.svc)) {
		fprintf(stderr, "usage: peerwatch maintenance on|off [--for "
		                "DURATION] [--peer NAME | --service S@PEER]\n");
		return 2;
	}
	on = strcmp(argv[optind], "on") == 0;
	if ((c = cli_load(a.cpath, a.name, &self)) == NULL)
		return 1;
	if (a.peer && conf_peer_index(c, a.peer) < 0) {
		fprintf(
		    stderr, "peerwatch: no peer %s in %s\n", a.peer, c->path);
		conf_free(c);
		return 1;
	}
	reply = cli_ask(c, self,
	    json_pack("{sssssI}", "cmd", "maintenance", "key",
	        a.svc    ? a.svc
	        : a.peer ? a.peer
	                 : c->peers[self].name,
	        "duration_ms", (json_int_t)(on ? a.ms : 0)),
	    5000, a.json, cli_print_hold);
	rc = reply ? 0 : 1;
	json_decref(reply);
	conf_free(c);
	return rc;
}

int
cli_sleep_notice(int argc, char **argv)
{
	static const char help[] =
	    "usage: peerwatch sleep-notice [--cancel] [-c FILE] [--name "
	    "NAME]\n\nTell the mesh this host is about to sleep: the peers "
	    "show it asleep,\nnever down, revived or paged, until it is "
	    "heard again or max_sleep\npasses. The notice ends by itself "
	    "when the daemon wakes; --cancel ends it\nnow. Run before suspend "
	    "(deploy-units --linux writes a unit for\nsleep.target; on macOS "
	    "the daemon hears the system's own notice).\n";
	struct cli_args a;
	json_t *reply;
	struct conf *c;
	int self, rc, done;

	if ((rc = cli_opts(argc, argv, "c:n:xh", help, &a, &done)) != 0 || done)
		return rc;
	if ((c = cli_load(a.cpath, a.name, &self)) == NULL)
		return 1;
	reply = cli_ask(c, self,
	    json_pack("{sssb}", "cmd", "sleep", "sleeping", !a.cancel), 5000, 0,
	    cli_print_ok);
	rc = reply ? 0 : 1;
	json_decref(reply);
	conf_free(c);
	return rc;
}
