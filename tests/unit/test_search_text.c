/* Unit tests for the search engine's building blocks: tokenizer, folding,
 * stop words, stemming, the hash maps, the lexicon (postings, prefix
 * completion, typo correction) and the result cache. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "search/cache.h"
#include "search/lexicon.h"
#include "search/maps.h"
#include "search/text.h"

/* Tokens of `s` joined by '|'. */
static char *toks(const char *s)
{
    static char out[1024];
    struct text_iter it;
    char tok[TEXT_TOKEN_MAX + 1];
    size_t n, used = 0;
    out[0] = '\0';
    text_iter_init(&it, s, strlen(s));
    while ((n = text_next(&it, tok, NULL)) > 0) {
        if (used)
            out[used++] = '|';
        memcpy(out + used, tok, n);
        used += n;
        out[used] = '\0';
    }
    return out;
}

Test(search_text, splits_on_punctuation_and_folds_case)
{
    cr_assert_str_eq(toks("Sony WH-1000XM5 Wireless Headphones, Noise-Cancelling (Black)"),
                     "sony|wh|1000xm5|wireless|headphones|noise|cancelling|black");
    cr_assert_str_eq(toks("  \t"), "");
    cr_assert_str_eq(toks("a/b\\c_d.e"), "a|b|c|d|e");
}

Test(search_text, folds_accents_and_scripts)
{
    cr_assert_str_eq(toks("Crème Brûlée — Straße Æsir ŁÓDŹ"), "creme|brulee|strasse|aesir|lodz");
    cr_assert_str_eq(toks("ПРИВЕТ Ёж ΑΒΓ"), "привет|ёж|αβγ");
    cr_assert_str_eq(toks("ＳＯＮＹ　ｔｖ"), "sony|tv"); /* fullwidth, ideographic space */
    cr_assert_str_eq(toks("e\xcc\x81"
                          "clair"),
                     "eclair"); /* combining acute dropped */
    cr_assert_str_eq(toks("日本語 テスト"), "日本語|テスト");
    cr_assert_str_eq(toks("cool😀cat ★ 5€"), "cool|cat|5");
}

Test(search_text, apostrophes_join_letters)
{
    cr_assert_str_eq(toks("Men's Levi’s 'quoted' rock'n'roll"), "mens|levis|quoted|rocknroll");
}

Test(search_text, invalid_utf8_separates_words)
{
    cr_assert_str_eq(toks("abc\xff"
                          "def\xc3"),
                     "abc|def");
    cr_assert_str_eq(toks("x\xed\xa0\x80y"), "x|y"); /* a surrogate is not UTF-8 */
    cr_assert_str_eq(toks("\xc0\xafz"), "z");        /* overlong */
}

Test(search_text, long_tokens_are_cut_at_a_code_point)
{
    char in[200];
    memset(in, 'a', 100);
    memcpy(in + 100, " b", 3);
    char *t = toks(in);
    cr_assert_eq(strlen(t), TEXT_TOKEN_MAX + 2);
    cr_assert_str_eq(t + TEXT_TOKEN_MAX, "|b");
    /* 2-byte letters: 16 fit; the 17th is not split. */
    char ru[200];
    for (int i = 0; i < 20; i++)
        memcpy(ru + 2 * i, "ж", 2);
    ru[40] = '\0';
    t = toks(ru);
    cr_assert_eq(strlen(t), 32);
}

Test(search_text, partial_flag_marks_an_unfinished_last_word)
{
    struct text_iter it;
    char tok[TEXT_TOKEN_MAX + 1];
    bool partial;
    text_iter_init(&it, "sony headph", 11);
    text_next(&it, tok, &partial);
    cr_assert(!partial);
    text_next(&it, tok, &partial);
    cr_assert(partial);
    cr_assert_str_eq(tok, "headph");
    text_iter_init(&it, "sony ", 5);
    text_next(&it, tok, &partial);
    cr_assert(!partial);
}

Test(search_text, fold_joins_tokens)
{
    char out[64];
    cr_assert_eq(text_fold("  The SONY,  Bravia!", 20, out, sizeof out), 15);
    cr_assert_str_eq(out, "the sony bravia");
    cr_assert_eq(text_fold("abc def", 7, out, 5), 3); /* a token that does not fit is left out */
    cr_assert_str_eq(out, "abc");
}

Test(search_text, stop_words_and_digits)
{
    cr_assert(text_is_stopword("the", 3));
    cr_assert(text_is_stopword("with", 4));
    cr_assert(!text_is_stopword("thermo", 6));
    cr_assert(text_is_stopword("thermo", 3), "only the first len bytes count");
    cr_assert(!text_is_stopword("sony", 4));
    cr_assert(!text_is_stopword("", 0));
    cr_assert(text_has_digit("x5", 2));
    cr_assert(!text_has_digit("xs", 2));
    cr_assert_eq(text_codepoints("ёж", 4), 2);
}

Test(search_text, stems_english_and_leaves_model_numbers)
{
    struct text_stemmers *sp = text_stemmers_new();
    char out[TEXT_TOKEN_MAX + 1];
    text_stem(sp, "headphones", 10, out);
    cr_assert_str_eq(out, "headphon");
    text_stem(sp, "headphone", 9, out);
    cr_assert_str_eq(out, "headphon");
    text_stem(sp, "running", 7, out);
    cr_assert_str_eq(out, "run");
    text_stem(sp, "batteries", 9, out);
    char b2[TEXT_TOKEN_MAX + 1];
    text_stem(sp, "battery", 7, b2);
    cr_assert_str_eq(out, b2);
    text_stem(sp, "1000xm5s", 8, out);
    cr_assert_str_eq(out, "1000xm5s");
    text_stem(sp, "tv", 2, out);
    cr_assert_str_eq(out, "tv");
    text_stemmers_free(sp);
}

/* ---- maps --------------------------------------------------------------------------- */

Test(search_maps, intern_assigns_dense_stable_ids)
{
    struct intern t;
    intern_init(&t);
    char buf[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(buf, sizeof buf, "w%d", i);
        int added;
        cr_assert_eq(intern_add(&t, buf, (size_t)n, &added), (uint32_t)i);
        cr_assert(added);
    }
    int added;
    cr_assert_eq(intern_add(&t, "w42", 3, &added), 42u);
    cr_assert(!added);
    cr_assert_eq(intern_find(&t, "w4999", 5), 4999u);
    cr_assert_eq(intern_find(&t, "nope", 4), MAP_NONE);
    size_t len;
    cr_assert_str_eq(intern_str(&t, 1234, &len), "w1234");
    cr_assert_eq(len, 5);
    intern_free(&t);
}

Test(search_maps, idmap_matches_a_reference_under_random_puts_and_deletes)
{
    struct idmap m;
    idmap_init(&m);
    enum { N = 4000 };
    static uint32_t ref[N];
    for (int i = 0; i < N; i++)
        ref[i] = MAP_NONE;
    srand(42);
    for (int step = 0; step < 100000; step++) {
        int k = rand() % N;
        int64_t key = (int64_t)k * 7919 - 1000; /* negatives too */
        if (rand() % 3 == 0) {
            idmap_del(&m, key);
            ref[k] = MAP_NONE;
        } else {
            uint32_t v = (uint32_t)rand();
            if (v == MAP_NONE)
                v = 0;
            idmap_put(&m, key, v);
            ref[k] = v;
        }
    }
    size_t live = 0;
    for (int k = 0; k < N; k++) {
        cr_assert_eq(idmap_get(&m, (int64_t)k * 7919 - 1000), ref[k], "key %d", k);
        live += ref[k] != MAP_NONE;
    }
    cr_assert_eq(m.n, live);
    idmap_free(&m);
}

/* ---- lexicon -------------------------------------------------------------------------- */

static uint32_t add_word(struct lexicon *lx, struct text_stemmers *sp, const char *w, int docs)
{
    uint32_t id = lex_word_add(lx, sp, w, strlen(w));
    lex_word_count(lx, id, docs, true);
    return id;
}

static const char *word(struct lexicon *lx, uint32_t id)
{
    return id == MAP_NONE ? "(none)" : intern_str(&lx->word_ix, id, NULL);
}

Test(search_lexicon, postings_stay_sorted_and_seek_gallops)
{
    struct term t = {0};
    uint8_t tf[NFIELDS] = {1, 0, 0, 2};
    for (uint32_t s = 0; s < 1000; s += 2)
        lex_posting_add(&t, s, tf);
    lex_posting_add(&t, 501, tf); /* out of order: inserted in place */
    lex_posting_add(&t, 1, tf);
    for (uint32_t i = 1; i < t.n; i++)
        cr_assert_lt(t.p[i - 1].slot, t.p[i].slot);
    cr_assert_eq(t.n, 502);
    uint32_t at = lex_posting_seek(&t, 0, 501);
    cr_assert_eq(t.p[at].slot, 501);
    at = lex_posting_seek(&t, 10, 777);
    cr_assert_eq(t.p[at].slot, 778);
    cr_assert_eq(lex_posting_seek(&t, 0, 5000), t.n);
    lex_posting_del(&t, 501);
    lex_posting_del(&t, 3); /* absent: nothing */
    cr_assert_eq(t.n, 501);
    cr_assert_eq(t.p[lex_posting_seek(&t, 0, 501)].slot, 502);
    free(t.p);
}

Test(search_lexicon, words_share_the_term_of_their_stem)
{
    struct lexicon lx;
    struct text_stemmers *sp = text_stemmers_new();
    lex_init(&lx);
    uint32_t a = add_word(&lx, sp, "headphones", 1), b = add_word(&lx, sp, "headphone", 1);
    cr_assert_neq(a, b);
    cr_assert_eq(lx.words[a].term, lx.words[b].term);
    cr_assert_eq(lex_term_find(&lx, "headphon", 8), lx.words[a].term);
    cr_assert(lx.words[add_word(&lx, sp, "the", 0)].stop);
    lex_free(&lx);
    text_stemmers_free(sp);
}

Test(search_lexicon, prefix_completion_prefers_frequent_words)
{
    struct lexicon lx;
    struct text_stemmers *sp = text_stemmers_new();
    lex_init(&lx);
    add_word(&lx, sp, "headphones", 50);
    add_word(&lx, sp, "headset", 80);
    add_word(&lx, sp, "heater", 5);
    add_word(&lx, sp, "head", 20);
    add_word(&lx, sp, "hedge", 100);
    add_word(&lx, sp, "heavy", 0); /* no live document: never offered */
    uint32_t out[8];
    int n = lex_prefix(&lx, "hea", 3, out, 8);
    cr_assert_eq(n, 4);
    cr_assert_str_eq(word(&lx, out[0]), "headset");
    cr_assert_str_eq(word(&lx, out[1]), "headphones");
    cr_assert_str_eq(word(&lx, out[2]), "head");
    cr_assert_str_eq(word(&lx, out[3]), "heater");
    cr_assert_eq(lex_prefix(&lx, "hea", 3, out, 2), 2);
    cr_assert_eq(lex_prefix(&lx, "xyz", 3, out, 8), 0);
    /* A bulk build sets the bounds once at the end. */
    add_word(&lx, sp, "heap", 0);
    lex_word_count(&lx, lex_word_find(&lx, "heap", 4), 500, false);
    lex_trie_finish(&lx);
    cr_assert_eq(lex_prefix(&lx, "he", 2, out, 1), 1);
    cr_assert_str_eq(word(&lx, out[0]), "heap");
    lex_free(&lx);
    text_stemmers_free(sp);
}

Test(search_lexicon, typo_correction_fewest_edits_then_most_frequent)
{
    struct lexicon lx;
    struct text_stemmers *sp = text_stemmers_new();
    lex_init(&lx);
    add_word(&lx, sp, "headphones", 10);
    add_word(&lx, sp, "keyboard", 30);
    add_word(&lx, sp, "kettle", 3);
    add_word(&lx, sp, "settle", 40);
    add_word(&lx, sp, "cable", 5);
    add_word(&lx, sp, "table", 9);
    int d = -1;
    cr_assert_str_eq(word(&lx, lex_correct(&lx, "hedphones", 9, 2, &d)), "headphones");
    cr_assert_eq(d, 1);
    cr_assert_str_eq(word(&lx, lex_correct(&lx, "haedphones", 10, 2, &d)), "headphones");
    cr_assert_eq(d, 1, "a transposition is one edit");
    cr_assert_str_eq(word(&lx, lex_correct(&lx, "hedphnes", 8, 2, &d)), "headphones");
    cr_assert_eq(d, 2);
    cr_assert_eq(lex_correct(&lx, "hedphnes", 8, 1, &d), MAP_NONE);
    cr_assert_str_eq(word(&lx, lex_correct(&lx, "keybord", 7, 2, &d)), "keyboard");
    /* kettle vs settle: both one edit from "xettle"; the frequent one wins. */
    cr_assert_str_eq(word(&lx, lex_correct(&lx, "xettle", 6, 1, &d)), "settle");
    /* but fewer edits beat frequency */
    cr_assert_str_eq(word(&lx, lex_correct(&lx, "kettel", 6, 2, &d)), "kettle");
    /* equal distance and frequency: alphabetical */
    add_word(&lx, sp, "cabls", 4); /* now cable 5, table 9 */
    cr_assert_str_eq(word(&lx, lex_correct(&lx, "xable", 5, 1, &d)), "table");
    cr_assert_eq(lex_correct(&lx, "zzzzzz", 6, 2, &d), MAP_NONE);
    lex_free(&lx);
    text_stemmers_free(sp);
}

/* ---- result cache ---------------------------------------------------------------------- */

Test(search_cache, answers_only_for_the_current_version)
{
    struct rcache *c = rcache_new(100, 1 << 20);
    struct rc_blob *b = rcache_put(c, "k", 1, 7, 0, "hello", 5, 42, "a note");
    cr_assert_str_eq(rc_blob_note(b), "a note");
    rc_blob_release(b);
    cr_assert_null(rcache_get(c, "k", 1, 8, 0), "a newer catalog misses");
    cr_assert_null(rcache_get(c, "k", 1, 7, 0), "and the stale entry is gone");
    rc_blob_release(rcache_put(c, "k", 1, 9, 0, "world", 5, 1, NULL));
    struct rc_blob *g = rcache_get(c, "k", 1, 9, 0);
    cr_assert_not_null(g);
    size_t len;
    int64_t aux;
    cr_assert_eq(memcmp(rc_blob_data(g, &len, &aux), "world", 5), 0);
    cr_assert_eq(aux, 1);
    /* An older answer does not replace a newer one. */
    rc_blob_release(rcache_put(c, "k", 1, 8, 0, "stale", 5, 0, NULL));
    struct rc_blob *g2 = rcache_get(c, "k", 1, 9, 0);
    cr_assert_eq(memcmp(rc_blob_data(g2, NULL, NULL), "world", 5), 0);
    rc_blob_release(g2);
    rcache_free(c); /* g is still ours and valid */
    cr_assert_eq(memcmp(rc_blob_data(g, NULL, NULL), "world", 5), 0);
    rc_blob_release(g);
}

Test(search_cache, expires_and_evicts_least_recently_used)
{
    struct rcache *c = rcache_new(16 * 4, 1 << 20); /* 5 entries per shard */
    rc_blob_release(rcache_put(c, "t", 1, 1, 1000, "x", 1, 0, NULL));
    cr_assert_null(rcache_get(c, "t", 1, 1, 1000), "expired");
    char key[16];
    for (int i = 0; i < 2000; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        rc_blob_release(rcache_put(c, key, (size_t)n, 1, 0, "v", 1, 0, NULL));
    }
    struct rcache_stats st;
    rcache_stats(c, &st);
    cr_assert_leq(st.entries, 16 * 5);
    struct rc_blob *last = rcache_get(c, "k1999", 5, 1, 0);
    cr_assert_not_null(last, "the most recent entry stays");
    rc_blob_release(last);
    cr_assert_null(rcache_get(c, "k0", 2, 1, 0));
    rcache_free(c);
}
