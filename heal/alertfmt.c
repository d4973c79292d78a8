/* SPDX-License-Identifier: ISC */
/*
 * alertfmt: see alertfmt.h. The flap counter keeps at most ALERT_FLAP_KEEP
 * timestamps per id, which is all a limit up to that needs.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "heal/alertfmt.h"

#define ALERT_HOUR_MS (60 * 60 * 1000ULL)
#define ALERT_FLAP_KEEP 64

/* --- packing -------------------------------------------------------------- */

/* where to cut s (longer than max) so the first part has at most max bytes:
 * after the last newline in range, else at a UTF-8 character start */
static size_t
alert_cut(const char *s, size_t max)
{
	size_t k;

	for (k = max; k > max / 2; k--)
		if (s[k - 1] == '\n')
			return k;
	k = max;
	while (k > 1 && ((unsigned char)s[k] & 0xc0) == 0x80)
		k--;
	return k;
}

static void
alert_push(char ***v, size_t *n, const char *s, size_t len)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[(*n)++] = xstrndup(s, len);
}

size_t
alert_pack(const char *const *texts, size_t n, size_t max, char ***out)
{
	char **v = NULL, *cur = xcalloc(1, max + 1);
	size_t nv = 0, cl = 0, i, len, k;
	const char *s;

	for (i = 0; i < n; i++) {
		s = texts[i];
		len = strlen(s);
		if (cl > 0 && cl + 2 + len <= max) {
			memcpy(cur + cl, "\n\n", 2);
			memcpy(cur + cl + 2, s, len);
			cl += 2 + len;
			continue;
		}
		if (cl > 0)
			alert_push(&v, &nv, cur, cl);
		cl = 0;
		while (len > max) {
			k = alert_cut(s, max);
			alert_push(&v, &nv, s, k);
			s += k;
			len -= k;
		}
		memcpy(cur, s, len);
		cl = len;
	}
	if (cl > 0)
		alert_push(&v, &nv, cur, cl);
	free(cur);
	*out = v;
	return nv;
}

void
alert_pack_free(char **msgs, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(msgs[i]);
	free(msgs);
}

/* --- flapping ------------------------------------------------------------ */

struct alert_flap {
	char *id;
	uint64_t at[ALERT_FLAP_KEEP]; /* ring of open times */
	unsigned next;
};

struct alert_flaps {
	struct alert_flap *v;
	size_t n;
};

struct alert_flaps *
alert_flaps_new(void)
{
	return xcalloc(1, sizeof(struct alert_flaps));
}

void
alert_flaps_free(struct alert_flaps *f)
{
	size_t i;

	if (f == NULL)
		return;
	for (i = 0; i < f->n; i++)
		free(f->v[i].id);
	free(f->v);
	free(f);
}

static struct alert_flap *
alert_flap_find(const struct alert_flaps *f, const char *id)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		if (strcmp(f->v[i].id, id) == 0)
			return &f->v[i];
	return NULL;
}

static unsigned
alert_flap_within(const struct alert_flap *fl, uint64_t now_ms)
{
	unsigned i, c = 0;

	for (i = 0; i < ALERT_FLAP_KEEP; i++)
		if (fl->at[i] != 0 && fl->at[i] <= now_ms &&
		    now_ms - fl->at[i] < ALERT_HOUR_MS)
			c++;
	return c;
}

unsigned
alert_flaps_open(struct alert_flaps *f, const char *id, uint64_t now_ms)
{
	struct alert_flap *fl = alert_flap_find(f, id);

	if (fl == NULL) {
		f->v = xreallocarray(f->v, f->n + 1, sizeof(*f->v));
		fl = &f->v[f->n++];
		memset(fl, 0, sizeof(*fl));
		fl->id = xstrdup(id);
	}
	/* 0 marks an empty slot; a clock at 0 still counts */
	fl->at[fl->next] = now_ms ? now_ms : 1;
	fl->next = (fl->next + 1) % ALERT_FLAP_KEEP;
	return alert_flap_within(fl, now_ms ? now_ms : 1);
}

unsigned
alert_flaps_count(const struct alert_flaps *f, const char *id, uint64_t now_ms)
{
	const struct alert_flap *fl = alert_flap_find(f, id);

	return fl ? alert_flap_within(fl, now_ms) : 0;
}

/* --- what the mesh delivered -------------------------------------------- */

struct alert_held {
	char *id;
	uint64_t seen; /* last in a report */
	int current;   /* in the latest report */
};

struct alert_mpeer {
	char *name;
	uint64_t heard;
	int reported;
	struct alert_held *v;
	size_t n;
};

struct alert_mesh {
	struct alert_mpeer *p;
	size_t n;
};

struct alert_mesh *
alert_mesh_new(void)
{
	return xcalloc(1, sizeof(struct alert_mesh));
}

void
alert_mesh_free(struct alert_mesh *m)
{
	size_t i, k;

	if (m == NULL)
		return;
	for (i = 0; i < m->n; i++) {
		for (k = 0; k < m->p[i].n; k++)
			free(m->p[i].v[k].id);
		free(m->p[i].v);
		free(m->p[i].name);
	}
	free(m->p);
	free(m);
}

static struct alert_mpeer *
alert_mesh_peer(struct alert_mesh *m, const char *peer)
{
	size_t i;

	for (i = 0; i < m->n; i++)
		if (strcmp(m->p[i].name, peer) == 0)
			return &m->p[i];
	m->p = xreallocarray(m->p, m->n + 1, sizeof(*m->p));
	memset(&m->p[m->n], 0, sizeof(*m->p));
	m->p[m->n].name = xstrdup(peer);
	return &m->p[m->n++];
}

void
alert_mesh_heard(struct alert_mesh *m, const char *peer, uint64_t now_ms)
{
	alert_mesh_peer(m, peer)->heard = now_ms ? now_ms : 1;
}

/* printable ASCII without quotes or backslashes, 1..ALERT_MESH_ID_MAX */
static int
alert_id_ok(const char *id)
{
	size_t k;

	for (k = 0; id[k] != '\0'; k++)
		if (k >= ALERT_MESH_ID_MAX || id[k] <= ' ' || id[k] > '~' ||
		    id[k] == '"' || id[k] == '\\')
			return 0;
	return k > 0;
}

void
alert_mesh_report(struct alert_mesh *m, const char *peer,
    const char *const *ids, size_t n, uint64_t now_ms)
{
	struct alert_mpeer *p = alert_mesh_peer(m, peer);
	size_t i, k;

	p->heard = now_ms ? now_ms : 1;
	p->reported = 1;
	for (k = 0; k < p->n; k++)
		p->v[k].current = 0;
	for (i = 0; i < n && i < ALERT_MESH_IDS_MAX; i++) {
		if (ids[i] == NULL || !alert_id_ok(ids[i]))
			continue;
		for (k = 0; k < p->n; k++)
			if (strcmp(p->v[k].id, ids[i]) == 0)
				break;
		if (k == p->n) {
			p->v = xreallocarray(p->v, p->n + 1, sizeof(*p->v));
			p->v[p->n++].id = xstrdup(ids[i]);
		}
		p->v[k].seen = now_ms;
		p->v[k].current = 1;
	}
	/* what it no longer holds is kept for a while (first_holder), then
	 * forgotten: the list stays as short as a report or two */
	for (k = 0; k < p->n;)
		if (!p->v[k].current && p->n > 2 * ALERT_MESH_IDS_MAX) {
			free(p->v[k].id);
			p->v[k] = p->v[--p->n];
		} else
			k++;
}

const char *
alert_mesh_holder(const struct alert_mesh *m, const char *id)
{
	size_t i, k;

	for (i = 0; i < m->n; i++)
		for (k = 0; k < m->p[i].n; k++)
			if (m->p[i].v[k].current &&
			    strcmp(m->p[i].v[k].id, id) == 0)
				return m->p[i].name;
	return NULL;
}

const char *
alert_mesh_first_holder(const struct alert_mesh *m, const char *id,
    uint64_t alive_since, uint64_t held_since)
{
	const char *best = NULL;
	size_t i, k;

	for (i = 0; i < m->n; i++) {
		if (m->p[i].heard < alive_since)
			continue;
		for (k = 0; k < m->p[i].n; k++)
			if (m->p[i].v[k].seen >= held_since &&
			    strcmp(m->p[i].v[k].id, id) == 0)
				break;
		if (k < m->p[i].n &&
		    (best == NULL || strcmp(m->p[i].name, best) < 0))
			best = m->p[i].name;
	}
	return best;
}

size_t
alert_mesh_nreported(const struct alert_mesh *m)
{
	size_t i, c = 0;

	for (i = 0; i < m->n; i++)
		if (m->p[i].reported)
			c++;
	return c;
}

size_t
alert_mesh_current(const struct alert_mesh *m, const char **ids,
    const char **peers, size_t max)
{
	size_t i, k, n = 0;

	for (i = 0; i < m->n; i++)
		for (k = 0; k < m->p[i].n && n < max; k++)
			if (m->p[i].v[k].current) {
				ids[n] = m->p[i].v[k].id;
				peers[n++] = m->p[i].name;
			}
	return n;
}

size_t
alert_ids_fit(const char *const *ids, size_t n, size_t budget, size_t *keep)
{
	size_t used = 8, i, nk = 0, need; /* ,"al":[] */

	for (i = 0; i < n; i++) {
		if (!alert_id_ok(ids[i]))
			continue;
		need = strlen(ids[i]) + 3; /* "id", */
		if (used + need > budget)
			continue;
		used += need;
		keep[nk++] = i;
	}
	return nk;
}

/* --- outbox names -------------------------------------------------------- */

void
alert_outbox_name(char *buf, size_t len, uint64_t wall_ms, unsigned seq)
{
	snprintf(buf, len, "m%016" PRIu64 "-%06u.json", wall_ms, seq % 1000000);
}

int
alert_outbox_name_ok(const char *name)
{
	size_t i;

	if (strlen(name) != 29 || name[0] != 'm' || name[17] != '-' ||
	    strcmp(name + 24, ".json") != 0)
		return 0;
	for (i = 1; i < 24; i++)
		if (i != 17 && !isdigit((unsigned char)name[i]))
			return 0;
	return 1;
}

/* --- scrubbing ----------------------------------------------------------- */

static int
alert_tokch(int c)
{
	return isalnum(c) || c == '_' || c == '-';
}

/* length of a bot-token shape at s ("123:abc"), else 0 */
static size_t
alert_tokshape(const char *s)
{
	size_t k = 0;

	while (isdigit((unsigned char)s[k]))
		k++;
	if (k == 0 || s[k] != ':' || !alert_tokch((unsigned char)s[k + 1]))
		return 0;
	k++;
	while (alert_tokch((unsigned char)s[k]))
		k++;
	return k;
}

void
alert_scrub(const char *in, const char *token, char *out, size_t outlen)
{
	size_t tl = token ? strlen(token) : 0, o = 0, k;
	const char *rep;

	if (outlen == 0)
		return;
	while (*in != '\0' && o + 1 < outlen) {
		rep = NULL;
		if (tl > 0 && strncmp(in, token, tl) == 0) {
			rep = "<token>";
			k = tl;
		} else if (strncmp(in, "bot", 3) == 0 &&
		           (k = alert_tokshape(in + 3)) > 0) {
			rep = "bot<token>";
			k += 3;
		}
		if (rep == NULL) {
			out[o++] = *in++;
			continue;
		}
		o += (size_t)snprintf(out + o, outlen - o, "%s", rep);
		if (o >= outlen)
			o = outlen - 1;
		in += k;
	}
	out[o] = '\0';
}

/* the length of the valid UTF-8 sequence at s, 0 if there is none */
static size_t
alert_utf8_len(const unsigned char *s)
{
	size_t n, i;
	unsigned c = s[0], min;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		min = 0x10000;
	} else
		return 0;
	c &= n == 2 ? 0x1f : n == 3 ? 0x0f : 0x07;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	return n;
}

void
alert_utf8_fix(char *s)
{
	unsigned char *p = (unsigned char *)s;
	size_t n;

	while (*p != '\0') {
		if ((n = alert_utf8_len(p)) == 0) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}
