/*
 * module_load: finds and loads worker.so, in a worker process or in a
 * short-lived child of the master, never in the master itself.
 *
 * The module is looked for next to the executable first (a build tree:
 * src/event-relayd and src/worker.so), then in PKGLIBDIR (installed).
 */
#include "autoconf.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "master/module_load.h"
#include "worker/module.h"

static int
next_to_executable(char *buf, size_t bufsz)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	if ((slash = strrchr(exe, '/')) == NULL)
		return -1;
	*slash = '\0';
	if ((size_t)snprintf(buf, bufsz, "%s/%s", exe, WORKER_MODULE_FILE) >= bufsz)
		return -1;
	return access(buf, R_OK);
}

const struct worker_module *
module_load(char *err, size_t errsz)
{
	char path[PATH_MAX];
	const struct worker_module *m;
	void *h;

	if (next_to_executable(path, sizeof(path)) < 0)
		snprintf(path, sizeof(path), "%s/%s", PKGLIBDIR, WORKER_MODULE_FILE);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		snprintf(err, errsz, "cannot load the worker module: %s", dlerror());
		return NULL;
	}
	m = dlsym(h, WORKER_MODULE_SYMBOL);
	if (m == NULL) {
		snprintf(err, errsz, "%s: no %s", path, WORKER_MODULE_SYMBOL);
		return NULL;
	}
	if (strcmp(m->version, PACKAGE_VERSION) != 0) {
		snprintf(err, errsz, "%s is version %s, event-relayd is %s", path, m->version,
		    PACKAGE_VERSION);
		return NULL;
	}
	return m;
}

int
module_check(const struct er_config *cfg, char *err, size_t errsz)
{
	int fd[2], status;
	ssize_t n;
	size_t got = 0;
	pid_t pid;

	if (pipe(fd) < 0) {
		snprintf(err, errsz, "pipe: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errsz, "fork: %s", strerror(errno));
		close(fd[0]);
		close(fd[1]);
		return -1;
	}
	if (pid == 0) {
		const struct worker_module *m;
		char msg[512] = "";
		int rc = 0;

		close(fd[0]);
		m = module_load(msg, sizeof(msg));
		if (m == NULL || m->check_properties(cfg, msg, sizeof(msg)) < 0)
			rc = 1;
		if (rc != 0 && write(fd[1], msg, strlen(msg)) < 0)
			rc = 2;
		_exit(rc);
	}
	close(fd[1]);
	while (got + 1 < errsz && (n = read(fd[0], err + got, errsz - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = '\0';
	close(fd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (got == 0)
		snprintf(err, errsz, "checking the worker module failed (status 0x%x)", status);
	return -1;
}
