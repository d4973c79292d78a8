/* SPDX-License-Identifier: ISC */
/*
 * sysinfo: the /proc/meminfo parser, and swap and disk on Linux
 * (/proc/meminfo, statvfs); macOS's are in sysinfo_darwin.c, built only
 * there. Every figure is range-checked before it is scaled.
 */
#include <sys/types.h>
#include <sys/statvfs.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/sysinfo.h"

int
sysinfo_mul(uint64_t a, uint64_t b, uint64_t *out)
{
	if (b != 0 && a > UINT64_MAX / b)
		return -1;
	*out = a * b;
	return 0;
}

/* "Key:   1234 kB" anywhere at a line start: the kB figure in bytes */
static int
sysinfo_meminfo_kb(const char *text, const char *key, uint64_t *bytes)
{
	size_t klen = strlen(key);
	const char *p = text;
	unsigned long long kb;
	char *end;

	while (p != NULL && (strncmp(p, key, klen) != 0 || p[klen] != ':'))
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	if (p != NULL) {
		p += klen + 1;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			return -1;
		errno = 0;
		kb = strtoull(p, &end, 10);
		if (errno != 0 || strncmp(end, " kB", 3) != 0)
			return -1;
		return sysinfo_mul(kb, 1024, bytes);
	}
	return -1;
}

int
sysinfo_parse_meminfo(const char *text, struct sysinfo_swap *sw)
{
	uint64_t total, avail;

	if (sysinfo_meminfo_kb(text, "SwapTotal", &total) == -1 ||
	    sysinfo_meminfo_kb(text, "SwapFree", &avail) == -1 ||
	    avail > total) {
		errno = EINVAL;
		return -1;
	}
	sw->total_bytes = total;
	sw->used_bytes = total - avail;
	return 0;
}

#ifndef __APPLE__ /* macOS: sysinfo_darwin.c */
int
sysinfo_swap(struct sysinfo_swap *sw)
{
	char buf[8192];
	ssize_t n;
	size_t len = 0;
	int fd;

	if ((fd = open("/proc/meminfo", O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	while (len < sizeof(buf) - 1 &&
	       (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	buf[len] = '\0';
	return sysinfo_parse_meminfo(buf, sw);
}

int
sysinfo_disk(const char *path, struct sysinfo_disk *d)
{
	struct statvfs sv;
	uint64_t unit;

	if (statvfs(path, &sv) == -1)
		return -1;
	unit = sv.f_frsize ? sv.f_frsize : sv.f_bsize;
	if (sysinfo_mul(sv.f_blocks, unit, &d->total_bytes) == -1 ||
	    sysinfo_mul(sv.f_bavail, unit, &d->avail_bytes) == -1) {
		errno = EOVERFLOW;
		return -1;
	}
	return 0;
}
#endif
