/* SPDX-License-Identifier: ISC */
/*
 * test_heal: the incident seam (dedup, update, close by peer) and a LOCAL
 * revive job end to end on real files: a corrupt guarded config restored
 * from .bak by the same guard code the SFTP path uses, and only then its
 * flag dropped; with every source bad, nothing written. The worker pool
 * execs its workers with default signal dispositions even when the daemon
 * ignores SIGTERM (what libevent's kqueue backend leaves on macOS).
 * A REVIVE job flags only what needs a restart, and a job told to stop
 * writes nothing more (a restore already made stays); rvpool_cancel
 * reaches a running worker.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <signal.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <jansson.h>

#include "common/evlog.h"
#include "common/log.h"
#include "common/clock.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "heal/fsops.h"
#include "heal/incident.h"
#include "heal/rvjob.h"

#define GOOD "{\"channels\":{\"telegram\":{}}}\n"
#define BAD "{\"channels\":\n"

static int raised, closed;

static int noted;

static void
count_cb(enum incident_what r, const char *kind, const char *subject,
    const char *detail, void *arg)
{
	(void)kind;
	(void)subject;
	(void)detail;
	(void)arg;
	if (r == INCIDENT_RAISED)
		raised++;
	else if (r == INCIDENT_CLOSED)
		closed++;
	else
		noted++;
}

static void
test_incident_dedup(void **state)
{
	struct incidents *is = incidents_new(NULL, count_cb, NULL);
	json_t *a;

	(void)state;
	raised = closed = 0;
	assert_int_equal(incident_raise(is, "unreachable", "beta", 1, "x"), 1);
	assert_int_equal(incident_raise(is, "unreachable", "beta", 2, "y"), 0);
	assert_int_equal(
	    incident_raise(is, "no_valid_backup", "oc@beta", 3, "z"), 1);
	assert_int_equal(incident_raise(is, "unreachable", "gamma", 4, "w"), 1);
	assert_int_equal(raised, 3);
	assert_int_equal(incident_count(is), 3);
	a = incidents_json(is);
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(a, 0), "detail")),
	    "y");
	assert_int_equal(
	    json_integer_value(json_object_get(json_array_get(a, 0), "count")),
	    2);
	json_decref(a);
	/* closing beta closes its guard's incident too, not gamma's */
	assert_int_equal(incident_close_peer(is, "beta", "back"), 2);
	assert_int_equal(closed, 2);
	assert_true(incident_is_open(is, "unreachable", "gamma"));
	assert_int_equal(incident_close(is, NULL, "gamma", "back"), 1);
	assert_int_equal(incident_count(is), 0);
	/* a note reaches delivery and keeps nothing open */
	incident_note(is, "revive_ok", "beta", "restored");
	assert_int_equal(noted, 1);
	assert_int_equal(incident_count(is), 0);
	incidents_free(is);
}

struct env {
	char dir[PATH_MAX];
	struct conf *conf;
};

static void
put(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd != -1);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	close(fd);
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = xcalloc(1, 4096);

	if (f == NULL) {
		free(buf);
		return NULL;
	}
	(void)!fread(buf, 1, 4095, f);
	fclose(f);
	return buf;
}

static void
env_setup(struct env *e)
{
	struct conf_errors errs = {NULL, 0};
	char *text;
	size_t i;

	snprintf(e->dir, sizeof(e->dir), "/tmp/pw-test-heal.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	text =
	    xasprintf("[mesh]\nstate_dir = %s/state\n"
	              "[peer alpha]\naddress = 127.0.0.1\n"
	              "pubkey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	              "[peer beta]\naddress = 127.0.0.2\n"
	              "pubkey = BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA=\n"
	              "revive_flag = %s/flags/revive-beta.flag\n"
	              "[guard app@alpha]\nfile = %s/app.json\n"
	              "require = channels.telegram\n"
	              "backups = {file}.bak {file}.bak.1\n"
	              "flag = %s/flags/app.flag\non_flag = true\n"
	              "[guard app@beta]\nfile = %s/beta-app.json\n"
	              "require = channels.telegram\nbackups = {file}.bak\n"
	              "flag = %s/flags/beta-app.flag\non_flag = true\n"
	              "[guard bot@beta]\nfile = %s/beta-bot.json\n"
	              "require = channels.telegram\nbackups = {file}.bak\n"
	              "flag = %s/flags/beta-bot.flag\non_flag = true\n",
	        e->dir, e->dir, e->dir, e->dir, e->dir, e->dir, e->dir, e->dir);
	e->conf = conf_load_string(text, "heal.conf", &errs);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	assert_non_null(e->conf);
	conf_errors_clear(&errs);
	free(text);
}

static void
env_teardown(struct env *e)
{
	char *cmd = xasprintf("rm -rf '%s'", e->dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
	conf_free(e->conf);
}

static void
test_local_job_restores_then_flags(void **state)
{
	struct env e;
	struct rvjob *j;
	char *p, *data;

	(void)state;
	env_setup(&e);
	p = xasprintf("%s/app.json", e.dir);
	put(p, BAD);
	free(p);
	p = xasprintf("%s/app.json.bak", e.dir);
	put(p, GOOD);
	free(p);
	j = rvjob_new(RVJOB_LOCAL, e.conf, 0, 0, "test");
	assert_int_equal(j->nguards, 1);
	rvjob_run(j);
	assert_int_equal(j->guards[0].res.outcome, GUARD_RESTORED);
	assert_true(j->guards[0].flag_written);
	assert_false(j->peer_flag_written); /* LOCAL: no peerwatch flag */
	p = xasprintf("%s/app.json", e.dir);
	data = slurp(p);
	assert_string_equal(data, GOOD);
	free(data);
	free(p);
	p = xasprintf("%s/flags/app.flag", e.dir);
	data = slurp(p);
	assert_non_null(data);
	assert_non_null(strstr(data, "\"restored_from\""));
	free(data);
	free(p);
	rvjob_free(j);
	env_teardown(&e);
}

static void
test_local_job_no_source_writes_nothing(void **state)
{
	struct env e;
	struct rvjob *j;
	char *p, *data;

	(void)state;
	env_setup(&e);
	p = xasprintf("%s/app.json", e.dir);
	put(p, BAD);
	free(p);
	p = xasprintf("%s/app.json.bak", e.dir);
	put(p, BAD);
	free(p);
	j = rvjob_new(RVJOB_LOCAL, e.conf, 0, 0, "test");
	rvjob_run(j);
	assert_int_equal(j->guards[0].res.outcome, GUARD_NO_SOURCE);
	assert_false(rvjob_all_good(j));
	assert_false(j->guards[0].flag_written);
	p = xasprintf("%s/flags/app.flag", e.dir);
	assert_int_equal(access(p, F_OK), -1);
	free(p);
	p = xasprintf("%s/app.json", e.dir);
	data = slurp(p);
	assert_string_equal(data, BAD);
	free(data);
	free(p);
	rvjob_free(j);
	env_teardown(&e);
}

/* a valid file: nothing written, no flag (the local check restarts only
 * what it restored) */
static void
test_local_job_valid_is_quiet(void **state)
{
	struct env e;
	struct rvjob *j;
	char *p;

	(void)state;
	env_setup(&e);
	p = xasprintf("%s/app.json", e.dir);
	put(p, GOOD);
	free(p);
	j = rvjob_new(RVJOB_LOCAL, e.conf, 0, 0, "test");
	rvjob_run(j);
	assert_int_equal(j->guards[0].res.outcome, GUARD_VALID);
	assert_false(j->guards[0].flag_written);
	rvjob_free(j);
	env_teardown(&e);
}

/* the job and its result survive the trip to peerwatch-heal and back */
static void
test_job_codec_roundtrip(void **state)
{
	struct env e;
	struct rvjob *j, *k;
	json_t *o;

	(void)state;
	env_setup(&e);
	j = rvjob_new(RVJOB_LOCAL, e.conf, 0, 0, "why");
	j->dry_run = 1;
	o = rvjob_to_json(j);
	assert_non_null(o);
	k = rvjob_from_json(o);
	json_decref(o);
	assert_int_equal(k->kind, RVJOB_LOCAL);
	assert_string_equal(k->target_name, "alpha");
	assert_string_equal(k->self_name, "alpha");
	assert_true(k->dry_run);
	assert_false(k->peer_silent);
	assert_string_equal(k->reason, "why");
	assert_string_equal(k->state_dir, j->state_dir);
	assert_int_equal(k->nguards, 1);
	assert_string_equal(k->guards[0].g.file, j->guards[0].g.file);
	assert_int_equal(k->guards[0].g.nbackups, 2);
	assert_string_equal(k->guards[0].g.require[0], "channels.telegram");
	assert_int_equal(k->guards[0].g.max_size, CONF_GUARD_SIZE);
	/* the worker's answer */
	k->fail = SFTP_HOSTKEY;
	snprintf(k->err, sizeof(k->err), "changed key");
	k->peer_flag_written = 1;
	k->stopped = 1;
	k->guards[0].res.outcome = GUARD_RESTORED;
	snprintf(
	    k->guards[0].res.source, sizeof(k->guards[0].res.source), "/x.bak");
	snprintf(k->guards[0].res.warning, sizeof(k->guards[0].res.warning),
	    "owner 1:1 not kept");
	k->guards[0].flag_written = 1;
	k->guards[0].stored = -1;
	o = rvjob_result_to_json(k);
	assert_non_null(o);
	assert_int_equal(rvjob_result_from_json(j, o), 0);
	json_decref(o);
	assert_int_equal(j->fail, SFTP_HOSTKEY);
	assert_string_equal(j->err, "changed key");
	assert_true(j->peer_flag_written);
	assert_true(j->stopped);
	assert_int_equal(j->guards[0].res.outcome, GUARD_RESTORED);
	assert_string_equal(j->guards[0].res.source, "/x.bak");
	assert_string_equal(j->guards[0].res.warning, "owner 1:1 not kept");
	assert_true(j->guards[0].flag_written);
	assert_int_equal(j->guards[0].stored, -1);
	assert_string_equal(sftp_fail_name(j->fail), "hostkey");
	rvjob_free(j);
	rvjob_free(k);
	env_teardown(&e);
}

static void
pool_done_cb(struct rvjob *j, void *arg)
{
	struct rvjob **done = arg;

	*done = j;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

static void
test_pool_worker_gets_default_signals(void **state)
{
	struct timeval tv = {0, 100000};
	struct event *tick;
	struct env e;
	struct event_base *base;
	struct rvpool *pool;
	struct rvjob *j, *done = NULL;
	struct sigaction ign, old;
	uint64_t deadline;
	char *worker;

	(void)state;
	env_setup(&e);
	/* a stand-in worker that reads its whole request first (so the
	 * pool's write never meets a closed pipe), then SIGTERMs itself,
	 * and says so if it lives */
	worker = xasprintf("%s/worker.sh", e.dir);
	put(worker, "#!/bin/sh\ncat >/dev/null\nkill -TERM $$\n"
	            "echo survived >&2\n");
	assert_int_equal(chmod(worker, 0700), 0);
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigemptyset(&ign.sa_mask);
	assert_int_equal(sigaction(SIGTERM, &ign, &old), 0);
	assert_non_null(base = event_base_new());
	/* wakes the loop so the deadline is checked */
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);
	pool = rvpool_new(base, worker, pool_done_cb, &done);
	j = rvjob_new(RVJOB_LOCAL, e.conf, 0, 0, "test");
	assert_int_equal(rvpool_submit(pool, j), 0);
	deadline = clock_mono_ms() + 10000;
	while (done == NULL && clock_mono_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	assert_ptr_equal(done, j);
	/* before: "heal worker failed (exit 0, 0 bytes of output)" */
	assert_string_equal(
	    j->err, "heal worker failed (signal 15, 0 bytes of output)");
	assert_int_equal(sigaction(SIGTERM, &old, NULL), 0);
	rvjob_free(j);
	rvpool_free(pool);
	event_free(tick);
	event_base_free(base);
	free(worker);
	env_teardown(&e);
}

static int
exists(const char *dir, const char *name)
{
	char *p = xasprintf("%s/%s", dir, name);
	int r = access(p, F_OK) == 0;

	free(p);
	return r;
}

static void
clear_flags(const char *dir)
{
	char *cmd = xasprintf("rm -f '%s'/*", dir);

	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* beta (target 1) as seen from alpha: app broken with a good .bak, bot
 * valid */
static struct rvjob *
beta_job(struct env *e)
{
	struct rvjob *j;
	char *p;

	p = xasprintf("%s/beta-app.json", e->dir);
	put(p, BAD);
	free(p);
	p = xasprintf("%s/beta-app.json.bak", e->dir);
	put(p, GOOD);
	free(p);
	p = xasprintf("%s/beta-bot.json", e->dir);
	put(p, GOOD);
	free(p);
	j = rvjob_new(RVJOB_REVIVE, e->conf, 0, 1, "test");
	assert_int_equal(j->nguards, 2);
	return j;
}

static struct rvjob *
beta_run(struct env *e, int peer_silent, int dry_run)
{
	struct rvjob *j = beta_job(e);

	j->peer_silent = peer_silent;
	j->dry_run = dry_run;
	rvjob_heal(j, fslocal_ops());
	return j;
}

static const json_t *
flag_of(const json_t *flags, const char *who)
{
	const json_t *f;
	size_t i;

	json_array_foreach(flags, i, f) {
		if (strcmp(json_string_value(json_object_get(f, "for")), who) ==
		    0)
			return f;
	}
	fail_msg("no flag for %s", who);
	return NULL;
}

static int
flag_is(const json_t *flags, const char *who, const char *key)
{
	return json_is_true(json_object_get(flag_of(flags, who), key));
}

static void
assert_why(const json_t *flags, const char *who, const char *text)
{
	const char *why =
	    json_string_value(json_object_get(flag_of(flags, who), "why"));

	assert_non_null(why);
	assert_non_null(strstr(why, text));
}

/* a REVIVE flags the guard it restored and the silent peerwatch, never
 * the valid guard (before: every guard's flag was written) */
static void
test_revive_flags_only_what_needs_restart(void **state)
{
	struct env e;
	struct rvjob *j;
	json_t *flags;
	char dir[PATH_MAX + 8];

	(void)state;
	env_setup(&e);
	snprintf(dir, sizeof(dir), "%s/flags", e.dir);
	j = beta_run(&e, 1, 0);
	assert_int_equal(j->guards[0].res.outcome, GUARD_RESTORED);
	assert_int_equal(j->guards[1].res.outcome, GUARD_VALID);
	assert_true(j->guards[0].flag_written);
	assert_false(j->guards[1].flag_written);
	assert_true(j->peer_flag_written);
	assert_true(exists(dir, "beta-app.flag"));
	assert_false(exists(dir, "beta-bot.flag"));
	assert_true(exists(dir, "revive-beta.flag"));
	flags = rvjob_flags_json(j);
	assert_int_equal(json_array_size(flags), 3);
	assert_false(flag_is(flags, "bot", "write"));
	assert_why(flags, "bot", "is valid");
	assert_why(flags, "app", "restored from");
	json_decref(flags);
	rvjob_free(j);

	/* a peer whose daemon is not confirmed down: its peerwatch is left
	 * running; a broken guard is still restored and flagged */
	clear_flags(dir);
	j = beta_run(&e, 0, 0);
	assert_true(j->guards[0].flag_written);
	assert_false(j->guards[1].flag_written);
	assert_false(j->peer_flag_written);
	assert_false(exists(dir, "revive-beta.flag"));
	flags = rvjob_flags_json(j);
	assert_why(flags, "peerwatch", "not confirmed down");
	json_decref(flags);
	rvjob_free(j);

	/* dry run: says which flags would go, writes none */
	clear_flags(dir);
	j = beta_run(&e, 1, 1);
	assert_int_equal(j->guards[0].res.outcome, GUARD_WOULD_RESTORE);
	flags = rvjob_flags_json(j);
	assert_true(flag_is(flags, "app", "write"));
	assert_false(flag_is(flags, "bot", "write"));
	assert_true(json_is_true(
	    json_object_get(flag_of(flags, "peerwatch"), "write")));
	assert_false(flag_is(flags, "app", "written"));
	json_decref(flags);
	assert_false(exists(dir, "beta-app.flag"));
	assert_false(exists(dir, "revive-beta.flag"));
	rvjob_free(j);
	env_teardown(&e);
}

/* the local backend, told to stop right after its first rename (the
 * restore): what the worker sees when SIGUSR1 lands mid-job */
static volatile sig_atomic_t test_stop;

static int
stop_after_rename(
    void *ctx, const char *from, const char *to, char *err, size_t errlen)
{
	int r = fslocal_ops()->rename(ctx, from, to, err, errlen);

	test_stop = 1;
	return r;
}

static void
test_stopped_job_keeps_restore_writes_no_flag(void **state)
{
	struct fsops fs = *fslocal_ops();
	struct env e;
	struct rvjob *j;
	json_t *flags;
	char *p, *data, dir[PATH_MAX + 8];

	(void)state;
	env_setup(&e);
	snprintf(dir, sizeof(dir), "%s/flags", e.dir);
	fs.rename = stop_after_rename;
	test_stop = 0;
	j = beta_job(&e);
	j->peer_silent = 1;
	j->stop = &test_stop;
	rvjob_heal(j, &fs);
	assert_true(test_stop);
	assert_int_equal(j->guards[0].res.outcome, GUARD_RESTORED);
	p = xasprintf("%s/beta-app.json", e.dir);
	data = slurp(p);
	assert_string_equal(data, GOOD); /* the restore stays */
	free(data);
	free(p);
	p = xasprintf("ls '%s'/beta-app.json.broken-* >/dev/null", e.dir);
	assert_int_equal(system(p), 0); /* and its broken copy */
	free(p);
	assert_true(j->stopped);
	assert_false(j->guards[0].flag_written);
	assert_false(j->peer_flag_written);
	assert_false(exists(dir, "beta-app.flag"));
	assert_false(exists(dir, "revive-beta.flag"));
	flags = rvjob_flags_json(j);
	assert_why(flags, "app", "stopped");
	json_decref(flags);
	rvjob_free(j);

	/* told to stop before anything: the broken file is left as it is */
	test_stop = 1;
	j = beta_job(&e);
	j->peer_silent = 1;
	j->stop = &test_stop;
	rvjob_heal(j, fslocal_ops());
	assert_int_equal(j->guards[0].res.outcome, GUARD_ERROR);
	p = xasprintf("%s/beta-app.json", e.dir);
	data = slurp(p);
	assert_string_equal(data, BAD);
	free(data);
	free(p);
	assert_false(exists(dir, "beta-app.flag"));
	assert_false(exists(dir, "revive-beta.flag"));
	rvjob_free(j);
	env_teardown(&e);
}

/* the ask before writing (rvjob.h): answers recorded, in order */
static int ask_answers[4], ask_calls;

static int
ask_stub(struct rvjob *j)
{
	(void)j;
	return ask_answers[ask_calls++ % 4];
}

static void
test_ask_before_writes(void **state)
{
	struct env e;
	struct rvjob *j;
	char *p, *data, dir[PATH_MAX + 8];

	(void)state;
	env_setup(&e);
	snprintf(dir, sizeof(dir), "%s/flags", e.dir);
	/* stop at the first ask: nothing written at all */
	ask_calls = 0;
	ask_answers[0] = 0;
	j = beta_job(&e);
	j->peer_silent = 1;
	j->ask = ask_stub;
	rvjob_heal(j, fslocal_ops());
	assert_int_equal(ask_calls, 1);
	assert_true(j->stopped);
	p = xasprintf("%s/beta-app.json", e.dir);
	data = slurp(p);
	assert_string_equal(data, BAD); /* not restored */
	free(data);
	assert_false(exists(dir, "beta-app.flag"));
	assert_false(exists(dir, "revive-beta.flag"));
	rvjob_free(j);

	/* go for the restore, stop before the flags: restored, no flag */
	ask_calls = 0;
	ask_answers[0] = 1;
	ask_answers[1] = 0;
	j = beta_job(&e);
	j->peer_silent = 1;
	j->ask = ask_stub;
	rvjob_heal(j, fslocal_ops());
	assert_int_equal(ask_calls, 2);
	assert_true(j->stopped);
	data = slurp(p);
	assert_string_equal(data, GOOD);
	free(data);
	assert_false(exists(dir, "beta-app.flag"));
	assert_false(exists(dir, "revive-beta.flag"));
	rvjob_free(j);

	/* go twice: restored and flagged, asked once per point only */
	ask_calls = 0;
	ask_answers[0] = ask_answers[1] = 1;
	j = beta_job(&e);
	j->peer_silent = 1;
	j->ask = ask_stub;
	rvjob_heal(j, fslocal_ops());
	assert_int_equal(ask_calls, 2);
	assert_false(j->stopped);
	assert_true(exists(dir, "beta-app.flag"));
	assert_true(exists(dir, "revive-beta.flag"));
	rvjob_free(j);
	clear_flags(dir);

	/* a target not silent (an operator's revive) is never asked about */
	ask_calls = 0;
	j = beta_job(&e);
	j->peer_silent = 0;
	j->ask = ask_stub;
	rvjob_heal(j, fslocal_ops());
	assert_int_equal(ask_calls, 0);
	rvjob_free(j);
	free(p);
	env_teardown(&e);
}

/* rvpool_cancel reaches a worker that is busy (a stand-in that waits for
 * SIGUSR1 once it has read its job and said so) */
static void
test_pool_cancel_signals_worker(void **state)
{
	struct timeval tv = {0, 100000};
	struct event *tick;
	struct env e;
	struct event_base *base;
	struct rvpool *pool;
	struct rvjob *j, *done = NULL;
	uint64_t deadline;
	char *worker, *ready, *text;

	(void)state;
	env_setup(&e);
	worker = xasprintf("%s/worker.sh", e.dir);
	ready = xasprintf("%s/ready", e.dir);
	put(worker, text = xasprintf("#!/bin/sh\ntrap 'kill $p; exit 3' USR1\n"
	                             "cat >/dev/null\nsleep 60 & p=$!\n"
	                             ": >'%s'\nwait $p\n"
	                             "echo not stopped >&2\n",
	                ready));
	free(text);
	assert_int_equal(chmod(worker, 0700), 0);
	assert_non_null(base = event_base_new());
	tick = event_new(base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(tick, &tv);
	pool = rvpool_new(base, worker, pool_done_cb, &done);
	j = rvjob_new(RVJOB_REVIVE, e.conf, 0, 1, "test");
	assert_int_equal(rvpool_submit(pool, j), 0);
	deadline = clock_mono_ms() + 10000;
	while (access(ready, F_OK) != 0 && clock_mono_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	assert_int_equal(access(ready, F_OK), 0);
	assert_int_equal(rvpool_cancel(pool, j), 0);
	while (done == NULL && clock_mono_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	assert_ptr_equal(done, j);
	assert_string_equal(
	    j->err, "heal worker failed (exit 3, 0 bytes of output)");
	assert_int_equal(rvpool_cancel(pool, j), -1); /* finished */
	rvjob_free(j);
	rvpool_free(pool);
	event_free(tick);
	event_base_free(base);
	free(worker);
	free(ready);
	env_teardown(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_incident_dedup),
	    cmocka_unit_test(test_local_job_restores_then_flags),
	    cmocka_unit_test(test_local_job_no_source_writes_nothing),
	    cmocka_unit_test(test_local_job_valid_is_quiet),
	    cmocka_unit_test(test_job_codec_roundtrip),
	    cmocka_unit_test(test_pool_worker_gets_default_signals),
	    cmocka_unit_test(test_revive_flags_only_what_needs_restart),
	    cmocka_unit_test(test_stopped_job_keeps_restore_writes_no_flag),
	    cmocka_unit_test(test_ask_before_writes),
	    cmocka_unit_test(test_pool_cancel_signals_worker),
	};

	log_init(1, -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
