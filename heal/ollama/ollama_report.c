/* SPDX-License-Identifier: ISC */
/*
 * ollama_report: {up, models, loaded} of one Ollama, from its API or from
 * a heartbeat. Lists are kept sorted and normalised ("name:tag") so that
 * a digest over them is the same on every peer.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/xmalloc.h"
#include "heal/ollama/ollama_report.h"

static void
ollama_list_free(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void
ollama_report_clear(struct ollama_report *r)
{
	ollama_list_free(r->models, r->nmodels);
	ollama_list_free(r->loaded, r->nloaded);
	memset(r, 0, sizeof(*r));
}

static char **
ollama_list_dup(char *const *v, size_t n)
{
	char **d = xcalloc(n ? n : 1, sizeof(*d));
	size_t i;

	for (i = 0; i < n; i++)
		d[i] = xstrdup(v[i]);
	return d;
}

void
ollama_report_copy(struct ollama_report *dst, const struct ollama_report *r)
{
	ollama_report_clear(dst);
	*dst = *r;
	dst->models = ollama_list_dup(r->models, r->nmodels);
	dst->loaded = ollama_list_dup(r->loaded, r->nloaded);
}

int
ollama_report_equal(
    const struct ollama_report *a, const struct ollama_report *b)
{
	return a->known == b->known && a->up == b->up &&
	       a->digest == b->digest && a->lists_known == b->lists_known &&
	       a->lo_only == b->lo_only;
}

int
ollama_model_norm(const char *in, char *out, size_t outlen)
{
	const char *slash = strrchr(in, '/');
	const char *base = slash ? slash + 1 : in;
	int n;

	if (*in == '\0' || *base == '\0')
		return -1;
	if (strchr(base, ':') != NULL)
		n = snprintf(out, outlen, "%s", in);
	else
		n = snprintf(out, outlen, "%s:latest", in);
	return n < 0 || (size_t)n >= outlen || (size_t)n > OLLAMA_NAME_MAX ? -1
	                                                                   : 0;
}

static int
ollama_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* sorted, normalised, deduplicated names from a JSON array of strings or
 * of objects with a "name" (or "model") string; -1 if malformed */
static int
ollama_list_from(const json_t *arr, int objects, char ***out, size_t *nout)
{
	char name[OLLAMA_NAME_MAX + 1], **v;
	const json_t *e, *s;
	size_t i, n = 0;

	if (!json_is_array(arr) || json_array_size(arr) > OLLAMA_MODELS_MAX)
		return -1;
	v = xcalloc(json_array_size(arr) + 1, sizeof(*v));
	json_array_foreach(arr, i, e) {
		s = e;
		if (objects) {
			s = json_object_get(e, "name");
			if (!json_is_string(s))
				s = json_object_get(e, "model");
		}
		if (!json_is_string(s) ||
		    ollama_model_norm(
		        json_string_value(s), name, sizeof(name)) == -1) {
			ollama_list_free(v, n);
			return -1;
		}
		v[n++] = xstrdup(name);
	}
	qsort(v, n, sizeof(*v), ollama_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(v[i], v[i - 1]) == 0) {
			free(v[i]);
			memmove(&v[i], &v[i + 1], (n - i - 1) * sizeof(*v));
			n--;
			i--;
		}
	*out = v;
	*nout = n;
	return 0;
}

/* FNV-1a 64 over the two lists, each name NUL-ended, a separator between */
static uint64_t
ollama_digest(const struct ollama_report *r)
{
	uint64_t h = 14695981039346656037ULL;
	const char *p;
	size_t i, k;

	for (k = 0; k < 2; k++) {
		char **v = k ? r->loaded : r->models;
		size_t n = k ? r->nloaded : r->nmodels;
		for (i = 0; i < n; i++)
			for (p = v[i];; p++) {
				h = (h ^ (unsigned char)*p) * 1099511628211ULL;
				if (*p == '\0')
					break;
			}
		h = (h ^ 0xff) * 1099511628211ULL;
	}
	return h ? h : 1;
}

int
ollama_report_from_api(
    struct ollama_report *r, const json_t *tags, const json_t *ps)
{
	struct ollama_report n;

	memset(&n, 0, sizeof(n));
	if (ollama_list_from(json_object_get(tags, "models"), 1, &n.models,
	        &n.nmodels) == -1)
		return -1;
	if (ps == NULL || ollama_list_from(json_object_get(ps, "models"), 1,
	                      &n.loaded, &n.nloaded) == -1) {
		n.loaded = xcalloc(1, sizeof(*n.loaded));
		n.nloaded = 0;
	}
	n.known = n.up = n.lists_known = 1;
	n.digest = ollama_digest(&n);
	ollama_report_clear(r);
	*r = n;
	return 0;
}

void
ollama_report_down(struct ollama_report *r)
{
	ollama_report_clear(r);
	r->known = 1; /* down, and what it has is not known */
}

json_t *
ollama_list_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

json_t *
ollama_report_payload(const struct ollama_report *r, size_t budget)
{
	char hex[17];
	json_t *o;

	if (!r->up)
		return json_pack("{sb}", "up", 0);
	o = json_pack("{sb}", "up", 1);
	if (r->lo_only)
		json_object_set_new(o, "lo", json_true());
	json_object_set_new(o, "m", ollama_list_json(r->models, r->nmodels));
	json_object_set_new(o, "l", ollama_list_json(r->loaded, r->nloaded));
	if (json_dumpb(o, NULL, 0, JSON_COMPACT) <= budget)
		return o;
	json_object_del(o, "m");
	json_object_del(o, "l");
	snprintf(hex, sizeof(hex), "%016" PRIx64, r->digest);
	json_object_set_new(o, "d", json_string(hex));
	json_object_set_new(o, "n", json_integer((json_int_t)r->nmodels));
	return o;
}

int
ollama_report_from_payload(struct ollama_report *r, const json_t *o)
{
	struct ollama_report n;
	const json_t *up = json_object_get(o, "up");
	const char *d;
	char *end;

	memset(&n, 0, sizeof(n));
	if (!json_is_object(o) || !json_is_boolean(up))
		return -1;
	n.known = 1;
	n.up = json_is_true(up);
	n.lo_only = json_is_true(json_object_get(o, "lo"));
	if (!n.up) {
		ollama_report_down(r);
		return 0;
	}
	if (json_object_get(o, "m") != NULL) {
		if (ollama_list_from(json_object_get(o, "m"), 0, &n.models,
		        &n.nmodels) == -1)
			return -1;
		if (ollama_list_from(json_object_get(o, "l"), 0, &n.loaded,
		        &n.nloaded) == -1) {
			ollama_list_free(n.models, n.nmodels);
			return -1;
		}
		n.lists_known = 1;
		n.digest = ollama_digest(&n);
	} else {
		d = json_string_value(json_object_get(o, "d"));
		if (d == NULL || strlen(d) != 16)
			return -1;
		n.digest = strtoull(d, &end, 16);
		if (*end != '\0' || n.digest == 0)
			return -1;
	}
	ollama_report_clear(r);
	*r = n;
	return 0;
}

int
ollama_report_has(const struct ollama_report *r, const char *model, int *loaded)
{
	char name[OLLAMA_NAME_MAX + 1];
	const char *key = name;

	*loaded = 0;
	if (!r->lists_known)
		return -1;
	if (ollama_model_norm(model, name, sizeof(name)) == -1)
		return 0;
	if (bsearch(&key, r->models, r->nmodels, sizeof(char *), ollama_cmp) ==
	    NULL)
		return 0;
	*loaded = bsearch(&key, r->loaded, r->nloaded, sizeof(char *),
	              ollama_cmp) != NULL;
	return 1;
}
