/* SPDX-License-Identifier: ISC */
/*
 * tcplisten: a listening TCP socket of our own, the one copy the HTTP
 * endpoints share. evhttp_bind_socket resolves with AI_ADDRCONFIG, which
 * refuses 127.0.0.1 on a host whose only IPv4 address is loopback (an
 * IPv6-only host), so we bind ourselves. Runs at start-up only (the
 * resolver may block). Never exits, never logs.
 */
#ifndef PW_COMMON_TCPLISTEN_H
#define PW_COMMON_TCPLISTEN_H

#include <stdint.h>

/* a non-blocking, close-on-exec listening socket, or -1 with errno */
int tcplisten(const char *host, uint16_t port, int backlog);

#endif
