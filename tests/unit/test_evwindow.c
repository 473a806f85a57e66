/* Unit tests for the consumers' shared window of outbox events
 * (work/evwindow.c): it answers only for positions whose following events
 * it holds, in order; reads that overlap it extend it without doubling
 * events; a read behind it leaves it alone; past its capacity the oldest go. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"
#include "work/evwindow.h"

/* Events with ids from..to in one transaction (txid 7), as a read returns
 * them (strings malloc'd: the window takes them). */
static struct window_event *events(int64_t from, int64_t to)
{
    struct window_event *v = xcalloc((size_t)(to - from + 1), sizeof *v);
    for (int64_t id = from; id <= to; id++) {
        char payload[32];
        snprintf(payload, sizeof payload, "{\"n\":%lld}", (long long)id);
        v[id - from] = (struct window_event){.pos = {7, id},
                                             .topic = xstrdup(id % 2 ? "order.placed" : "stock.changed"),
                                             .payload = xstrdup(payload),
                                             .aggregate_id = id * 10,
                                             .created_at = id * 100};
    }
    return v;
}

static void add(struct evwindow *w, int64_t after_id, int64_t from, int64_t to)
{
    struct window_event *v = events(from, to);
    evwindow_add(w, (struct outbox_pos){7, after_id}, v, (int)(to - from + 1));
    free(v);
}

struct got {
    int64_t ids[64];
    int n;
};

static void take(void *cls, const struct window_event *e)
{
    struct got *g = cls;
    char payload[32];
    snprintf(payload, sizeof payload, "{\"n\":%lld}", (long long)e->pos.id);
    cr_assert_str_eq(e->payload, payload);
    cr_assert_eq(e->aggregate_id, e->pos.id * 10);
    cr_assert_eq(e->created_at, e->pos.id * 100);
    g->ids[g->n++] = e->pos.id;
}

/* The ids the window gives after `after_id` (at most max); -1: not held. */
static int read_ids(struct evwindow *w, int64_t after_id, int max, struct got *g)
{
    memset(g, 0, sizeof *g);
    return evwindow_read(w, (struct outbox_pos){7, after_id}, max, take, g);
}

static void assert_ids(const struct got *g, int64_t from, int64_t to)
{
    cr_assert_eq(g->n, to - from + 1, "%d events, not %lld", g->n, (long long)(to - from + 1));
    for (int i = 0; i < g->n; i++)
        cr_assert_eq(g->ids[i], from + i);
}

Test(evwindow, answers_only_for_what_it_holds)
{
    struct evwindow *w = evwindow_new(16);
    struct got g;
    cr_assert_eq(read_ids(w, 0, 10, &g), -1, "an empty window holds nothing");
    add(w, 4, 5, 9); /* a read after event 4 returned 5..9 */
    cr_assert_eq(read_ids(w, 4, 10, &g), 5);
    assert_ids(&g, 5, 9);
    cr_assert_eq(read_ids(w, 6, 2, &g), 2, "at most max");
    assert_ids(&g, 7, 8);
    cr_assert_eq(read_ids(w, 9, 10, &g), 0, "after the last: nothing yet");
    cr_assert_eq(read_ids(w, 3, 10, &g), -1, "before the window: the database");
    cr_assert_eq(read_ids(w, 12, 10, &g), -1, "past the window: the database");
    evwindow_free(w);
}

Test(evwindow, overlapping_reads_extend_it_once)
{
    struct evwindow *w = evwindow_new(16);
    struct got g;
    add(w, 4, 5, 9);
    add(w, 9, 10, 12);  /* the head reads on */
    add(w, 7, 8, 14);   /* a worker behind the head read 8..14 meanwhile */
    add(w, 14, 15, 14); /* an empty read adds nothing */
    cr_assert_eq(read_ids(w, 4, 64, &g), 10);
    assert_ids(&g, 5, 14);
    add(w, 1, 2, 6); /* a read behind the window leaves it as it is */
    cr_assert_eq(read_ids(w, 1, 64, &g), -1);
    cr_assert_eq(read_ids(w, 4, 64, &g), 10);
    assert_ids(&g, 5, 14);
    evwindow_free(w);
}

Test(evwindow, a_read_apart_from_it_starts_it_again)
{
    struct evwindow *w = evwindow_new(16);
    struct got g;
    add(w, 4, 5, 9);
    add(w, 20, 21, 23);
    cr_assert_eq(read_ids(w, 4, 64, &g), -1);
    cr_assert_eq(read_ids(w, 20, 64, &g), 3);
    assert_ids(&g, 21, 23);
    evwindow_free(w);
}

Test(evwindow, the_oldest_go_past_its_capacity)
{
    struct evwindow *w = evwindow_new(8);
    struct got g;
    add(w, 0, 1, 6);
    add(w, 6, 7, 12); /* 12 events in a window of 8: 1..4 go */
    cr_assert_eq(read_ids(w, 0, 64, &g), -1);
    cr_assert_eq(read_ids(w, 3, 64, &g), -1);
    cr_assert_eq(read_ids(w, 4, 64, &g), 8, "the window now starts after event 4");
    assert_ids(&g, 5, 12);
    cr_assert_eq(read_ids(w, 9, 64, &g), 3);
    assert_ids(&g, 10, 12);
    evwindow_free(w);
}
