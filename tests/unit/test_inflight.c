/* Unit tests for the notification engine's in-flight set (work/inflight.c):
 * adds are idempotent, deletes leave every other id findable (the backward
 * shift), and a long random run of adds and deletes agrees with a plain
 * array kept beside it. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "work/inflight.h"

Test(inflight, adds_once_and_deletes)
{
    struct inflight s;
    inflight_init(&s, 10);
    inflight_add(&s, 42);
    inflight_add(&s, 42);
    cr_assert_eq(s.n, 1);
    cr_assert(inflight_has(&s, 42));
    cr_assert_not(inflight_has(&s, 43));
    inflight_del(&s, 43); /* absent: nothing happens */
    cr_assert_eq(s.n, 1);
    inflight_del(&s, 42);
    cr_assert_eq(s.n, 0);
    cr_assert_not(inflight_has(&s, 42));
    inflight_free(&s);
}

/* Ids that share a home slot form one run; deleting from its middle must
 * not cut off the ids after the hole. */
Test(inflight, a_delete_inside_a_run_keeps_the_rest)
{
    struct inflight s;
    inflight_init(&s, 16);
    int64_t ids[200];
    int n = 0;
    for (int64_t id = 1; n < 200; id++)
        ids[n++] = id;
    for (int i = 0; i < n; i++)
        inflight_add(&s, ids[i]);
    for (int i = 0; i < n; i += 3)
        inflight_del(&s, ids[i]);
    for (int i = 0; i < n; i++)
        cr_assert_eq(inflight_has(&s, ids[i]), i % 3 != 0, "id %lld", (long long)ids[i]);
    inflight_free(&s);
}

Test(inflight, random_adds_and_deletes_agree_with_a_reference)
{
    enum { IDS = 3000, STEPS = 200000 };
    struct inflight s;
    inflight_init(&s, IDS);
    static bool ref[IDS + 1];
    size_t count = 0;
    srand(7);
    for (int step = 0; step < STEPS; step++) {
        int64_t id = 1 + rand() % IDS;
        if (rand() % 2) {
            inflight_add(&s, id);
            count += !ref[id];
            ref[id] = true;
        } else {
            inflight_del(&s, id);
            count -= ref[id];
            ref[id] = false;
        }
        if (step % 997 == 0)
            for (int64_t k = 1; k <= IDS; k++)
                cr_assert_eq(inflight_has(&s, k), ref[k], "id %lld at step %d", (long long)k, step);
    }
    cr_assert_eq(s.n, count);
    inflight_free(&s);
}
