/* pg_sql.h — the one translation the domain's SQL needs on PostgreSQL:
 * SQLite's parameter markers into PostgreSQL's.
 *
 * `?N` becomes `$N`; a bare `?` takes the number one greater than the
 * largest given so far, as SQLite numbers it ("? ?3 ?" is $1 $3 $4). Marks
 * inside string literals, quoted identifiers and comments are left alone.
 */
#ifndef SHOPD_STORE_PG_SQL_H
#define SHOPD_STORE_PG_SQL_H

/** A malloc'd copy of `sql` with PostgreSQL's markers; `*nparams` gets the
 *  highest parameter number. NULL when a `?N` is out of range (1..999). */
char *pg_translate(const char *sql, int *nparams);

#endif
