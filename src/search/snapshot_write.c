/* snapshot_write.c — the search index written to a snapshot file
 * (search_snapshot_save): the arrays streamed through one buffer and
 * checksummed on the way into a temporary file, which is then renamed over
 * the old snapshot; and search_snapshot_reseal, the tests' way to get a
 * file damaged on purpose past the checksums. The format and why it is so:
 * the essay of snapshot_int.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "search/engine.h"
#include "search/index.h"
#include "search/snapshot_int.h"
#include "util/xalloc.h"

#define WBUF (1u << 20) /* a multiple of the checksum block */

/* ---- writing ----------------------------------------------------------------------- */

struct wr {
    int fd;
    unsigned char *buf;
    size_t n;
    uint64_t total;
    struct snap_ck ck;
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
            snap_ck_blocks(&w->ck, w->buf, WBUF);
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
    uint64_t build = snap_build_fingerprint();
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
    snap_ck_init(&w.ck);
    /* The header goes first as a placeholder, rewritten once the payload's
     * length and checksum are known. */
    if (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || lseek(fd, sizeof h, SEEK_SET) < 0)
        w.failed = true;
    pthread_rwlock_rdlock(&s->lock);
    write_index(&w, s->ix);
    pthread_rwlock_unlock(&s->lock);
    uint64_t payload_ck = snap_ck_final(&w.ck, w.buf, w.n);
    wr_flush(&w);
    free(w.buf);
    memcpy(h.magic, SNAP_MAGIC, sizeof h.magic);
    h.version = SNAP_VERSION;
    h.head_size = sizeof h;
    h.build = build;
    snap_head_sizes(h.sizes);
    h.stamp = *stamp;
    h.payload_len = w.total;
    h.payload_ck = payload_ck;
    h.head_ck = snap_ck_bytes(&h, offsetof(struct snap_head, head_ck));
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
        h.payload_ck = snap_ck_bytes(data + sizeof h, size - sizeof h);
        h.head_ck = snap_ck_bytes(&h, offsetof(struct snap_head, head_ck));
        if (fseek(f, 0, SEEK_SET) != 0 || fwrite(&h, sizeof h, 1, f) != 1)
            e = problem_set(pb, SHOP_INTERNAL, "%s: cannot rewrite the header", path);
    }
    free(data);
    fclose(f);
    return e;
}
