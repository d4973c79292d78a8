/* SPDX-License-Identifier: ISC */
/*
 * test_guard: validation, the backup cascade and its atomic install, the
 * revive flag and the mesh store, all on the local backend in a private
 * mkdtemp directory (removed after each test). A wrapper fsops injects
 * failures to show FILE is left untouched when any step fails.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dirent.h>
#include <fcntl.h>
#ifndef __APPLE__
#include <grp.h> /* setgroups(); <unistd.h> on macOS */
#endif
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "heal/guard.h"

#define NOW_S 1700000000ULL
#define GOOD "{\"channels\": {\"telegram\": {\"token_file\": \"t\"}}}\n"
#define GOOD2 "{\"channels\": {\"telegram\": {}}, \"v\": 2}\n"
#define CORRUPT "{\"channels\": {\"telegram\": \n"
#define NOREQ "{\"channels\": {}}\n"

struct t {
	char dir[PATH_MAX];
	struct conf_guard g;
};

/* ---- helpers ---------------------------------------------------------- */

static char *
tpath(const struct t *t, const char *name)
{
	return xasprintf("%s/%s", t->dir, name);
}

static void
put(const struct t *t, const char *name, const char *data, mode_t mode)
{
	char *p = tpath(t, name);
	int fd;

	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
	assert_true(fd != -1);
	assert_int_equal(write(fd, data, strlen(data)), (ssize_t)strlen(data));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
	free(p);
}

/* whole file, or NULL if missing */
static char *
get(const char *path)
{
	const struct fsops *fs = fslocal_ops();
	char err[256], *data;
	size_t len;

	if (fs->read(fs->ctx, path, FSOPS_MAX_FILE, &data, &len, NULL, err,
	        sizeof(err)) != 0)
		return NULL;
	return data;
}

static void
assert_file(const struct t *t, const char *name, const char *want)
{
	char *p = tpath(t, name), *data = get(p);

	assert_non_null(data);
	assert_string_equal(data, want);
	free(data);
	free(p);
}

static void
set_mtime(const struct t *t, const char *name, time_t sec)
{
	struct timespec ts[2] = {{sec, 0}, {sec, 0}};
	char *p = tpath(t, name);

	assert_int_equal(utimensat(AT_FDCWD, p, ts, 0), 0);
	free(p);
}

static void
strv_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* NULL-terminated lists; a backup not starting with '/' or "mesh" is
 * taken relative to the test directory */
static void
guard_set(struct t *t, const char *const *req, const char *const *bak)
{
	struct conf_guard *g = &t->g;

	strv_free(g->require, g->nrequire);
	strv_free(g->backups, g->nbackups);
	g->require = g->backups = NULL;
	g->nrequire = g->nbackups = 0;
	for (; req != NULL && *req != NULL; req++) {
		g->require =
		    xreallocarray(g->require, g->nrequire + 1, sizeof(char *));
		g->require[g->nrequire++] = xstrdup(*req);
	}
	for (; bak != NULL && *bak != NULL; bak++) {
		g->backups =
		    xreallocarray(g->backups, g->nbackups + 1, sizeof(char *));
		g->backups[g->nbackups++] =
		    (*bak)[0] == '/' || strcmp(*bak, "mesh") == 0
		        ? xstrdup(*bak)
		        : tpath(t, *bak);
	}
}

static const char *const REQ[] = {"channels.telegram", NULL};

/* a sorted listing of dir (recursive) with every file's mode and bytes */
static void
snap_dir(const char *dir, char **out)
{
	struct dirent **ents;
	struct stat st;
	char *p, *data, *s;
	int i, n;

	n = scandir(dir, &ents, NULL, alphasort);
	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") == 0 ||
		    strcmp(ents[i]->d_name, "..") == 0) {
			free(ents[i]);
			continue;
		}
		p = xasprintf("%s/%s", dir, ents[i]->d_name);
		assert_int_equal(lstat(p, &st), 0);
		data = S_ISREG(st.st_mode) ? get(p) : NULL;
		s = xasprintf("%s%s %o [%s]\n", *out, p, (unsigned)st.st_mode,
		    data ? data : "");
		free(*out);
		*out = s;
		free(data);
		if (S_ISDIR(st.st_mode))
			snap_dir(p, out);
		free(p);
		free(ents[i]);
	}
	free(ents);
}

static char *
snap(const struct t *t)
{
	char *s = xstrdup("");

	snap_dir(t->dir, &s);
	return s;
}

static void
rm_rf(const char *path)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	char *p;

	if (lstat(path, &st) == -1)
		return;
	if (S_ISDIR(st.st_mode) && (d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			p = xasprintf("%s/%s", path, de->d_name);
			rm_rf(p);
			free(p);
		}
		closedir(d);
		rmdir(path);
	} else
		unlink(path);
}

/* how many names in the test directory start with prefix */
static int
count_prefix(const struct t *t, const char *prefix)
{
	struct dirent *de;
	DIR *d = opendir(t->dir);
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

/* remove every name in the test directory starting with prefix */
static void
rm_all(const struct t *t, const char *prefix)
{
	struct dirent *de;
	DIR *d = opendir(t->dir);
	char *p;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, prefix, strlen(prefix)) != 0)
			continue;
		p = tpath(t, de->d_name);
		rm_rf(p);
		free(p);
	}
	closedir(d);
}

static void
link_to(const struct t *t, const char *name, const char *target)
{
	char *p = tpath(t, name);

	assert_int_equal(symlink(target, p), 0);
	free(p);
}

static void
own(const struct t *t, const char *name, uid_t uid, gid_t gid)
{
	char *p = tpath(t, name);

	assert_int_equal(lchown(p, uid, gid), 0);
	free(p);
}

static int
setup(void **state)
{
	struct t *t = xcalloc(1, sizeof(*t));
	const char *tmp = getenv("TMPDIR");

	snprintf(t->dir, sizeof(t->dir), "%s/pwguard.XXXXXX",
	    tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->g.name, sizeof(t->g.name), "openclaw");
	snprintf(t->g.peer, sizeof(t->g.peer), "macbook");
	t->g.file = tpath(t, "openclaw.json");
	t->g.flag = tpath(t, "flags/revive-openclaw.flag");
	guard_set(t, REQ,
	    (const char *const[]){
	        "openclaw.json.bak", "openclaw.json.bak.1", NULL});
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct t *t = *state;

	rm_rf(t->dir);
	free(t->g.file);
	free(t->g.flag);
	strv_free(t->g.require, t->g.nrequire);
	strv_free(t->g.backups, t->g.nbackups);
	free(t);
	return 0;
}

/* ---- validate --------------------------------------------------------- */

static int
validate(const struct t *t, const char *s, char *why, size_t len)
{
	return guard_validate(&t->g, s, strlen(s), why, len);
}

static void
test_validate_ok(void **state)
{
	struct t *t = *state;
	char why[256] = "x";

	assert_int_equal(validate(t, GOOD, why, sizeof(why)), 0);
	assert_string_equal(why, "");
	/* a JSON null still counts as present */
	assert_int_equal(
	    validate(t, "{\"channels\":{\"telegram\":null}}", why, sizeof(why)),
	    0);
	guard_set(t, REQ, NULL);
	assert_int_equal(validate(t, "[1,2]", why, sizeof(why)), -1);
	assert_non_null(strstr(why, "not a JSON object"));
}

/* without require, a config is still an object: null, 0, [] are not,
 * unless top_level = any (and there is no require) */
static void
test_validate_object(void **state)
{
	struct t *t = *state;
	const char *bad[] = {"null", "0", "42", "[1,2]", "\"x\"", "true"};
	char why[256];
	size_t i;

	guard_set(t, NULL, NULL);
	assert_int_equal(validate(t, "{}", why, sizeof(why)), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(validate(t, bad[i], why, sizeof(why)), -1);
		assert_non_null(strstr(why, "not a JSON object"));
	}
	t->g.any_json = 1;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(validate(t, bad[i], why, sizeof(why)), 0);
	guard_set(t, REQ, NULL);
	assert_int_equal(validate(t, "[1,2]", why, sizeof(why)), -1);
}

/* jansson's message quotes the bad token: never in the reason */
static void
test_validate_no_content(void **state)
{
	struct t *t = *state;
	const char *docs[] = {"{\"token\": sk-SECRET0123456789}",
	    "{\"token\": \"sk-SECRET0123456789",
	    "{\"token\": \"sk-SECRET\x01\"}", "{\"t\": trueSECRET}",
	    "{\"a\":1}\nsk-SECRET0123456789"};
	char why[256];
	size_t i;

	for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
		assert_int_equal(validate(t, docs[i], why, sizeof(why)), -1);
		assert_null(strstr(why, "SECRET"));
		assert_null(strstr(why, "sk-"));
		assert_non_null(strstr(why, "line "));
		assert_non_null(strstr(why, "column "));
	}
}

/* a backup over the cap is refused without being parsed */
static void
test_validate_too_big(void **state)
{
	struct t *t = *state;
	size_t n = CONF_GUARD_SIZE + 2;
	char why[256], *big = xmalloc(n + 1);

	memset(big, ' ', n);
	big[0] = '{';
	big[n - 1] = '}';
	big[n] = '\0';
	guard_set(t, NULL, NULL);
	assert_int_equal(guard_max_size(&t->g), CONF_GUARD_SIZE);
	assert_int_equal(guard_validate(&t->g, big, n, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "larger than 4194304 bytes"));
	/* max_size raises (up to CONF_GUARD_SIZE_MAX) or lowers the cap */
	t->g.max_size = n;
	assert_int_equal(guard_validate(&t->g, big, n, why, sizeof(why)), 0);
	t->g.max_size = (uint64_t)CONF_GUARD_SIZE_MAX * 4;
	assert_int_equal(guard_max_size(&t->g), CONF_GUARD_SIZE_MAX);
	t->g.max_size = 8;
	assert_int_equal(validate(t, "{\"a\": 12}", why, sizeof(why)), -1);
	assert_non_null(strstr(why, "larger than 8 bytes"));
	free(big);
}

static void
test_validate_not_json(void **state)
{
	struct t *t = *state;
	char why[256];

	assert_int_equal(
	    validate(t, "{\n\"a\": 1,\n\"b\": }\n", why, sizeof(why)), -1);
	assert_true(strncmp(why, "not JSON: ", 10) == 0);
	assert_non_null(strstr(why, "at line 3, column"));
	assert_int_equal(validate(t, "   \n", why, sizeof(why)), -1);
	assert_true(strncmp(why, "not JSON: ", 10) == 0);
	/* NULL reason is allowed */
	assert_int_equal(guard_validate(&t->g, "{", 1, NULL, 0), -1);
}

static void
test_validate_missing_path(void **state)
{
	struct t *t = *state;
	char why[256];

	assert_int_equal(validate(t, NOREQ, why, sizeof(why)), -1);
	assert_string_equal(why, "missing required path \"channels.telegram\"");
	assert_int_equal(
	    validate(t, "{\"channels\": 3}", why, sizeof(why)), -1);
}

static void
test_validate_nested_path(void **state)
{
	struct t *t = *state;
	const char *doc = "{\"a\":{\"b\":{\"c\":false}},\"channels\":"
	                  "{\"telegram\":1}}";
	char why[256];

	guard_set(t, (const char *const[]){"a.b.c", "channels", NULL}, NULL);
	assert_int_equal(validate(t, doc, why, sizeof(why)), 0);
	guard_set(t, (const char *const[]){"a.b.c", "a.b.x", NULL}, NULL);
	assert_int_equal(validate(t, doc, why, sizeof(why)), -1);
	assert_string_equal(why, "missing required path \"a.b.x\"");
	/* a path may not run through a scalar */
	guard_set(t, (const char *const[]){"a.b.c.d", NULL}, NULL);
	assert_int_equal(validate(t, doc, why, sizeof(why)), -1);
}

static void
test_validate_array_index(void **state)
{
	struct t *t = *state;
	const char *doc = "{\"list\":[{\"n\":1},{\"name\":\"x\"}],"
	                  "\"obj\":{\"0\":true}}";
	char why[256];

	guard_set(t, (const char *const[]){"list.1.name", "obj.0", NULL}, NULL);
	assert_int_equal(validate(t, doc, why, sizeof(why)), 0);
	guard_set(t, (const char *const[]){"list.2", NULL}, NULL);
	assert_int_equal(validate(t, doc, why, sizeof(why)), -1);
	guard_set(t, (const char *const[]){"list.x", NULL}, NULL);
	assert_int_equal(validate(t, doc, why, sizeof(why)), -1);
	guard_set(t, (const char *const[]){"list.0.name", NULL}, NULL);
	assert_int_equal(validate(t, doc, why, sizeof(why)), -1);
	assert_string_equal(why, "missing required path \"list.0.name\"");
}

static void
test_validate_empty(void **state)
{
	struct t *t = *state;
	char why[256];

	assert_int_equal(guard_validate(&t->g, "", 0, why, sizeof(why)), -1);
	assert_string_equal(why, "empty file");
	guard_set(t, NULL, NULL);
	assert_int_equal(guard_validate(&t->g, "", 0, why, sizeof(why)), -1);
}

/* ---- check ------------------------------------------------------------ */

static int
check(struct t *t, int dry_run, struct guard_result *res)
{
	return guard_check(&t->g, fslocal_ops(), NULL, NOW_S, dry_run, res);
}

static void
test_check_valid(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *before, *after;

	put(t, "openclaw.json", GOOD, 0640);
	put(t, "openclaw.json.bak", GOOD2, 0600);
	before = snap(t);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_VALID);
	assert_string_equal(guard_outcome_name(res.outcome), "valid");
	assert_int_equal(res.sources_tried, 0);
	after = snap(t);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void
test_check_restore_bak(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *p;

	put(t, "openclaw.json", CORRUPT, 0640);
	put(t, "openclaw.json.bak", GOOD, 0600);
	put(t, "openclaw.json.bak.1", GOOD2, 0600);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	p = tpath(t, "openclaw.json.bak");
	assert_string_equal(res.source, p);
	free(p);
	assert_non_null(strstr(res.invalid_reason, "not JSON"));
	assert_file(t, "openclaw.json", GOOD);
	p = tpath(t, "openclaw.json.broken-1700000000");
	assert_string_equal(res.broken_copy, p);
	free(p);
	assert_file(t, "openclaw.json.broken-1700000000", CORRUPT);
	p = tpath(t, "openclaw.json.peerwatch-tmp");
	assert_int_equal(access(p, F_OK), -1);
	free(p);
	assert_int_equal(res.sources_tried, 1);
	/* a second check finds it valid */
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_VALID);
}

static void
test_check_bak_chain(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *p;

	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", NOREQ, 0600);
	put(t, "openclaw.json.bak.1", GOOD2, 0600);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	p = tpath(t, "openclaw.json.bak.1");
	assert_string_equal(res.source, p);
	free(p);
	assert_file(t, "openclaw.json", GOOD2);
	assert_int_equal(res.sources_tried, 2);
	assert_non_null(strstr(res.detail, "missing required path"));
}

static void
test_check_glob(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *p;

	p = tpath(t, "hourly");
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "hourly/a.json", GOOD, 0600);
	put(t, "hourly/b.json", GOOD2, 0600);
	put(t, "hourly/c.json", "{\"channels\":{\"telegram\":3}}", 0600);
	set_mtime(t, "hourly/a.json", 1000);
	set_mtime(t, "hourly/b.json", 3000);
	set_mtime(t, "hourly/c.json", 2000);
	guard_set(t, REQ,
	    (const char *const[]){"missing.bak", "hourly/*.json", NULL});
	assert_int_equal(check(t, 1, &res), 0);
	assert_int_equal(res.outcome, GUARD_WOULD_RESTORE);
	p = tpath(t, "hourly/b.json");
	assert_string_equal(res.source, p);
	free(p);
	/* newest broken: falls to the next newest (c), not the name order */
	put(t, "hourly/b.json", "nope", 0600);
	set_mtime(t, "hourly/b.json", 3000);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	p = tpath(t, "hourly/c.json");
	assert_string_equal(res.source, p);
	free(p);
	assert_int_equal(res.sources_tried, 3);
	assert_file(t, "openclaw.json", "{\"channels\":{\"telegram\":3}}");
}

static void
test_check_mesh(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char err[256], *mesh, *want;

	mesh = guard_mesh_dir(t->dir, &t->g);
	assert_int_equal(guard_mesh_store(mesh, &t->g, GOOD2, strlen(GOOD2),
	                     5000, 3, err, sizeof(err)),
	    1);
	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", "[]", 0600);
	guard_set(
	    t, REQ, (const char *const[]){"openclaw.json.bak", "mesh", NULL});
	/* without a mesh dir the entry is skipped */
	assert_int_equal(
	    guard_check(&t->g, fslocal_ops(), NULL, NOW_S, 1, &res), 0);
	assert_int_equal(res.outcome, GUARD_NO_SOURCE);
	assert_int_equal(
	    guard_check(&t->g, fslocal_ops(), mesh, NOW_S, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	want = xasprintf("mesh:%s/5000.json", mesh);
	assert_string_equal(res.source, want);
	assert_file(t, "openclaw.json", GOOD2);
	free(want);
	free(mesh);
}

static void
test_check_no_source(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *before, *after, *p;

	p = tpath(t, "hourly");
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	put(t, "openclaw.json", CORRUPT, 0644);
	put(t, "openclaw.json.bak", "", 0600);
	put(t, "hourly/x.json", NOREQ, 0600);
	guard_set(t, REQ,
	    (const char *const[]){"openclaw.json.bak", "openclaw.json.bak.1",
	        "hourly/*.json", "none/*.json", "mesh", NULL});
	before = snap(t);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_NO_SOURCE);
	assert_string_equal(res.source, "");
	assert_non_null(strstr(res.detail, "empty file"));
	assert_non_null(strstr(res.detail, "bak.1: missing"));
	assert_non_null(strstr(res.detail, "no match"));
	assert_non_null(strstr(res.detail, "missing required path"));
	after = snap(t);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void
test_check_missing_file(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	struct stat st;

	/* FILE missing: the backup's owner and mode, never its setuid */
	put(t, "openclaw.json.bak", GOOD, 04644);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	assert_string_equal(res.invalid_reason, "missing");
	assert_string_equal(res.broken_copy, "");
	assert_file(t, "openclaw.json", GOOD);
	assert_int_equal(lstat(t->g.file, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	assert_int_equal(st.st_uid, geteuid());
}

static void
test_check_dry_run(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *before, *after, *p;

	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", GOOD, 0600);
	before = snap(t);
	assert_int_equal(check(t, 1, &res), 0);
	assert_int_equal(res.outcome, GUARD_WOULD_RESTORE);
	p = tpath(t, "openclaw.json.bak");
	assert_string_equal(res.source, p);
	free(p);
	assert_string_equal(res.broken_copy, "");
	after = snap(t);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

static void
test_check_broken_collision(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *p;

	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", GOOD, 0600);
	put(t, "openclaw.json.broken-1700000000", "older", 0600);
	put(t, "openclaw.json.broken-1700000000-1", "older1", 0600);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	p = tpath(t, "openclaw.json.broken-1700000000-2");
	assert_string_equal(res.broken_copy, p);
	free(p);
	assert_file(t, "openclaw.json.broken-1700000000-2", CORRUPT);
	assert_file(t, "openclaw.json.broken-1700000000", "older");
	assert_file(t, "openclaw.json.broken-1700000000-1", "older1");
}

static void
test_check_stale_tmp(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *p;

	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", GOOD, 0600);
	put(t, "openclaw.json.peerwatch-tmp", "half-written", 0600);
	put(t, "openclaw.json.peerwatch-tmp-1700000000", "another", 0600);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	assert_file(t, "openclaw.json", GOOD);
	assert_file(t, "openclaw.json.peerwatch-tmp", "half-written");
	assert_file(t, "openclaw.json.peerwatch-tmp-1700000000", "another");
	assert_int_equal(count_prefix(t, "openclaw.json.peerwatch-tmp"), 2);
	/* a leftover that is a dangling link or a directory blocks nothing */
	rm_all(t, "openclaw.json.peerwatch-tmp");
	p = tpath(t, "openclaw.json.peerwatch-tmp");
	assert_int_equal(symlink("/nonexistent/x", p), 0);
	free(p);
	p = tpath(t, "openclaw.json.peerwatch-tmp-1700000000");
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	put(t, "openclaw.json", CORRUPT, 0600);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	assert_file(t, "openclaw.json", GOOD);
	assert_int_equal(count_prefix(t, "openclaw.json.peerwatch-tmp"), 2);
}

static void
test_check_mode_kept(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	struct stat st;
	char *p;

	put(t, "openclaw.json", CORRUPT, 0640);
	put(t, "openclaw.json.bak", GOOD, 0600);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	assert_int_equal(stat(t->g.file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	p = tpath(t, "openclaw.json.broken-1700000000");
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	free(p);
}

static void
test_check_identical_skipped(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *p;

	/* a broken .bak identical to the broken file, then a good one */
	put(t, "openclaw.json", NOREQ, 0600);
	put(t, "openclaw.json.bak", NOREQ, 0600);
	put(t, "openclaw.json.bak.1", GOOD, 0600);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	assert_non_null(strstr(res.detail, "identical to the broken file"));
	p = tpath(t, "openclaw.json.bak.1");
	assert_string_equal(res.source, p);
	free(p);
}

static void
test_check_read_error(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *p;

	/* FILE a directory: unreadable, so nothing may replace it */
	p = tpath(t, "openclaw.json");
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	put(t, "openclaw.json.bak", GOOD, 0600);
	assert_int_equal(check(t, 0, &res), -1);
	assert_int_equal(res.outcome, GUARD_ERROR);
	assert_non_null(strstr(res.detail, "not a regular file"));
}

/* a backup over max_size is refused from its size, before reading */
static void
test_check_backup_too_big(void **state)
{
	struct t *t = *state;
	struct guard_result res;

	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", GOOD, 0600);
	t->g.max_size = strlen(CORRUPT);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_NO_SOURCE);
	assert_non_null(strstr(res.detail, "bytes, refused"));
	assert_file(t, "openclaw.json", CORRUPT);
}

/* ---- links, owners, modes --------------------------------------------- */

/* a backup that is a link (to a root-only file, say) is never read */
static void
test_backup_link_refused(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *secret = tpath(t, "secret.json"), *before, *after, *p;

	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "secret.json", GOOD, 0600);
	link_to(t, "openclaw.json.bak", secret);
	p = tpath(t, "hourly");
	assert_int_equal(mkdir(p, 0700), 0);
	free(p);
	link_to(t, "hourly/a.json", secret);
	guard_set(t, REQ,
	    (const char *const[]){"openclaw.json.bak", "hourly/*.json", NULL});
	before = snap(t);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_NO_SOURCE);
	assert_non_null(strstr(res.detail, "symbolic link, not followed"));
	assert_non_null(strstr(res.detail, "no match"));
	after = snap(t);
	assert_string_equal(before, after);
	free(before);
	free(after);
	free(secret);
}

/* backups owned by someone other than FILE's owner or root are skipped;
 * the restored file keeps FILE's owner and mode, minus setuid/setgid */
static void
test_backup_owner(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	struct stat st;
	char *p;

	if (geteuid() != 0)
		skip();
	put(t, "openclaw.json", CORRUPT, 0600);
	own(t, "openclaw.json", 65534, 65534);
	assert_int_equal(chmod(t->g.file, 06750), 0);
	put(t, "openclaw.json.bak", GOOD, 0644);
	own(t, "openclaw.json.bak", 12345, 12345);
	put(t, "openclaw.json.bak.1", GOOD2, 0600);
	own(t, "openclaw.json.bak.1", 65534, 0);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	assert_non_null(strstr(res.detail, "owned by uid 12345"));
	p = tpath(t, "openclaw.json.bak.1");
	assert_string_equal(res.source, p);
	free(p);
	assert_string_equal(res.warning, "");
	assert_int_equal(lstat(t->g.file, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65534);
	assert_int_equal(st.st_mode & 07777, 0750);
	assert_int_equal(lstat(res.broken_copy, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_mode & 07777, 0750);
}

/* a root-owned backup with a second name, for a user's file, may be a
 * hard link to a root-only file: not used (nlink 1 is) */
static void
test_backup_root_hardlink(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *secret = tpath(t, "secret.json"),
	     *bak = tpath(t, "openclaw.json.bak");
	char *p;

	if (geteuid() != 0)
		skip();
	put(t, "openclaw.json", CORRUPT, 0600);
	own(t, "openclaw.json", 65534, 65534);
	put(t, "secret.json", GOOD2, 0600);
	assert_int_equal(link(secret, bak), 0);
	put(t, "openclaw.json.bak.1", GOOD, 0644);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	assert_non_null(strstr(res.detail, "more than one hard link"));
	p = tpath(t, "openclaw.json.bak.1");
	assert_string_equal(res.source, p);
	free(p);
	assert_file(t, "openclaw.json", GOOD);
	free(secret);
	free(bak);
}

/* a writer that may not chown: restored, and the event says so */
static void
test_owner_not_kept_warns(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	struct stat st;
	pid_t pid;
	int status;

	if (geteuid() != 0)
		skip();
	assert_int_equal(chown(t->dir, 65534, 65534), 0);
	put(t, "openclaw.json", CORRUPT, 0640);
	own(t, "openclaw.json", 65534, 0);
	put(t, "openclaw.json.bak", GOOD, 0600);
	own(t, "openclaw.json.bak", 65534, 65534);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		if (setgroups(0, NULL) == -1 || setgid(65534) == -1 ||
		    setuid(65534) == -1)
			_exit(3);
		if (check(t, 0, &res) != 0 || res.outcome != GUARD_RESTORED)
			_exit(4);
		if (strstr(res.warning, "owner 65534:0 not kept") == NULL)
			_exit(5);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(lstat(t->g.file, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_mode & 07777, 0640);
	assert_file(t, "openclaw.json", GOOD);
}

/* a symlinked FILE is refused with a clear reason, never replaced by a
 * plain file; a dangling one is not "missing" */
static void
test_file_link_refused(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	struct stat st;
	char *real = tpath(t, "real.json");

	put(t, "real.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", GOOD, 0600);
	link_to(t, "openclaw.json", real);
	assert_int_equal(check(t, 0, &res), -1);
	assert_int_equal(res.outcome, GUARD_ERROR);
	assert_non_null(strstr(res.detail, "symbolic link"));
	assert_string_equal(res.invalid_reason, "a symbolic link");
	assert_int_equal(lstat(t->g.file, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_file(t, "real.json", CORRUPT);
	assert_int_equal(count_prefix(t, "openclaw.json.broken-"), 0);
	assert_int_equal(count_prefix(t, "openclaw.json.peerwatch-tmp"), 0);
	/* dangling */
	assert_int_equal(unlink(real), 0);
	assert_int_equal(check(t, 0, &res), -1);
	assert_int_equal(res.outcome, GUARD_ERROR);
	assert_string_equal(res.invalid_reason, "a symbolic link");
	assert_int_equal(lstat(t->g.file, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(access(real, F_OK), -1);
	free(real);
}

/* a wide glob never takes peerwatch's own files for backups */
static void
test_glob_skips_artefacts(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char *p;

	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.old", GOOD, 0600);
	put(t, "openclaw.json.peerwatch-old-1700000000123", GOOD2, 0600);
	put(t, "openclaw.json.peerwatch-tmp-0123456789abcdef", GOOD2, 0600);
	put(t, "openclaw.json.broken-1690000000", GOOD2, 0600);
	put(t, "openclaw.json.broken-1690000000-3", GOOD2, 0600);
	set_mtime(t, "openclaw.json.old", 1000);
	guard_set(t, REQ, (const char *const[]){"openclaw.json*", NULL});
	assert_int_equal(check(t, 1, &res), 0);
	assert_int_equal(res.outcome, GUARD_WOULD_RESTORE);
	p = tpath(t, "openclaw.json.old");
	assert_string_equal(res.source, p);
	free(p);
	assert_int_equal(res.sources_tried, 1);
	assert_true(guard_is_artefact("/x/a.json.broken-17"));
	assert_false(guard_is_artefact("/x/a.json.broken-x"));
	assert_false(guard_is_artefact("/x/a.json.bak"));
}

/* ---- fault injection -------------------------------------------------- */

struct fault {
	const struct fsops *real;
	int fail_rename;
	int fail_create; /* fail the n-th create (1-based), 0 never */
	int creates;
	const char *app_file; /* after its n-th read, an app writes it */
	int app_after, app_reads;
	const char *app_data;
};

static int
fault_read(void *ctx, const char *path, size_t max, char **data, size_t *len,
    struct fsops_stat *st, char *err, size_t errlen)
{
	struct fault *f = ctx;
	const struct fsops *r = f->real;
	int rc = r->read(r->ctx, path, max, data, len, st, err, errlen);
	FILE *fp;

	if (f->app_file != NULL && strcmp(path, f->app_file) == 0 &&
	    ++f->app_reads == f->app_after) {
		fp = fopen(path, "w");
		assert_non_null(fp);
		fputs(f->app_data, fp);
		fclose(fp);
	}
	return rc;
}

static int
fault_stat(void *ctx, const char *path, struct fsops_stat *st, char *err,
    size_t errlen)
{
	const struct fsops *r = ((struct fault *)ctx)->real;

	return r->stat(r->ctx, path, st, err, errlen);
}

static int
fault_remove(void *ctx, const char *path, char *err, size_t errlen)
{
	const struct fsops *r = ((struct fault *)ctx)->real;

	return r->remove(r->ctx, path, err, errlen);
}

static int
fault_glob(void *ctx, const char *pattern, struct fsops_match **m, size_t *n,
    char *err, size_t errlen)
{
	const struct fsops *r = ((struct fault *)ctx)->real;

	return r->glob(r->ctx, pattern, m, n, err, errlen);
}

static int
fault_create(void *ctx, const char *path, const char *data, size_t len,
    const struct fsops_stat *like, char *warn, size_t warnlen, char *err,
    size_t errlen)
{
	struct fault *f = ctx;

	if (++f->creates == f->fail_create) {
		snprintf(err, errlen, "create %s: injected", path);
		return -1;
	}
	return f->real->create(
	    f->real->ctx, path, data, len, like, warn, warnlen, err, errlen);
}

static int
fault_rename(
    void *ctx, const char *from, const char *to, char *err, size_t errlen)
{
	struct fault *f = ctx;

	if (f->fail_rename) {
		snprintf(err, errlen, "rename %s: injected", from);
		return -1;
	}
	return f->real->rename(f->real->ctx, from, to, err, errlen);
}

static int
fault_mkparent(void *ctx, const char *path, char *err, size_t errlen)
{
	const struct fsops *r = ((struct fault *)ctx)->real;

	return r->mkparent(r->ctx, path, err, errlen);
}

/* the directory's owner swaps the temp file for a link just before
 * the rename: reported, not called a restore */
static int
swap_rename(
    void *ctx, const char *from, const char *to, char *err, size_t errlen)
{
	struct fault *f = ctx;

	assert_int_equal(unlink(from), 0);
	assert_int_equal(symlink("/nonexistent-pw", from), 0);
	return f->real->rename(f->real->ctx, from, to, err, errlen);
}

#define FAULT_OPS(f)                                                           \
	{                                                                      \
		(f), fault_read, fault_stat, fault_glob, fault_create,         \
		    fault_rename, fault_remove, fault_mkparent                 \
	}

static void
test_check_rename_fails(void **state)
{
	struct t *t = *state;
	struct fault f = {.real = fslocal_ops(), .fail_rename = 1};
	struct fsops fs = FAULT_OPS(&f);
	struct guard_result res;

	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", GOOD, 0600);
	assert_int_equal(guard_check(&t->g, &fs, NULL, NOW_S, 0, &res), -1);
	assert_int_equal(res.outcome, GUARD_ERROR);
	assert_non_null(strstr(res.detail, "injected"));
	assert_non_null(strstr(res.detail, "peerwatch-tmp"));
	assert_file(t, "openclaw.json", CORRUPT);
	assert_file(t, "openclaw.json.bak", GOOD);
	/* FILE still holds the broken bytes: neither the broken copy nor
	 * the temp file of the failed run is left behind */
	assert_string_equal(res.broken_copy, "");
	assert_int_equal(count_prefix(t, "openclaw.json.broken-"), 0);
	assert_int_equal(count_prefix(t, "openclaw.json.peerwatch-tmp"), 0);
	assert_int_equal(check(t, 0, &res), 0);
	assert_int_equal(res.outcome, GUARD_RESTORED);
	assert_file(t, "openclaw.json", GOOD);
	assert_file(t, "openclaw.json.broken-1700000000", CORRUPT);
}

static void
test_check_tmp_swapped(void **state)
{
	struct t *t = *state;
	struct fault f = {.real = fslocal_ops()};
	struct fsops fs = FAULT_OPS(&f);
	struct guard_result res;
	struct stat st;

	fs.rename = swap_rename;
	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", GOOD, 0600);
	assert_int_equal(guard_check(&t->g, &fs, NULL, NOW_S, 0, &res), -1);
	assert_int_equal(res.outcome, GUARD_ERROR);
	assert_non_null(strstr(res.detail, "now a symbolic link"));
	assert_int_equal(lstat(t->g.file, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

/* a rename that keeps failing (EBUSY on a bind mount, ENOSPC): retried
 * again and again, it must not pile up copies until the disk is full */
static void
test_check_rename_fails_repeatedly(void **state)
{
	struct t *t = *state;
	struct fault f = {.real = fslocal_ops(), .fail_rename = 1};
	struct fsops fs = FAULT_OPS(&f);
	struct guard_result res;
	int i;

	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", GOOD, 0600);
	for (i = 0; i < 20; i++)
		assert_int_equal(
		    guard_check(&t->g, &fs, NULL, NOW_S + (uint64_t)i, 0, &res),
		    -1);
	assert_int_equal(count_prefix(t, "openclaw.json.broken-"), 0);
	assert_int_equal(count_prefix(t, "openclaw.json.peerwatch-tmp"), 0);
	assert_file(t, "openclaw.json", CORRUPT);
}

/* at most GUARD_KEEP_BROKEN broken copies; the oldest go, never ours */
static void
test_check_broken_bounded(void **state)
{
	struct t *t = *state;
	struct guard_result res;
	char name[64];
	int i;

	for (i = 0; i < 8; i++) {
		snprintf(name, sizeof(name), "openclaw.json.broken-%d",
		    1600000000 + i);
		put(t, name, "old", 0600);
	}
	put(t, "openclaw.json.broken-1600000007-1", "old", 0600);
	/* not ours by name: kept */
	put(t, "openclaw.json.broken-notes", "mine", 0600);
	for (i = 0; i < 3; i++) {
		put(t, "openclaw.json", CORRUPT, 0600);
		put(t, "openclaw.json.bak", GOOD, 0600);
		assert_int_equal(guard_check(&t->g, fslocal_ops(), NULL,
		                     NOW_S + (uint64_t)i, 0, &res),
		    0);
		assert_int_equal(res.outcome, GUARD_RESTORED);
		assert_int_equal(count_prefix(t, "openclaw.json.broken-"),
		    GUARD_KEEP_BROKEN + 1);
		assert_int_equal(access(res.broken_copy, F_OK), 0);
	}
	assert_file(t, "openclaw.json.broken-1700000002", CORRUPT);
	assert_file(t, "openclaw.json.broken-1700000000", CORRUPT);
	assert_file(t, "openclaw.json.broken-1600000007-1", "old");
	assert_file(t, "openclaw.json.broken-1600000007", "old");
	assert_file(t, "openclaw.json.broken-notes", "mine");
}

/* an app write that lands after the last content check, just before
 * the rename, is kept: size and mtime are looked at once more */
static void
test_check_app_write_kept(void **state)
{
	struct t *t = *state;
	struct fault f = {.real = fslocal_ops(),
	    .app_after = 2,
	    .app_data = "{\"channels\": {\"telegram\": {\"app\": 1}}}\n"};
	struct fsops fs = FAULT_OPS(&f);
	struct guard_result res;

	f.app_file = t->g.file;
	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", GOOD, 0600);
	assert_int_equal(guard_check(&t->g, &fs, NULL, NOW_S, 0, &res), -1);
	assert_int_equal(res.outcome, GUARD_ERROR);
	assert_non_null(strstr(res.detail, "changed while restoring"));
	assert_file(t, "openclaw.json", f.app_data);
	assert_int_equal(count_prefix(t, "openclaw.json.peerwatch-tmp"), 0);
}

static void
test_check_create_fails(void **state)
{
	struct t *t = *state;
	struct fault f = {.real = fslocal_ops()};
	struct fsops fs = FAULT_OPS(&f);
	struct guard_result res;
	char *before, *after;

	put(t, "openclaw.json", CORRUPT, 0600);
	put(t, "openclaw.json.bak", GOOD, 0600);
	before = snap(t);
	/* the new copy cannot be written: nothing is written at all */
	f.fail_create = 1;
	assert_int_equal(guard_check(&t->g, &fs, NULL, NOW_S, 0, &res), -1);
	assert_int_equal(res.outcome, GUARD_ERROR);
	assert_non_null(strstr(res.detail, "writing the new file"));
	after = snap(t);
	assert_string_equal(before, after);
	free(after);
	/* the broken copy cannot be made: the new copy is removed again */
	f.fail_create = 2;
	f.creates = 0;
	assert_int_equal(guard_check(&t->g, &fs, NULL, NOW_S, 0, &res), -1);
	assert_non_null(strstr(res.detail, "copying the broken file"));
	after = snap(t);
	assert_string_equal(before, after);
	free(after);
	free(before);
}

/* ---- flag ------------------------------------------------------------- */

static void
test_flag(void **state)
{
	struct t *t = *state;
	json_error_t jerr;
	json_t *o;
	char err[256], *data, *after;
	size_t len;

	assert_int_equal(
	    guard_write_flag(&t->g, fslocal_ops(), "jack", 1700000000123ULL,
	        "not JSON", "/x/openclaw.json.bak", err, sizeof(err)),
	    0);
	data = get(t->g.flag);
	assert_non_null(data);
	len = strlen(data);
	assert_true(len > 1 && data[len - 1] == '\n');
	assert_null(strstr(data, ": "));
	assert_null(strstr(data, ", "));
	o = json_loads(data, 0, &jerr);
	assert_non_null(o);
	assert_string_equal(
	    json_string_value(json_object_get(o, "by")), "jack");
	assert_string_equal(json_string_value(json_object_get(o, "at")),
	    "2023-11-14T22:13:20.123Z");
	assert_string_equal(
	    json_string_value(json_object_get(o, "reason")), "not JSON");
	assert_string_equal(
	    json_string_value(json_object_get(o, "restored_from")),
	    "/x/openclaw.json.bak");
	json_decref(o);
	free(data);
	assert_int_equal(
	    guard_write_flag(&t->g, fslocal_ops(), "jill", 1700000001000ULL,
	        "missing", NULL, err, sizeof(err)),
	    0);
	data = get(t->g.flag);
	o = json_loads(data, 0, &jerr);
	assert_non_null(o);
	assert_string_equal(
	    json_string_value(json_object_get(o, "by")), "jill");
	assert_true(json_is_null(json_object_get(o, "restored_from")));
	json_decref(o);
	free(data);
	/* replaced in place: same set of names, no tmp left */
	after = snap(t);
	assert_non_null(strstr(after, "revive-openclaw.flag "));
	assert_null(strstr(after, "peerwatch-tmp"));
	free(after);
}

/* ---- mesh store ------------------------------------------------------- */

static size_t
count_json(const char *dir)
{
	const struct fsops *fs = fslocal_ops();
	struct fsops_match *m;
	char err[256], *pat = xasprintf("%s/*.json", dir);
	size_t n;

	assert_int_equal(fs->glob(fs->ctx, pat, &m, &n, err, sizeof(err)), 0);
	fsops_matches_free(m, n);
	free(pat);
	return n;
}

static void
test_mesh_store(void **state)
{
	struct t *t = *state;
	struct stat st;
	char err[256], *mesh, *p;

	mesh = guard_mesh_dir(t->dir, &t->g);
	p = xasprintf("%s/mesh/macbook/openclaw", t->dir);
	assert_string_equal(mesh, p);
	free(p);
	assert_int_equal(guard_mesh_store(mesh, &t->g, GOOD, strlen(GOOD), 1000,
	                     3, err, sizeof(err)),
	    1);
	assert_int_equal(stat(mesh, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	p = xasprintf("%s/1000.json", mesh);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	free(p);
	/* identical to the newest: not stored again */
	assert_int_equal(guard_mesh_store(mesh, &t->g, GOOD, strlen(GOOD), 2000,
	                     3, err, sizeof(err)),
	    0);
	assert_int_equal(count_json(mesh), 1);
	/* a clock that stepped back still sorts after the newest */
	assert_int_equal(guard_mesh_store(mesh, &t->g, GOOD2, strlen(GOOD2),
	                     500, 3, err, sizeof(err)),
	    1);
	p = xasprintf("%s/1001.json", mesh);
	assert_int_equal(access(p, F_OK), 0);
	free(p);
	free(mesh);
}

static void
test_mesh_store_invalid(void **state)
{
	struct t *t = *state;
	char err[256], *mesh;

	mesh = guard_mesh_dir(t->dir, &t->g);
	assert_int_equal(guard_mesh_store(mesh, &t->g, CORRUPT, strlen(CORRUPT),
	                     1000, 3, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "not JSON"));
	assert_int_equal(guard_mesh_store(mesh, &t->g, NOREQ, strlen(NOREQ),
	                     1000, 3, err, sizeof(err)),
	    -1);
	assert_int_equal(access(mesh, F_OK), -1);
	free(mesh);
}

static void
test_mesh_store_keep(void **state)
{
	struct t *t = *state;
	char err[256], warn[64], *mesh, *doc, *p, *other = NULL;
	int i;

	mesh = guard_mesh_dir(t->dir, &t->g);
	for (i = 1; i <= 6; i++) {
		doc = xasprintf("{\"channels\":{\"telegram\":%d}}", i);
		assert_int_equal(guard_mesh_store(mesh, &t->g, doc, strlen(doc),
		                     (uint64_t)i * 1000, 3, err, sizeof(err)),
		    1);
		free(doc);
		if (i == 1) {
			/* not one of ours: never pruned */
			other = xasprintf("%s/notes.json", mesh);
			assert_int_equal(
			    fslocal_ops()->create(NULL, other, "{}", 2, NULL,
			        warn, sizeof(warn), err, sizeof(err)),
			    0);
		}
	}
	assert_int_equal(count_json(mesh), 4);
	for (i = 1; i <= 6; i++) {
		p = xasprintf("%s/%d000.json", mesh, i);
		assert_int_equal(access(p, F_OK), i > 3 ? 0 : -1);
		free(p);
	}
	assert_int_equal(access(other, F_OK), 0);
	free(other);
	free(mesh);
}

/* ---- fslocal ---------------------------------------------------------- */

static void
test_fslocal(void **state)
{
	struct t *t = *state;
	const struct fsops *fs = fslocal_ops();
	struct fsops_match *m;
	char err[256], warn[64], *data, *p, *pat;
	size_t len, n;

	p = tpath(t, "nope");
	assert_int_equal(
	    fs->read(fs->ctx, p, 10, &data, &len, NULL, err, sizeof(err)), 1);
	free(p);
	/* create never replaces an existing file */
	put(t, "keep", "mine", 0600);
	p = tpath(t, "keep");
	assert_int_equal(fs->create(fs->ctx, p, "x", 1, NULL, warn,
	                     sizeof(warn), err, sizeof(err)),
	    -1);
	assert_file(t, "keep", "mine");
	free(p);
	/* glob: same mtime sorts by name descending; metacharacters in
	 * the directory part are literal */
	p = tpath(t, "d[1]/sub/x");
	assert_int_equal(fs->mkparent(fs->ctx, p, err, sizeof(err)), 0);
	free(p);
	put(t, "d[1]/a.json", "1", 0600);
	put(t, "d[1]/b.json", "2", 0600);
	set_mtime(t, "d[1]/a.json", 5000);
	set_mtime(t, "d[1]/b.json", 5000);
	pat = tpath(t, "d[1]/*.json");
	assert_int_equal(fs->glob(fs->ctx, pat, &m, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_non_null(strstr(m[0].path, "b.json"));
	assert_int_equal(m[0].mtime_ms, 5000000);
	fsops_matches_free(m, n);
	free(pat);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	    T(test_validate_ok),
	    T(test_validate_not_json),
	    T(test_validate_missing_path),
	    T(test_validate_nested_path),
	    T(test_validate_array_index),
	    T(test_validate_empty),
	    T(test_validate_object),
	    T(test_validate_no_content),
	    T(test_validate_too_big),
	    T(test_check_backup_too_big),
	    T(test_check_valid),
	    T(test_check_restore_bak),
	    T(test_check_bak_chain),
	    T(test_check_glob),
	    T(test_check_mesh),
	    T(test_check_no_source),
	    T(test_check_missing_file),
	    T(test_check_dry_run),
	    T(test_check_broken_collision),
	    T(test_check_stale_tmp),
	    T(test_check_mode_kept),
	    T(test_check_identical_skipped),
	    T(test_check_read_error),
	    T(test_check_rename_fails),
	    T(test_check_rename_fails_repeatedly),
	    T(test_check_tmp_swapped),
	    T(test_backup_root_hardlink),
	    T(test_check_broken_bounded),
	    T(test_check_app_write_kept),
	    T(test_backup_link_refused),
	    T(test_backup_owner),
	    T(test_owner_not_kept_warns),
	    T(test_file_link_refused),
	    T(test_glob_skips_artefacts),
	    T(test_check_create_fails),
	    T(test_flag),
	    T(test_mesh_store),
	    T(test_mesh_store_invalid),
	    T(test_mesh_store_keep),
	    T(test_fslocal),
#undef T
	};

	log_init(1, -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
