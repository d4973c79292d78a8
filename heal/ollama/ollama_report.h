/* SPDX-License-Identifier: ISC */
/*
 * ollama_report: what a peer knows about its own Ollama ({up, models,
 * loaded}), built from its /api/tags and /api/ps answers, carried in its
 * heartbeat payload and read back by the other peers. Pure functions over
 * jansson values: every value off the wire is checked (types, counts,
 * name lengths) before it is kept. Never logs, never exits.
 */
#ifndef PW_HEAL_OLLAMA_REPORT_H
#define PW_HEAL_OLLAMA_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define OLLAMA_MODELS_MAX 256 /* models kept per backend */
#define OLLAMA_NAME_MAX 200   /* bytes of one model name */

struct ollama_report {
	int known; /* a report arrived */
	int up;
	int lists_known; /* models/loaded are filled (not just a digest) */
	int lo_only;     /* it answers on 127.0.0.1 only, not at its URL */
	char **models;   /* "name:tag", sorted */
	size_t nmodels;
	char **loaded; /* sorted */
	size_t nloaded;
	uint64_t digest; /* over models and loaded; 0 when down */
};

void ollama_report_clear(struct ollama_report *);
void ollama_report_copy(
    struct ollama_report *dst, const struct ollama_report *);
/* same up, same digest (and lists known alike) */
int ollama_report_equal(
    const struct ollama_report *, const struct ollama_report *);

/* "llama3.2" -> "llama3.2:latest"; 0, or -1 if empty or too long */
int ollama_model_norm(const char *in, char *out, size_t outlen);

/* up with the lists from /api/tags and /api/ps bodies (ps may be NULL);
 * -1 if tags is not {"models":[{"name":...}]} */
int ollama_report_from_api(
    struct ollama_report *, const json_t *tags, const json_t *ps);
/* down; its models unknown (a down Ollama says nothing about them) */
void ollama_report_down(struct ollama_report *);

/*
 * The heartbeat form: {"up":true,"m":[..],"l":[..]} when it fits in
 * budget bytes (compact JSON), else {"up":true,"d":"<16 hex>","n":N};
 * "lo":true added when it answers on 127.0.0.1 only.
 * New reference.
 */
json_t *ollama_report_payload(const struct ollama_report *, size_t budget);
/* parse the heartbeat form; -1 (r untouched) if malformed */
int ollama_report_from_payload(struct ollama_report *, const json_t *);

/* a JSON array of the strings (new reference) */
json_t *ollama_list_json(char *const *v, size_t n);

/* 1 if the report lists model (normalised), *loaded set; 0 if not; -1 if
 * the lists are unknown */
int ollama_report_has(
    const struct ollama_report *, const char *model, int *loaded);

#endif
