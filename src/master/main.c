/*
 * event-relayd: command line, configuration check, daemonising, then
 * the master. Everything that can be wrong with the configuration is
 * found here, before any process is forked, and reported as
 * "file:line: setting: message" with exit status 1.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"
#include "common/host.h"
#include "common/log.h"
#include "common/route.h"
#include "master/master.h"
#include "master/module_load.h"
#include "worker/module.h"

#define DEFAULT_CONFIG CONFIG_DEFAULT_PATH

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: event-relayd [-f] [-t] [-c file]\n"
	    "       event-relayd -h | -V\n"
	    "  -c file  configuration file (default %s)\n"
	    "  -f       stay in the foreground; log to stderr unless log.target is set\n"
	    "  -t       check the configuration and exit (0 valid, 1 invalid)\n"
	    "  -h       show this help\n"
	    "  -V       show the version\n",
	    DEFAULT_CONFIG);
}

static int
write_pid_file(const char *path)
{
	char buf[32];
	int fd, n;

	if (path == NULL || path[0] == '\0')
		return 0;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		log_error("pid_file %s: %s", path, strerror(errno));
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, (size_t)n) != n) {
		log_error("pid_file %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

/* keep_stderr: the log goes there, so it is not pointed at /dev/null. */
static int
daemonize(int keep_stderr)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		return -1;
	umask(022);
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -1;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (!keep_stderr)
		dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return 0;
}

static int
drop_privileges(const struct er_config *cfg)
{
	struct passwd *pw;
	gid_t gid;

	if (cfg->user == NULL || cfg->user[0] == '\0' || geteuid() != 0)
		return 0;
	pw = getpwnam(cfg->user);
	if (pw == NULL) {
		log_error("user: %s: no such user", cfg->user);
		return -1;
	}
	gid = pw->pw_gid;
	if (cfg->group != NULL && cfg->group[0] != '\0') {
		struct group *gr = getgrnam(cfg->group);

		if (gr == NULL) {
			log_error("group: %s: no such group", cfg->group);
			return -1;
		}
		gid = gr->gr_gid;
	}
	if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(pw->pw_uid) < 0) {
		log_error("cannot switch to user %s: %s", cfg->user, strerror(errno));
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *path = NULL, *label;
	char *pid_path = NULL;
	int foreground = 0, check = 0, no_file = 0, c, nerr, status;
	struct er_config cfg;
	struct route_set routes = {0};
	char err[512];

	while ((c = getopt(argc, argv, "c:fthV")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'f':
			foreground = 1;
			break;
		case 't':
			check = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V': {
			const struct worker_module *m = module_load(err, sizeof(err));

			if (m == NULL) {
				fprintf(stderr, "event-relayd: %s\n", err);
				return 1;
			}
			printf("event-relayd %s (%s)\n", PACKAGE_VERSION, m->library_versions());
			return 0;
		}
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "event-relayd: unexpected argument: %s\n", argv[optind]);
		usage(stderr);
		return 1;
	}
	log_open(LOG_TO_STDERR, LOG_LVL_INFO);
	log_set_role("event-relayd");

	/*
	 * The replaced service ran on its environment alone: with no -c and
	 * no default file, so do we. A file named with -c must exist.
	 */
	if (path == NULL) {
		no_file = config_path(NULL) == NULL;
		path = DEFAULT_CONFIG;
	}
	label = no_file ? "built-in defaults and environment" : path;
	memset(&cfg, 0, sizeof(cfg));
	nerr = config_load(&cfg, no_file ? NULL : path, NULL, stderr);
	host_set_instance(cfg.instance);
	if (nerr == 0 && module_check(&cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", label, err);
		nerr++;
	}
	if (nerr == 0 && (nerr = route_set_load(&routes, &cfg, stderr)) > 0) {
		fprintf(stderr, "event-relayd: %s: %d error%s in the route files\n", cfg.routes_dir,
		    nerr, nerr == 1 ? "" : "s");
		config_free(&cfg);
		return 1;
	}
	if (nerr > 0) {
		fprintf(stderr, "event-relayd: %s: %d error%s in the configuration\n", label, nerr,
		    nerr == 1 ? "" : "s");
		config_free(&cfg);
		return 1;
	}
	if (check) {
		if (no_file)
			printf("event-relayd: no configuration file %s: the built-in defaults and the "
			    "environment are used\n", path);
		if (routes.implicit)
			printf("event-relayd: %s: configuration ok (queue %s -> topic %s, %ld workers)\n",
			    label, routes.v[0].queue, routes.v[0].topic, cfg.workers);
		else
			printf("event-relayd: %s: configuration ok (%zu route%s from %s, %ld workers)\n",
			    label, routes.n, routes.n == 1 ? "" : "s", cfg.routes_dir, cfg.workers);
		for (size_t i = 0; !routes.implicit && i < routes.n; i++)
			printf("event-relayd: route %s: queue %s -> topic %s%s%s\n", routes.v[i].name,
			    routes.v[i].queue, routes.v[i].topic, routes.v[i].file != NULL ? " from " : "",
			    routes.v[i].file != NULL ? routes.v[i].file : "");
		route_set_free(&routes);
		config_free(&cfg);
		return 0;
	}
	log_set_level(cfg.log_level);
	log_set_format(strcmp(cfg.log_format, "json") == 0 ? LOG_FMT_JSON : LOG_FMT_TEXT);
	/* Before daemonizing, so that a log file that cannot be opened is said on stderr. */
	if (log_start(cfg.log_target, foreground) < 0) {
		route_set_free(&routes);
		config_free(&cfg);
		return 1;
	}
	if (!foreground) {
		if (daemonize(log_to_stderr()) < 0) {
			log_error("cannot become a daemon: %s", strerror(errno));
			return 1;
		}
		/* The file written, whatever a reload makes of pid_file later. */
		pid_path = cfg.pid_file != NULL && cfg.pid_file[0] != '\0' ? strdup(cfg.pid_file) : NULL;
		if (write_pid_file(cfg.pid_file) < 0)
			return 1;
	}
	if (no_file)
		log_info("no configuration file %s: running on the built-in defaults and the "
		    "environment", path);
	config_warn_insecure(&cfg);
	if (cfg.trace_note != NULL)
		log_warn("%s", cfg.trace_note);
	if (drop_privileges(&cfg) < 0)
		return 1;
	status = master_run(&cfg, &routes, no_file ? NULL : path);
	if (pid_path != NULL)
		unlink(pid_path);
	free(pid_path);
	route_set_free(&routes);
	config_free(&cfg);
	return status;
}
