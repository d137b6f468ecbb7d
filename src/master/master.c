/*
 * master: one poll loop over the signal self-pipe, the HTTP server and
 * the control socket; supervises the workers and replaces them on a
 * reload.
 *
 * Signal handlers only set a flag and write a byte to the self-pipe.
 * Workers are reaped with waitpid(WNOHANG) in a loop; each death is
 * logged once, its counters are folded into the slot's retired totals,
 * and the slot restarts after a backoff that grows while the worker
 * keeps dying young. A worker whose heartbeat in shared memory stops is
 * killed (watchdog). Workers see the master's death as EOF on the
 * lifeline pipe, whose write end only the master holds. USR1 reopens
 * the log file here, then in each worker (the signal is passed on).
 *
 * Each worker N has two process slots (stats.h). A reload starts the
 * new process in the idle one, waits until it is ready, makes it the
 * active one and stops the old process gracefully; the old one drains
 * (finishes, flushes, acks) while the new one already consumes. The one
 * thing to know: only active slots are restarted when they die; a
 * draining slot is left to end.
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
#include "common/json.h"
#include "common/host.h"
#include "common/log.h"
#include "common/route.h"
#include "common/stats.h"
#include "common/syscall_name.h"
#include "master/control.h"
#include "master/http.h"
#include "master/master.h"
#include "master/master_int.h"
#include "master/module_load.h"
#include "master/sd_notify.h"
#include "master/status.h"
#include "worker/module.h"

#define RESTART_MIN_MS 500
#define RESTART_MAX_MS 30000
#define HEALTHY_AFTER_MS 60000	/* a worker this old resets the backoff */
#define WATCHDOG_MS 60000

static volatile sig_atomic_t sig_stop, sig_chld, sig_hup, sig_reopen;
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
	else if (sig == SIGUSR1)
		sig_reopen = 1;
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
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return 0;
}

void
master_request_log_reopen(void)
{
	on_signal(SIGUSR1);
}

static int
live(const struct master *m)
{
	int n = 0;

	for (int p = 0; p < NSLOTS; p++)
		n += m->procs[p].pid > 0;
	return n;
}

/* Starts process slot p (of worker p / 2) with the configuration in force. */
void
master_spawn(struct master *m, int p)
{
	struct worker_slot *ws = &m->shm->slot[p];
	struct proc *pr = &m->procs[p];
	int w = p / 2;
	sigset_t usr1, mask;
	pid_t pid;

	stats_retire(ws);
	ws->generation++;
	ws->config_generation = m->generation;
	ws->pause_req = (uint32_t)m->paused;
	ws->sigsys = 0;
	ws->state = WS_STARTING;
	ws->started_s = (uint64_t)time(NULL);
	pr->active = 1;
	/*
	 * The worker starts with USR1 blocked and unblocks it once its own
	 * handler is in place: a reopen passed on meanwhile waits for it.
	 */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, &mask);
	pid = fork();
	if (pid != 0)
		sigprocmask(SIG_SETMASK, &mask, NULL);
	if (pid < 0) {
		log_error("fork worker %d: %s", w, strerror(errno));
		pr->restart_at_ms = mono_ms() + RESTART_MAX_MS;
		ws->state = WS_DOWN;
		return;
	}
	if (pid == 0) {
		const struct worker_module *mod;
		struct sigaction sa;
		char err[512];
		int lf, keep;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = SIG_DFL;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGCHLD, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		sigaction(SIGUSR1, &sa, NULL);
		/*
		 * Keep stdio, the lifeline's read end (at 3) and the log file
		 * (at 4, if there is one); nothing else of the master. The
		 * lifeline is copied above both first, out of the log's way.
		 */
		lf = fcntl(m->lifeline[0], F_DUPFD_CLOEXEC, 5);
		keep = lf < 0 ? -1 : log_after_fork(4);
		if (keep < 0 || dup2(lf, 3) < 0) {
			log_error("worker %d: keeping descriptors: %s", w, strerror(errno));
			exit(1);
		}
		lf = 3;
		close_range(4 + (unsigned)keep, ~0u, 0);
		if ((mod = module_load(err, sizeof(err))) == NULL) {
			log_error("worker %d: %s", w, err);
			exit(1);
		}
		exit(mod->main(m->cfg, &m->routes, w, ws, lf));
	}
	pr->pid = pid;
	pr->started_ms = mono_ms();
	__atomic_store_n(&ws->pid, pid, __ATOMIC_RELAXED);
	__atomic_store_n(&ws->heartbeat_ms, pr->started_ms, __ATOMIC_RELAXED);
	log_info("worker %d started, pid %ld (generation %llu)", w, (long)pid,
	    (unsigned long long)m->generation);
}

/* One process died: log it once, fold its counters, schedule its restart. */
static void
child_died(struct master *m, pid_t pid, int status)
{
	uint64_t now = mono_ms(), delay;
	struct proc *pr = NULL;
	struct worker_slot *ws;
	int p, w, expected;
	uint32_t nr;

	for (p = 0; p < NSLOTS; p++) {
		if (m->procs[p].pid == pid) {
			pr = &m->procs[p];
			break;
		}
	}
	if (pr == NULL)
		return;
	w = p / 2;
	ws = &m->shm->slot[p];
	expected = m->stopping || !pr->active;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && expected)
		log_info("worker %d (pid %ld) stopped", w, (long)pid);
	else if (WIFEXITED(status))
		log_warn("worker %d (pid %ld) exited with status %d", w, (long)pid, WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS &&
	    (nr = __atomic_load_n(&ws->sigsys, __ATOMIC_RELAXED)) != 0)
		log_error("worker %d (pid %ld) killed by signal %d (SIGSYS): its seccomp filter "
		    "refused system call %u (%s); see SECURITY in event-relayd(8)", w, (long)pid,
		    SIGSYS, nr - 1, syscall_name((long)nr - 1) != NULL ?
		    syscall_name((long)nr - 1) : "unknown");
	else if (WIFSIGNALED(status))
		log_warn("worker %d (pid %ld) killed by signal %d%s", w, (long)pid, WTERMSIG(status),
		    WCOREDUMP(status) ? " (core dumped)" : "");
	pr->pid = 0;
	__atomic_store_n(&ws->pid, 0, __ATOMIC_RELAXED);
	stats_retire(ws);
	__atomic_store_n(&ws->state, WS_DOWN, __ATOMIC_RELAXED);
	if (expected)
		return;
	__atomic_store_n(&ws->restarts, ws->restarts + 1, __ATOMIC_RELAXED);
	if (now - pr->started_ms > HEALTHY_AFTER_MS)
		pr->crashes = 0;
	delay = (uint64_t)RESTART_MIN_MS << (pr->crashes < 6 ? pr->crashes : 6);
	if (delay > RESTART_MAX_MS)
		delay = RESTART_MAX_MS;
	pr->crashes++;
	pr->restart_at_ms = now + delay;
	log_info("worker %d restarts in %llu ms", w, (unsigned long long)delay);
}

static void
reap(struct master *m)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		child_died(m, pid, status);
}

/* Stops process slot p gracefully: it is not restarted. */
void
master_retire_proc(struct master *m, int p)
{
	m->procs[p].active = 0;
	if (m->procs[p].pid > 0)
		kill(m->procs[p].pid, SIGTERM);
}

/* ----------------------------------------------------------- control */

void
master_answer(struct control_client *cl, const char *json)
{
	control_reply(cl, json != NULL ? json : "{\"ok\":false,\"error\":\"out of memory\"}");
}

static uint64_t
consumed(const struct master *m, uint32_t w)
{
	const struct worker_slot *a = &m->shm->slot[2 * w], *b = &m->shm->slot[2 * w + 1];

	return stat_get(&a->cur.consumed) + stat_get(&a->retired.consumed) +
	    stat_get(&b->cur.consumed) + stat_get(&b->retired.consumed);
}

/* About once a second: each worker's msgs/s since the last sample. */
static void
sample_rates(struct master *m, uint64_t now)
{
	if (now - m->rate_ms < 1000)
		return;
	for (uint32_t w = 0; w < m->shm->nused && w < STATS_MAX_WORKERS; w++) {
		uint64_t c = consumed(m, w);

		m->rate[w] = m->rate_ms == 0 ? 0 :
		    (double)(c - m->rate_consumed[w]) * 1000.0 / (double)(now - m->rate_ms);
		m->rate_consumed[w] = c;
	}
	m->rate_ms = now;
}

static void
status_fn(void *arg, FILE *out, int text)
{
	struct master *m = arg;
	struct status_info si = {
		.version = PACKAGE_VERSION,
		.instance = host_name(),
		.config_path = m->path,
		.routes = &m->routes,
		.generation = m->generation,
		.started_s = m->started_s,
		.now_s = (uint64_t)time(NULL),
		.now_ms = mono_ms(),
		.paused = m->paused,
		.reloading = m->rl.on,
		.stopping = m->stopping,
		.reload_at_s = m->last_reload_s,
		.reload_ok = m->last_reload_ok,
		.reload_errors = m->last_errors,
		.reload_needs_restart = m->last_needs_restart,
		.msgs_per_s = m->rate,
	};

	if (text)
		status_render_text(out, m->shm, &si);
	else
		status_render(out, m->shm, &si);
}

static void
set_paused(struct master *m, int paused)
{
	m->paused = paused;
	for (int p = 0; p < NSLOTS; p++)
		__atomic_store_n(&m->shm->slot[p].pause_req, (uint32_t)paused, __ATOMIC_RELAXED);
	log_info("%s: %s", paused ? "pause" : "resume",
	    paused ? "workers stop consuming; in-flight work finishes" : "workers consume again");
}

static void
on_control(void *arg, struct control_client *cl, enum control_cmd cmd, const char *args)
{
	struct master *m = arg;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	switch (cmd) {
	case CTL_STATUS:
		f = open_memstream(&buf, &len);
		if (f == NULL)
			break;
		status_fn(m, f, strcmp(args, "text") == 0);
		if (fclose(f) == 0) {
			if (strcmp(args, "text") != 0)
				buf[strcspn(buf, "\n")] = '\0';
			else if (len > 0 && buf[len - 1] == '\n')
				buf[len - 1] = '\0';
			master_answer(cl, buf);
		}
		free(buf);
		return;
	case CTL_RELOAD:
		if (m->stopping) {
			master_answer(cl, "{\"ok\":false,\"error\":\"stopping\"}");
			return;
		}
		if (m->rl.on) {
			master_answer(cl, "{\"ok\":false,\"error\":\"a reload is in progress; try again when "
			    "it has finished\"}");
			return;
		}
		log_info("reload requested on the control socket");
		if (reload_start(m) < 0) {
			buf = reload_reply(m, 0, "the new configuration is invalid; nothing changed");
			master_answer(cl, buf);
			free(buf);
			return;
		}
		if (strcmp(args, "wait") == 0 && m->rl.nwaiters < 8) {
			m->rl.waiter[m->rl.nwaiters++] = cl;	/* answered by reload_finish */
			reload_step(m, mono_ms());
			return;
		}
		buf = reload_reply(m, 1, NULL);
		master_answer(cl, buf);
		free(buf);
		reload_step(m, mono_ms());
		return;
	case CTL_PAUSE:
	case CTL_RESUME:
		set_paused(m, cmd == CTL_PAUSE);
		master_answer(cl, cmd == CTL_PAUSE ? "{\"ok\":true,\"paused\":true}" :
		    "{\"ok\":true,\"paused\":false}");
		return;
	case CTL_STOP:
		sig_stop = 1;
		master_answer(cl, "{\"ok\":true,\"stopping\":true}");
		return;
	case CTL_LOG_REOPEN:
		master_request_log_reopen();
		master_answer(cl, "{\"ok\":true}");
		return;
	case CTL_VERSION:
		master_answer(cl, "{\"ok\":true,\"version\":\"" PACKAGE_VERSION "\"}");
		return;
	case CTL_COUNT:
		break;
	}
	master_answer(cl, "{\"ok\":false,\"error\":\"internal error\"}");
}

/* -------------------------------------------------------------- loop */

static void
begin_stop(struct master *m, uint64_t now)
{
	m->stopping = 1;
	sd_notify_stopping();
	m->stop_deadline = now + (uint64_t)m->cfg->stop_timeout * 1000;
	log_info("stopping %d workers (stop_timeout %lds)", live(m), m->cfg->stop_timeout);
	if (m->rl.on)
		reload_finish(m, 0, "stopped during the reload");
	for (int p = 0; p < NSLOTS; p++) {
		m->procs[p].active = 0;
		if (m->procs[p].pid > 0)
			kill(m->procs[p].pid, SIGTERM);
	}
}

static void
supervise(struct master *m, uint64_t now)
{
	uint64_t watchdog_ms = m->cfg->watchdog > 0 ? (uint64_t)m->cfg->watchdog * 1000 :
	    WATCHDOG_MS + (uint64_t)m->cfg->amqp_connect_timeout * 16 * 1000;

	for (uint32_t w = 0; w < m->shm->nused; w++) {
		for (int h = 0; h < 2; h++) {
			int p = (int)(2 * w) + h;
			struct proc *pr = &m->procs[p];
			uint64_t hb;

			if (pr->pid == 0 && pr->active && now >= pr->restart_at_ms) {
				master_spawn(m, p);
				continue;
			}
			hb = __atomic_load_n(&m->shm->slot[p].heartbeat_ms, __ATOMIC_RELAXED);
			if (pr->pid > 0 && now > hb + watchdog_ms) {
				log_error("worker %u (pid %ld) sent no heartbeat for %llu s: killing it",
				    w, (long)pr->pid, (unsigned long long)(now - hb) / 1000);
				kill(pr->pid, SIGKILL);
			}
		}
	}
}

int
routes_register(struct stats_shm *shm, struct route_set *rs)
{
	uint32_t fresh = 0;

	/* All or nothing: no row is taken for a set that does not fit. */
	for (size_t i = 0; i < rs->n; i++) {
		uint32_t k = 0;

		while (k < shm->nroutes && strcmp(shm->route_name[k], rs->v[i].name) != 0)
			k++;
		fresh += k == shm->nroutes;
	}
	if (shm->nroutes + fresh > STATS_MAX_ROUTES)
		return -1;
	for (size_t i = 0; i < rs->n; i++) {
		int idx = stats_route_register(shm, rs->v[i].name);

		if (idx < 0)
			return -1;
		rs->v[i].stats_idx = (unsigned)idx;
	}
	return 0;
}

int
master_run(struct er_config *cfg, struct route_set *routes, const char *path)
{
	static struct master m;
	int n = (int)cfg->workers;

	/* The master owns the settings from here on (a reload replaces them). */
	m.cfg = malloc(sizeof(*m.cfg));
	if (m.cfg == NULL) {
		log_error("out of memory");
		return 1;
	}
	*m.cfg = *cfg;
	m.routes = *routes;
	m.path = path;
	m.generation = 1;
	m.started_s = (uint64_t)time(NULL);
	log_set_role("master");
	sd_notify_open();
	if (install_signals() < 0 || pipe2(m.lifeline, O_CLOEXEC) < 0) {
		log_error("pipe: %s", strerror(errno));
		free(m.cfg);
		return 1;
	}
	m.shm = stats_create((uint32_t)n);
	if (m.shm == NULL) {
		log_error("cannot create the stats segment: %s", strerror(errno));
		free(m.cfg);
		return 1;
	}
	m.http = http_start(cfg, m.shm, status_fn, &m);
	if (m.http == NULL) {
		free(m.cfg);
		return 1;
	}
	if (strcmp(cfg->control_socket, "none") != 0) {
		m.ctl = control_open(cfg->control_socket, on_control, &m);
		if (m.ctl == NULL)
			log_error("control: no control socket: event-relayctl cannot reach this "
			    "daemon (SIGHUP still reloads)");
	}
	if (routes_register(m.shm, &m.routes) < 0)
		return 1;	/* cannot happen: a new segment has every row free */
	if (m.routes.n == 1)
		log_info("starting %d workers: queue %s -> topic %s", n, m.routes.v[0].queue,
		    m.routes.v[0].topic);
	else
		log_info("starting %d workers: %zu routes", n, m.routes.n);
	for (int w = 0; w < n; w++)
		master_spawn(&m, 2 * w);

	for (;;) {
		struct pollfd pfd[2 + 17];
		int timeout = sd_notify_poll_timeout(http_timeout_ms(m.http)), nctl;
		uint64_t now;

		pfd[0] = (struct pollfd){ .fd = self_pipe[0], .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = http_fd(m.http), .events = POLLIN };
		nctl = control_pollfds(m.ctl, pfd + 2, 17);
		if (m.rl.on && timeout > 100)
			timeout = 100;	/* a new worker's readiness is polled */
		if (poll(pfd, (nfds_t)(2 + nctl), timeout) < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (pfd[0].revents & POLLIN) {
			char buf[64];

			while (read(self_pipe[0], buf, sizeof(buf)) > 0)
				;
		}
		now = mono_ms();
		if (sig_chld) {
			sig_chld = 0;
			reap(&m);
		}
		control_handle(m.ctl, pfd + 2, nctl, now);
		if (sig_stop && !m.stopping) {
			sig_stop = 0;
			begin_stop(&m, now);
		}
		if (sig_reopen) {
			sig_reopen = 0;
			log_reopen();
			for (int p = 0; p < NSLOTS; p++)
				if (m.procs[p].pid > 0)
					kill(m.procs[p].pid, SIGUSR1);
		}
		if (sig_hup && !m.stopping) {
			sig_hup = 0;
			if (m.rl.on) {
				log_warn("SIGHUP: a reload is in progress; ignored");
			} else {
				log_info("SIGHUP: reloading");
				if (reload_start(&m) == 0)
					reload_step(&m, now);
			}
		}
		if (m.stopping) {
			if (live(&m) == 0)
				break;
			if (now >= m.stop_deadline) {
				for (int p = 0; p < NSLOTS; p++) {
					if (m.procs[p].pid > 0) {
						log_warn("worker %d (pid %ld) did not stop in time: killing it",
						    p / 2, (long)m.procs[p].pid);
						kill(m.procs[p].pid, SIGKILL);
					}
				}
				while (live(&m) > 0) {
					int status;
					pid_t pid = waitpid(-1, &status, 0);

					if (pid < 0)
						break;
					child_died(&m, pid, status);
				}
				break;
			}
		} else {
			reload_step(&m, now);
			supervise(&m, now);
			sample_rates(&m, now);
		}
		sd_notify_update(m.shm, &m.routes);
		http_run(m.http);
	}
	/* One last reap: a worker may have died since the loop's last one. */
	reap(&m);
	control_close(m.ctl);
	http_stop(m.http);
	log_info("stopped");
	*routes = m.routes;
	free(m.last_errors);
	free(m.last_needs_restart);
	free(m.rl.changed);
	stats_destroy(m.shm);
	sd_notify_close();
	/* Back to main(), which frees them: the ones in force now. */
	*cfg = *m.cfg;
	free(m.cfg);
	return 0;
}
