/* cli.h — the verbs of the shopd command (OPS-6). Each returns the exit
 * status: 0 success, 1 failure, 2 bad usage.
 */
#ifndef SHOP_CLI_CLI_H
#define SHOP_CLI_CLI_H

#include <stdbool.h>

int cli_serve(int argc, char **argv);
int cli_migrate(int argc, char **argv);
int cli_seed(int argc, char **argv);
int cli_user(int argc, char **argv);
int cli_import(int argc, char **argv);
int cli_export(int argc, char **argv);
int cli_backup(int argc, char **argv);
int cli_doctor(int argc, char **argv);
int cli_analytics(int argc, char **argv);

/* ---- option parsing shared by the verbs ---- */

enum opt_kind { OPT_STR, OPT_INT, OPT_FLAG };

struct opt {
    const char *name; /* "--port" */
    enum opt_kind kind;
    void *dest;       /* const char **, long long *, or bool * */
    const char *help;
};

/** Parses argv[1..] against `opts` (NULL-name terminated). Prints `usage`
 *  and the options for --help (returns 0 via *exit_code) or on an error
 *  (returns 2). Returns true when the verb should run. */
bool cli_parse(int argc, char **argv, const struct opt *opts, const char *usage, int *exit_code);

/** The database path: --db, else $SHOPD_DB, else ./data/shop.db (whose
 *  directory is created). */
const char *cli_db_path(const char *flag);

/** For a verb that reads a shop that exists (backup, doctor, export,
 *  analytics): opening would create a missing SQLite file, and a mistyped
 *  --db would then back up, check or export an empty database. False (and
 *  a message on stderr; exit 2) when `path` is a file that is not there. */
bool cli_db_exists(const char *path);

#endif
