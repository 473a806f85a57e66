/* snapshot_int.h — the search index written to a file and read back, so
 * that a restart does not tokenize a million products again (search.h:
 * search_snapshot_*): the format, and what its two sides share — the
 * header, the checksum, the executable's fingerprint. snapshot_write.c
 * writes a snapshot, snapshot.c reads one back. Not for use outside them.
 *
 * WHY
 *
 * Building the index from the database costs ~8 s at a million products
 * (the product query with its price and stock subqueries, tokenizing,
 * stemming, posting). Reading the same structures back as arrays costs a
 * fraction of a second. The caller (shop/views.c) decides whether a
 * snapshot may be used — it stamps the file with the store's change
 * position when saving and replays the changes after that position when
 * loading; these files only write and read the structures, and check that
 * what they read is whole and well-formed.
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
 * structure added to `struct index` later must be either written
 * (write_index in snapshot_write.c / read_index in snapshot.c, the only two
 * places that know the layout) or derived in derive() (snapshot.c) after a
 * load.
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
#ifndef SHOP_SEARCH_SNAPSHOT_INT_H
#define SHOP_SEARCH_SNAPSHOT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "search/search.h"

#define SNAP_MAGIC   "shopdIX\x01"
#define SNAP_VERSION 1u

/* ---- checksum (snapshot.c) ---------------------------------------------------------- */

/* A checksum under way: fed while streaming, block by block. */
struct snap_ck {
    uint64_t v[4];
    uint64_t len;
};

/* Starts a checksum. */
void snap_ck_init(struct snap_ck *c);
/* Adds bytes; `n` must be a multiple of 32 except for the last call before snap_ck_final. */
void snap_ck_blocks(struct snap_ck *c, const unsigned char *p, size_t n);
/* Adds the last `n` bytes and returns the checksum. */
uint64_t snap_ck_final(struct snap_ck *c, const unsigned char *tail, size_t n);
/* The checksum of `n` bytes in one go. */
uint64_t snap_ck_bytes(const void *p, size_t n);
/* This executable's fingerprint; 0 when it cannot be read (no snapshot written or read). */
uint64_t snap_build_fingerprint(void);

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

/* The sizes of the in-memory records a snapshot copies, as this build has them. */
void snap_head_sizes(uint32_t *sz);

#endif
