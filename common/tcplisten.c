/* SPDX-License-Identifier: ISC */
/*
 * tcplisten: socket, SO_REUSEADDR, bind, listen, O_NONBLOCK, FD_CLOEXEC.
 */
#include <sys/socket.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/tcplisten.h"

int
tcplisten(const char *host, uint16_t port, int backlog)
{
	struct addrinfo hints, *res = NULL;
	char ports[8];
	int fd, on = 1, saved;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(ports, sizeof(ports), "%u", port);
	if (getaddrinfo(host, ports, &hints, &res) != 0 || res == NULL) {
		errno = EADDRNOTAVAIL;
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, backlog) == -1 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		saved = errno;
		if (fd != -1)
			close(fd);
		errno = saved;
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}
