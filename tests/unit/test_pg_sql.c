/* Unit tests for the PostgreSQL backend's pure parts: parameter markers and
 * the migration lists both backends carry. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "store/migrate.h"
#include "store/pg_sql.h"

static void expect(const char *sql, const char *want, int want_n)
{
    int n = -1;
    char *got = pg_translate(sql, &n);
    cr_assert_not_null(got, "%s", sql);
    cr_assert_str_eq(got, want);
    cr_assert_eq(n, want_n, "%s: %d parameters, not %d", sql, n, want_n);
    free(got);
}

Test(pg_sql, bare_markers_count_up)
{
    expect("SELECT a FROM t WHERE b = ? AND c = ?", "SELECT a FROM t WHERE b = $1 AND c = $2", 2);
    expect("SELECT 1", "SELECT 1", 0);
}

Test(pg_sql, numbered_markers_keep_their_number)
{
    expect("UPDATE s SET r = r + ?1 WHERE v = ?3 AND r >= ?1",
           "UPDATE s SET r = r + $1 WHERE v = $3 AND r >= $1", 3);
}

Test(pg_sql, a_bare_marker_follows_the_highest_so_far_as_in_sqlite)
{
    /* SQLite numbers "? ?3 ?" as 1, 3, 4. */
    expect("VALUES (?, ?3, ?)", "VALUES ($1, $3, $4)", 4);
    expect("WHERE a = ?2 AND b = ?", "WHERE a = $2 AND b = $3", 3);
}

Test(pg_sql, quoted_text_and_comments_are_left_alone)
{
    expect("SELECT '?', \"a?b\", x FROM t -- why?\nWHERE y = ?",
           "SELECT '?', \"a?b\", x FROM t -- why?\nWHERE y = $1", 1);
    expect("SELECT 'it''s ?' WHERE z = ?", "SELECT 'it''s ?' WHERE z = $1", 1);
}

Test(pg_sql, out_of_range_numbers_are_refused)
{
    int n;
    cr_assert_null(pg_translate("WHERE a = ?0", &n));
    cr_assert_null(pg_translate("WHERE a = ?1000", &n));
}

Test(pg_sql, both_backends_carry_the_same_migrations)
{
    const struct migration *a = migrations_sqlite, *b = migrations_postgres;
    for (; a->name && b->name; a++, b++) {
        cr_assert_eq(a->version, b->version, "%s against %s", a->name, b->name);
        cr_assert_str_eq(a->name, b->name);
    }
    cr_assert(!a->name && !b->name, "a migration is missing from one backend");
}
