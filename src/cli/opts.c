#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/store.h"

static void print_usage(FILE *f, const struct opt *opts, const char *usage)
{
    fprintf(f, "%s\n\noptions:\n", usage);
    for (const struct opt *o = opts; o->name; o++) {
        char left[64];
        snprintf(left, sizeof left, "%s%s", o->name,
                 o->kind == OPT_INT ? " N" : o->kind == OPT_STR ? " VALUE" : "");
        fprintf(f, "  %-24s %s\n", left, o->help);
    }
    fprintf(f, "  %-24s %s\n", "--help", "show this help");
}

bool cli_parse(int argc, char **argv, const struct opt *opts, const char *usage, int *exit_code)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_usage(stdout, opts, usage);
            *exit_code = 0;
            return false;
        }
        const char *val = NULL;
        size_t nlen = strcspn(a, "=");
        const struct opt *o = opts;
        for (; o->name; o++)
            if (strlen(o->name) == nlen && !strncmp(o->name, a, nlen))
                break;
        if (!o->name) {
            fprintf(stderr, "shopd: unknown option %s\n\n", a);
            print_usage(stderr, opts, usage);
            *exit_code = 2;
            return false;
        }
        if (o->kind == OPT_FLAG) {
            *(bool *)o->dest = true;
            continue;
        }
        if (a[nlen] == '=')
            val = a + nlen + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        if (!val) {
            fprintf(stderr, "shopd: %s needs a value\n", o->name);
            *exit_code = 2;
            return false;
        }
        if (o->kind == OPT_STR) {
            *(const char **)o->dest = val;
        } else {
            char *end;
            errno = 0;
            long long v = strtoll(val, &end, 10);
            if (errno || *end || !*val) {
                fprintf(stderr, "shopd: %s must be an integer, not %s\n", o->name, val);
                *exit_code = 2;
                return false;
            }
            *(long long *)o->dest = v;
        }
    }
    return true;
}

const char *cli_db_path(const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("SHOPD_DB");
    if (env && *env)
        return env;
    mkdir("data", 0755);
    return "data/shop.db";
}

bool cli_db_exists(const char *path)
{
    if (store_is_server_url(path) || access(path, F_OK) == 0)
        return true;
    fprintf(stderr, "shopd: %s: no such database (give --db PATH or set SHOPD_DB)\n", path);
    return false;
}
