/* SPDX-License-Identifier: ISC */
/*
 * rvjob: a heal job as a value: made from the config on the daemon side,
 * sent as JSON to peerwatch-heal, run there (rvwork.c), and its result
 * sent back as JSON. Nothing here blocks or touches the network.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "heal/fsops.h"
#include "heal/guard.h"
#include "heal/rvjob.h"

static char *
rvjob_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static char **
rvjob_dup_list(char **v, size_t n)
{
	char **out = xcalloc(n + 1, sizeof(*out));
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = xstrdup(v[i]);
	return out;
}

static void
rvjob_copy_guard(struct conf_guard *dst, const struct conf_guard *src)
{
	*dst = *src;
	dst->file = rvjob_dup(src->file);
	dst->require = rvjob_dup_list(src->require, src->nrequire);
	dst->backups = rvjob_dup_list(src->backups, src->nbackups);
	dst->flag = rvjob_dup(src->flag);
	dst->on_flag = rvjob_dup(src->on_flag);
}

static void
rvjob_free_guard(struct conf_guard *g)
{
	size_t i;

	free(g->file);
	for (i = 0; i < g->nrequire; i++)
		free(g->require[i]);
	free(g->require);
	for (i = 0; i < g->nbackups; i++)
		free(g->backups[i]);
	free(g->backups);
	free(g->flag);
	free(g->on_flag);
}

struct rvjob *
rvjob_new(enum rvjob_kind kind, const struct conf *c, size_t self,
    size_t target, const char *reason)
{
	struct rvjob *j = xcalloc(1, sizeof(*j));
	const struct conf_peer *t = &c->peers[target];
	size_t i, n = 0;

	j->kind = kind;
	j->target = target;
	snprintf(j->target_name, sizeof(j->target_name), "%s", t->name);
	snprintf(j->self_name, sizeof(j->self_name), "%s", c->peers[self].name);
	j->ssh_host = rvjob_dup(t->ssh_host);
	j->ssh_user = rvjob_dup(t->ssh_user);
	j->ssh_port = t->ssh_port;
	j->ssh_hostkey = rvjob_dup(t->ssh_hostkey);
	j->ssh_key = rvjob_dup(c->mesh.ssh_key);
	j->known_hosts = rvjob_dup(c->mesh.known_hosts);
	j->timeout_ms = c->mesh.ssh_timeout_ms;
	j->state_dir = xstrdup(conf_state_dir(c, self));
	j->revive_flag = rvjob_dup(conf_revive_flag(c, target));
	j->reason = xstrdup(reason ? reason : "");
	for (i = 0; i < c->nguards; i++)
		n += c->guards[i].peer_idx == target;
	j->guards = xcalloc(n ? n : 1, sizeof(*j->guards));
	for (i = 0; i < c->nguards; i++)
		if (c->guards[i].peer_idx == target)
			rvjob_copy_guard(
			    &j->guards[j->nguards++].g, &c->guards[i]);
	return j;
}

void
rvjob_free(struct rvjob *j)
{
	size_t i;

	if (j == NULL)
		return;
	for (i = 0; i < j->nguards; i++)
		rvjob_free_guard(&j->guards[i].g);
	free(j->guards);
	free(j->ssh_host);
	free(j->ssh_user);
	free(j->ssh_hostkey);
	free(j->ssh_key);
	free(j->known_hosts);
	free(j->state_dir);
	free(j->revive_flag);
	free(j->reason);
	free(j);
}

int
rvjob_all_good(const struct rvjob *j)
{
	size_t i;

	for (i = 0; i < j->nguards; i++)
		if (j->guards[i].res.outcome == GUARD_NO_SOURCE ||
		    j->guards[i].res.outcome == GUARD_ERROR)
			return 0;
	return 1;
}

int
rvjob_flag_wanted(const struct rvjob *j, size_t i, char *why, size_t len)
{
	const struct rvjob_guard *g = i < j->nguards ? &j->guards[i] : NULL;

	if (g ? g->g.flag == NULL
	      : j->kind != RVJOB_REVIVE || j->revive_flag == NULL) {
		snprintf(why, len, "no flag");
		return 0;
	}
	if (!rvjob_all_good(j)) {
		snprintf(why, len,
		    "a guard of %s has no valid config: escalated, "
		    "nothing restarted",
		    j->target_name);
		return 0;
	}
	if (g == NULL) {
		snprintf(why, len,
		    j->peer_silent
		        ? "peerwatch on %s is silent (confirmed down)"
		        : "peerwatch on %s is not confirmed down "
		          "here: left running",
		    j->target_name);
		return j->peer_silent;
	}
	switch (g->res.outcome) {
	case GUARD_RESTORED:
	case GUARD_WOULD_RESTORE:
		snprintf(why, len, "%s %s from %s", g->g.name,
		    g->res.outcome == GUARD_RESTORED ? "restored"
		                                     : "would be restored",
		    g->res.source);
		return 1;
	default:
		snprintf(why, len, "%s is valid: its service is left running",
		    g->g.name);
		return 0;
	}
}

json_t *
rvjob_flags_json(const struct rvjob *j)
{
	json_t *a = json_array();
	char why[1200];
	size_t i;
	int want, written;

	for (i = 0; i <= j->nguards; i++) {
		const char *flag =
		    i < j->nguards ? j->guards[i].g.flag : j->revive_flag;
		if (flag == NULL)
			continue;
		want = rvjob_flag_wanted(j, i, why, sizeof(why));
		written = i < j->nguards ? j->guards[i].flag_written
		                         : j->peer_flag_written;
		if (want && !written && j->stopped)
			snprintf(why, sizeof(why),
			    "not written: the revive was stopped (%s heard "
			    "again)",
			    j->target_name);
		json_array_append_new(a,
		    json_pack("{sosssbsbso}", "flag", rvjob_text(flag), "for",
		        i < j->nguards ? j->guards[i].g.name : "peerwatch",
		        "write", want, "written", written, "why",
		        rvjob_text(why)));
	}
	return a;
}

/* ---- the job on the wire between the daemon and peerwatch-heal ------ */

static json_t *
rvjob_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *
rvjob_list_json(char **v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *
rvjob_to_json(const struct rvjob *j)
{
	json_t *gs = json_array(), *o;
	size_t i;

	for (i = 0; i < j->nguards; i++) {
		const struct conf_guard *g = &j->guards[i].g;
		json_array_append_new(
		    gs, json_pack("{sssssosososososIsb}", "name", g->name,
		            "peer", g->peer, "file", rvjob_str(g->file),
		            "require", rvjob_list_json(g->require, g->nrequire),
		            "backups", rvjob_list_json(g->backups, g->nbackups),
		            "flag", rvjob_str(g->flag), "on_flag",
		            rvjob_str(g->on_flag), "max_size",
		            (json_int_t)g->max_size, "any_json", g->any_json));
	}
	o = json_pack("{sisIsssssbsbsosososososisIsosososo}", "kind",
	    (int)j->kind, "target", (json_int_t)j->target, "target_name",
	    j->target_name, "self_name", j->self_name, "dry_run", j->dry_run,
	    "peer_silent", j->peer_silent, "ssh_host", rvjob_str(j->ssh_host),
	    "ssh_user", rvjob_str(j->ssh_user), "ssh_key",
	    rvjob_str(j->ssh_key), "ssh_hostkey", rvjob_str(j->ssh_hostkey),
	    "known_hosts", rvjob_str(j->known_hosts), "ssh_port",
	    (int)j->ssh_port, "timeout_ms", (json_int_t)j->timeout_ms,
	    "state_dir", rvjob_str(j->state_dir), "revive_flag",
	    rvjob_str(j->revive_flag), "reason", rvjob_str(j->reason), "guards",
	    gs);
	return o;
}

static char *
rvjob_get(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? xstrdup(s) : NULL;
}

static void
rvjob_get_name(const json_t *o, const char *k, char *buf, size_t len)
{
	const char *s = json_string_value(json_object_get(o, k));

	snprintf(buf, len, "%s", s ? s : "");
}

static char **
rvjob_get_list(const json_t *a, size_t *n)
{
	char **v = xcalloc(json_array_size(a) + 1, sizeof(*v));
	const char *s;
	size_t i;

	*n = 0;
	for (i = 0; i < json_array_size(a); i++)
		if ((s = json_string_value(json_array_get(a, i))) != NULL)
			v[(*n)++] = xstrdup(s);
	return v;
}

struct rvjob *
rvjob_from_json(const json_t *o)
{
	struct rvjob *j = xcalloc(1, sizeof(*j));
	const json_t *gs = json_object_get(o, "guards"), *g;
	size_t i;

	j->kind =
	    (enum rvjob_kind)json_integer_value(json_object_get(o, "kind"));
	j->target = (size_t)json_integer_value(json_object_get(o, "target"));
	rvjob_get_name(
	    o, "target_name", j->target_name, sizeof(j->target_name));
	rvjob_get_name(o, "self_name", j->self_name, sizeof(j->self_name));
	j->dry_run = json_is_true(json_object_get(o, "dry_run"));
	j->peer_silent = json_is_true(json_object_get(o, "peer_silent"));
	j->ssh_host = rvjob_get(o, "ssh_host");
	j->ssh_user = rvjob_get(o, "ssh_user");
	j->ssh_key = rvjob_get(o, "ssh_key");
	j->ssh_hostkey = rvjob_get(o, "ssh_hostkey");
	j->known_hosts = rvjob_get(o, "known_hosts");
	j->ssh_port =
	    (uint16_t)json_integer_value(json_object_get(o, "ssh_port"));
	j->timeout_ms =
	    (uint64_t)json_integer_value(json_object_get(o, "timeout_ms"));
	j->state_dir = rvjob_get(o, "state_dir");
	j->revive_flag = rvjob_get(o, "revive_flag");
	j->reason = rvjob_get(o, "reason");
	j->guards = xcalloc(json_array_size(gs) + 1, sizeof(*j->guards));
	json_array_foreach(gs, i, g) {
		struct conf_guard *cg = &j->guards[j->nguards++].g;
		rvjob_get_name(g, "name", cg->name, sizeof(cg->name));
		rvjob_get_name(g, "peer", cg->peer, sizeof(cg->peer));
		cg->file = rvjob_get(g, "file");
		cg->require = rvjob_get_list(
		    json_object_get(g, "require"), &cg->nrequire);
		cg->backups = rvjob_get_list(
		    json_object_get(g, "backups"), &cg->nbackups);
		cg->flag = rvjob_get(g, "flag");
		cg->on_flag = rvjob_get(g, "on_flag");
		cg->max_size = (uint64_t)json_integer_value(
		    json_object_get(g, "max_size"));
		cg->any_json = json_is_true(json_object_get(g, "any_json"));
	}
	return j;
}

json_t *
rvjob_text(const char *s)
{
	json_t *v = json_string(s ? s : "");
	char *c, *q;

	if (v != NULL)
		return v;
	/* not UTF-8 (a path in another encoding, or text cut mid-character
	 * by a fixed buffer): keep the ASCII, mark the rest */
	c = xstrdup(s);
	for (q = c; *q; q++)
		if ((unsigned char)*q >= 0x80)
			*q = '?';
	v = json_string(c);
	free(c);
	return v;
}

json_t *
rvjob_result_to_json(const struct rvjob *j)
{
	json_t *gs = json_array();
	size_t i;

	for (i = 0; i < j->nguards; i++) {
		const struct rvjob_guard *g = &j->guards[i];
		const struct guard_result *r = &g->res;
		json_array_append_new(
		    gs, json_pack("{sisosososososisisiso}", "outcome",
		            (int)r->outcome, "invalid_reason",
		            rvjob_text(r->invalid_reason), "source",
		            rvjob_text(r->source), "broken_copy",
		            rvjob_text(r->broken_copy), "detail",
		            rvjob_text(r->detail), "warning",
		            rvjob_text(r->warning), "sources_tried",
		            (int)r->sources_tried, "stored", g->stored,
		            "flag_written", g->flag_written, "err",
		            rvjob_text(g->err)));
	}
	return json_pack("{sisosbsbsIso}", "fail", (int)j->fail, "err",
	    rvjob_text(j->err), "peer_flag_written", j->peer_flag_written,
	    "stopped", j->stopped, "elapsed_ms", (json_int_t)j->elapsed_ms,
	    "guards", gs);
}

int
rvjob_result_from_json(struct rvjob *j, const json_t *o)
{
	const json_t *gs = json_object_get(o, "guards"), *g;
	size_t i;

	if (!json_is_object(o) || json_array_size(gs) != j->nguards)
		return -1;
	j->fail =
	    (enum sftp_fail)json_integer_value(json_object_get(o, "fail"));
	rvjob_get_name(o, "err", j->err, sizeof(j->err));
	j->peer_flag_written =
	    json_is_true(json_object_get(o, "peer_flag_written"));
	j->stopped = json_is_true(json_object_get(o, "stopped"));
	j->elapsed_ms =
	    (uint64_t)json_integer_value(json_object_get(o, "elapsed_ms"));
	json_array_foreach(gs, i, g) {
		struct rvjob_guard *rg = &j->guards[i];
		struct guard_result *r = &rg->res;
		r->outcome = (enum guard_outcome)json_integer_value(
		    json_object_get(g, "outcome"));
		rvjob_get_name(g, "invalid_reason", r->invalid_reason,
		    sizeof(r->invalid_reason));
		rvjob_get_name(g, "source", r->source, sizeof(r->source));
		rvjob_get_name(
		    g, "broken_copy", r->broken_copy, sizeof(r->broken_copy));
		rvjob_get_name(g, "detail", r->detail, sizeof(r->detail));
		rvjob_get_name(g, "warning", r->warning, sizeof(r->warning));
		r->sources_tried = (unsigned)json_integer_value(
		    json_object_get(g, "sources_tried"));
		rg->stored =
		    (int)json_integer_value(json_object_get(g, "stored"));
		rg->flag_written =
		    json_integer_value(json_object_get(g, "flag_written")) != 0;
		rvjob_get_name(g, "err", rg->err, sizeof(rg->err));
	}
	return 0;
}
