/* devctl.c — a tiny HTTP client for the dev cluster's control endpoints
 * ($ZBAUTH_DEV_URL/_dev/...), shared by the C test programs. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devctl.h"

static int dev_port(void) {
    const char *u = getenv("ZBAUTH_DEV_URL"); /* http://127.0.0.1:PORT */
    if (!u) {
        fprintf(stderr, "ZBAUTH_DEV_URL is not set: run under `zbauth dev-cluster --`\n");
        exit(2);
    }
    const char *colon = strrchr(u, ':');
    return colon ? atoi(colon + 1) : 0;
}

/* dev_call sends one request and returns the response (malloc'd) or NULL. */
char *dev_call(const char *method, const char *path, const char *body) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)dev_port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0) close(fd);
        return NULL;
    }
    char req[4096];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, body ? strlen(body) : 0, body ? body : "");
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return NULL;
    }
    size_t cap = 8192, len = 0;
    char *out = malloc(cap);
    ssize_t r;
    while ((r = read(fd, out + len, cap - len - 1)) > 0) {
        len += (size_t)r;
        if (cap - len < 2) out = realloc(out, cap *= 2);
    }
    out[len] = 0;
    close(fd);
    return out;
}

void dev(const char *method, const char *path, const char *body) {
    char *r = dev_call(method, path, body);
    if (!r || strncmp(r, "HTTP/1.1 2", 10) != 0) {
        fprintf(stderr, "dev cluster control %s %s failed: %s\n", method, path, r ? r : "(no answer)");
        exit(2);
    }
    free(r);
}

long dev_stat(const char *key) {
    char *r = dev_call("GET", "/_dev/stats", NULL);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *p = r ? strstr(r, pat) : NULL;
    long v = p ? strtol(p + strlen(pat), NULL, 10) : -1;
    free(r);
    return v;
}

void reset(void) { dev("POST", "/_dev/reset", "{}"); }


int dev_stat_str(const char *key, char *out, size_t cap) {
    char *r = dev_call("GET", "/_dev/stats", NULL);
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    char *p = r ? strstr(r, pat) : NULL;
    int found = p != NULL;
    if (found) {
        p += strlen(pat);
        size_t n = 0;
        while (p[n] && p[n] != '"') n++;
        snprintf(out, cap, "%.*s", (int)n, p);
    }
    free(r);
    return found ? 0 : -1;
}
