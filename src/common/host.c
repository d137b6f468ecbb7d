/*
 * host: caches gethostname(2). The name is read on first use and never
 * changes afterwards, so every identity a worker builds agrees.
 */
#include "autoconf.h"

#include <stdio.h>
#include <unistd.h>

#include "common/host.h"

const char *
host_name(void)
{
	static char name[64];

	if (name[0] == '\0') {
		if (gethostname(name, sizeof(name)) < 0)
			snprintf(name, sizeof(name), "localhost");
		name[sizeof(name) - 1] = '\0';
	}
	return name;
}
