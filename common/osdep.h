/* SPDX-License-Identifier: ISC */
/*
 * osdep: the few calls that differ between Linux and macOS, each behind
 * one pw_ name so no caller carries an #ifdef. Never exits, never logs.
 */
#ifndef PW_COMMON_OSDEP_H
#define PW_COMMON_OSDEP_H

#include <stddef.h>

/*
 * The running executable's absolute path with symlinks resolved, in buf:
 * /proc/self/exe on Linux, _NSGetExecutablePath + realpath on macOS.
 * 0, or -1 (unknown, or longer than len - 1).
 */
int pw_self_exe(char *buf, size_t len);

/*
 * fsync(2) that reaches the medium. On macOS fsync stops at the drive's
 * write cache; F_FULLFSYNC flushes it (falling back to fsync on file
 * systems that refuse it). Elsewhere plain fsync. 0, or -1 with errno.
 */
int pw_fsync_full(int fd);

/*
 * The soft limit on open descriptors raised to want, or as far as the hard
 * limit (and macOS's OPEN_MAX) allow; launchd starts a daemon with 256,
 * systemd with 1024. The soft limit in force after it.
 */
unsigned long pw_raise_nofile(unsigned long want);

#endif
