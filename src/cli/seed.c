/* seed.c — `shopd seed`: placeholder until the catalog lands. */
#include <stdio.h>

#include "cli/cli.h"

int cli_seed(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "shopd: seed is not available yet\n");
    return 1;
}
