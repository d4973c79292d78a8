/* SPDX-License-Identifier: ISC */
/*
 * ollama_probe: this host's own Ollama, asked every few seconds for
 * /api/tags (installed models) and /api/ps (loaded ones) through curl
 * multi on the loop. The result is what this peer reports in its
 * heartbeats; the callback runs when it changes. Never blocks, never exits.
 */
#ifndef PW_HEAL_OLLAMA_PROBE_H
#define PW_HEAL_OLLAMA_PROBE_H

#include <stdint.h>

#include <event2/event.h>

#include "heal/curlev.h"
#include "heal/ollama/ollama_report.h"

struct ollama_probe;

typedef void (*ollama_probe_cb)(const struct ollama_report *, void *arg);

/* url: the base URL of this peer's Ollama; probes start at once */
struct ollama_probe *ollama_probe_new(struct event_base *, struct curlev *,
    const char *url, uint64_t interval_ms, ollama_probe_cb, void *arg);
void ollama_probe_free(struct ollama_probe *);
/* probe now (unless one is under way), and again an interval later */
void ollama_probe_now(struct ollama_probe *);
/* the last result (known = 0 before the first one) */
const struct ollama_report *ollama_probe_report(const struct ollama_probe *);

#endif
