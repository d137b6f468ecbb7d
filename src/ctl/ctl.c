/*
 * event-relayctl: the admin tool. Reads the same configuration as
 * event-relayd (-c) to find the daemon's control socket (the commands
 * that change something: root or the daemon's group) and its HTTP port
 * (status and top: open to anyone who may read /status).
 *
 * Exit codes, the same for every command: 0 done, 1 failed (the daemon
 * refused, or the command went wrong), 2 usage, 3 the daemon is not
 * running or cannot be reached. The commands sent to the daemon are the
 * rows of src/common/control.def; the usage text expands from it.
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/route.h"
#include "ctl/daemon_io.h"
#include "ctl/dlq.h"

#define EX_DONE 0
#define EX_FAILED 1
#define EX_USAGE 2
#define EX_UNREACHABLE 3

struct ctl {
	struct er_config cfg;
	const char *path;	/* NULL: no file */
	int nerr;		/* errors in the configuration */
	int json;
};

static const struct {
	const char *name, *args, *help;
} daemon_cmds[] = {
#define CONTROL_CMD(name, id, changes, args, help) { name, args, help },
#include "common/control.def"
#undef CONTROL_CMD
};

static const struct {
	const char *name, *args, *help;
} local_cmds[] = {
	{ "top", "[-n COUNT] [-d SECONDS]",
	  "A live view of the workers, refreshed every second; q or Ctrl-C quits. "
	  "Plain snapshots when not on a terminal." },
	{ "check-config", "",
	  "Check the configuration as event-relayd -t does; every error with file:line." },
};

static void
usage(FILE *out)
{
	fputs("usage: event-relayctl [-c FILE] [--json] COMMAND [ARGS]\n"
	    "       event-relayctl -h | -V\n"
	    "commands:\n", out);
	fprintf(out, "  %-12s %s\n", "status", "[--json]  The daemon and each worker (from /status).");
	for (size_t i = 0; i < sizeof(daemon_cmds) / sizeof(daemon_cmds[0]); i++) {
		if (strcmp(daemon_cmds[i].name, "status") == 0)
			continue;
		fprintf(out, "  %-12s %s%s%s\n", daemon_cmds[i].name,
		    strcmp(daemon_cmds[i].name, "reload") == 0 ? "[--wait]" : daemon_cmds[i].args,
		    daemon_cmds[i].args[0] != '\0' || strcmp(daemon_cmds[i].name, "reload") == 0 ?
		    "  " : "", daemon_cmds[i].help);
	}
	for (size_t i = 0; i < sizeof(local_cmds) / sizeof(local_cmds[0]); i++)
		fprintf(out, "  %-12s %s%s%s\n", local_cmds[i].name, local_cmds[i].args,
		    local_cmds[i].args[0] != '\0' ? "  " : "", local_cmds[i].help);
	ctl_dlq_usage(out);
	fputs("exit status: 0 done, 1 failed, 2 usage, 3 daemon not running or not reachable\n",
	    out);
}

/*
 * Only control.socket and metrics.listen matter here. A file with errors
 * elsewhere is still read for them (a bad value keeps its default):
 * reloading a broken file must reach the daemon, which names the errors.
 */
static int
load_config(struct ctl *c, const char *given)
{
	FILE *devnull = fopen("/dev/null", "w");

	c->path = config_path(given);
	if (devnull == NULL) {
		fprintf(stderr, "event-relayctl: /dev/null: %s\n", strerror(errno));
		return -1;
	}
	c->nerr = config_load(&c->cfg, c->path, NULL, devnull);
	fclose(devnull);
	if (c->cfg.control_socket == NULL || c->cfg.metrics_listen == NULL) {
		fprintf(stderr, "event-relayctl: out of memory\n");
		return -1;
	}
	return 0;
}

/* One request on the control socket; prints the reply's error on failure. */
static int
request(struct ctl *c, const char *req, int timeout_ms, char **reply)
{
	char err[512];

	if (strcmp(c->cfg.control_socket, "none") == 0) {
		fprintf(stderr, "event-relayctl: control.socket is \"none\": the daemon has no "
		    "control socket\n");
		return EX_UNREACHABLE;
	}
	*reply = ctl_request(c->cfg.control_socket, req, timeout_ms, err, sizeof(err));
	if (*reply == NULL) {
		fprintf(stderr, "event-relayctl: %s\n", err);
		return errno == EACCES || errno == EPERM ? EX_FAILED : EX_UNREACHABLE;
	}
	return EX_DONE;
}

static void
print_error(const char *reply)
{
	char e[1024];

	if (ctl_json_str(reply, "error", e, sizeof(e)) == 0)
		fprintf(stderr, "event-relayctl: %s\n", e);
	else
		fprintf(stderr, "event-relayctl: the daemon answered: %s\n", reply);
}

static void
print_line(const char *s, void *arg)
{
	fprintf(arg, "  %s\n", s);
}

static int
cmd_reload(struct ctl *c, int argc, char **argv)
{
	int wait = 0, rc;
	char *reply;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--wait") == 0) {
			wait = 1;
		} else {
			fprintf(stderr, "event-relayctl: reload: unknown option %s\n", argv[i]);
			return EX_USAGE;
		}
	}
	rc = request(c, wait ? "reload wait" : "reload", -1, &reply);
	if (rc != EX_DONE)
		return rc;
	if (c->json)
		printf("%s\n", reply);
	if (ctl_json_bool(reply, "ok") != 1) {
		if (!c->json) {
			print_error(reply);
			ctl_json_strings(reply, "errors", print_line, stderr);
		}
		free(reply);
		return EX_FAILED;
	}
	if (!c->json) {
		printf("%s: generation %.0f", wait ? "reloaded" : "reload started",
		    ctl_json_num(reply, "generation", 0));
		if (wait)
			printf(", %.0f workers replaced, %.0f started, %.0f stopped in %.0f ms",
			    ctl_json_num(reply, "workers_replaced", 0),
			    ctl_json_num(reply, "workers_started", 0),
			    ctl_json_num(reply, "workers_stopped", 0),
			    ctl_json_num(reply, "duration_ms", 0));
		printf("\nchanged (settings and routes):\n");
		ctl_json_strings(reply, "changed", print_line, stdout);
		if (strstr(reply, "\"needs_restart\":[\"") != NULL) {
			printf("needs a restart to take effect:\n");
			ctl_json_strings(reply, "needs_restart", print_line, stdout);
		}
	}
	free(reply);
	return EX_DONE;
}

/* pause, resume, stop, log-reopen, version: one request, one line. */
static int
cmd_simple(struct ctl *c, const char *name)
{
	char *reply, v[128];
	int rc = request(c, name, 30000, &reply);

	if (rc != EX_DONE)
		return rc;
	if (c->json)
		printf("%s\n", reply);
	if (ctl_json_bool(reply, "ok") != 1) {
		if (!c->json)
			print_error(reply);
		free(reply);
		return EX_FAILED;
	}
	if (!c->json) {
		if (strcmp(name, "version") == 0 && ctl_json_str(reply, "version", v, sizeof(v)) == 0)
			printf("event-relayd %s\n", v);
		else
			printf("%s: done\n", name);
	}
	free(reply);
	return EX_DONE;
}

static int
cmd_status(struct ctl *c, int argc, char **argv)
{
	char err[512], *body;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			c->json = 1;
		} else {
			fprintf(stderr, "event-relayctl: status: unknown option %s\n", argv[i]);
			return EX_USAGE;
		}
	}
	body = ctl_http_get(c->cfg.metrics_listen, c->json ? "/status" : "/status?format=text", err,
	    sizeof(err));
	if (body == NULL) {
		fprintf(stderr, "event-relayctl: %s\n", err);
		return EX_UNREACHABLE;
	}
	fputs(body, stdout);
	free(body);
	return EX_DONE;
}

static volatile sig_atomic_t top_quit;

static void
on_top_signal(int sig)
{
	(void)sig;
	top_quit = 1;
}

static int
cmd_top(struct ctl *c, int argc, char **argv)
{
	int tty = isatty(STDOUT_FILENO) && isatty(STDIN_FILENO), opt;
	long count = -1, delay_ms = 1000;
	struct termios saved, raw;
	struct sigaction sa;
	char err[512];

	optind = 1;
	while ((opt = getopt(argc, argv, "n:d:")) != -1) {
		char *end;

		if (opt == 'n') {
			count = strtol(optarg, &end, 10);
			if (*end != '\0' || count < 1)
				return fprintf(stderr, "event-relayctl: top: -n wants a count\n"), EX_USAGE;
		} else if (opt == 'd') {
			double d = strtod(optarg, &end);

			if (*end != '\0' || d < 0.1 || d > 3600)
				return fprintf(stderr, "event-relayctl: top: -d wants seconds (0.1 to 3600)\n"),
				    EX_USAGE;
			delay_ms = (long)(d * 1000);
		} else {
			return EX_USAGE;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_top_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (tty && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= (tcflag_t)~(ICANON | ECHO);
		tcsetattr(STDIN_FILENO, TCSANOW, &raw);
	} else {
		tty = 0;
	}
	for (long i = 0; !top_quit && (count < 0 || i < count); i++) {
		char *body = ctl_http_get(c->cfg.metrics_listen, "/status?format=text", err, sizeof(err));
		struct pollfd p = { .fd = STDIN_FILENO, .events = POLLIN };

		if (body == NULL) {
			if (tty)
				tcsetattr(STDIN_FILENO, TCSANOW, &saved);
			fprintf(stderr, "event-relayctl: %s\n", err);
			return EX_UNREACHABLE;
		}
		if (tty)
			fputs("\033[H\033[2J", stdout);
		fputs(body, stdout);
		fputs(tty ? "\n(q quits)\n" : "\n", stdout);
		fflush(stdout);
		free(body);
		if (count > 0 && i + 1 == count)
			break;
		if (poll(tty ? &p : NULL, tty ? 1 : 0, (int)delay_ms) > 0) {
			char ch;

			if (read(STDIN_FILENO, &ch, 1) == 1 && (ch == 'q' || ch == 'Q'))
				break;
		}
	}
	if (tty)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
	return EX_DONE;
}

/*
 * The dead-letter commands talk to RabbitMQ itself with the settings of
 * the file: unlike the daemon's commands, they need all of it right.
 */
static int
cmd_dlq(struct ctl *c, const char *given, int argc, char **argv)
{
	struct route_set rs = {0};
	const struct route *r = NULL;
	const char *name = NULL;
	struct er_config again;
	int rc, n = 0;

	if (c->nerr > 0) {
		memset(&again, 0, sizeof(again));
		config_load(&again, c->path, NULL, stderr);
		config_free(&again);
		fprintf(stderr, "event-relayctl: %s: %d error%s in the configuration\n",
		    c->path != NULL ? c->path : given != NULL ? given : "environment", c->nerr,
		    c->nerr == 1 ? "" : "s");
		return EX_FAILED;
	}
	/* --route NAME (or --route=NAME) anywhere after "dlq"; the rest is dlq's. */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--route") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strncmp(argv[i], "--route=", 8) == 0) {
			name = argv[i] + 8;
		} else if (strcmp(argv[i], "--route") == 0) {
			fprintf(stderr, "event-relayctl: dlq: --route needs a route name\n");
			return EX_USAGE;
		} else {
			argv[1 + n++] = argv[i];
		}
	}
	argc = 1 + n;
	if ((n = route_set_load(&rs, &c->cfg, stderr)) > 0) {
		fprintf(stderr, "event-relayctl: %s: %d error%s in the route files\n", c->cfg.routes_dir,
		    n, n == 1 ? "" : "s");
		return EX_FAILED;
	}
	if (name != NULL) {
		r = route_set_find(&rs, name);
		if (r == NULL)
			fprintf(stderr, "event-relayctl: dlq: no route named %s\n", name);
	} else if (rs.n == 1) {
		r = &rs.v[0];
	} else {
		fprintf(stderr, "event-relayctl: dlq: %zu routes; say which with --route NAME:", rs.n);
		for (size_t i = 0; i < rs.n; i++)
			fprintf(stderr, " %s", rs.v[i].name);
		fputc('\n', stderr);
	}
	if (r == NULL) {
		route_set_free(&rs);
		return EX_USAGE;
	}
	rc = ctl_dlq(&c->cfg, r->queue, r->dlq, argc - 1, argv + 1, c->json);
	route_set_free(&rs);
	return rc;
}

/* event-relayd -t, from the directory of this program first. */
static int
cmd_check_config(const char *given)
{
	char self[PATH_MAX], daemon[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *argv[5];
	int i = 0;

	snprintf(daemon, sizeof(daemon), "event-relayd");
	if (n > 0) {
		char *slash;

		self[n] = '\0';
		slash = strrchr(self, '/');
		if (slash != NULL) {
			*slash = '\0';
			snprintf(daemon, sizeof(daemon), "%s/event-relayd", self);
			if (access(daemon, X_OK) != 0)
				snprintf(daemon, sizeof(daemon), "event-relayd");
		}
	}
	argv[i++] = daemon;
	argv[i++] = (char *)"-t";
	if (given != NULL) {
		argv[i++] = (char *)"-c";
		argv[i++] = (char *)given;
	}
	argv[i] = NULL;
	fflush(stdout);
	execvp(daemon, argv);
	fprintf(stderr, "event-relayctl: cannot run %s: %s\n", daemon, strerror(errno));
	return EX_FAILED;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *given = NULL, *cmd;
	struct ctl c;
	int opt, rc;

	memset(&c, 0, sizeof(c));
	signal(SIGPIPE, SIG_IGN);	/* a closed socket is an error to report, not a death */
	while ((opt = getopt_long(argc, argv, "+c:hVj", opts, NULL)) != -1) {
		switch (opt) {
		case 'c':
			given = optarg;
			break;
		case 'j':
			c.json = 1;
			break;
		case 'h':
			usage(stdout);
			return EX_DONE;
		case 'V':
			printf("event-relayctl %s\n", PACKAGE_VERSION);
			return EX_DONE;
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "check-config") == 0) {
		if (argc == 3 && strcmp(argv[1], "-c") == 0)
			given = argv[2];
		else if (argc != 1)
			return fprintf(stderr, "event-relayctl: check-config [-c FILE]\n"), EX_USAGE;
		return cmd_check_config(given);
	}
	log_open(LOG_TO_STDERR, LOG_LVL_WARN);
	log_set_role("event-relayctl");
	if (load_config(&c, given) < 0) {
		config_free(&c.cfg);
		return EX_FAILED;
	}
	if (strcmp(cmd, "status") == 0) {
		rc = cmd_status(&c, argc, argv);
	} else if (strcmp(cmd, "top") == 0) {
		rc = cmd_top(&c, argc, argv);
	} else if (strcmp(cmd, "reload") == 0) {
		rc = cmd_reload(&c, argc, argv);
	} else if (strcmp(cmd, "dlq") == 0) {
		rc = cmd_dlq(&c, given, argc, argv);
	} else {
		rc = -1;
		for (size_t i = 0; i < sizeof(daemon_cmds) / sizeof(daemon_cmds[0]); i++) {
			if (strcmp(cmd, daemon_cmds[i].name) == 0) {
				if (argc != 1) {
					fprintf(stderr, "event-relayctl: %s takes no arguments\n", cmd);
					rc = EX_USAGE;
				} else {
					rc = cmd_simple(&c, cmd);
				}
			}
		}
		if (rc < 0) {
			fprintf(stderr, "event-relayctl: unknown command %s\n", cmd);
			usage(stderr);
			rc = EX_USAGE;
		}
	}
	config_free(&c.cfg);
	return rc;
}
