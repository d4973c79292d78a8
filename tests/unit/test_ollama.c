/* SPDX-License-Identifier: ISC */
/*
 * test_ollama: the pure parts of the failover endpoint: model names,
 * reports from the API and from heartbeats (lists or a digest, checked
 * before use), and the order in which backends are tried.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "heal/ollama/ollama_report.h"
#include "heal/ollama/ollama_route.h"

static void
test_norm(void **state)
{
	char out[OLLAMA_NAME_MAX + 1], big[300];

	(void)state;
	assert_int_equal(ollama_model_norm("llama3.2", out, sizeof(out)), 0);
	assert_string_equal(out, "llama3.2:latest");
	assert_int_equal(ollama_model_norm("a:7b", out, sizeof(out)), 0);
	assert_string_equal(out, "a:7b");
	assert_int_equal(
	    ollama_model_norm("host:5000/ns/m", out, sizeof(out)), 0);
	assert_string_equal(out, "host:5000/ns/m:latest");
	assert_int_equal(ollama_model_norm("", out, sizeof(out)), -1);
	assert_int_equal(ollama_model_norm("ns/", out, sizeof(out)), -1);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ollama_model_norm(big, out, sizeof(out)), -1);
}

static json_t *
jl(const char *s)
{
	json_t *o = json_loads(s, 0, NULL);

	assert_non_null(o);
	return o;
}

static void
test_report_api_and_payload(void **state)
{
	struct ollama_report r, back, dig;
	json_t *tags = jl("{\"models\":[{\"name\":\"b\"},{\"name\":\"a:1\"},"
	                  "{\"model\":\"b:latest\"}]}");
	json_t *ps = jl("{\"models\":[{\"name\":\"b\"}]}");
	json_t *p;
	int loaded;

	(void)state;
	memset(&r, 0, sizeof(r));
	memset(&back, 0, sizeof(back));
	memset(&dig, 0, sizeof(dig));
	assert_int_equal(ollama_report_from_api(&r, tags, ps), 0);
	assert_int_equal(r.nmodels, 2); /* sorted, deduplicated */
	assert_string_equal(r.models[0], "a:1");
	assert_string_equal(r.models[1], "b:latest");
	assert_int_equal(ollama_report_has(&r, "b", &loaded), 1);
	assert_int_equal(loaded, 1);
	assert_int_equal(ollama_report_has(&r, "a:1", &loaded), 1);
	assert_int_equal(loaded, 0);
	assert_int_equal(ollama_report_has(&r, "c", &loaded), 0);

	/* the lists fit: they travel, and come back equal */
	p = ollama_report_payload(&r, 1000);
	assert_non_null(json_object_get(p, "m"));
	assert_int_equal(ollama_report_from_payload(&back, p), 0);
	assert_true(ollama_report_equal(&r, &back));
	json_decref(p);

	/* they do not: a digest, same value, lists unknown */
	p = ollama_report_payload(&r, 20);
	assert_null(json_object_get(p, "m"));
	assert_non_null(json_object_get(p, "d"));
	assert_true(json_dumpb(p, NULL, 0, JSON_COMPACT) < 60);
	assert_int_equal(ollama_report_from_payload(&dig, p), 0);
	assert_int_equal(dig.digest, r.digest);
	assert_int_equal(dig.lists_known, 0);
	assert_int_equal(ollama_report_has(&dig, "b", &loaded), -1);
	json_decref(p);

	ollama_report_clear(&r);
	ollama_report_clear(&back);
	ollama_report_clear(&dig);
	json_decref(tags);
	json_decref(ps);
}

/* what a peer sends is checked before anything is kept */
static void
test_report_bad_payloads(void **state)
{
	static const char *const bad[] = {"[]", "{}", "{\"up\":1}",
	    "{\"up\":true,\"m\":\"x\",\"l\":[]}",
	    "{\"up\":true,\"m\":[1],\"l\":[]}",
	    "{\"up\":true,\"m\":[\"\"],\"l\":[]}",
	    "{\"up\":true,\"m\":[\"a\"]}", "{\"up\":true,\"d\":\"123\"}",
	    "{\"up\":true,\"d\":\"zzzzzzzzzzzzzzzz\"}",
	    "{\"up\":true,\"d\":\"0000000000000000\"}", NULL};
	struct ollama_report r;
	json_t *o, *m;
	size_t i;
	int loaded;

	(void)state;
	memset(&r, 0, sizeof(r));
	for (i = 0; bad[i] != NULL; i++) {
		o = jl(bad[i]);
		assert_int_equal(ollama_report_from_payload(&r, o), -1);
		assert_int_equal(r.known, 0);
		json_decref(o);
	}
	/* more models than we keep */
	m = json_array();
	for (i = 0; i <= OLLAMA_MODELS_MAX; i++) {
		char name[16];
		snprintf(name, sizeof(name), "m%zu", i);
		json_array_append_new(m, json_string(name));
	}
	o = json_pack("{sbsos[]}", "up", 1, "m", m, "l");
	assert_int_equal(ollama_report_from_payload(&r, o), -1);
	json_decref(o);
	o = jl("{\"up\":false}");
	assert_int_equal(ollama_report_from_payload(&r, o), 0);
	assert_int_equal(r.known, 1);
	assert_int_equal(r.up, 0);
	/* down says nothing about its models: unknown, not "none" */
	assert_int_equal(ollama_report_has(&r, "tiny", &loaded), -1);
	json_decref(o);
	ollama_report_clear(&r);
}

static void
test_route(void **state)
{
	/* 0 local without the model, 1 remote has it, 2 remote has it
	 * loaded, 3 remote unknown, 4 remote has it but marked down,
	 * 5 remote has it, priority 5 (after 1 whose priority is 0) */
	struct ollama_route_in in[] = {
	    {1, 0, 1, 1, 0, 0, 0},
	    {0, 0, 1, 1, 0, 1, 0},
	    {0, 9, 1, 1, 0, 1, 1},
	    {0, 0, 0, 0, 0, -1, 0},
	    {0, 0, 1, 1, 1, 1, 1},
	    {0, 5, 1, 1, 0, 1, 0},
	};
	size_t order[6], n;

	(void)state;
	n = ollama_route_order(in, 6, order);
	assert_int_equal(n, 5);
	assert_int_equal(order[0], 2);
	assert_int_equal(order[1], 1);
	assert_int_equal(order[2], 5);
	assert_int_equal(order[3], 3);
	assert_int_equal(order[4], 4);

	/* no model asked: local first, then priority, reported down last */
	struct ollama_route_in nm[] = {
	    {0, 3, 1, 1, 0, -1, 0},
	    {0, 1, 1, 0, 0, -1, 0},
	    {1, 7, 1, 1, 0, -1, 0},
	    {0, 2, 1, 1, 0, -1, 0},
	};
	n = ollama_route_order(nm, 4, order);
	assert_int_equal(n, 4);
	assert_int_equal(order[0], 2);
	assert_int_equal(order[1], 3);
	assert_int_equal(order[2], 0);
	assert_int_equal(order[3], 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_norm),
	    cmocka_unit_test(test_report_api_and_payload),
	    cmocka_unit_test(test_report_bad_payloads),
	    cmocka_unit_test(test_route),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
