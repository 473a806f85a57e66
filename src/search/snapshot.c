/* snapshot.c — a search index snapshot read back (search_snapshot_load):
 * the header and the checksum checked first, then every array copied out
 * with its counts bounded and its indexes checked, then the derived
 * structures rebuilt; and the checksum and the executable's fingerprint,
 * which the writing side (snapshot_write.c) shares. The format and why it
 * is so: the essay of snapshot_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "search/engine.h"
#include "search/index.h"
#include "search/snapshot_int.h"
#include "util/clock.h"
#include "util/xalloc.h"

/* ---- checksum ---------------------------------------------------------------------- */

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

void snap_ck_init(struct snap_ck *c)
{
    c->v[0] = P1 + P2;
    c->v[1] = P2;
    c->v[2] = 0;
    c->v[3] = -P1;
    c->len = 0;
}

void snap_ck_blocks(struct snap_ck *c, const unsigned char *p, size_t n)
{
    size_t full = n & ~(size_t)31;
    uint64_t v0 = c->v[0], v1 = c->v[1], v2 = c->v[2], v3 = c->v[3];
    for (size_t i = 0; i < full; i += 32) {
        uint64_t w[4];
        memcpy(w, p + i, 32);
        v0 = rotl(v0 + w[0] * P2, 31) * P1;
        v1 = rotl(v1 + w[1] * P2, 31) * P1;
        v2 = rotl(v2 + w[2] * P2, 31) * P1;
        v3 = rotl(v3 + w[3] * P2, 31) * P1;
    }
    c->v[0] = v0, c->v[1] = v1, c->v[2] = v2, c->v[3] = v3;
    c->len += full;
}

uint64_t snap_ck_final(struct snap_ck *c, const unsigned char *tail, size_t n)
{
    snap_ck_blocks(c, tail, n);
    size_t done = n & ~(size_t)31;
    uint64_t h = rotl(c->v[0], 1) + rotl(c->v[1], 7) + rotl(c->v[2], 12) + rotl(c->v[3], 18);
    for (size_t i = done; i < n; i++)
        h = rotl((h ^ tail[i]) * P1, 23) * P2;
    h ^= c->len + (n - done);
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    return h ^ (h >> 32);
}

uint64_t snap_ck_bytes(const void *p, size_t n)
{
    struct snap_ck c;
    snap_ck_init(&c);
    return snap_ck_final(&c, p, n);
}

/* The executable's fingerprint: a snapshot is only read by the binary that
 * wrote it (analysis, weights and record layouts are the code's). */
static uint64_t exe_fp;
static pthread_once_t exe_once = PTHREAD_ONCE_INIT;

static void exe_fp_init(void)
{
    int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && st.st_size > 0) {
        void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m != MAP_FAILED) {
            exe_fp = snap_ck_bytes(m, (size_t)st.st_size) | 1;
            munmap(m, (size_t)st.st_size);
        }
    }
    close(fd);
}

uint64_t snap_build_fingerprint(void)
{
    pthread_once(&exe_once, exe_fp_init);
    return exe_fp;
}

/* ---- header ------------------------------------------------------------------------- */

void snap_head_sizes(uint32_t *sz)
{
    sz[SZ_DOC] = sizeof(struct doc);
    sz[SZ_DCOL] = sizeof(struct dcol);
    sz[SZ_POSTING] = sizeof(struct posting);
    sz[SZ_WORD] = sizeof(struct word);
    sz[SZ_TNODE] = sizeof(struct tnode);
    sz[SZ_BCOUNT] = sizeof(struct bcount);
    sz[SZ_STAMP] = sizeof(struct search_stamp);
    sz[SZ_KEY] = sizeof(((struct intern *)0)->keys[0]);
}

/* ---- reading ----------------------------------------------------------------------- */

struct rd {
    const unsigned char *p;
    size_t left;
    const char *bad; /* the first thing found wrong */
};

static const void *take(struct rd *r, size_t count, size_t size)
{
    if (r->bad)
        return NULL;
    if (size && count > r->left / size) {
        r->bad = "truncated";
        return NULL;
    }
    const void *q = r->p;
    r->p += count * size;
    r->left -= count * size;
    return q;
}

static uint32_t take_u32(struct rd *r)
{
    const void *q = take(r, 1, 4);
    uint32_t v = 0;
    if (q)
        memcpy(&v, q, 4);
    return v;
}

static uint64_t take_u64(struct rd *r)
{
    const void *q = take(r, 1, 8);
    uint64_t v = 0;
    if (q)
        memcpy(&v, q, 8);
    return v;
}

static void *copy_arr(struct rd *r, size_t count, size_t size)
{
    const void *q = take(r, count, size);
    if (!q)
        return NULL;
    size_t bytes = count * size;
    void *d = xmalloc(bytes ? bytes : 1);
    memcpy(d, q, bytes);
    return d;
}

static void fail(struct rd *r, const char *why)
{
    if (!r->bad)
        r->bad = why;
}

/* Re-interns the strings in id order (the hash table is rebuilt). */
static void read_intern(struct rd *r, struct intern *t, uint32_t max)
{
    uint32_t n = take_u32(r);
    uint64_t plen = take_u64(r);
    if (n > max || plen > r->left) {
        fail(r, "bad string table");
        return;
    }
    /* Copied out: the file's arrays are not aligned for their type. */
    struct {
        uint32_t off, len;
    } *keys = copy_arr(r, n, sizeof *keys);
    const char *pool = take(r, plen, 1);
    for (uint32_t i = 0; i < n && !r->bad; i++) {
        if ((uint64_t)keys[i].off + keys[i].len + 1 > plen || keys[i].len > 4096) {
            fail(r, "bad string table");
            break;
        }
        if (intern_add(t, pool + keys[i].off, keys[i].len, NULL) != i)
            fail(r, "duplicate string");
    }
    free(keys);
}

static char *take_str(struct rd *r, uint32_t max)
{
    uint32_t n = take_u32(r);
    if (n > max) {
        fail(r, "bad string");
        return NULL;
    }
    const char *q = take(r, n, 1);
    if (!q)
        return NULL;
    char *s = xmalloc(n + 1);
    memcpy(s, q, n);
    s[n] = '\0';
    if (strlen(s) != n)
        fail(r, "bad string");
    return s;
}

static bool slots_ok(const uint32_t *a, uint32_t n, uint32_t nslots)
{
    for (uint32_t i = 0; i < n; i++)
        if (a[i] >= nslots)
            return false;
    return true;
}

/* The layout, part 2 of 2. Fills a fresh `ix`; r->bad says what was wrong. */
static void read_index(struct rd *r, struct index *ix)
{
    struct lexicon *lx = &ix->lx;
    uint32_t nslots = take_u32(r), nfree = take_u32(r), nlive = take_u32(r), ncats = take_u32(r);
    const void *fs = take(r, 1, sizeof ix->flen_sum);
    if (r->bad)
        return;
    /* Every slot costs at least its two rows in the file. */
    if (nslots > r->left / (sizeof(struct doc) + sizeof(struct dcol)) || nfree > nslots ||
        nlive > nslots || ncats > (1u << 24))
        return fail(r, "bad counts");
    memcpy(ix->flen_sum, fs, sizeof ix->flen_sum);

    /* Terms and postings. */
    read_intern(r, &lx->term_ix, 1u << 28);
    uint32_t nterms = lx->term_ix.n;
    lx->tcap = nterms; /* allocated before any return: lex_free walks term_ix.n of them */
    lx->terms = xcalloc(nterms ? nterms : 1, sizeof *lx->terms);
    uint32_t *tn = copy_arr(r, nterms, sizeof *tn); /* aligned */
    for (uint32_t i = 0; i < nterms && !r->bad; i++) {
        struct term *t = &lx->terms[i];
        if (!tn[i])
            continue;
        if (tn[i] > nslots) {
            fail(r, "bad posting list");
            break;
        }
        t->p = copy_arr(r, tn[i], sizeof *t->p);
        if (!t->p)
            break;
        t->n = t->cap = tn[i];
        for (uint32_t k = 0; k < t->n && !r->bad; k++)
            if (t->p[k].slot >= nslots || (k && t->p[k].slot <= t->p[k - 1].slot))
                fail(r, "bad posting list");
    }
    free(tn);
    if (r->bad)
        return;

    /* Words and the trie. */
    read_intern(r, &lx->word_ix, 1u << 28);
    uint32_t nwords = lx->word_ix.n;
    lx->wcap = nwords;
    lx->words = copy_arr(r, nwords, sizeof *lx->words);
    for (uint32_t i = 0; i < nwords && !r->bad; i++)
        if (lx->words[i].term >= nterms)
            return fail(r, "bad word");
    uint32_t nnodes = take_u32(r);
    if (r->bad)
        return;
    if (nnodes == 0 || nnodes > r->left / sizeof(struct tnode))
        return fail(r, "bad trie");
    free(lx->nodes);
    lx->nodes = copy_arr(r, nnodes, sizeof *lx->nodes);
    if (!lx->nodes)
        return;
    lx->nnodes = lx->ncap = nnodes;
    for (uint32_t i = 0; i < nnodes; i++) {
        const struct tnode *t = &lx->nodes[i];
        /* A child comes after its parent (lex_trie_finish relies on it), a
         * sibling before its younger sibling: links cannot loop. */
        if ((t->child && (t->child <= i || t->child >= nnodes)) ||
            (t->sibling && t->sibling >= i) || t->word > nwords)
            return fail(r, "bad trie");
    }

    /* Brands. */
    read_intern(r, &ix->brand_ix, 1u << 24);
    uint32_t nbrands = ix->brand_ix.n;
    ix->bcap = nbrands; /* allocated before any return: index_free walks brand_ix.n */
    ix->brand_name = xcalloc(nbrands ? nbrands : 1, sizeof *ix->brand_name);
    if (r->bad)
        return;
    for (uint32_t i = 0; i < nbrands && !r->bad; i++)
        ix->brand_name[i] = take_str(r, 4096);
    if (r->bad)
        return;

    /* Slots. */
    ix->docs = copy_arr(r, nslots, sizeof *ix->docs);
    ix->col = copy_arr(r, nslots, sizeof *ix->col);
    if (r->bad)
        return;
    ix->text = xcalloc(nslots ? nslots : 1, sizeof *ix->text);
    ix->nslots = ix->scap = nslots;
    struct meta {
        uint32_t len, nwords, ob, oc, oi;
        int64_t max_price;
        uint64_t text_hash;
    } __attribute__((packed));
    const struct meta *meta = take(r, nslots, sizeof *meta);
    uint32_t live = 0;
    for (uint32_t i = 0; i < nslots && !r->bad; i++) {
        const struct doc *d = &ix->docs[i];
        struct doc_text *t = &ix->text[i];
        struct meta m;
        memcpy(&m, &meta[i], sizeof m);
        const struct dcol *cl = &ix->col[i];
        if (d->live != cl->live || (cl->live && (cl->cat >= ncats || cl->brand >= nbrands)) ||
            cl->pbucket >= PRICE_BUCKETS || cl->stars >= STAR_LEVELS)
            return fail(r, "bad column");
        if (d->live) {
            live++;
            if (d->cat >= ncats || d->brand >= nbrands || !m.len || cl->id != d->id)
                return fail(r, "bad document");
        }
        if (m.nwords > nwords || m.nwords > UINT16_MAX)
            return fail(r, "bad document");
        t->max_price = m.max_price;
        t->text_hash = m.text_hash;
        if (m.len) {
            const char *blk = take(r, m.len, 1);
            /* Offsets are 16 bits in memory (index.h), an image never at 0. */
            if (!blk || blk[m.len - 1] != '\0' || m.ob >= m.len || m.oc >= m.len ||
                m.ob > UINT16_MAX || m.oc > UINT16_MAX ||
                (m.oi != UINT32_MAX && (m.oi >= m.len || m.oi == 0 || m.oi > UINT16_MAX)))
                return fail(r, "bad document text");
            t->strings = xmalloc(m.len);
            memcpy(t->strings, blk, m.len);
            t->obrand = (uint16_t)m.ob;
            t->ocurrency = (uint16_t)m.oc;
            t->oimage = m.oi == UINT32_MAX ? 0 : (uint16_t)m.oi;
        }
        if (m.nwords || d->live) {
            t->words = copy_arr(r, m.nwords, sizeof *t->words);
            if (!t->words)
                return;
            t->nwords = (uint16_t)m.nwords;
            for (uint32_t k = 0; k < m.nwords; k++)
                if (t->words[k] >= nwords)
                    return fail(r, "bad document words");
        }
    }
    if (r->bad)
        return;
    if (live != nlive)
        return fail(r, "bad live count");
    /* A posting names a live document (a removed one's postings go with it):
     * queries and the derived counts index by its column's category and
     * brand, checked above for live slots only. */
    for (uint32_t i = 0; i < ix->lx.term_ix.n; i++)
        for (uint32_t k = 0; k < ix->lx.terms[i].n; k++)
            if (!ix->col[ix->lx.terms[i].p[k].slot].live)
                return fail(r, "a posting of a removed document");
    ix->nlive = nlive;
    ix->free_slots = copy_arr(r, nfree, sizeof *ix->free_slots);
    if (r->bad)
        return;
    ix->nfree = ix->fcap = nfree;
    if (!slots_ok(ix->free_slots, nfree, nslots))
        return fail(r, "bad free slots");
    uint64_t mask = take_u64(r), n = take_u64(r);
    if (r->bad)
        return;
    if (mask >= (1ull << 32) || (mask & (mask + 1)) || n != nlive || n >= mask + 1 ||
        mask + 1 > r->left / 12)
        return fail(r, "bad id map");
    idmap_free(&ix->by_id);
    ix->by_id.mask = mask;
    ix->by_id.n = n;
    ix->by_id.keys = copy_arr(r, mask + 1, sizeof *ix->by_id.keys);
    ix->by_id.vals = copy_arr(r, mask + 1, sizeof *ix->by_id.vals);
    if (r->bad)
        return;
    for (uint64_t i = 0; i <= mask; i++)
        if (ix->by_id.keys[i] != INT64_MIN &&
            (ix->by_id.vals[i] >= nslots || ix->docs[ix->by_id.vals[i]].id != ix->by_id.keys[i]))
            return fail(r, "bad id map");

    /* Categories. */
    ix->cats = xcalloc(ncats ? ncats : 1, sizeof *ix->cats);
    ix->ccap = ncats;
    for (uint32_t i = 0; i < ncats && !r->bad; i++) {
        struct cat *c = &ix->cats[i];
        ix->ncats = i + 1; /* so index_free frees what this one holds */
        c->id = (int64_t)take_u64(r);
        c->parent_id = (int64_t)take_u64(r);
        c->name = take_str(r, 1u << 16);
        uint32_t nd = take_u32(r), nb = take_u32(r);
        const void *pr = take(r, 1, sizeof c->prices), *sr = take(r, 1, sizeof c->stars);
        if (r->bad)
            return;
        if (nd > nlive || nb > nbrands)
            return fail(r, "bad category");
        memcpy(c->prices, pr, sizeof c->prices);
        memcpy(c->stars, sr, sizeof c->stars);
        c->docs = copy_arr(r, nd, sizeof *c->docs);
        for (int o = 0; o < NORDERS; o++)
            c->ord[o] = copy_arr(r, nd, sizeof *c->ord[o]);
        c->brands = copy_arr(r, nb, sizeof *c->brands);
        if (r->bad)
            return;
        c->ndocs = c->dcap = nd;
        c->nbrands = c->bcap = nb;
        for (int o = 0; o < NORDERS; o++)
            if (!slots_ok(c->ord[o], nd, nslots))
                return fail(r, "bad category order");
        if (!slots_ok(c->docs, nd, nslots))
            return fail(r, "bad category documents");
        for (uint32_t k = 0; k < nb; k++)
            if (c->brands[k].brand >= nbrands)
                return fail(r, "bad category brands");
        if (idmap_get(&ix->cat_by_id, c->id) != MAP_NONE)
            return fail(r, "duplicate category");
        idmap_put(&ix->cat_by_id, c->id, i);
    }
    if (!r->bad && r->left)
        fail(r, "trailing bytes");
}

/* Derived structures, rebuilt after a load rather than stored. */
static void derive(struct index *ix)
{
    index_cats_link(ix);
    ix->sb = xrealloc(ix->sb, (ix->scap ? ix->scap : 1) * sizeof *ix->sb);
    ix->price = xrealloc(ix->price, (ix->scap ? ix->scap : 1) * sizeof *ix->price);
    index_derived_build(ix); /* bitsets, title lists, frequent terms' counts (derived.c) */
}

enum shop_err search_snapshot_load(struct search *s, const char *path, struct search_stamp *stamp,
                                   struct search_snapshot_info *info, struct problem *pb)
{
    int64_t t0 = clock_mono_ns();
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return problem_set(pb, SHOP_NOT_FOUND, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return problem_set(pb, SHOP_INVALID, "%s: not a regular file", path);
    }
    size_t size = (size_t)st.st_size;
    struct snap_head h;
    if (size < sizeof h) {
        close(fd);
        return problem_set(pb, SHOP_INVALID, "%s: truncated header", path);
    }
    const unsigned char *m = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return problem_set(pb, SHOP_INTERNAL, "%s: cannot map: %s", path, strerror(errno));
    madvise((void *)m, size, MADV_SEQUENTIAL);
    memcpy(&h, m, sizeof h);
    uint32_t sizes[NSIZES];
    snap_head_sizes(sizes);
    const char *why = NULL;
    if (memcmp(h.magic, SNAP_MAGIC, sizeof h.magic))
        why = "not a search snapshot";
    else if (h.head_ck != snap_ck_bytes(&h, offsetof(struct snap_head, head_ck)))
        why = "header checksum mismatch";
    else if (h.version != SNAP_VERSION || h.head_size != sizeof h ||
             memcmp(h.sizes, sizes, sizeof sizes))
        why = "another format version";
    else if (h.build != snap_build_fingerprint() || !h.build)
        why = "written by another build of shopd";
    else if (h.payload_len != size - sizeof h)
        why = "truncated";
    else if (snap_ck_bytes(m + sizeof h, size - sizeof h) != h.payload_ck)
        why = "payload checksum mismatch";
    if (why) {
        munmap((void *)m, size);
        return problem_set(pb, SHOP_INVALID, "%s: %s", path, why);
    }
    struct index *fresh = index_new();
    struct rd r = {.p = m + sizeof h, .left = size - sizeof h};
    read_index(&r, fresh);
    munmap((void *)m, size);
    if (r.bad) {
        index_free(fresh);
        return problem_set(pb, SHOP_INVALID, "%s: %s", path, r.bad);
    }
    derive(fresh);
    *stamp = h.stamp;
    pthread_rwlock_wrlock(&s->lock);
    struct index *old = s->ix;
    s->ix = fresh;
    atomic_fetch_add(&s->version, 1);
    pthread_rwlock_unlock(&s->lock);
    index_free(old);
    s->build_ms = (clock_mono_ns() - t0) / 1000000;
    if (info) {
        info->bytes = size;
        info->ms = s->build_ms;
    }
    return SHOP_OK;
}
