/* topology.c — print a Camunda 8 cluster's topology with libzbauth.
 *
 * Build: cc topology.c $(pkg-config --cflags --libs zbauth) -o topology
 * Run:   ZEEBE_CLIENT_ID=... ZEEBE_CLIENT_SECRET=... ZEEBE_REST_ADDRESS=... ./topology
 */
#include <stdio.h>
#include <zbauth.h>

int main(void) {
    zbauth_client *client = NULL;
    char *err = NULL;
    zbauth_status st = zbauth_client_new(NULL, &client, &err); /* NULL: from the environment */
    if (st != ZBAUTH_OK) {
        fprintf(stderr, "zbauth_client_new: %s: %s\n", zbauth_status_name(st), err);
        zbauth_free(err);
        return 1;
    }
    char *topology = NULL;
    st = zbauth_client_topology(client, &topology, &err);
    if (st != ZBAUTH_OK) {
        fprintf(stderr, "zbauth_client_topology: %s: %s\n", zbauth_status_name(st), err);
        zbauth_free(err);
        zbauth_client_free(client);
        return 1;
    }
    printf("libzbauth %s topology: %s\n", zbauth_version(), topology);
    zbauth_free(topology);
    zbauth_client_free(client);
    return 0;
}
