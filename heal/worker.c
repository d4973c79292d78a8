/* SPDX-License-Identifier: ISC */
/*
 * peerwatch-heal: runs one heal job for the peerwatch daemon and exits.
 * Reads the job as JSON on stdin, does the blocking work (SSH/SFTP with
 * libssh, or this host's own files), writes the result as JSON on stdout.
 * Logs go to stderr, which is the daemon's. Not meant to be run by hand;
 * `peerwatch revive` is the operator's way in.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <libssh/libssh.h>

#include "common/log.h"
#include "heal/rvjob.h"

#define WORKER_MAX_IN (1024 * 1024)

/* set by SIGUSR1: the daemon says stop before the next write (rvjob.h) */
static volatile sig_atomic_t worker_stop;

static void
worker_on_usr1(int sig)
{
	(void)sig;
	worker_stop = 1;
}

/* the daemon's go or stop for a write on a silent target (rvjob.h) */
static int
worker_ask(struct rvjob *j)
{
	char line[16];

	(void)j;
	if (fputs("{\"ask\":\"write\"}\n", stdout) == EOF ||
	    fflush(stdout) == EOF)
		return 0;
	if (fgets(line, sizeof(line), stdin) == NULL)
		return 0; /* the daemon is gone: write nothing */
	return strcmp(line, "go\n") == 0;
}

int
main(int argc, char **argv)
{
	json_error_t jerr;
	struct sigaction sa;
	struct rvjob *j;
	json_t *req, *res;
	const char *v = getenv("PEERWATCH_HEAL_VERBOSE");
	char tag[96];

	(void)argv;
	if (argc > 1 || isatty(STDIN_FILENO)) {
		fprintf(stderr,
		    "peerwatch-heal: runs heal jobs for the "
		    "peerwatch daemon (JSON on stdin); see peerwatch(8)\n");
		return 2;
	}
	/* a closed socket or a daemon gone is an error to report, not death
	 * (the daemon resets every signal to default before exec) */
	signal(SIGPIPE, SIG_IGN);
	/* SA_RESTART: a stop must not turn a read in flight into an error */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = worker_on_usr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	log_init(1, v ? atoi(v) : 0);
	req = json_loadf(stdin, JSON_DISABLE_EOF_CHECK, &jerr);
	if (req == NULL) {
		/* position only: jansson's text may quote the input */
		log_warnx("heal worker: bad job at byte %d", jerr.position);
		return 1;
	}
	ssh_init();
	j = rvjob_from_json(req);
	json_decref(req);
	snprintf(tag, sizeof(tag), "%s heal", j->self_name);
	log_settag(tag);
	j->stop = &worker_stop;
	j->ask = worker_ask;
	rvjob_run(j);
	res = rvjob_result_to_json(j);
	json_dumpf(res, stdout, JSON_COMPACT);
	fflush(stdout);
	json_decref(res);
	rvjob_free(j);
	ssh_finalize();
	return 0;
}
