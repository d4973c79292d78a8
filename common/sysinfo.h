/* SPDX-License-Identifier: ISC */
/*
 * sysinfo: swap and disk figures of this host, through each system's own
 * interface: /proc/meminfo and statvfs(2) on Linux, sysctl vm.swapusage
 * and statfs(2) (64-bit block counts, where macOS's statvfs is 32-bit) on
 * macOS. For the local watch. Never exits, never logs; safe from any
 * thread. sysinfo_disk may block for as long as its file system does (a
 * hung NFS or SMB mount: for ever): never call it on the loop; the
 * resource guards call both from their reader thread (heal/resread).
 */
#ifndef PW_COMMON_SYSINFO_H
#define PW_COMMON_SYSINFO_H

#include <stddef.h>
#include <stdint.h>

struct sysinfo_swap {
	uint64_t total_bytes; /* 0: no swap configured (Linux) */
	uint64_t used_bytes;
};

struct sysinfo_disk {
	uint64_t total_bytes;
	uint64_t avail_bytes; /* what an unprivileged user may still use */
};

/* 0, or -1 with errno */
int sysinfo_swap(struct sysinfo_swap *);
/* the file system holding path; 0, or -1 with errno */
int sysinfo_disk(const char *path, struct sysinfo_disk *);
/* Linux's /proc/meminfo text to swap figures: 0, or -1 (EINVAL) when
 * SwapTotal or SwapFree is missing, malformed, too large, or free > total */
int sysinfo_parse_meminfo(const char *text, struct sysinfo_swap *);
/* *out = a * b: 0, or -1 when it would not fit (sysinfo*.c share it) */
int sysinfo_mul(uint64_t a, uint64_t b, uint64_t *out);

#endif
