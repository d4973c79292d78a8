/* SPDX-License-Identifier: ISC */
/*
 * ollama_route: the order in which a request's backends are tried. Pure:
 * the caller describes each backend for this request, gets indexes back.
 */
#ifndef PW_HEAL_OLLAMA_ROUTE_H
#define PW_HEAL_OLLAMA_ROUTE_H

#include <stddef.h>

struct ollama_route_in {
	int local;     /* this host's own Ollama */
	int priority;  /* ollama_priority: lower first, among equals */
	int reported;  /* its owner's report is known and fresh */
	int up;        /* what that report says (when reported) */
	int marked;    /* this proxy saw it fail, backoff not over */
	int has_model; /* 1 yes, 0 no, -1 unknown (or no model asked) */
	int loaded;    /* the model is loaded there */
};

/*
 * Fill order[] (n entries at most) with the indexes to try, best first;
 * returns how many. Dropped: backends known not to have the model.
 * Backends reported down or marked down by this proxy go last, so a
 * request still has a chance when everything else failed. Order: has the
 * model (known) before unknown, loaded first, local first, priority, then
 * config order.
 */
size_t ollama_route_order(
    const struct ollama_route_in *, size_t n, size_t *order);

#endif
