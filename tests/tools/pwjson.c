/* SPDX-License-Identifier: ISC */
/*
 * pwjson: a tiny JSON path extractor for the integration scripts, so they
 * need neither jq nor python. Reads JSON on stdin and prints the value at
 * each dotted path (peers.gamma.state) on its own line: strings raw,
 * everything else as compact JSON. A path segment that is all digits
 * indexes an array. Test tool only: exits 1 on a missing path, 2 on bad
 * input or usage.
 *
 *   pwjson [-d DEFAULT] PATH...    one document; missing -> DEFAULT or exit 1
 *   pwjson -k PATH                 the keys of the object at PATH, one a line
 *   pwjson -l [-d DEFAULT] PATH... one document per line (events.jsonl):
 *                                  the paths' values joined by tabs,
 *                                  missing -> DEFAULT (default "-")
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

static void
pwjson_usage(void)
{
	fprintf(stderr, "usage: pwjson [-d DEFAULT] PATH...\n"
	                "       pwjson -k PATH\n"
	                "       pwjson -l [-d DEFAULT] PATH...\n");
	exit(2);
}

/* the value at a dotted path ("" or "." is the root), or NULL */
static json_t *
pwjson_get(json_t *root, const char *path)
{
	char *copy, *seg, *save = NULL, *end;
	json_t *v = root;
	unsigned long idx;

	if (path[0] == '\0' || strcmp(path, ".") == 0)
		return root;
	if ((copy = strdup(path)) == NULL)
		return NULL;
	for (seg = strtok_r(copy, ".", &save); seg && v;
	     seg = strtok_r(NULL, ".", &save)) {
		if (json_is_object(v)) {
			v = json_object_get(v, seg);
			continue;
		}
		errno = 0;
		idx = strtoul(seg, &end, 10);
		if (json_is_array(v) && *end == '\0' && errno == 0)
			v = json_array_get(v, idx);
		else
			v = NULL;
	}
	free(copy);
	return v;
}

/* print v (strings raw) followed by sep */
static void
pwjson_print(const json_t *v, const char *sep)
{
	char *s;

	if (json_is_string(v)) {
		fputs(json_string_value(v), stdout);
	} else {
		s = json_dumps(
		    v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
		fputs(s ? s : "null", stdout);
		free(s);
	}
	fputs(sep, stdout);
}

static int
pwjson_keys(json_t *root, const char *path)
{
	json_t *o = pwjson_get(root, path), *v;
	const char *k;

	if (!json_is_object(o))
		return 1;
	json_object_foreach(o, k, v)
		printf("%s\n", k);
	return 0;
}

static int
pwjson_paths(json_t *root, char **paths, int n, const char *dflt)
{
	json_t *v;
	int i, rc = 0;

	for (i = 0; i < n; i++) {
		if ((v = pwjson_get(root, paths[i])) != NULL)
			pwjson_print(v, "\n");
		else if (dflt)
			printf("%s\n", dflt);
		else {
			fprintf(stderr, "pwjson: no %s\n", paths[i]);
			rc = 1;
		}
	}
	return rc;
}

/* one JSON document per line; unparsable lines are skipped */
static int
pwjson_lines(char **paths, int n, const char *dflt)
{
	char *line = NULL;
	size_t cap = 0;
	json_t *doc, *v;
	int i;

	while (getline(&line, &cap, stdin) != -1) {
		if ((doc = json_loads(line, 0, NULL)) == NULL)
			continue;
		for (i = 0; i < n; i++) {
			v = pwjson_get(doc, paths[i]);
			if (v)
				pwjson_print(v, i + 1 < n ? "\t" : "\n");
			else
				printf("%s%s", dflt, i + 1 < n ? "\t" : "\n");
		}
		json_decref(doc);
	}
	free(line);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *dflt = NULL;
	json_error_t jerr;
	json_t *root;
	int ch, keys = 0, lines = 0, rc;

	while ((ch = getopt(argc, argv, "d:kl")) != -1) {
		switch (ch) {
		case 'd':
			dflt = optarg;
			break;
		case 'k':
			keys = 1;
			break;
		case 'l':
			lines = 1;
			break;
		default:
			pwjson_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1 || (keys && (argc != 1 || lines)))
		pwjson_usage();
	if (lines)
		return pwjson_lines(argv, argc, dflt ? dflt : "-");
	if ((root = json_loadf(stdin, 0, &jerr)) == NULL) {
		fprintf(stderr, "pwjson: stdin:%d: %s\n", jerr.line, jerr.text);
		return 2;
	}
	rc = keys ? pwjson_keys(root, argv[0])
	          : pwjson_paths(root, argv, argc, dflt);
	json_decref(root);
	return rc;
}
