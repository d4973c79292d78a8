/* SPDX-License-Identifier: ISC */
/*
 * ollama_route: candidate order for one request (see the header). A
 * stable insertion sort: n is the number of peers, a handful.
 */
#include <stddef.h>

#include "heal/ollama/ollama_route.h"

/* negative if a is better than b */
static int
ollama_route_cmp(
    const struct ollama_route_in *a, const struct ollama_route_in *b)
{
	int abad = a->marked || (a->reported && !a->up);
	int bbad = b->marked || (b->reported && !b->up);

	if (abad != bbad)
		return abad - bbad;
	if ((a->has_model == 1) != (b->has_model == 1))
		return (b->has_model == 1) - (a->has_model == 1);
	if (a->loaded != b->loaded)
		return b->loaded - a->loaded;
	if (a->local != b->local)
		return b->local - a->local;
	if (a->priority != b->priority)
		return a->priority < b->priority ? -1 : 1;
	return 0;
}

size_t
ollama_route_order(const struct ollama_route_in *in, size_t n, size_t *order)
{
	size_t i, j, k = 0, t;

	for (i = 0; i < n; i++) {
		if (in[i].has_model == 0)
			continue;
		order[k++] = i;
	}
	for (i = 1; i < k; i++)
		for (j = i; j > 0 && ollama_route_cmp(
		                         &in[order[j]], &in[order[j - 1]]) < 0;
		     j--) {
			t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	return k;
}
