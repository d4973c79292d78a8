/* SPDX-License-Identifier: ISC */
/*
 * mkdirs: mkdir -p, the one copy the state dir, the event log, the mesh
 * store and the local file backend share. Never exits, never logs.
 */
#ifndef PW_COMMON_MKDIRS_H
#define PW_COMMON_MKDIRS_H

#include <sys/types.h>

#include <stddef.h>

/*
 * Create path and any missing parents: parents 0755, path itself
 * leaf_mode (an existing directory keeps its mode). 0, or -1 with
 * "mkdir DIR: reason" / "DIR: not a directory" in err.
 */
int mkdirs(const char *path, mode_t leaf_mode, char *err, size_t errlen);

#endif
