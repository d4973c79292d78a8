/* SPDX-License-Identifier: ISC */
/*
 * guard: keep one guarded JSON config valid. Validates it, walks the backup
 * cascade (plain paths, globs newest first, the local mesh store) and
 * installs the first valid source: the broken bytes are first copied to
 * FILE.broken-<t>, the good ones written to a fresh temporary file, and a
 * rename(2) over FILE is the only step that ever changes FILE.
 * Never deletes or overwrites anything that is not ours: a stale
 * FILE.peerwatch-tmp left by a crash is kept and a new name is picked
 * (FILE.peerwatch-tmp-<t>, then -<t>-1, ...). The only unlink is pruning
 * old copies in our own mesh store. Never exits; never logs file contents.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/mkdirs.h"
#include "common/xmalloc.h"
#include "heal/guard.h"

#define GUARD_NAME_TRIES 100 /* FILE.broken-<t>-1 ... -99 */

/* one guard_check in progress */
struct guard_run {
	const struct conf_guard *g;
	const struct fsops *fs;
	struct guard_result *res;
	char *cur; /* FILE's bytes (NULL if missing) */
	size_t curlen;
	int exists;
	char *good; /* the winning source's bytes */
	size_t goodlen;
};

const char *
guard_outcome_name(enum guard_outcome o)
{
	switch (o) {
	case GUARD_VALID:
		return "valid";
	case GUARD_RESTORED:
		return "restored";
	case GUARD_WOULD_RESTORE:
		return "would_restore";
	case GUARD_NO_SOURCE:
		return "no_source";
	case GUARD_ERROR:
		return "error";
	}
	return "unknown";
}

static void guard_appendf(char *, size_t, const char *, ...) LOG_PRINTF(3, 4);
static int guard_reason(char *, size_t, const char *, ...) LOG_PRINTF(3, 4);
static int guard_fail(struct guard_result *, const char *, ...)
    LOG_PRINTF(2, 3);

/* append to buf; a message that does not fit ends in "..." and the rest
 * is dropped, so a long cascade still reports its first sources whole */
static void
guard_appendf(char *buf, size_t size, const char *fmt, ...)
{
	size_t len = strlen(buf);
	va_list ap;
	int n;

	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + len, size - len, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n >= size - len && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

static int
guard_reason(char *reason, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (reason != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(reason, len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* a segment of digits only, as an array index */
static int
guard_index(const char *s, size_t n, size_t *idx)
{
	size_t i;

	if (n == 0 || n > 9)
		return -1;
	*idx = 0;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*idx = *idx * 10 + (size_t)(s[i] - '0');
	}
	return 0;
}

/* 0 if the dotted path exists under root (a JSON null counts) */
static int
guard_walk(const json_t *root, const char *path)
{
	const json_t *cur = root;
	const char *seg = path, *dot;
	size_t n, idx;

	while (cur != NULL) {
		dot = strchr(seg, '.');
		n = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
		if (json_is_object(cur))
			cur = n > 0 ? json_object_getn(cur, seg, n) : NULL;
		else if (json_is_array(cur) && guard_index(seg, n, &idx) == 0)
			cur = json_array_get(cur, idx);
		else
			cur = NULL;
		if (dot == NULL)
			break;
		seg = dot + 1;
	}
	return cur != NULL ? 0 : -1;
}

/*
 * Why jansson refused the text, in our words: its own message quotes the
 * offending bytes ("invalid token near 'sk-...'"), and a config's bytes
 * may be a secret, so only the reason and the position are ever shown.
 */
static const char *
guard_json_why(const json_error_t *e)
{
#if JANSSON_VERSION_HEX >= 0x020b00
	switch (json_error_code(e)) {
	case json_error_out_of_memory:
		return "out of memory";
	case json_error_stack_overflow:
		return "nested too deeply";
	case json_error_invalid_utf8:
		return "invalid UTF-8";
	case json_error_premature_end_of_input:
		return "unexpected end of input";
	case json_error_end_of_input_expected:
		return "garbage after the JSON value";
	case json_error_invalid_syntax:
		return "syntax error";
	case json_error_null_character:
		return "NUL byte in the text";
	case json_error_null_byte_in_key:
		return "NUL byte in a key";
	case json_error_numeric_overflow:
		return "number out of range";
	default:
		break;
	}
#else
	(void)e;
#endif
	return "invalid JSON";
}

int
guard_validate(const struct conf_guard *g, const char *data, size_t len,
    char *reason, size_t reasonlen)
{
	json_error_t jerr;
	json_t *root;
	size_t i;

	if (len == 0)
		return guard_reason(reason, reasonlen, "empty file");
	if (len > FSOPS_MAX_FILE)
		return guard_reason(
		    reason, reasonlen, "larger than %u bytes", FSOPS_MAX_FILE);
	root = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
	if (root == NULL)
		return guard_reason(reason, reasonlen,
		    "not JSON: %s at line %d, column %d (byte %d)",
		    guard_json_why(&jerr), jerr.line, jerr.column,
		    jerr.position);
	/* a config is an object: `null`, `0` or `[]` are not configs */
	if (!json_is_object(root)) {
		json_decref(root);
		return guard_reason(
		    reason, reasonlen, "top level is not a JSON object");
	}
	for (i = 0; i < g->nrequire; i++) {
		if (guard_walk(root, g->require[i]) == -1) {
			json_decref(root);
			return guard_reason(reason, reasonlen,
			    "missing required path \"%s\"", g->require[i]);
		}
	}
	json_decref(root);
	if (reason != NULL && reasonlen > 0)
		reason[0] = '\0';
	return 0;
}

static int guard_fail(struct guard_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* GUARD_ERROR: the detail is the error, not the list of sources */
static int
guard_fail(struct guard_result *res, const char *fmt, ...)
{
	va_list ap;

	res->outcome = GUARD_ERROR;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
	return -1;
}

static void
guard_note(struct guard_run *run, const char *label, const char *why)
{
	guard_appendf(run->res->detail, sizeof(run->res->detail), "%s%s: %s",
	    run->res->detail[0] != '\0' ? "; " : "", label, why);
}

/* read one candidate through fs; 1 and run->good set if it wins */
static int
guard_try(struct guard_run *run, const struct fsops *fs, const char *path,
    const char *label)
{
	char why[512], *data;
	size_t len;
	int rc;

	run->res->sources_tried++;
	rc = fs->read(fs->ctx, path, &data, &len, why, sizeof(why));
	if (rc != 0) {
		guard_note(run, label, rc == 1 ? "missing" : why);
		return 0;
	}
	if (run->exists && len == run->curlen &&
	    memcmp(data, run->cur, len) == 0) {
		guard_note(run, label, "identical to the broken file");
		free(data);
		return 0;
	}
	if (guard_validate(run->g, data, len, why, sizeof(why)) == -1) {
		guard_note(run, label, why);
		free(data);
		return 0;
	}
	run->good = data;
	run->goodlen = len;
	snprintf(run->res->source, sizeof(run->res->source), "%s", label);
	return 1;
}

static int
guard_try_glob(struct guard_run *run, const char *pattern)
{
	struct fsops_match *m;
	char err[512];
	size_t i, n;
	int found = 0;

	if (run->fs->glob(run->fs->ctx, pattern, &m, &n, err, sizeof(err)) ==
	    -1) {
		guard_note(run, pattern, err);
		return 0;
	}
	if (n == 0)
		guard_note(run, pattern, "no match");
	for (i = 0; i < n && !found; i++)
		found = guard_try(run, run->fs, m[i].path, m[i].path);
	fsops_matches_free(m, n);
	return found;
}

static int
guard_mesh_name(const char *path, uint64_t *ms)
{
	const char *base = strrchr(path, '/');
	size_t i, n;

	base = base != NULL ? base + 1 : path;
	n = strlen(base);
	if (n < 6 || n > 5 + 19 || strcmp(base + n - 5, ".json") != 0)
		return -1;
	*ms = 0;
	for (i = 0; i < n - 5; i++) {
		if (base[i] < '0' || base[i] > '9')
			return -1;
		*ms = *ms * 10 + (uint64_t)(base[i] - '0');
	}
	return 0;
}

static int
guard_mesh_cmp(const void *a, const void *b)
{
	const struct fsops_match *ma = a, *mb = b;

	if (ma->mtime_ms != mb->mtime_ms)
		return ma->mtime_ms > mb->mtime_ms ? -1 : 1;
	return -strcmp(ma->path, mb->path);
}

/*
 * The copies in a mesh store, newest first by the <unix ms> in their
 * names (not by mtime: the name is what we wrote). Other files are
 * ignored, so they are never pruned. mtime_ms holds the name's ms.
 */
static int
guard_mesh_list(const char *mesh_dir, struct fsops_match **out, size_t *n,
    char *err, size_t errlen)
{
	const struct fsops *fs = fslocal_ops();
	struct fsops_match *m;
	char *pattern;
	size_t i, k = 0, total;
	int rc;

	pattern = xasprintf("%s/*.json", mesh_dir);
	rc = fs->glob(fs->ctx, pattern, &m, &total, err, errlen);
	free(pattern);
	if (rc == -1)
		return -1;
	for (i = 0; i < total; i++) {
		if (guard_mesh_name(m[i].path, &m[i].mtime_ms) == -1)
			free(m[i].path);
		else
			m[k++] = m[i];
	}
	if (k > 1)
		qsort(m, k, sizeof(*m), guard_mesh_cmp);
	*out = m;
	*n = k;
	return 0;
}

static int
guard_try_mesh(struct guard_run *run, const char *mesh_dir)
{
	struct fsops_match *m;
	char err[512], *label;
	size_t i, n;
	int found = 0;

	if (mesh_dir == NULL) {
		guard_note(run, "mesh", "skipped, no local store");
		return 0;
	}
	if (guard_mesh_list(mesh_dir, &m, &n, err, sizeof(err)) == -1) {
		guard_note(run, "mesh", err);
		return 0;
	}
	if (n == 0)
		guard_note(run, "mesh", "no stored copy");
	for (i = 0; i < n && !found; i++) {
		label = xasprintf("mesh:%s", m[i].path);
		found = guard_try(run, fslocal_ops(), m[i].path, label);
		free(label);
	}
	fsops_matches_free(m, n);
	return found;
}

/* 1 if a valid source was found (run->good, res->source) */
static int
guard_cascade(struct guard_run *run, const char *mesh_dir)
{
	const char *b;
	size_t i;

	for (i = 0; i < run->g->nbackups; i++) {
		b = run->g->backups[i];
		if (strcmp(b, "mesh") == 0) {
			if (guard_try_mesh(run, mesh_dir))
				return 1;
		} else if (strpbrk(b, "*?[") != NULL) {
			if (guard_try_glob(run, b))
				return 1;
		} else if (guard_try(run, run->fs, b, b))
			return 1;
	}
	return 0;
}

/* i = 0: first (if any), then base, base-1, base-2, ... */
static char *
guard_candidate(const char *first, const char *base, unsigned i)
{
	if (first != NULL) {
		if (i == 0)
			return xstrdup(first);
		i--;
	}
	if (i == 0)
		return xstrdup(base);
	return xasprintf("%s-%u", base, i);
}

/*
 * Create a new file under the first free candidate name. create is O_EXCL,
 * so an existing file is never touched; when create fails, a successful
 * read of that name tells "taken, try the next" from a real failure.
 */
static int
guard_create_unique(const struct fsops *fs, const char *first, const char *base,
    const char *data, size_t len, const char *mode_like, char **name, char *err,
    size_t errlen)
{
	char rerr[256], *cand, *junk;
	size_t junklen;
	unsigned i;
	int rc;

	for (i = 0; i < GUARD_NAME_TRIES; i++) {
		cand = guard_candidate(first, base, i);
		if (fs->create(fs->ctx, cand, data, len, mode_like, err,
		        errlen) == 0) {
			*name = cand;
			return 0;
		}
		rc = fs->read(
		    fs->ctx, cand, &junk, &junklen, rerr, sizeof(rerr));
		free(cand);
		if (rc != 0)
			return -1;
		free(junk);
	}
	snprintf(err, errlen, "no free name for %s after %u tries", base,
	    GUARD_NAME_TRIES);
	return -1;
}

/* FILE must still hold what was judged broken (or still be missing) */
static int
guard_unchanged(struct guard_run *run, char *err, size_t errlen)
{
	char *data;
	size_t len;
	int rc, same;

	rc =
	    run->fs->read(run->fs->ctx, run->g->file, &data, &len, err, errlen);
	if (rc == -1)
		return -1;
	if (rc == 1)
		same = !run->exists;
	else {
		same = run->exists && len == run->curlen &&
		       memcmp(data, run->cur, len) == 0;
		free(data);
	}
	if (!same) {
		snprintf(err, errlen, "%s changed while restoring, left as is",
		    run->g->file);
		return -1;
	}
	return 0;
}

static int
guard_keep_broken(struct guard_run *run, uint64_t now_s)
{
	struct guard_result *res = run->res;
	char err[512], *base, *name;
	int rc;

	base = xasprintf(
	    "%s.broken-%llu", run->g->file, (unsigned long long)now_s);
	rc = guard_create_unique(run->fs, NULL, base, run->cur, run->curlen,
	    run->g->file, &name, err, sizeof(err));
	free(base);
	if (rc == -1)
		return guard_fail(res, "copying the broken file: %s", err);
	snprintf(res->broken_copy, sizeof(res->broken_copy), "%s", name);
	free(name);
	return 0;
}

static int
guard_install(struct guard_run *run, uint64_t now_s)
{
	const char *file = run->g->file;
	char err[512], *first, *base, *tmp;
	int rc;

	/* names must fit res->broken_copy whole, never truncated */
	if (strlen(file) + 48 > sizeof(run->res->broken_copy))
		return guard_fail(run->res, "%.200s...: path too long", file);
	if (run->exists && guard_keep_broken(run, now_s) == -1)
		return -1;
	first = xasprintf("%s.peerwatch-tmp", file);
	base =
	    xasprintf("%s.peerwatch-tmp-%llu", file, (unsigned long long)now_s);
	rc = guard_create_unique(run->fs, first, base, run->good, run->goodlen,
	    file, &tmp, err, sizeof(err));
	free(base);
	if (rc == 0 && strcmp(tmp, first) != 0)
		log_warnx("guard=%s@%s stale %s kept, wrote %s", run->g->name,
		    run->g->peer, first, tmp);
	free(first);
	if (rc == -1)
		return guard_fail(run->res, "writing the new file: %s", err);
	if (guard_unchanged(run, err, sizeof(err)) == -1 ||
	    run->fs->rename(run->fs->ctx, tmp, file, err, sizeof(err)) == -1) {
		guard_fail(run->res, "%s (new copy left in %s)", err, tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	run->res->outcome = GUARD_RESTORED;
	log_info("guard=%s@%s restored from=%s broken_copy=%s", run->g->name,
	    run->g->peer, run->res->source,
	    run->res->broken_copy[0] ? run->res->broken_copy : "-");
	return 0;
}

/* 0 for every outcome but GUARD_ERROR, which returns -1 */
int
guard_check(const struct conf_guard *g, const struct fsops *fs,
    const char *mesh_dir, uint64_t now_s, int dry_run, struct guard_result *res)
{
	struct guard_run run = {.g = g, .fs = fs, .res = res};
	char err[512];
	int rc;

	memset(res, 0, sizeof(*res));
	rc =
	    fs->read(fs->ctx, g->file, &run.cur, &run.curlen, err, sizeof(err));
	if (rc == -1)
		return guard_fail(res, "%s", err);
	run.exists = rc == 0;
	if (run.exists &&
	    guard_validate(g, run.cur, run.curlen, res->invalid_reason,
	        sizeof(res->invalid_reason)) == 0) {
		res->outcome = GUARD_VALID;
		free(run.cur);
		return 0;
	}
	if (!run.exists)
		snprintf(res->invalid_reason, sizeof(res->invalid_reason),
		    "missing");
	rc = 0;
	if (!guard_cascade(&run, mesh_dir))
		res->outcome = GUARD_NO_SOURCE;
	else if (dry_run)
		res->outcome = GUARD_WOULD_RESTORE;
	else
		rc = guard_install(&run, now_s);
	free(run.cur);
	free(run.good);
	return rc;
}

int
guard_write_flag(const struct conf_guard *g, const struct fsops *fs,
    const char *by, uint64_t at_ms, const char *reason,
    const char *restored_from, char *err, size_t errlen)
{
	char at[CLOCK_ISO_LEN], *body, *line, *base, *tmp;
	json_t *o;
	int rc;

	clock_iso8601(at_ms, at, sizeof(at));
	o = json_pack("{s:s?, s:s, s:s?, s:s?}", "by", by, "at", at, "reason",
	    reason, "restored_from", restored_from);
	if (o == NULL || (body = json_dumps(o, JSON_COMPACT)) == NULL) {
		json_decref(o);
		snprintf(
		    err, errlen, "flag %s: body is not valid UTF-8", g->flag);
		return -1;
	}
	json_decref(o);
	line = xasprintf("%s\n", body);
	free(body);
	if (fs->mkparent(fs->ctx, g->flag, err, errlen) == -1) {
		free(line);
		return -1;
	}
	base = xasprintf("%s.peerwatch-tmp-%ld", g->flag, (long)getpid());
	rc = guard_create_unique(
	    fs, NULL, base, line, strlen(line), g->flag, &tmp, err, errlen);
	free(base);
	free(line);
	if (rc == -1)
		return -1;
	/* a flag is a trigger, not data: replacing an old one is fine */
	rc = fs->rename(fs->ctx, tmp, g->flag, err, errlen);
	free(tmp);
	return rc;
}

/* 1 if data equals the newest stored copy; *newest its ms (0: none) */
static int
guard_mesh_same(const char *mesh_dir, const char *data, size_t len,
    uint64_t *newest, char *err, size_t errlen)
{
	const struct fsops *fs = fslocal_ops();
	struct fsops_match *m;
	char rerr[256], *old;
	size_t n, oldlen;
	int same = 0;

	*newest = 0;
	if (guard_mesh_list(mesh_dir, &m, &n, err, errlen) == -1)
		return -1;
	if (n > 0) {
		*newest = m[0].mtime_ms;
		if (fs->read(fs->ctx, m[0].path, &old, &oldlen, rerr,
		        sizeof(rerr)) == 0) {
			same = oldlen == len && memcmp(old, data, len) == 0;
			free(old);
		}
	}
	fsops_matches_free(m, n);
	return same;
}

/*
 * Keep only the `keep` newest copies. The one delete in peerwatch: these
 * are our own copies of a peer's file, in our own state_dir.
 */
static void
guard_mesh_prune(const char *mesh_dir, unsigned keep)
{
	struct fsops_match *m;
	char err[256];
	size_t i, n;

	if (guard_mesh_list(mesh_dir, &m, &n, err, sizeof(err)) == -1) {
		log_warnx("mesh prune %s: %s", mesh_dir, err);
		return;
	}
	for (i = keep; i < n; i++) {
		if (unlink(m[i].path) == -1)
			log_warn("mesh prune: unlink %s", m[i].path);
		else
			log_debug("mesh prune: removed %s", m[i].path);
	}
	fsops_matches_free(m, n);
}

int
guard_mesh_store(const char *mesh_dir, const struct conf_guard *g,
    const char *data, size_t len, uint64_t now_ms, unsigned keep, char *err,
    size_t errlen)
{
	const struct fsops *fs = fslocal_ops();
	char why[256], *path, *base, *tmp;
	uint64_t newest;
	int rc;

	if (guard_validate(g, data, len, why, sizeof(why)) == -1) {
		snprintf(err, errlen, "not stored: %s", why);
		return -1;
	}
	if (mkdirs(mesh_dir, 0700, err, errlen) == -1)
		return -1;
	if ((rc = guard_mesh_same(mesh_dir, data, len, &newest, err, errlen)) !=
	    0)
		return rc == 1 ? 0 : -1;
	/* names must sort after the newest even if the clock stepped back */
	if (newest >= now_ms)
		now_ms = newest + 1;
	path = xasprintf("%s/%llu.json", mesh_dir, (unsigned long long)now_ms);
	base = xasprintf("%s.peerwatch-tmp", path);
	rc = guard_create_unique(
	    fs, NULL, base, data, len, NULL, &tmp, err, errlen);
	free(base);
	if (rc == 0) {
		rc = fs->rename(fs->ctx, tmp, path, err, errlen);
		free(tmp);
	}
	free(path);
	if (rc == -1)
		return -1;
	guard_mesh_prune(mesh_dir, keep > 0 ? keep : 1);
	return 1;
}

char *
guard_mesh_dir(const char *state_dir, const struct conf_guard *g)
{
	size_t n = strlen(state_dir);

	while (n > 1 && state_dir[n - 1] == '/')
		n--;
	return xasprintf(
	    "%.*s/mesh/%s/%s", (int)n, state_dir, g->peer, g->name);
}
