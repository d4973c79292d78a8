/* SPDX-License-Identifier: ISC */
/*
 * status_assets: the status page's files (peer/status_page.html, .css and
 * .js), embedded at build time by cmake/embed.cmake. Each array holds the
 * file's bytes and a NUL after them that _len does not count.
 */
#ifndef PW_PEER_STATUS_ASSETS_H
#define PW_PEER_STATUS_ASSETS_H

#include <stddef.h>

extern const unsigned char status_page_html[];
extern const size_t status_page_html_len;
extern const unsigned char status_page_css[];
extern const size_t status_page_css_len;
extern const unsigned char status_page_js[];
extern const size_t status_page_js_len;

#endif
