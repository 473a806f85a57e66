/* snapshot.c — the index written to a file and read back, so that a restart
 * does not tokenize a million products again (search.h: search_snapshot_*).
 *
 * WHY
 *
 * Building the index from the database costs ~8 s at a million products
 * (the product query with its price and stock subqueries, tokenizing,
 * stemming, posting). Reading the same structures back as arrays costs a
 * fraction of a second. The caller (shop/views.c) decides whether a
 * snapshot may be used — it stamps the file with the store's change
 * position when saving and replays the changes after that position when
 * loading; this file only writes and reads the structures, and checks that
 * what it read is whole and well-formed.
 *
 * WHAT IS STORED (everything a query reads; nothing is recomputed from text)
 *
 *   - the lexicon: the terms' strings and posting lists, the words' strings
 *     and records (term, live document count, stop flag), the trie nodes
 *     with their frequency bounds;
 *   - the slots: docs[] and col[] as they are in memory, each slot's display
 *     strings block, word list, highest price and text hash; the free slots;
 *     the product id → slot map as its two arrays;
 *   - per category: id, parent id, name, its documents in slot order and in
 *     each browse order, its facet counts (brands, price buckets, stars);
 *   - the brands' folded keys and display names; nlive, flen_sum.
 *
 * Rebuilt on load, not stored: the hash tables of the string interns (terms,
 * words, brands: cheap, a few thousand strings), the category links
 * (index_cats_link) and the id → category map, the indexing scratch, and
 * the derived structures (index_derived_build: dense terms' bitsets, title
 * lists in suggestion order, frequent terms' facet counts, the packed
 * bounds; ~0.4 s of CPU at a million products). A
 * structure added to `struct index` later must be either written here
 * (write_index / read_index, the only two places that know the layout) or
 * derived in derive() after a load.
 *
 * FORMAT
 *
 * A header (magic, format version, the sizes of the in-memory records, a
 * fingerprint of the executable, the caller's stamp, the payload's length
 * and checksum, the header's own checksum), then the payload: counts and
 * raw arrays in a fixed order, host byte order (a snapshot is read by the
 * binary that wrote it: the executable fingerprint makes any other binary,
 * whose analysis or layout may differ, build afresh). The checksum is a
 * 4-lane 64-bit multiply-rotate hash over 32-byte blocks (~10 GB/s), written
 * while streaming and checked before anything is parsed.
 *
 * Saving writes PATH.tmp.PID, fsyncs it, renames it over PATH and fsyncs
 * the directory: a crash leaves the old snapshot or the new one, never half
 * of one. Loading maps the file, checks the header and checksum, then copies
 * the arrays out with every count bounded by what is left of the file and
 * every index checked against what it indexes (slots, words, terms,
 * categories, brands, trie links), so a corrupt, truncated or foreign file
 * is refused with a reason, never crashes. On refusal the live index is
 * untouched.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "search/engine.h"
#include "search/index.h"
#include "util/clock.h"
#include "util/xalloc.h"

#define SNAP_MAGIC   "shopdIX\x01"
#define SNAP_VERSION 1u
#define WBUF         (1u << 20) /* a multiple of the checksum block */

/* ---- checksum ---------------------------------------------------------------------- */

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL

struct ck {
    uint64_t v[4];
    uint64_t len;
};

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

static void ck_init(struct ck *c)
{
    c->v[0] = P1 + P2;
    c->v[1] = P2;
    c->v[2] = 0;
    c->v[3] = -P1;
    c->len = 0;
}

/* `n` must be a multiple of 32 except for the last call before ck_final. */
static void ck_blocks(struct ck *c, const unsigned char *p, size_t n)
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

static uint64_t ck_final(struct ck *c, const unsigned char *tail, size_t n)
{
    ck_blocks(c, tail, n);
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

static uint64_t ck_bytes(const void *p, size_t n)
{
    struct ck c;
    ck_init(&c);
    return ck_final(&c, p, n);
}

/* The executable's fingerprint: a snapshot is only read by the binary that
 * wrote it (analysis, weights and record layouts are the code's). 0 when
 * the executable cannot be read (then no snapshot is written or read). */
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
            exe_fp = ck_bytes(m, (size_t)st.st_size) | 1;
            munmap(m, (size_t)st.st_size);
        }
    }
    close(fd);
}

static uint64_t build_fingerprint(void)
{
    pthread_once(&exe_once, exe_fp_init);
    return exe_fp;
}

/* ---- header ------------------------------------------------------------------------- */

enum { SZ_DOC, SZ_DCOL, SZ_POSTING, SZ_WORD, SZ_TNODE, SZ_BCOUNT, SZ_STAMP, SZ_KEY, NSIZES };

struct snap_head {
    char magic[8];
    uint32_t version, head_size;
    uint64_t build;
    uint32_t sizes[NSIZES];
    struct search_stamp stamp;
    uint64_t payload_len, payload_ck;
    uint64_t head_ck; /* of the bytes above */
};

static void head_sizes(uint32_t *sz)
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

/* ---- writing ----------------------------------------------------------------------- */

struct wr {
    int fd;
    unsigned char *buf;
    size_t n;
    uint64_t total;
    struct ck ck;
    bool failed;
};

static void wr_flush(struct wr *w)
{
    size_t off = 0;
    while (off < w->n && !w->failed) {
        ssize_t k = write(w->fd, w->buf + off, w->n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            w->failed = true;
        else
            off += (size_t)k;
    }
    w->n = 0;
}

static void put(struct wr *w, const void *p, size_t len)
{
    const unsigned char *s = p;
    while (len && !w->failed) {
        size_t k = WBUF - w->n < len ? WBUF - w->n : len;
        memcpy(w->buf + w->n, s, k);
        w->n += k;
        s += k;
        len -= k;
        w->total += k;
        if (w->n == WBUF) {
            ck_blocks(&w->ck, w->buf, WBUF);
            wr_flush(w);
        }
    }
}

static void put_u32(struct wr *w, uint32_t v)
{
    put(w, &v, sizeof v);
}

static void put_u64(struct wr *w, uint64_t v)
{
    put(w, &v, sizeof v);
}

static void put_intern(struct wr *w, const struct intern *t)
{
    put_u32(w, t->n);
    put_u64(w, t->plen);
    put(w, t->keys, (size_t)t->n * sizeof t->keys[0]);
    put(w, t->pool, t->plen);
}

static void put_str(struct wr *w, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    put_u32(w, n);
    put(w, s, n);
}

/* The layout, part 1 of 2 (read_index is the other): keep them in step. */
static void write_index(struct wr *w, const struct index *ix)
{
    const struct lexicon *lx = &ix->lx;
    put_u32(w, ix->nslots);
    put_u32(w, ix->nfree);
    put_u32(w, ix->nlive);
    put_u32(w, ix->ncats);
    put(w, ix->flen_sum, sizeof ix->flen_sum);

    /* Lexicon: terms and their postings, words, the trie. */
    put_intern(w, &lx->term_ix);
    for (uint32_t i = 0; i < lx->term_ix.n; i++)
        put_u32(w, lx->terms[i].n);
    for (uint32_t i = 0; i < lx->term_ix.n; i++)
        put(w, lx->terms[i].p, (size_t)lx->terms[i].n * sizeof(struct posting));
    put_intern(w, &lx->word_ix);
    put(w, lx->words, (size_t)lx->word_ix.n * sizeof *lx->words);
    put_u32(w, lx->nnodes);
    put(w, lx->nodes, (size_t)lx->nnodes * sizeof *lx->nodes);

    /* Brands. */
    put_intern(w, &ix->brand_ix);
    for (uint32_t i = 0; i < ix->brand_ix.n; i++)
        put_str(w, ix->brand_name[i]);

    /* Slots. */
    put(w, ix->docs, (size_t)ix->nslots * sizeof *ix->docs);
    put(w, ix->col, (size_t)ix->nslots * sizeof *ix->col);
    for (uint32_t i = 0; i < ix->nslots; i++) {
        const struct doc_text *t = &ix->text[i];
        uint32_t len = 0, ob = 0, oc = 0, oi = UINT32_MAX;
        if (t->strings) {
            ob = t->obrand;
            oc = t->ocurrency;
            len = oc + (uint32_t)strlen(doc_currency(t)) + 1;
            if (t->oimage) {
                oi = t->oimage;
                len = oi + (uint32_t)strlen(doc_image(t)) + 1;
            }
        }
        uint32_t meta[5] = {len, t->nwords, ob, oc, oi};
        put(w, meta, sizeof meta);
        put(w, &t->max_price, sizeof t->max_price);
        put(w, &t->text_hash, sizeof t->text_hash);
    }
    for (uint32_t i = 0; i < ix->nslots; i++) {
        const struct doc_text *t = &ix->text[i];
        if (t->strings) {
            size_t len = (size_t)t->ocurrency + strlen(doc_currency(t)) + 1;
            if (t->oimage)
                len = (size_t)t->oimage + strlen(doc_image(t)) + 1;
            put(w, t->strings, len);
        }
        put(w, t->words, (size_t)t->nwords * sizeof *t->words);
    }
    put(w, ix->free_slots, (size_t)ix->nfree * sizeof *ix->free_slots);
    put_u64(w, ix->by_id.mask);
    put_u64(w, ix->by_id.n);
    put(w, ix->by_id.keys, (ix->by_id.mask + 1) * sizeof *ix->by_id.keys);
    put(w, ix->by_id.vals, (ix->by_id.mask + 1) * sizeof *ix->by_id.vals);

    /* Categories with their documents, orders and facet counts. */
    for (uint32_t i = 0; i < ix->ncats; i++) {
        const struct cat *c = &ix->cats[i];
        put_u64(w, (uint64_t)c->id);
        put_u64(w, (uint64_t)c->parent_id);
        put_str(w, c->name);
        put_u32(w, c->ndocs);
        put_u32(w, c->nbrands);
        put(w, c->prices, sizeof c->prices);
        put(w, c->stars, sizeof c->stars);
        put(w, c->docs, (size_t)c->ndocs * sizeof *c->docs);
        for (int o = 0; o < NORDERS; o++)
            put(w, c->ord[o], (size_t)c->ndocs * sizeof *c->ord[o]);
        put(w, c->brands, (size_t)c->nbrands * sizeof *c->brands);
    }
}

static bool fsync_dir(const char *path)
{
    char *copy = xstrdup(path);
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return false;
    bool ok = fsync(fd) == 0;
    close(fd);
    return ok;
}

enum shop_err search_snapshot_save(struct search *s, const char *path,
                                   const struct search_stamp *stamp, size_t *bytes,
                                   struct problem *pb)
{
    uint64_t build = build_fingerprint();
    if (!build)
        return problem_set(pb, SHOP_INTERNAL, "cannot read the executable to fingerprint it");
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp)
        return problem_set(pb, SHOP_INVALID, "snapshot path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return problem_set(pb, SHOP_INTERNAL, "cannot create %s: %s", tmp, strerror(errno));
    struct snap_head h;
    memset(&h, 0, sizeof h);
    struct wr w = {.fd = fd, .buf = xmalloc(WBUF)};
    ck_init(&w.ck);
    /* The header goes first as a placeholder, rewritten once the payload's
     * length and checksum are known. */
    if (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || lseek(fd, sizeof h, SEEK_SET) < 0)
        w.failed = true;
    pthread_rwlock_rdlock(&s->lock);
    write_index(&w, s->ix);
    pthread_rwlock_unlock(&s->lock);
    uint64_t payload_ck = ck_final(&w.ck, w.buf, w.n);
    wr_flush(&w);
    free(w.buf);
    memcpy(h.magic, SNAP_MAGIC, sizeof h.magic);
    h.version = SNAP_VERSION;
    h.head_size = sizeof h;
    h.build = build;
    head_sizes(h.sizes);
    h.stamp = *stamp;
    h.payload_len = w.total;
    h.payload_ck = payload_ck;
    h.head_ck = ck_bytes(&h, offsetof(struct snap_head, head_ck));
    bool ok = !w.failed && pwrite(fd, &h, sizeof h, 0) == (ssize_t)sizeof h && fsync(fd) == 0;
    int err = errno;
    ok = close(fd) == 0 && ok;
    if (ok && rename(tmp, path) != 0) {
        err = errno;
        ok = false;
    }
    if (!ok) {
        unlink(tmp);
        return problem_set(pb, SHOP_INTERNAL, "writing %s: %s", path, strerror(err));
    }
    fsync_dir(path);
    if (bytes)
        *bytes = sizeof h + w.total;
    return SHOP_OK;
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
    head_sizes(sizes);
    const char *why = NULL;
    if (memcmp(h.magic, SNAP_MAGIC, sizeof h.magic))
        why = "not a search snapshot";
    else if (h.head_ck != ck_bytes(&h, offsetof(struct snap_head, head_ck)))
        why = "header checksum mismatch";
    else if (h.version != SNAP_VERSION || h.head_size != sizeof h ||
             memcmp(h.sizes, sizes, sizeof sizes))
        why = "another format version";
    else if (h.build != build_fingerprint() || !h.build)
        why = "written by another build of shopd";
    else if (h.payload_len != size - sizeof h)
        why = "truncated";
    else if (ck_bytes(m + sizeof h, size - sizeof h) != h.payload_ck)
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

enum shop_err search_snapshot_reseal(const char *path, struct problem *pb)
{
    FILE *f = fopen(path, "r+b");
    if (!f)
        return problem_set(pb, SHOP_NOT_FOUND, "%s: %s", path, strerror(errno));
    unsigned char *data = NULL;
    size_t size = 0, cap = 0, k;
    do {
        if (size == cap)
            data = xrealloc(data, cap = cap ? cap * 2 : 1 << 20);
        k = fread(data + size, 1, cap - size, f);
        size += k;
    } while (k > 0);
    struct snap_head h;
    enum shop_err e = SHOP_OK;
    if (size < sizeof h) {
        e = problem_set(pb, SHOP_INVALID, "%s: shorter than a header", path);
    } else {
        memcpy(&h, data, sizeof h);
        h.payload_len = size - sizeof h;
        h.payload_ck = ck_bytes(data + sizeof h, size - sizeof h);
        h.head_ck = ck_bytes(&h, offsetof(struct snap_head, head_ck));
        if (fseek(f, 0, SEEK_SET) != 0 || fwrite(&h, sizeof h, 1, f) != 1)
            e = problem_set(pb, SHOP_INTERNAL, "%s: cannot rewrite the header", path);
    }
    free(data);
    fclose(f);
    return e;
}
