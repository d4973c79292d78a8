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

/* The cascade for every guard, then (all good, not a dry run) the
 * guards' flags and the target's own peerwatch flag. */
static void
rvjob_heal(struct rvjob *j, const struct fsops *fs)
{
	uint64_t now = clock_wall_ms();
	struct conf_guard pw;
	char *mesh;
	size_t i;

	for (i = 0; i < j->nguards; i++) {
		struct rvjob_guard *rg = &j->guards[i];
		mesh = j->kind == RVJOB_LOCAL
		           ? NULL
		           : guard_mesh_dir(j->state_dir, &rg->g);
		guard_check(&rg->g, fs, mesh, now / 1000, j->dry_run, &rg->res);
		free(mesh);
	}
	if (j->dry_run || !rvjob_all_good(j))
		return;
	for (i = 0; i < j->nguards; i++) {
		struct rvjob_guard *rg = &j->guards[i];
		/* the local check restarts only what it restored */
		if (j->kind == RVJOB_LOCAL && rg->res.outcome != GUARD_RESTORED)
			continue;
		if (rg->g.flag == NULL)
			continue;
		rg->flag_written =
		    guard_write_flag(&rg->g, fs, j->self_name, now, j->reason,
		        rg->res.outcome == GUARD_RESTORED ? rg->res.source
		                                          : NULL,
		        rg->err, sizeof(rg->err)) == 0;
	}
	if (j->kind != RVJOB_REVIVE || j->revive_flag == NULL)
		return;
	memset(&pw, 0, sizeof(pw));
	snprintf(pw.name, sizeof(pw.name), "peerwatch");
	snprintf(pw.peer, sizeof(pw.peer), "%s", j->target_name);
	pw.flag = j->revive_flag;
	j->peer_flag_written =
	    guard_write_flag(&pw, fs, j->self_name, now, j->reason, NULL,
	        j->err, sizeof(j->err)) == 0;
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
