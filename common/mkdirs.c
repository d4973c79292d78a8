/* SPDX-License-Identifier: ISC */
/* mkdirs: mkdir -p; an existing component is fine whatever mkdir says. */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mkdirs.h"
#include "common/xmalloc.h"

int
mkdirs(const char *path, mode_t leaf_mode, char *err, size_t errlen)
{
	struct stat st;
	char *dir, *p, c;
	int rc = 0, saved;

	if (path[0] == '\0') {
		snprintf(err, errlen, "mkdir: empty path");
		return -1;
	}
	dir = xstrdup(path);
	for (p = dir + 1; rc == 0; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		c = *p;
		*p = '\0';
		if (mkdir(dir, c == '\0' ? leaf_mode : 0755) == -1 &&
		    errno != EEXIST) {
			saved = errno;
			if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
				snprintf(err, errlen, "mkdir %s: %s", dir,
				    strerror(saved));
				rc = -1;
			}
		}
		*p = c;
		if (c == '\0')
			break;
	}
	if (rc == 0 && (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode))) {
		snprintf(err, errlen, "%s: not a directory", dir);
		rc = -1;
	}
	free(dir);
	return rc;
}
