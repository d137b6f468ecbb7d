/*
 * master: one poll loop over the signal self-pipe and the HTTP server.
 *
 * Signal handlers only set a flag and write a byte to the self-pipe.
 * Workers are reaped with waitpid(WNOHANG) in a loop; each death is
 * logged once, its counters are folded into the slot's retired totals,
 * and the slot restarts after a backoff that grows while the worker
 * keeps dying young. A worker whose heartbeat in shared memory stops is
 * killed (watchdog). Workers see the master's death as EOF on the
 * lifeline pipe, whose write end only the master holds.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/log.h"
#include "common/route.h"
#include "common/stats.h"
#include "master/http.h"
#include "master/master.h"
#include "master/module_load.h"
#include "master/sd_notify.h"
#include "worker/module.h"

#define RESTART_MIN_MS 500
#define RESTART_MAX_MS 30000
#define HEALTHY_AFTER_MS 60000	/* a worker this old resets the backoff */
#define WATCHDOG_MS 60000

struct child {
	pid_t pid;
	uint64_t started_ms;
	uint64_t restart_at_ms;
	unsigned crashes;	/* consecutive early deaths */
};

static volatile sig_atomic_t sig_stop, sig_chld, sig_hup;
static int self_pipe[2] = {-1, -1};

static void
on_signal(int sig)
{
	int saved = errno;
	char c = (char)sig;
	ssize_t w;

	if (sig == SIGTERM || sig == SIGINT)
		sig_stop = 1;
	else if (sig == SIGCHLD)
		sig_chld = 1;
	else if (sig == SIGHUP)
		sig_hup = 1;
	w = write(self_pipe[1], &c, 1);
	(void)w;
	errno = saved;
}

static int
install_signals(void)
{
	struct sigaction sa;

	if (pipe2(self_pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	return 0;
}

static void
spawn(const struct er_config *cfg, const struct route *route, struct stats_shm *shm,
    struct child *ch, int i, int lifeline[2])
{
	struct worker_slot *ws = &shm->slot[i];
	pid_t pid;

	ws->generation++;
	ws->state = WS_STARTING;
	ws->started_s = (uint64_t)time(NULL);
	pid = fork();
	if (pid < 0) {
		log_error("fork worker %d: %s", i, strerror(errno));
		ch->restart_at_ms = mono_ms() + RESTART_MAX_MS;
		ws->state = WS_DOWN;
		return;
	}
	if (pid == 0) {
		const struct worker_module *m;
		struct sigaction sa;
		char err[512];
		int lf;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGCHLD, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		/* Keep stdio and the lifeline's read end; nothing else of the master. */
		lf = dup2(lifeline[0], 3) < 0 ? lifeline[0] : 3;
		close_range(4, ~0u, 0);
		if ((m = module_load(err, sizeof(err))) == NULL) {
			log_error("worker %d: %s", i, err);
			exit(1);
		}
		exit(m->main(cfg, route, i, ws, lf));
	}
	ch->pid = pid;
	ch->started_ms = mono_ms();
	__atomic_store_n(&ws->pid, pid, __ATOMIC_RELAXED);
	__atomic_store_n(&ws->heartbeat_ms, ch->started_ms, __ATOMIC_RELAXED);
	log_info("worker %d started, pid %ld", i, (long)pid);
}

/* One worker died: log it once, fold its counters, schedule its restart. */
static void
child_died(struct stats_shm *shm, struct child *kids, int n, pid_t pid, int status, int stopping)
{
	uint64_t now = mono_ms();
	struct child *ch = NULL;
	int i;

	for (i = 0; i < n; i++) {
		if (kids[i].pid == pid) {
			ch = &kids[i];
			break;
		}
	}
	if (ch == NULL)
		return;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && stopping)
		log_info("worker %d (pid %ld) stopped", i, (long)pid);
	else if (WIFEXITED(status))
		log_warn("worker %d (pid %ld) exited with status %d", i, (long)pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		log_warn("worker %d (pid %ld) killed by signal %d%s", i, (long)pid, WTERMSIG(status),
		    WCOREDUMP(status) ? " (core dumped)" : "");
	ch->pid = 0;
	__atomic_store_n(&shm->slot[i].pid, 0, __ATOMIC_RELAXED);
	stats_retire(&shm->slot[i]);
	__atomic_store_n(&shm->slot[i].state, WS_DOWN, __ATOMIC_RELAXED);
	if (stopping)
		return;
	__atomic_store_n(&shm->slot[i].restarts, shm->slot[i].restarts + 1, __ATOMIC_RELAXED);
	if (now - ch->started_ms > HEALTHY_AFTER_MS)
		ch->crashes = 0;
	{
		uint64_t delay = (uint64_t)RESTART_MIN_MS << (ch->crashes < 6 ? ch->crashes : 6);

		if (delay > RESTART_MAX_MS)
			delay = RESTART_MAX_MS;
		ch->crashes++;
		ch->restart_at_ms = now + delay;
		log_info("worker %d restarts in %llu ms", i, (unsigned long long)delay);
	}
}

static void
reap(struct stats_shm *shm, struct child *kids, int n, int stopping)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		child_died(shm, kids, n, pid, status, stopping);
}

static int
live_children(const struct child *kids, int n)
{
	int live = 0;

	for (int i = 0; i < n; i++)
		live += kids[i].pid > 0;
	return live;
}

int
master_run(const struct er_config *cfg, const struct route *route)
{
	int n = (int)cfg->workers;
	struct stats_shm *shm;
	struct child *kids;
	struct http *http;
	int lifeline[2];
	int stopping = 0;
	uint64_t stop_deadline = 0;
	uint64_t watchdog_ms = WATCHDOG_MS + (uint64_t)cfg->amqp_connect_timeout * 16 * 1000;

	log_set_role("master");
	sd_notify_open();
	if (install_signals() < 0 || pipe2(lifeline, O_CLOEXEC) < 0) {
		log_error("pipe: %s", strerror(errno));
		return 1;
	}
	shm = stats_create((uint32_t)n);
	kids = calloc((size_t)n, sizeof(*kids));
	if (shm == NULL || kids == NULL) {
		log_error("cannot create the stats segment: %s", strerror(errno));
		return 1;
	}
	http = http_start(cfg->metrics_listen, shm);
	if (http == NULL)
		return 1;
	log_info("starting %d workers: queue %s -> topic %s", n, route->queue, route->topic);
	for (int i = 0; i < n; i++)
		spawn(cfg, route, shm, &kids[i], i, lifeline);

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = self_pipe[0], .events = POLLIN },
			{ .fd = http_fd(http), .events = POLLIN },
		};
		int timeout = sd_notify_poll_timeout(http_timeout_ms(http));
		uint64_t now;

		if (poll(pfd, 2, timeout) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			char buf[64];

			while (read(self_pipe[0], buf, sizeof(buf)) > 0)
				;
		}
		now = mono_ms();
		if (sig_stop && !stopping) {
			sig_stop = 0;
			stopping = 1;
			sd_notify_stopping();
			stop_deadline = now + (uint64_t)cfg->stop_timeout * 1000;
			log_info("stopping %d workers (stop_timeout %lds)", live_children(kids, n),
			    cfg->stop_timeout);
			for (int i = 0; i < n; i++)
				if (kids[i].pid > 0)
					kill(kids[i].pid, SIGTERM);
		}
		if (sig_hup) {
			sig_hup = 0;
			log_warn("SIGHUP: reloading is not supported; restart the service to apply changes");
		}
		if (sig_chld) {
			sig_chld = 0;
			reap(shm, kids, n, stopping);
		}
		if (stopping) {
			if (live_children(kids, n) == 0)
				break;
			if (now >= stop_deadline) {
				for (int i = 0; i < n; i++) {
					if (kids[i].pid > 0) {
						log_warn("worker %d (pid %ld) did not stop in time: killing it",
						    i, (long)kids[i].pid);
						kill(kids[i].pid, SIGKILL);
					}
				}
				while (live_children(kids, n) > 0) {
					int status;
					pid_t pid = waitpid(-1, &status, 0);

					if (pid < 0)
						break;
					child_died(shm, kids, n, pid, status, 1);
				}
				break;
			}
		} else {
			for (int i = 0; i < n; i++) {
				struct child *ch = &kids[i];
				uint64_t hb;

				if (ch->pid == 0 && now >= ch->restart_at_ms) {
					spawn(cfg, route, shm, ch, i, lifeline);
					continue;
				}
				hb = __atomic_load_n(&shm->slot[i].heartbeat_ms, __ATOMIC_RELAXED);
				if (ch->pid > 0 && now > hb + watchdog_ms) {
					log_error("worker %d (pid %ld) sent no heartbeat for %llu s: killing it",
					    i, (long)ch->pid, (unsigned long long)(now - hb) / 1000);
					kill(ch->pid, SIGKILL);
				}
			}
		}
		sd_notify_update(shm, route);
		http_run(http);
	}
	/* One last reap: a worker may have died since the loop's last one. */
	reap(shm, kids, n, 1);
	http_stop(http);
	log_info("stopped");
	free(kids);
	stats_destroy(shm);
	sd_notify_close();
	return 0;
}
