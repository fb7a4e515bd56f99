/* Listening TCP sockets for the node's HTTP servers, see listen.h. */
#include "node/listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/errmsg.h"

enum bm_err bm_listen_tcp(const char *addr, const char *what, int *fd,
                          uint16_t *port, struct bm_errmsg *em)
{
    char host[BM_LISTEN_ADDR_MAX];
    const char *p = addr;
    const char *colon;
    const char *port_s;
    struct addrinfo hints;
    struct addrinfo *res = NULL;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    size_t hlen;
    int one = 1;
    int s = -1;
    int rc;
    enum bm_err err = BM_OK;

    *fd = -1;
    *port = 0;
    if (addr == NULL || addr[0] == '\0') {
        return bm_errf(em, BM_EINVAL, "%s: empty address", what);
    }
    if (strlen(addr) >= sizeof(host)) {
        return bm_errf(em, BM_EINVAL, "%s: address too long", what);
    }
    if (strncmp(p, "tcp://", 6) == 0) {
        p += 6;
    } else if (strncmp(p, "http://", 7) == 0) {
        p += 7;
    }
    if (p[0] == '[') {
        const char *end = strchr(p, ']');

        if (end == NULL || end[1] != ':') {
            return bm_errf(em, BM_EINVAL, "%s: got '%s', want [v6]:port",
                           what, addr);
        }
        hlen = (size_t)(end - p - 1);
        memcpy(host, p + 1, hlen);
        port_s = end + 2;
    } else {
        colon = strrchr(p, ':');
        if (colon == NULL) {
            return bm_errf(em, BM_EINVAL, "%s: got '%s', want host:port",
                           what, addr);
        }
        hlen = (size_t)(colon - p);
        memcpy(host, p, hlen);
        port_s = colon + 1;
    }
    host[hlen] = '\0';
    if (port_s[0] == '\0' || strlen(port_s) > 5 ||
        strspn(port_s, "0123456789") != strlen(port_s) ||
        strtoul(port_s, NULL, 10) > 65535) {
        return bm_errf(em, BM_EINVAL, "%s: port '%s' is not 0..65535", what,
                       port_s);
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    rc = getaddrinfo(hlen ? host : NULL, port_s, &hints, &res);
    if (rc != 0 || res == NULL) {
        return bm_errf(em, BM_EINVAL, "%s: cannot resolve '%s': %s", what,
                       host, gai_strerror(rc));
    }
    s = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
        err = bm_errf(em, BM_ESYS, "%s: socket: %s", what, strerror(errno));
        goto out;
    }
    (void)setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(s, res->ai_addr, res->ai_addrlen) != 0) {
        err = bm_errf(em, BM_ESYS, "%s: cannot bind %s: %s", what, addr,
                      strerror(errno));
        goto out;
    }
    if (listen(s, BM_LISTEN_BACKLOG) != 0 ||
        getsockname(s, (struct sockaddr *)&ss, &sl) != 0) {
        err = bm_errf(em, BM_ESYS, "%s: cannot listen on %s: %s", what, addr,
                      strerror(errno));
        goto out;
    }
    if (ss.ss_family == AF_INET6) {
        *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    } else {
        *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    }
    *fd = s;
    s = -1;
out:
    if (s >= 0) {
        close(s);
    }
    freeaddrinfo(res);
    return err;
}
