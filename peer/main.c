/* SPDX-License-Identifier: ISC */
/*
 * main: the peerwatch command line. Each subcommand parses its own options
 * and has --help. Only this file and loop.c may stop the process.
 * Globals: the stop flag for `events --follow` (set from a signal).
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <curl/curl.h>
#include <sodium.h>

#include "common/evlog.h"
#include "common/log.h"
#include "common/osdep.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "heal/revive.h"
#include "peer/cli.h"
#include "peer/units.h"
#include "peer/ctl.h"
#include "peer/loop.h"

static volatile int main_stop; /* events --follow: SIGINT/SIGTERM */

struct main_cmd {
	const char *name;
	int (*fn)(int, char **);
	const char *summary;
};

static int main_run(int, char **);
static int main_check_config(int, char **);
static int main_keygen(int, char **);
static int main_version(int, char **);
static int main_events(int, char **);

static const struct main_cmd main_cmds[] = {
    {"run", main_run, "run the daemon in the foreground"},
    {"status", cli_status, "show this host's view of the mesh"},
    {"members", cli_status, "alias of status"},
    {"revive", cli_revive, "revive a peer now (or --dry-run)"},
    {"beat", cli_beat, "a push beat for a service"},
    {"reset", cli_reset, "re-arm a service's circuit breaker"},
    {"alert-test", cli_alert_test, "send a Telegram test message"},
    {"maintenance", cli_maintenance, "hold a peer or service: no revive"},
    {"sleep-notice", cli_sleep_notice, "tell the mesh this host sleeps"},
    {"deploy-units", cli_deploy_units,
        "print systemd/launchd units for the flags"},
    {"check-config", main_check_config, "validate peers.conf"},
    {"keygen", main_keygen, "create this host's Ed25519 key"},
    {"events", main_events, "print the event log"},
    {"version", main_version, "print the version"},
};
#define MAIN_NCMDS (sizeof(main_cmds) / sizeof(main_cmds[0]))

static void
main_usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: peerwatch COMMAND [options]\n\n"
	           "peerwatch: a few machines watch each other and revive what "
	           "goes silent.\n\ncommands:\n");
	for (i = 0; i < MAIN_NCMDS; i++)
		fprintf(
		    f, "  %-14s %s\n", main_cmds[i].name, main_cmds[i].summary);
	fprintf(f,
	    "\n'peerwatch COMMAND --help' for a command's options.\n"
	    "The config is -c FILE, else $PEERWATCH_CONFIG, else %s.\n",
	    CONF_DEFAULT_PATH);
}

static int
main_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"name", required_argument, NULL, 'n'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"log", required_argument, NULL, 'l'},
	    {"once", no_argument, NULL, 'o'}, {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	struct loop_opts lo = {NULL, NULL, NULL};
	struct loop *l;
	const char *cpath = NULL, *name = NULL, *logfile = NULL;
	char err[8192], exe[4096];
	int ch, verbose = 0, once = 0, json = 0, rc;

	while ((ch = getopt_long(argc, argv, "c:n:vql:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cpath = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'q':
			verbose = -1;
			break;
		case 'l':
			logfile = optarg;
			break;
		case 'o':
			once = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			printf(
			    "usage: peerwatch run [-c FILE] [--name NAME] "
			    "[-v|-q] [--log FILE]\n       peerwatch run --once "
			    "[--json] [-c FILE] [--name NAME]\n\nRun the "
			    "daemon "
			    "in the "
			    "foreground (systemd and launchd run it so). Logs "
			    "go to stderr.\n  --once             run every "
			    "local service check once and read the\n"
			    "                     guarded disks and swap, "
			    "print "
			    "the results\n"
			    "                     (--json: as JSON) and exit 1 "
			    "if a service is down\n"
			    "                     or a resource critical; no "
			    "restarts, no cleanup,\n"
			    "                     no ports, nothing written\n"
			    "  -c, --config FILE  peers.conf\n"
			    "  -n, --name NAME    this host's [peer] section "
			    "(default: the one matching the key; "
			    "$PEERWATCH_NAME)\n  -v, --verbose      debug "
			    "logging\n  -q, --quiet        warnings only\n"
			    "  -l, --log FILE     log to FILE instead (0640, "
			    "appended), reopened\n                     when "
			    "newsyslog or logrotate moves it\n"
			    "Signals: SIGHUP reloads peers.conf (the old one "
			    "stays if the new one is invalid); SIGTERM and "
			    "SIGINT stop cleanly.\n");
			return 0;
		default:
			return 2;
		}
	}
	/* libcurl's global state, once for the process: the curl multis of
	 * the watch, the resource guards, escalation and the Ollama endpoint
	 * all live inside it, whichever of them a reload starts or stops */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (once) {
		rc = cli_run_once(cpath, name, json);
		curl_global_cleanup();
		return rc;
	}
	log_init(1, verbose);
	if (logfile && log_open(logfile) == -1) {
		fprintf(
		    stderr, "peerwatch: %s: %s\n", logfile, strerror(errno));
		curl_global_cleanup();
		return 1;
	}
	lo.conf_path = cli_config_path(cpath);
	lo.name = cli_name(name);
	/* unknown: revive_worker_path falls back to the libexec path */
	lo.self_exe = pw_self_exe(exe, sizeof(exe)) == 0 ? exe : NULL;
	signal(SIGPIPE, SIG_IGN);
	/* client connections to ollama_listen, each with one to a backend */
	pw_raise_nofile(4096);
	if ((l = loop_new(&lo, err, sizeof(err))) == NULL) {
		fprintf(stderr, "peerwatch: %s\n", err);
		curl_global_cleanup();
		return 1;
	}
	loop_run(l);
	loop_free(l);
	curl_global_cleanup();
	return 0;
}

static int
main_check_config(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	struct conf_errors errs = {NULL, 0};
	const char *cpath = NULL, *sddir;
	struct conf *c;
	json_t *o, *a, *w;
	char exe[4096], *heal;
	size_t i;
	int ch, json = 0;

	while ((ch = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cpath = optarg;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			printf(
			    "usage: peerwatch check-config [-c FILE] "
			    "[--json]\n\nValidate peers.conf and list every "
			    "error as FILE:LINE: message.\nExit 0 when valid, "
			    "1 when not. Also warns about systemd units in\n"
			    "/etc/systemd/system ($PEERWATCH_SYSTEMD_DIR) that "
			    "restart a service on a guard's\nflag without "
			    "`systemctl reset-failed` first, and when the heal "
			    "worker\n(peerwatch-heal) is not where the daemon "
			    "looks for it (a warning does not\nchange the "
			    "exit).\n");
			return 0;
		default:
			return 2;
		}
	}
	cpath = cli_config_path(cpath);
	c = conf_load_file(cpath, &errs);
	/* units the user wrote for guard flags, where systemd reads them */
	w = json_array();
	if (c != NULL) {
		if ((sddir = getenv("PEERWATCH_SYSTEMD_DIR")) == NULL)
			sddir = "/etc/systemd/system";
		units_check_systemd(c, sddir, w);
	}
	/* the worker this binary would start for revives and repairs */
	heal =
	    revive_worker_path(pw_self_exe(exe, sizeof(exe)) == 0 ? exe : NULL);
	if (access(heal, X_OK) == -1)
		json_array_append_new(
		    w, json_sprintf("heal worker %s: %s: revives and repairs "
		                    "cannot run (install it there, or name it "
		                    "in PEERWATCH_HEAL)",
		           heal, strerror(errno)));
	free(heal);
	if (json) {
		a = json_array();
		for (i = 0; i < errs.n; i++)
			json_array_append_new(a, json_string(errs.msgs[i]));
		o = json_pack("{sssbsoso}", "config", cpath, "valid", c != NULL,
		    "errors", a, "warnings", w);
		w = NULL;
		if (c)
			json_object_set_new(
			    o, "peers", json_integer((json_int_t)c->npeers));
		json_dumpf(o, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(o);
	} else {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		for (i = 0; i < json_array_size(w); i++)
			fprintf(stderr, "warning: %s\n",
			    json_string_value(json_array_get(w, i)));
		if (c)
			printf("%s: OK (%zu peer%s, %zu guard%s, %zu "
			       "service%s)\n",
			    cpath, c->npeers, c->npeers == 1 ? "" : "s",
			    c->nguards, c->nguards == 1 ? "" : "s",
			    c->nservices, c->nservices == 1 ? "" : "s");
		else
			fprintf(stderr, "%s: %zu error%s\n", cpath, errs.n,
			    errs.n == 1 ? "" : "s");
	}
	json_decref(w);
	conf_errors_clear(&errs);
	ch = c ? 0 : 1;
	conf_free(c);
	return ch;
}

static int
main_keygen(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"output", required_argument, NULL, 'o'},
	    {"show", required_argument, NULL, 's'},
	    {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	unsigned char *sk, pk[CONF_PUBKEY_LEN];
	const char *out = NULL, *show = NULL;
	char b64[64], err[512];
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "o:s:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			out = optarg;
			break;
		case 's':
			show = optarg;
			break;
		case 'h':
			printf(
			    "usage: peerwatch keygen -o FILE\n"
			    "       peerwatch keygen --show FILE\n\n"
			    "Write a new Ed25519 secret key to FILE (mode "
			    "0600; never overwrites) and print the\n"
			    "'pubkey = ...' line for this host's [peer] "
			    "section. --show prints it for an existing key.\n");
			return 0;
		default:
			return 2;
		}
	}
	if ((out == NULL) == (show == NULL)) {
		fprintf(stderr, "peerwatch keygen: need -o FILE or --show "
		                "FILE (see --help)\n");
		return 2;
	}
	if ((sk = sodium_malloc(CONF_SECKEY_LEN)) == NULL)
		return 1;
	if (show) {
		if (conf_read_seckey(show, sk, err, sizeof(err)) == -1)
			goto fail;
	} else {
		crypto_sign_keypair(pk, sk);
		if (conf_write_seckey(out, sk, err, sizeof(err)) == -1)
			goto fail;
	}
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	conf_pubkey_b64(pk, b64, sizeof(b64));
	if (out)
		fprintf(stderr,
		    "wrote %s (mode 0600); add this line to this "
		    "host's [peer] section:\n",
		    out);
	printf("pubkey = %s\n", b64);
	rc = 0;
fail:
	if (rc)
		fprintf(stderr, "peerwatch keygen: %s\n", err);
	sodium_free(sk);
	return rc;
}

static void
main_on_stop(int sig)
{
	(void)sig;
	main_stop = 1;
}

static int
main_events(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"name", required_argument, NULL, 'N'},
	    {"lines", required_argument, NULL, 'n'},
	    {"follow", no_argument, NULL, 'f'},
	    {"json", no_argument, NULL, 'j'}, {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	const char *cpath = NULL, *name = NULL, *sd;
	struct conf *c;
	char *end;
	long n = 20;
	int ch, follow = 0, json = 0, self, rc;

	while ((ch = getopt_long(argc, argv, "c:N:n:fjh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cpath = optarg;
			break;
		case 'N':
			name = optarg;
			break;
		case 'n':
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' ||
			    n < 0) {
				fprintf(stderr,
				    "peerwatch events: -n %s: not a count "
				    "(0 or more)\n",
				    optarg);
				return 2;
			}
			break;
		case 'f':
			follow = 1;
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			printf(
			    "usage: peerwatch events [-c FILE] [--name NAME] "
			    "[-n N] [-f] [--json]\n\nPrint the last N "
			    "(default 20; 0 = all) events of state_dir/"
			    "events.jsonl.\n  -f, --follow  keep printing new "
			    "events until interrupted\n  --json        the raw "
			    "JSON lines\n");
			return 0;
		default:
			return 2;
		}
	}
	if ((c = cli_load(cpath, name, &self)) == NULL)
		return 1;
	sd = conf_state_dir(c, (size_t)self);
	signal(SIGINT, main_on_stop);
	signal(SIGTERM, main_on_stop);
	rc = evlog_tail(sd, n, follow, json, stdout, &main_stop) == 0 ? 0 : 1;
	conf_free(c);
	return rc;
}

static int
main_version(int argc, char **argv)
{
	if (argc > 1 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		printf("usage: peerwatch version\n\nPrint peerwatch's version "
		       "and those of the libraries it runs with.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(
		    stderr, "peerwatch version: unexpected \"%s\"\n", argv[1]);
		return 2;
	}
	printf("peerwatch %s (libevent %s, libsodium %s, jansson %s)\n",
	    PW_VERSION, event_get_version(), sodium_version_string(),
	    JANSSON_VERSION);
	return 0;
}

int
main(int argc, char **argv)
{
	size_t i;

	if (sodium_init() < 0) {
		fprintf(stderr, "peerwatch: libsodium failed to initialise\n");
		return 1;
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		main_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "--version") == 0)
		return main_version(0, NULL);
	for (i = 0; i < MAIN_NCMDS; i++)
		if (strcmp(argv[1], main_cmds[i].name) == 0)
			return main_cmds[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "peerwatch: unknown command \"%s\"\n\n", argv[1]);
	main_usage(stderr);
	return 2;
}
