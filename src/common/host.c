/*
 * host: the instance name, set once at start, or gethostname(2) read on
 * first use; it never changes afterwards, so every identity a worker
 * builds agrees.
 */
#include "autoconf.h"

#include <stdio.h>
#include <unistd.h>

#include "common/host.h"

static char name[64];

void
host_set_instance(const char *instance)
{
	if (instance != NULL && instance[0] != '\0')
		snprintf(name, sizeof(name), "%s", instance);
}

const char *
host_name(void)
{
	if (name[0] == '\0') {
		if (gethostname(name, sizeof(name)) < 0)
			snprintf(name, sizeof(name), "localhost");
		name[sizeof(name) - 1] = '\0';
	}
	return name;
}
