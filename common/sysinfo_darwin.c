/* SPDX-License-Identifier: ISC */
/*
 * sysinfo_darwin: swap from sysctl vm.swapusage, disk from statfs(2),
 * whose block counts are 64-bit where macOS's statvfs(3) counts in 32
 * bits. Built on macOS only (common/CMakeLists.txt), the way tmux keeps
 * one osdep-*.c per system.
 */
#include <sys/types.h>
#include <sys/mount.h>
#include <sys/param.h>
#include <sys/sysctl.h>

#include <errno.h>
#include <stdint.h>

#include "common/sysinfo.h"

int
sysinfo_swap(struct sysinfo_swap *sw)
{
	struct xsw_usage xsu;
	size_t len = sizeof(xsu);

	if (sysctlbyname("vm.swapusage", &xsu, &len, NULL, 0) == -1)
		return -1;
	if (len != sizeof(xsu) || xsu.xsu_used > xsu.xsu_total) {
		errno = EINVAL;
		return -1;
	}
	sw->total_bytes = xsu.xsu_total;
	sw->used_bytes = xsu.xsu_used;
	return 0;
}

int
sysinfo_disk(const char *path, struct sysinfo_disk *d)
{
	struct statfs sf;

	if (statfs(path, &sf) == -1)
		return -1;
	if (sysinfo_mul(sf.f_blocks, sf.f_bsize, &d->total_bytes) == -1 ||
	    sysinfo_mul(sf.f_bavail, sf.f_bsize, &d->avail_bytes) == -1) {
		errno = EOVERFLOW;
		return -1;
	}
	return 0;
}
