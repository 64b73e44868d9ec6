/* devctl.h — control the dev cluster from C tests (see docs/dev-cluster.md). */
#ifndef ZBAUTH_DEVCTL_H
#define ZBAUTH_DEVCTL_H

#include <stddef.h>

/* One request to the dev cluster; returns the raw HTTP response (caller
 * frees with free()) or NULL when the cluster cannot be reached. */
char *dev_call(const char *method, const char *path, const char *body);
/* Like dev_call, but exits the program unless the answer is 2xx. */
void dev(const char *method, const char *path, const char *body);
/* A counter from GET /_dev/stats, or -1. */
long dev_stat(const char *key);
/* A string of GET /_dev/stats, copied into out: 0, or -1 when absent. */
int dev_stat_str(const char *key, char *out, size_t cap);
/* POST /_dev/reset: clear faults and counters. */
void reset(void);

#endif
