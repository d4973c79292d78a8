/* SPDX-License-Identifier: ISC */
/*
 * units: the service-manager side of revive flags (`peerwatch
 * deploy-units`), and the check of units a user wrote by hand.
 */
#ifndef PW_PEER_UNITS_H
#define PW_PEER_UNITS_H

#include <stddef.h>

#include <jansson.h>

#include "config/conf.h"

/* the units a shell command line restarts with a plain `systemctl
 * restart U...` (or start, try-restart, reload-or-restart),
 * space-separated into out; "" when none or not a simple command line */
void units_sd_restarted(const char *cmd, char *out, size_t outlen);

/* For each guard flag watched by a systemd .path unit in dir (the user's
 * own units or ours): a warning when its service restarts a unit without
 * `systemctl reset-failed` first, so a service that hit StartLimitBurst
 * would stay down. Appends "FILE: message" strings to warnings; returns
 * how many. */
size_t units_check_systemd(
    const struct conf *, const char *dir, json_t *warnings);

#endif
