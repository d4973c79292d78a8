/* SPDX-License-Identifier: ISC */
/*
 * sftp_fail: the names of SFTP connect failures, apart from sftp.c so the
 * daemon can print them without linking libssh.
 */
#include "heal/sftp.h"

const char *
sftp_fail_name(enum sftp_fail f)
{
	switch (f) {
	case SFTP_OK:
		return "ok";
	case SFTP_UNREACHABLE:
		return "unreachable";
	case SFTP_HOSTKEY:
		return "hostkey";
	case SFTP_AUTH:
		return "auth";
	case SFTP_PROTOCOL:
		return "protocol";
	}
	return "unknown";
}
