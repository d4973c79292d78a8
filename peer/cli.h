/* SPDX-License-Identifier: ISC */
/*
 * cli: subcommands that talk to a running daemon through its control
 * socket, and the helpers every subcommand shares (which config, which
 * host). Runs in the CLI process only; may block (with timeouts).
 */
#ifndef PW_PEER_CLI_H
#define PW_PEER_CLI_H

#include "config/conf.h"

/* -c, else $PEERWATCH_CONFIG, else the default path */
const char *cli_config_path(const char *opt);
/* --name, else $PEERWATCH_NAME, else NULL */
const char *cli_name(const char *opt);
/* load the config (errors printed) and find this host; NULL on error */
struct conf *cli_load(const char *cpath_opt, const char *name_opt, int *self);

int cli_status(int argc, char **argv);
int cli_revive(int argc, char **argv);
int cli_deploy_units(int argc, char **argv);
int cli_beat(int argc, char **argv);
/* run --once: every local check once, a table or JSON; 1 if any is down */
int cli_run_once(const char *cpath, const char *name, int json);
int cli_reset(int argc, char **argv);
/* alert-test: a Telegram message now; prints the API's answer */
int cli_alert_test(int argc, char **argv);
int cli_maintenance(int argc, char **argv);
int cli_sleep_notice(int argc, char **argv);

#endif
