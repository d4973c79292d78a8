/* SPDX-License-Identifier: ISC */
/*
 * rvwork: the blocking body of a heal job, run inside peerwatch-heal (a
 * child process of the daemon, never the daemon itself): the guard cascade
 * over SFTP or the local backend, flags, and mesh-copy pulls. Keeping
 * libssh out of the daemon keeps it small and lets a hung SSH session be
 * killed outright.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "heal/fsops.h"
#include "heal/guard.h"
#include "heal/rvjob.h"
#include "heal/sftp.h"

#define RVJOB_MESH_KEEP 5

/*
 * The target's files through a backend that refuses every write once the
 * job was told to stop (rvjob.h): checked right before each create,
 * rename and mkdir, so a stop between two steps of a restore leaves the
 * file as it was (and the broken copy, if it was made). remove passes:
 * the guard only removes its own temp files.
 */
struct rvwork_fs {
	struct fsops ops;
	const struct fsops *in;
	struct rvjob *j;
};

static int
rvwork_stopped(struct rvjob *j, const char *path, char *err, size_t errlen)
{
	/* once stopped, stopped for every later write too */
	if ((j->stop != NULL && *j->stop) || j->stopped)
		goto stop;
	/* right before writing on a silent target: is it still silent? */
	if (j->kind == RVJOB_REVIVE && j->peer_silent && j->ask != NULL &&
	    !j->asked_go) {
		/* a SIGUSR1 during the wait for the answer counts too */
		if (!j->ask(j) || (j->stop != NULL && *j->stop)) {
			if (j->stop != NULL)
				*j->stop = 1;
			goto stop;
		}
		j->asked_go = 1;
	}
	return 0;
stop:
	j->stopped = 1;
	snprintf(err, errlen, "%s not written: the revive was stopped", path);
	return 1;
}

static int
rvwork_read(void *ctx, const char *path, size_t max, char **data, size_t *len,
    struct fsops_stat *st, char *err, size_t errlen)
{
	struct rvwork_fs *w = ctx;

	return w->in->read(w->in->ctx, path, max, data, len, st, err, errlen);
}

static int
rvwork_stat(void *ctx, const char *path, struct fsops_stat *st, char *err,
    size_t errlen)
{
	struct rvwork_fs *w = ctx;

	return w->in->stat(w->in->ctx, path, st, err, errlen);
}

static int
rvwork_glob(void *ctx, const char *pattern, struct fsops_match **m, size_t *n,
    char *err, size_t errlen)
{
	struct rvwork_fs *w = ctx;

	return w->in->glob(w->in->ctx, pattern, m, n, err, errlen);
}

static int
rvwork_create(void *ctx, const char *path, const char *data, size_t len,
    const struct fsops_stat *like, char *warn, size_t warnlen, char *err,
    size_t errlen)
{
	struct rvwork_fs *w = ctx;

	if (rvwork_stopped(w->j, path, err, errlen))
		return -1;
	return w->in->create(
	    w->in->ctx, path, data, len, like, warn, warnlen, err, errlen);
}

static int
rvwork_rename(
    void *ctx, const char *from, const char *to, char *err, size_t errlen)
{
	struct rvwork_fs *w = ctx;

	if (rvwork_stopped(w->j, to, err, errlen))
		return -1;
	return w->in->rename(w->in->ctx, from, to, err, errlen);
}

static int
rvwork_remove(void *ctx, const char *path, char *err, size_t errlen)
{
	struct rvwork_fs *w = ctx;

	return w->in->remove(w->in->ctx, path, err, errlen);
}

static int
rvwork_mkparent(void *ctx, const char *path, char *err, size_t errlen)
{
	struct rvwork_fs *w = ctx;

	if (rvwork_stopped(w->j, path, err, errlen))
		return -1;
	return w->in->mkparent(w->in->ctx, path, err, errlen);
}

static void
rvwork_fs_init(struct rvwork_fs *w, const struct fsops *in, struct rvjob *j)
{
	w->in = in;
	w->j = j;
	w->ops.ctx = w;
	w->ops.read = rvwork_read;
	w->ops.stat = rvwork_stat;
	w->ops.glob = rvwork_glob;
	w->ops.create = rvwork_create;
	w->ops.rename = rvwork_rename;
	w->ops.remove = rvwork_remove;
	w->ops.mkparent = rvwork_mkparent;
}

static void
rvwork_flag(struct rvjob *j, const struct fsops *fs, const struct conf_guard *g,
    uint64_t now, const char *restored_from, int *written, char *err,
    size_t errlen)
{
	if (rvwork_stopped(j, g->flag, err, errlen))
		return;
	*written = guard_write_flag(g, fs, j->self_name, now, j->reason,
	               restored_from, err, errlen) == 0;
}

/* The cascade for every guard, then (all good, not a dry run) the flags
 * rvjob_flag_wanted asks for, each only if the job was not told to stop. */
void
rvjob_heal(struct rvjob *j, const struct fsops *target)
{
	uint64_t now = clock_wall_ms();
	struct conf_guard pw;
	struct rvwork_fs w;
	const struct fsops *fs;
	char *mesh;
	size_t i;

	rvwork_fs_init(&w, target, j);
	fs = &w.ops;
	for (i = 0; i < j->nguards; i++) {
		struct rvjob_guard *rg = &j->guards[i];
		mesh = j->kind == RVJOB_LOCAL
		           ? NULL
		           : guard_mesh_dir(j->state_dir, &rg->g);
		guard_check(&rg->g, fs, mesh, now / 1000, j->dry_run, &rg->res);
		free(mesh);
	}
	if (j->dry_run)
		return;
	/* the restores took time: ask again before the flags */
	j->asked_go = 0;
	for (i = 0; i < j->nguards; i++) {
		struct rvjob_guard *rg = &j->guards[i];
		if (rvjob_flag_wanted(j, i, NULL, 0))
			rvwork_flag(j, fs, &rg->g, now, rg->res.source,
			    &rg->flag_written, rg->err, sizeof(rg->err));
	}
	if (!rvjob_flag_wanted(j, j->nguards, NULL, 0))
		return;
	memset(&pw, 0, sizeof(pw));
	snprintf(pw.name, sizeof(pw.name), "peerwatch");
	snprintf(pw.peer, sizeof(pw.peer), "%s", j->target_name);
	pw.flag = j->revive_flag;
	rvwork_flag(j, fs, &pw, now, NULL, &j->peer_flag_written, j->err,
	    sizeof(j->err));
}

static void
rvjob_pull(struct rvjob *j, const struct fsops *fs)
{
	size_t i, len;
	char *data, *mesh;
	int r;

	for (i = 0; i < j->nguards; i++) {
		struct rvjob_guard *rg = &j->guards[i];
		data = NULL;
		r = fs->read(fs->ctx, rg->g.file, guard_max_size(&rg->g), &data,
		    &len, NULL, rg->err, sizeof(rg->err));
		if (r != 0) {
			if (r == 1)
				snprintf(rg->err, sizeof(rg->err),
				    "%s: missing", rg->g.file);
			rg->stored = -1;
			continue;
		}
		mesh = guard_mesh_dir(j->state_dir, &rg->g);
		rg->stored = guard_mesh_store(mesh, &rg->g, data, len,
		    clock_wall_ms(), RVJOB_MESH_KEEP, rg->err, sizeof(rg->err));
		free(mesh);
		free(data);
	}
}

void
rvjob_run(struct rvjob *j)
{
	struct sftp_target t;
	struct sftp_conn *conn;

	j->started_ms = clock_mono_ms();
	if (j->kind == RVJOB_LOCAL) {
		rvjob_heal(j, fslocal_ops());
		goto done;
	}
	memset(&t, 0, sizeof(t));
	t.host = j->ssh_host;
	t.port = j->ssh_port;
	t.user = j->ssh_user;
	t.key_file = j->ssh_key;
	t.hostkey_sha256 = j->ssh_hostkey;
	t.known_hosts = j->known_hosts;
	t.timeout_ms = j->timeout_ms;
	conn = sftp_connect(&t, &j->fail, j->err, sizeof(j->err));
	if (conn == NULL)
		goto done;
	if (j->kind == RVJOB_PULL)
		rvjob_pull(j, sftp_fsops(conn));
	else
		rvjob_heal(j, sftp_fsops(conn));
	sftp_disconnect(conn);
done:
	j->elapsed_ms = clock_mono_ms() - j->started_ms;
}
