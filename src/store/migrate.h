/* migrate.h — versioned schema migrations embedded in the binary.
 *
 * Each file src/store/migrations/<backend>/NNNN_name.sql becomes one entry
 * (scripts/embed-sql.sh, run by the Makefile). A migration is applied once,
 * in its own transaction, and recorded in schema_migrations. Never edit a
 * migration that has landed: add the next one.
 */
#ifndef SHOP_STORE_MIGRATE_H
#define SHOP_STORE_MIGRATE_H

struct migration {
    int version;
    const char *name;
    const char *sql;
};

/** Terminated by an entry with name == NULL. The two lists carry the same
 *  versions: a migration is written once per backend. */
extern const struct migration migrations_sqlite[];
extern const struct migration migrations_postgres[];

#endif
