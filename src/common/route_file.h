/*
 * route_file: the route files, *.yaml files of routes_dir holding routes
 * (event-relay-routes(5)). route_set_load (route.h) reads the directory;
 * route_file_parse reads one file from memory, for it and for tests and
 * fuzzing.
 */
#ifndef ER_ROUTE_FILE_H
#define ER_ROUTE_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "common/route.h"

struct er_config;

/* Largest route file read (bytes). */
#define ROUTE_FILE_MAX_BYTES (1024 * 1024)

/*
 * Parses the route file `name` (used in messages and as route.file) from
 * buf[0..len) and appends its routes to `into`, checking them against
 * the routes already there as well (names, queues and dead-letter
 * queues across files). Defaults come from `cfg`. Writes every error
 * ("name:line:column: message") to `errs` and returns how many there
 * were. On errors `into` may hold partly read routes: the caller
 * discards the set (route_set_free).
 */
int route_file_parse(const char *name, const void *buf, size_t len, const struct er_config *cfg,
    struct route_set *into, FILE *errs);

#endif
