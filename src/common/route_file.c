/*
 * route_file: the route files (the *.yaml files of routes_dir). Placeholder until
 * the YAML loader lands: the implicit route alone.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/route.h"

int
route_set_load(struct route_set *rs, const struct er_config *cfg, FILE *errs)
{
	memset(rs, 0, sizeof(*rs));
	rs->v = calloc(1, sizeof(*rs->v));
	if (rs->v == NULL || route_implicit(&rs->v[0], cfg) < 0) {
		free(rs->v);
		rs->v = NULL;
		fprintf(errs, "routes: out of memory\n");
		return 1;
	}
	rs->n = 1;
	rs->implicit = 1;
	return 0;
}

void
route_set_dump(const struct route_set *rs, FILE *out)
{
	for (size_t i = 0; i < rs->n; i++)
		fprintf(out, "route %s: queue %s -> topic %s\n", rs->v[i].name, rs->v[i].queue,
		    rs->v[i].topic);
}
