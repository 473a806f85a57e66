/* clientip.c — the client's address behind trusted proxies (clientip.h). */
#include "http/clientip.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

#define PROXIES_MAX 64

/* An address as 16 bytes (IPv4 mapped into ::ffff:0:0/96) and a prefix. */
struct net {
    unsigned char a[16];
    int bits;
};

struct proxies {
    int n;
    struct net nets[PROXIES_MAX];
};

static bool addr_parse(const char *s, unsigned char out[16], bool *v4)
{
    unsigned char b4[4];
    if (inet_pton(AF_INET, s, b4) == 1) {
        memset(out, 0, 10);
        out[10] = out[11] = 0xff;
        memcpy(out + 12, b4, 4);
        *v4 = true;
        return true;
    }
    *v4 = false;
    return inet_pton(AF_INET6, s, out) == 1;
}

static bool in_net(const struct net *n, const unsigned char a[16])
{
    int full = n->bits / 8, rest = n->bits % 8;
    if (memcmp(n->a, a, (size_t)full) != 0)
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (n->a[full] & mask) == (a[full] & mask);
}

struct proxies *proxies_parse(const char *spec, struct problem *pb)
{
    struct proxies *p = xcalloc(1, sizeof *p);
    const char *s = spec ? spec : "";
    while (*s) {
        while (*s == ',' || isspace((unsigned char)*s))
            s++;
        if (!*s)
            break;
        char item[80];
        size_t n = strcspn(s, ", \t");
        if (n >= sizeof item || p->n == PROXIES_MAX)
            goto bad;
        memcpy(item, s, n);
        item[n] = '\0';
        s += n;
        char *slash = strchr(item, '/');
        long bits = -1;
        if (slash) {
            char *end;
            *slash = '\0';
            bits = strtol(slash + 1, &end, 10);
            if (end == slash + 1 || *end)
                goto bad;
        }
        struct net *net = &p->nets[p->n];
        bool v4;
        if (!addr_parse(item, net->a, &v4))
            goto bad;
        if (bits < 0)
            bits = v4 ? 32 : 128;
        if (bits > (v4 ? 32 : 128))
            goto bad;
        net->bits = (int)bits + (v4 ? 96 : 0);
        p->n++;
        continue;
    bad:
        problem_set(pb, SHOP_INVALID, "SHOPD_TRUSTED_PROXIES: \"%.60s\" is not an address or CIDR",
                    s);
        free(p);
        return NULL;
    }
    return p;
}

void proxies_free(struct proxies *p)
{
    free(p);
}

bool proxies_trust(const struct proxies *p, const char *addr)
{
    unsigned char a[16];
    bool v4;
    if (!p || !p->n || !addr_parse(addr, a, &v4))
        return false;
    for (int i = 0; i < p->n; i++)
        if (in_net(&p->nets[i], a))
            return true;
    return false;
}

void clientip_resolve(const struct proxies *p, const char *peer, const char *xff, char *out,
                      size_t len)
{
    snprintf(out, len, "%s", peer);
    if (!xff || !proxies_trust(p, peer))
        return;
    /* From the right: the first entry that is not a trusted proxy. */
    size_t end = strlen(xff);
    while (end > 0) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, b = end;
        while (a < b && isspace((unsigned char)xff[a]))
            a++;
        while (b > a && isspace((unsigned char)xff[b - 1]))
            b--;
        char item[64];
        unsigned char bin[16];
        bool v4;
        if (b - a >= sizeof item)
            return;
        memcpy(item, xff + a, b - a);
        item[b - a] = '\0';
        if (!addr_parse(item, bin, &v4))
            return; /* garbage: keep the last vouched-for address */
        snprintf(out, len, "%s", item);
        if (!proxies_trust(p, item))
            return;
        end = start > 0 ? start - 1 : 0;
    }
}
