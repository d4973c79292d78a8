/* SPDX-License-Identifier: ISC */
/*
 * guard: keep one guarded JSON config valid. Validates it, walks the backup
 * cascade (plain paths, globs newest first, the local mesh store) and
 * installs the first valid source: the good bytes are written to a fresh
 * temporary file FILE.peerwatch-tmp-<random> with FILE's owner and mode,
 * the broken bytes copied to FILE.broken-<t>, FILE checked once more, and
 * a rename(2) over FILE is the only step that ever changes FILE.
 * The rules (SECURITY.md): links are never followed, neither FILE (a
 * symlinked FILE is refused, not replaced) nor a backup; a backup must be
 * a regular file owned by FILE's owner or root; setuid/setgid bits are
 * never copied. Deletes only its own artefacts: the temp file and broken
 * copy of a failed install, broken copies beyond GUARD_KEEP_BROKEN, old
 * copies in our own mesh store. Never exits; never logs file contents.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
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
#define GUARD_TMP_TRIES 8    /* fresh random temp names */
#define GUARD_UID_ROOT 0

/* one guard_check in progress */
struct guard_run {
	const struct conf_guard *g;
	const struct fsops *fs;
	struct guard_result *res;
	char *cur; /* FILE's bytes (NULL if missing) */
	size_t curlen;
	struct fsops_stat curst; /* FILE as read */
	int exists;
	uint32_t owner; /* backups: owned by this uid or root */
	char *good;     /* the winning source's bytes */
	size_t goodlen;
	struct fsops_stat goodst;
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

size_t
guard_max_size(const struct conf_guard *g)
{
	if (g->max_size == 0)
		return CONF_GUARD_SIZE;
	return g->max_size < CONF_GUARD_SIZE_MAX ? (size_t)g->max_size
	                                         : CONF_GUARD_SIZE_MAX;
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
	if (len > guard_max_size(g))
		return guard_reason(reason, reasonlen, "larger than %zu bytes",
		    guard_max_size(g));
	root = json_loadb(data, len, JSON_DECODE_ANY, &jerr);
	if (root == NULL)
		return guard_reason(reason, reasonlen,
		    "not JSON: %s at line %d, column %d (byte %d)",
		    guard_json_why(&jerr), jerr.line, jerr.column,
		    jerr.position);
	/* a config is an object (`null`, `0` or `[]` are not configs),
	 * unless top_level = any; with require it always is one */
	if (!json_is_object(root) && (!g->any_json || g->nrequire > 0)) {
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

/*
 * A backup a privileged reader may take: owned by FILE's owner (or, FILE
 * missing, its directory's) or by root. Anyone else could have planted
 * it, or made it a hard link to a file they cannot read themselves; and
 * a root-owned backup with a second name, for a file that is not root's,
 * may be such a link to a root-only file (where the system allows links
 * to others' files: macOS, Linux with protected_hardlinks off).
 */
static const char *
guard_owner_why(const struct guard_run *run, const struct fsops_stat *st)
{
	if (!st->has_owner || st->uid == run->owner)
		return NULL;
	if (st->uid != GUARD_UID_ROOT)
		return "neither the file's owner nor root";
	if (run->owner != GUARD_UID_ROOT && st->nlink > 1)
		return "root's, with more than one hard link";
	return NULL;
}

/* read one candidate through fs; 1 and run->good set if it wins.
 * mesh: our own store, written by this daemon, has no owner rule */
static int
guard_try(struct guard_run *run, const struct fsops *fs, const char *path,
    const char *label, int mesh)
{
	struct fsops_stat st;
	char why[512], *data;
	size_t len;
	const char *bad;
	int rc;

	run->res->sources_tried++;
	rc = fs->read(fs->ctx, path, guard_max_size(run->g), &data, &len, &st,
	    why, sizeof(why));
	if (rc != 0) {
		guard_note(run, label, rc == 1 ? "missing" : why);
		return 0;
	}
	if (!mesh && (bad = guard_owner_why(run, &st)) != NULL) {
		snprintf(why, sizeof(why),
		    "owned by uid %" PRIu32 ", %s (the file's is %" PRIu32
		    "): not used",
		    st.uid, bad, run->owner);
		guard_note(run, label, why);
		free(data);
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
	run->goodst = st;
	snprintf(run->res->source, sizeof(run->res->source), "%s", label);
	return 1;
}

/* digits, then optionally "-" and digits, then the end */
static int
guard_is_stamp(const char *s)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0)
		return 0;
	if (s[n] == '\0')
		return 1;
	return s[n] == '-' && s[n + 1] != '\0' &&
	       s[n + 1 + strspn(s + n + 1, "0123456789")] == '\0';
}

/*
 * Names peerwatch itself makes next to a file: FILE.peerwatch-tmp*,
 * FILE.peerwatch-old-<ms> (SFTP rename fallback), FILE.broken-<t>[-n].
 * A wide glob ({file}*) must not take them for backups.
 */
int
guard_is_artefact(const char *path)
{
	const char *base = strrchr(path, '/'), *p;

	base = base != NULL ? base + 1 : path;
	if (strstr(base, ".peerwatch-tmp") != NULL ||
	    strstr(base, ".peerwatch-old-") != NULL)
		return 1;
	for (p = base; (p = strstr(p, ".broken-")) != NULL; p++)
		if (guard_is_stamp(p + 8))
			return 1;
	return 0;
}

static int
guard_try_glob(struct guard_run *run, const char *pattern)
{
	struct fsops_match *m;
	char err[512];
	size_t i, n, used = 0;
	int found = 0;

	if (run->fs->glob(run->fs->ctx, pattern, &m, &n, err, sizeof(err)) ==
	    -1) {
		guard_note(run, pattern, err);
		return 0;
	}
	for (i = 0; i < n && !found; i++) {
		if (guard_is_artefact(m[i].path) ||
		    strcmp(m[i].path, run->g->file) == 0)
			continue;
		used++;
		found = guard_try(run, run->fs, m[i].path, m[i].path, 0);
	}
	if (used == 0)
		guard_note(run, pattern, "no match");
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
		found = guard_try(run, fslocal_ops(), m[i].path, label, 1);
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
		} else if (guard_try(run, run->fs, b, b, 0))
			return 1;
	}
	return 0;
}

/* 16 hex digits nobody can guess, so no one can plant the name first */
static void
guard_random_hex(char out[17])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[8];
	int i;

#ifdef __APPLE__
	arc4random_buf(r, sizeof(r));
#else
	static unsigned counter;
	uint64_t v;

	if (getentropy(r, sizeof(r)) == -1) {
		/* unique within this process at least; O_EXCL does the rest */
		v = clock_mono_ms() ^ ((uint64_t)getpid() << 32) ^ ++counter;
		memcpy(r, &v, sizeof(r));
	}
#endif
	for (i = 0; i < 8; i++) {
		out[2 * i] = hex[r[i] >> 4];
		out[2 * i + 1] = hex[r[i] & 15];
	}
	out[16] = '\0';
}

/*
 * create through fs; when it fails, an lstat tells "the name is taken"
 * (anything there, a dangling link too: try another name) from a real
 * failure. Returns 0, 1 if taken, -1.
 */
static int
guard_create_at(const struct fsops *fs, const char *path, const char *data,
    size_t len, const struct fsops_stat *like, char *warn, size_t warnlen,
    char *err, size_t errlen)
{
	struct fsops_stat st;
	char serr[256];

	if (fs->create(fs->ctx, path, data, len, like, warn, warnlen, err,
	        errlen) == 0)
		return 0;
	return fs->stat(fs->ctx, path, &st, serr, sizeof(serr)) == 0 ? 1 : -1;
}

/* PATH.peerwatch-tmp-<random>, never an existing name; *name malloc'd */
static int
guard_create_tmp(const struct fsops *fs, const char *path, const char *data,
    size_t len, const struct fsops_stat *like, char **name, char *warn,
    size_t warnlen, char *err, size_t errlen)
{
	char rnd[17], *cand;
	unsigned i;
	int rc;

	for (i = 0; i < GUARD_TMP_TRIES; i++) {
		guard_random_hex(rnd);
		cand = xasprintf("%s.peerwatch-tmp-%s", path, rnd);
		rc = guard_create_at(
		    fs, cand, data, len, like, warn, warnlen, err, errlen);
		if (rc == 0) {
			*name = cand;
			return 0;
		}
		free(cand);
		if (rc == -1)
			return -1;
	}
	snprintf(err, errlen, "no free temporary name for %s", path);
	return -1;
}

/* FILE.broken-<t>, then -<t>-1, -<t>-2, ...: readable names for humans */
static int
guard_keep_broken(
    struct guard_run *run, uint64_t now_s, const struct fsops_stat *like)
{
	struct guard_result *res = run->res;
	char err[512], warn[256], *name;
	unsigned i;
	int rc = 1;

	for (i = 0; i < GUARD_NAME_TRIES && rc == 1; i++) {
		name = i == 0 ? xasprintf(
		                    "%s.broken-%" PRIu64, run->g->file, now_s)
		              : xasprintf("%s.broken-%" PRIu64 "-%u",
		                    run->g->file, now_s, i);
		rc = guard_create_at(run->fs, name, run->cur, run->curlen, like,
		    warn, sizeof(warn), err, sizeof(err));
		if (rc == 0)
			snprintf(res->broken_copy, sizeof(res->broken_copy),
			    "%s", name);
		free(name);
	}
	if (rc == 1)
		snprintf(err, sizeof(err), "no free name after %u tries",
		    GUARD_NAME_TRIES);
	if (rc != 0)
		return guard_fail(res, "copying the broken file: %s", err);
	return 0;
}

/* a broken copy's <t> and <n> (0 if none) from its name */
static int
guard_broken_stamp(const char *path, size_t baselen, uint64_t *t, unsigned *n)
{
	const char *s = path + baselen;
	char *end;

	if (strncmp(s, ".broken-", 8) != 0 || !guard_is_stamp(s + 8))
		return -1;
	*t = strtoull(s + 8, &end, 10);
	*n = *end == '-' ? (unsigned)strtoul(end + 1, NULL, 10) : 0;
	return 0;
}

struct guard_broken {
	char *path;
	uint64_t t;
	unsigned n;
};

static int
guard_broken_cmp(const void *a, const void *b)
{
	const struct guard_broken *x = a, *y = b;

	if (x->t != y->t)
		return x->t > y->t ? -1 : 1;
	return x->n > y->n ? -1 : x->n < y->n;
}

/* FILE's last component with glob metacharacters escaped */
static char *
guard_broken_pattern(const char *file)
{
	char *out = xmalloc(2 * strlen(file) + 16);
	const char *slash = strrchr(file, '/');
	size_t o = 0, i, start = slash ? (size_t)(slash - file) + 1 : 0;

	for (i = 0; file[i] != '\0'; i++) {
		if (i >= start && strchr("\\*?[", file[i]) != NULL)
			out[o++] = '\\';
		out[o++] = file[i];
	}
	strcpy(out + o, ".broken-*");
	return out;
}

/*
 * Keep the GUARD_KEEP_BROKEN newest broken copies of FILE (by the time
 * in their names); the one this run made is never removed. A file that
 * only looks like one (a link, a directory) is not listed by glob.
 */
static void
guard_prune_broken(struct guard_run *run)
{
	const char *file = run->g->file;
	struct guard_broken *b;
	struct fsops_match *m;
	char err[256], *pat = guard_broken_pattern(file);
	size_t i, k = 0, n;

	if (run->fs->glob(run->fs->ctx, pat, &m, &n, err, sizeof(err)) == -1) {
		log_warnx("guard=%s@%s broken copies: %s", run->g->name,
		    run->g->peer, err);
		free(pat);
		return;
	}
	free(pat);
	b = xcalloc(n + 1, sizeof(*b));
	for (i = 0; i < n; i++)
		if (guard_broken_stamp(
		        m[i].path, strlen(file), &b[k].t, &b[k].n) == 0)
			b[k++].path = m[i].path;
	qsort(b, k, sizeof(*b), guard_broken_cmp);
	for (i = GUARD_KEEP_BROKEN; i < k; i++) {
		if (strcmp(b[i].path, run->res->broken_copy) == 0)
			continue;
		if (run->fs->remove(
		        run->fs->ctx, b[i].path, err, sizeof(err)) == -1)
			log_warnx(
			    "guard=%s@%s: %s", run->g->name, run->g->peer, err);
		else
			log_info("guard=%s@%s removed old broken copy %s",
			    run->g->name, run->g->peer, b[i].path);
	}
	free(b);
	fsops_matches_free(m, n);
}

static int
guard_same_stat(const struct fsops_stat *a, const struct fsops_stat *b)
{
	return a->type == b->type && a->size == b->size &&
	       a->mtime_ms == b->mtime_ms && a->uid == b->uid &&
	       a->mode == b->mode;
}

/*
 * FILE must still hold what was judged broken (or still be missing): its
 * bytes are read again, and right before the rename its size and mtime
 * are looked at once more, so an application's write that lands while
 * the new copy was being written is kept, not overwritten.
 */
static int
guard_unchanged(struct guard_run *run, char *err, size_t errlen)
{
	const char *file = run->g->file;
	struct fsops_stat st, last;
	char *data;
	size_t len;
	int rc, same;

	rc = run->fs->read(run->fs->ctx, file, guard_max_size(run->g), &data,
	    &len, &st, err, errlen);
	if (rc == -1)
		return -1;
	if (rc == 1)
		same = !run->exists;
	else {
		same = run->exists && len == run->curlen &&
		       memcmp(data, run->cur, len) == 0;
		free(data);
	}
	if (same) {
		rc = run->fs->stat(run->fs->ctx, file, &last, err, errlen);
		if (rc == -1)
			return -1;
		same = run->exists ? rc == 0 && guard_same_stat(&st, &last)
		                   : rc == 1;
	}
	if (!same) {
		snprintf(err, errlen, "%s changed while restoring, left as is",
		    file);
		return -1;
	}
	return 0;
}

/*
 * After the rename FILE must be the regular file we wrote. Whoever owns
 * the directory can swap the temp file for a link before the rename (it
 * gains them nothing they could not do to FILE directly, since owner and
 * mode were set on the open file), but then this is no restore.
 */
static int
guard_installed(struct guard_run *run, char *err, size_t errlen)
{
	struct fsops_stat st;
	int rc;

	rc = run->fs->stat(run->fs->ctx, run->g->file, &st, err, errlen);
	if (rc == -1)
		return -1;
	if (rc == 1 || st.type != FSOPS_REG || st.size != run->goodlen) {
		snprintf(err, errlen,
		    "%s was replaced while restoring (%s), not restored",
		    run->g->file,
		    rc == 1                 ? "gone"
		    : st.type == FSOPS_LINK ? "now a symbolic link"
		                            : "not what was written");
		return -1;
	}
	return 0;
}

/* undo a failed install: both files are ours, made by this run */
static void
guard_undo(struct guard_run *run, const char *tmp, int broken_too)
{
	char err[256];

	if (tmp != NULL &&
	    run->fs->remove(run->fs->ctx, tmp, err, sizeof(err)) == -1)
		log_warnx("guard=%s@%s: %s", run->g->name, run->g->peer, err);
	if (broken_too && run->res->broken_copy[0] != '\0') {
		if (run->fs->remove(run->fs->ctx, run->res->broken_copy, err,
		        sizeof(err)) == -1)
			log_warnx(
			    "guard=%s@%s: %s", run->g->name, run->g->peer, err);
		else
			run->res->broken_copy[0] = '\0';
	}
}

/* FILE's owner and mode, or the backup's when FILE is missing; never
 * setuid, setgid or sticky */
static struct fsops_stat
guard_like(const struct guard_run *run)
{
	struct fsops_stat like = run->exists ? run->curst : run->goodst;

	like.mode &= 0777;
	return like;
}

static int
guard_install(struct guard_run *run, uint64_t now_s)
{
	const char *file = run->g->file;
	struct fsops_stat like = guard_like(run);
	struct guard_result *res = run->res;
	char err[512], *tmp;

	/* names must fit res->broken_copy whole, never truncated */
	if (strlen(file) + 48 > sizeof(res->broken_copy))
		return guard_fail(res, "%.200s...: path too long", file);
	if (guard_create_tmp(run->fs, file, run->good, run->goodlen, &like,
	        &tmp, res->warning, sizeof(res->warning), err,
	        sizeof(err)) == -1)
		return guard_fail(res, "writing the new file: %s", err);
	if (run->exists && guard_keep_broken(run, now_s, &like) == -1) {
		guard_undo(run, tmp, 0);
		free(tmp);
		return -1;
	}
	if (guard_unchanged(run, err, sizeof(err)) == -1) {
		/* FILE moved on: the copy of what it held is kept */
		guard_undo(run, tmp, 0);
		free(tmp);
		return guard_fail(res, "%s", err);
	}
	if (run->fs->rename(run->fs->ctx, tmp, file, err, sizeof(err)) == -1) {
		/* FILE still holds the broken bytes: no copy needed */
		guard_undo(run, tmp, 1);
		free(tmp);
		return guard_fail(res, "%s", err);
	}
	free(tmp);
	if (guard_installed(run, err, sizeof(err)) == -1)
		return guard_fail(res, "%s", err);
	res->outcome = GUARD_RESTORED;
	if (run->exists)
		guard_prune_broken(run);
	log_info("guard=%s@%s restored from=%s broken_copy=%s%s%s",
	    run->g->name, run->g->peer, res->source,
	    res->broken_copy[0] ? res->broken_copy : "-",
	    res->warning[0] ? " warning=" : "", res->warning);
	return 0;
}

/* the uid backups must have (besides root): FILE's, or its directory's */
static void
guard_owner(struct guard_run *run)
{
	struct fsops_stat st;
	char err[256], *dir, *slash;

	if (run->exists) {
		run->owner = run->curst.uid;
		return;
	}
	run->owner = GUARD_UID_ROOT;
	dir = xstrdup(run->g->file);
	if ((slash = strrchr(dir, '/')) != NULL) {
		slash[slash == dir ? 1 : 0] = '\0';
		if (run->fs->stat(run->fs->ctx, dir, &st, err, sizeof(err)) ==
		        0 &&
		    st.has_owner)
			run->owner = st.uid;
	}
	free(dir);
}

/* a link at FILE is never followed and never replaced (SECURITY.md) */
static int
guard_refuse_link(const struct conf_guard *g, const struct fsops *fs,
    struct guard_result *res)
{
	struct fsops_stat st;
	char err[512];
	int rc;

	rc = fs->stat(fs->ctx, g->file, &st, err, sizeof(err));
	if (rc == -1)
		return guard_fail(res, "%s", err);
	if (rc == 1 || st.type != FSOPS_LINK)
		return 0;
	snprintf(res->invalid_reason, sizeof(res->invalid_reason),
	    "a symbolic link");
	return guard_fail(res,
	    "%s is a symbolic link: not followed and not replaced; "
	    "guard the file it points to instead",
	    g->file);
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
	if (guard_refuse_link(g, fs, res) == -1)
		return -1;
	rc = fs->read(fs->ctx, g->file, guard_max_size(g), &run.cur,
	    &run.curlen, &run.curst, err, sizeof(err));
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
	guard_owner(&run);
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
	char at[CLOCK_ISO_LEN], warn[256], *body, *line, *tmp;
	struct fsops_stat old, *like = NULL;
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
	/* an existing flag's owner and mode are kept */
	if (fs->stat(fs->ctx, g->flag, &old, err, errlen) == 0 &&
	    old.type == FSOPS_REG) {
		old.mode &= 0777;
		like = &old;
	}
	rc = guard_create_tmp(fs, g->flag, line, strlen(line), like, &tmp, warn,
	    sizeof(warn), err, errlen);
	free(line);
	if (rc == -1)
		return -1;
	/* a flag is a trigger, not data: replacing an old one is fine */
	rc = fs->rename(fs->ctx, tmp, g->flag, err, errlen);
	if (rc == -1)
		(void)fs->remove(fs->ctx, tmp, warn, sizeof(warn));
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
		if (fs->read(fs->ctx, m[0].path, FSOPS_MAX_FILE, &old, &oldlen,
		        NULL, rerr, sizeof(rerr)) == 0) {
			same = oldlen == len && memcmp(old, data, len) == 0;
			free(old);
		}
	}
	fsops_matches_free(m, n);
	return same;
}

/*
 * Keep only the `keep` newest copies: our own copies of a peer's file,
 * in our own state_dir.
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
	char why[256], warn[64], *path, *tmp;
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
	rc = guard_create_tmp(
	    fs, path, data, len, NULL, &tmp, warn, sizeof(warn), err, errlen);
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
