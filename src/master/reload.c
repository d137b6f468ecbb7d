/*
 * reload: the rolling replacement of a reload (SIGHUP or the control
 * socket's `reload`). The new configuration is checked whole first;
 * invalid, nothing changes. Valid, each worker's new process is started
 * in its idle process slot, made current once it is ready (connected to
 * RabbitMQ, Kafka and Redis), and the old one is stopped gracefully and
 * left to drain. The one thing to know: the reload is over only when no
 * old process is left, which is when `reload wait` is answered.
 */
#include "autoconf.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/config.h"
#include "common/json.h"
#include "common/log.h"
#include "common/route.h"
#include "common/stats.h"
#include "master/control.h"
#include "master/master_int.h"
#include "master/module_load.h"
#include "master/sd_notify.h"

/* "a = 1;" lines of config_dump, for comparing two configurations. */
static char *
dump(const struct er_config *cfg)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	config_dump(cfg, f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* Settings whose line differs between a and b: all, and those needing a restart. */
static void
diff_settings(const struct er_config *a, const struct er_config *b, char **changed,
    char **restart)
{
	static const char *const fixed[] = {
		"instance", "pid_file", "user", "group", "allow_root", "metrics.listen",
		"metrics.max_connections", "metrics.max_connections_per_client",
		"metrics.request_timeout", "control.socket", "log.target", "log.format",
	};
	char *da = dump(a), *db = dump(b), *ch = NULL, *rs = NULL;
	size_t chl = 0, rsl = 0;
	FILE *fc = open_memstream(&ch, &chl), *fr = open_memstream(&rs, &rsl);

	if (da != NULL && db != NULL && fc != NULL && fr != NULL) {
		for (char *line = db; *line != '\0';) {
			size_t n = strcspn(line, "\n");
			size_t name = strcspn(line, " ");
			int same = 0;

			for (char *o = da; *o != '\0';) {
				size_t on = strcspn(o, "\n");

				if (on == n && memcmp(o, line, n) == 0) {
					same = 1;
					break;
				}
				o += on + (o[on] == '\n');
			}
			if (!same) {
				fprintf(fc, "%.*s\n", (int)name, line);
				for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
					if (strlen(fixed[i]) == name && strncmp(fixed[i], line, name) == 0)
						fprintf(fr, "%.*s\n", (int)name, line);
			}
			line += n + (line[n] == '\n');
		}
	}
	if (fc != NULL)
		fclose(fc);
	if (fr != NULL)
		fclose(fr);
	free(da);
	free(db);
	*changed = ch;
	*restart = rs;
}

/* The reply to a reload (and to whoever waited for it). */
char *
reload_reply(const struct master *m, int ok, const char *error)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	fprintf(f, "{\"ok\":%s,\"generation\":%llu", ok ? "true" : "false",
	    (unsigned long long)m->generation);
	if (error != NULL) {
		fputs(",\"error\":", f);
		json_str(f, error);
	}
	fputs(",\"errors\":", f);
	json_lines(f, ok ? NULL : m->last_errors);
	fputs(",\"changed\":", f);
	json_lines(f, m->rl.changed);
	fputs(",\"needs_restart\":", f);
	json_lines(f, m->last_needs_restart);
	fprintf(f, ",\"workers_replaced\":%u,\"workers_started\":%u,\"workers_stopped\":%u",
	    m->rl.replaced, m->rl.started, m->rl.stopped);
	if (m->rl.t0_ms > 0)
		fprintf(f, ",\"duration_ms\":%llu", (unsigned long long)(mono_ms() - m->rl.t0_ms));
	fputc('}', f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

void
reload_finish(struct master *m, int ok, const char *error)
{
	char *json;

	m->rl.on = 0;
	m->last_reload_ok = ok;
	sd_notify_reloaded();
	if (m->old_cfg != NULL) {
		/*
		 * Failed: the old settings come back for every process started
		 * from now on (a restart of a worker not replaced); workers
		 * already replaced run the new ones until the next reload.
		 */
		struct er_config *drop = ok ? m->old_cfg : m->cfg;
		struct route_set rdrop = ok ? m->old_routes : m->routes;

		if (!ok) {
			m->cfg = m->old_cfg;
			m->routes = m->old_routes;
			m->generation--;
			log_set_level(m->cfg->log_level);
		}
		config_free(drop);
		free(drop);
		route_set_free(&rdrop);
		m->old_cfg = NULL;
		memset(&m->old_routes, 0, sizeof(m->old_routes));
	}
	if (ok)
		log_info("reload: generation %llu in force: %u workers replaced, %u started, %u stopped "
		    "in %llu ms", (unsigned long long)m->generation, m->rl.replaced, m->rl.started,
		    m->rl.stopped, (unsigned long long)(mono_ms() - m->rl.t0_ms));
	else
		log_error("reload: generation %llu: %s", (unsigned long long)m->generation, error);
	json = reload_reply(m, ok, error);
	for (int i = 0; i < m->rl.nwaiters; i++)
		master_answer(m->rl.waiter[i], json);
	m->rl.nwaiters = 0;
	free(json);
}

/* One route as route_set_dump writes it; NULL on ENOMEM. */
static char *
route_text(const struct route *r)
{
	struct route_set one = { .v = (struct route *)r, .n = 1 };
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	route_set_dump(&one, f);
	fclose(f);
	return buf;
}

/*
 * Appends to *changed ("setting\n" lines) one line per route added,
 * removed or changed: "route NAME (added)".
 */
static void
diff_routes(const struct route_set *a, const struct route_set *b, char **changed)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (f == NULL)
		return;
	if (*changed != NULL)
		fputs(*changed, f);
	for (size_t i = 0; i < b->n; i++) {
		const struct route *o = route_set_find(a, b->v[i].name);
		char *ta, *tb;

		if (o == NULL) {
			fprintf(f, "route %s (added)\n", b->v[i].name);
			continue;
		}
		ta = route_text(o);
		tb = route_text(&b->v[i]);
		if (ta == NULL || tb == NULL || strcmp(ta, tb) != 0)
			fprintf(f, "route %s (changed)\n", b->v[i].name);
		free(ta);
		free(tb);
	}
	for (size_t i = 0; i < a->n; i++)
		if (route_set_find(b, a->v[i].name) == NULL)
			fprintf(f, "route %s (removed)\n", a->v[i].name);
	fclose(f);
	free(*changed);
	*changed = out;
}

/*
 * Reads and checks the configuration again. Invalid: nothing changes,
 * every error is logged and kept for the reply. Valid: the new settings
 * are in force for every process started from now on, and the rolling
 * replacement starts. Returns 0 when it started.
 */
int
reload_start(struct master *m)
{
	struct er_config *ncfg = calloc(1, sizeof(*ncfg));
	struct route_set nroutes = {0};
	char *errs = NULL, *restart = NULL, *changed = NULL;
	size_t errlen = 0;
	FILE *ef = open_memstream(&errs, &errlen);
	char err[512];
	int nerr;

	if (ncfg == NULL || ef == NULL) {
		free(ncfg);
		if (ef != NULL)
			fclose(ef);
		free(errs);
		log_error("reload: out of memory");
		return -1;
	}
	/* A secret file the master may no longer read keeps what it read at start. */
	nerr = config_reload(ncfg, m->path, NULL, ef, m->cfg);
	if (nerr == 0 && module_check(ncfg, err, sizeof(err)) < 0) {
		fprintf(ef, "%s: %s\n", m->path != NULL ? m->path : "environment", err);
		nerr++;
	}
	if (nerr == 0)
		nerr += route_set_load(&nroutes, ncfg, ef);
	if (nerr == 0 && routes_register(m->shm, &nroutes) < 0) {
		fprintf(ef, "%s: more than %d route names since the start: restart event-relayd to "
		    "run these routes\n", ncfg->routes_dir, STATS_MAX_ROUTES);
		nerr++;
	}
	fclose(ef);
	free(m->last_errors);
	m->last_errors = errs;
	m->last_reload_s = (uint64_t)time(NULL);
	free(m->last_needs_restart);
	m->last_needs_restart = NULL;
	free(m->rl.changed);
	m->rl.changed = NULL;
	m->rl.t0_ms = 0;
	if (nerr > 0) {
		m->last_reload_ok = 0;
		log_error("reload: %s: %d error%s; nothing changed, still generation %llu",
		    m->path != NULL ? m->path : "environment", nerr, nerr == 1 ? "" : "s",
		    (unsigned long long)m->generation);
		for (char *p = errs; p != NULL && *p != '\0';) {
			size_t n = strcspn(p, "\n");

			log_error("reload: %.*s", (int)n, p);
			p += n + (p[n] == '\n');
		}
		route_set_free(&nroutes);
		config_free(ncfg);
		free(ncfg);
		return -1;
	}
	config_warn_insecure(ncfg);
	diff_settings(m->cfg, ncfg, &changed, &restart);
	diff_routes(&m->routes, &nroutes, &changed);
	for (char *p = restart; p != NULL && *p != '\0';) {
		size_t n = strcspn(p, "\n");

		log_warn("reload: %.*s changed: needs a restart to take effect", (int)n, p);
		p += n + (p[n] == '\n');
	}
	m->last_needs_restart = restart;
	m->rl.changed = changed;
	m->rl.on = 1;
	m->rl.next = 0;
	m->rl.old_n = m->shm->nworkers;
	m->rl.upto = m->rl.old_n > (uint32_t)ncfg->workers ? m->rl.old_n : (uint32_t)ncfg->workers;
	m->rl.starting = 0;
	m->rl.replaced = m->rl.started = m->rl.stopped = 0;
	m->rl.t0_ms = mono_ms();
	m->generation++;
	sd_notify_reloading();
	/* Kept until the reload succeeds (the forked workers hold copies). */
	m->old_cfg = m->cfg;
	m->old_routes = m->routes;
	m->cfg = ncfg;
	m->routes = nroutes;
	log_set_level(m->cfg->log_level);	/* the master's, and every new worker's */
	if (m->rl.upto > m->shm->nused)
		m->shm->nused = m->rl.upto;
	log_info("reload: generation %llu: replacing %u workers with %ld, one at a time",
	    (unsigned long long)m->generation, m->rl.old_n, m->cfg->workers);
	return 0;
}

/* How long a new worker may take to get ready before the reload gives up. */
static uint64_t
ready_timeout_ms(const struct master *m)
{
	if (m->cfg->reload_timeout > 0)
		return (uint64_t)m->cfg->reload_timeout * 1000;
	return (uint64_t)m->cfg->amqp_connect_timeout * 1000 * 3 + 30000;
}

/* Moves the rolling replacement on as far as it can go now. */
void
reload_step(struct master *m, uint64_t now)
{
	struct reload *r = &m->rl;

	while (r->on && !m->stopping) {
		uint32_t w = r->next;
		int cur, nxt;

		if (w >= r->upto) {
			/* Done when no old process is left draining. */
			for (int p = 0; p < NSLOTS; p++)
				if (m->procs[p].pid > 0 && !m->procs[p].active)
					return;
			m->shm->nworkers = (uint32_t)m->cfg->workers;
			reload_finish(m, 1, NULL);
			return;
		}
		cur = (int)(2 * w + m->shm->active[w]);
		nxt = (int)(2 * w + (1 - m->shm->active[w]));
		if (w >= (uint32_t)m->cfg->workers) {	/* fewer workers now */
			m->shm->nworkers = (uint32_t)m->cfg->workers;	/* /ready: only those */
			master_retire_proc(m, cur);
			r->stopped++;
			r->next++;
			continue;
		}
		if (w >= r->old_n) {			/* more workers now */
			if (m->procs[cur].pid > 0 && !m->procs[cur].active) {	/* draining, removed before */
				__atomic_store_n(&m->shm->active[w], (uint8_t)(nxt & 1), __ATOMIC_RELAXED);
				cur = nxt;
			}
			if (m->procs[cur].pid > 0 && !m->procs[cur].active)
				return;			/* both halves still draining */
			if (m->procs[cur].pid == 0)
				master_spawn(m, cur);
			m->shm->nworkers = w + 1;
			r->started++;
			r->next++;
			continue;
		}
		if (!r->starting) {
			if (m->procs[nxt].pid > 0) {	/* still draining from a reload before */
				return;
			}
			master_spawn(m, nxt);
			r->starting = 1;
			r->deadline_ms = now + ready_timeout_ms(m);
			return;
		}
		if (stats_slot_ready(&m->shm->slot[nxt], NULL)) {
			__atomic_store_n(&m->shm->active[w], (uint8_t)(nxt & 1), __ATOMIC_RELAXED);
			master_retire_proc(m, cur);
			log_info("reload: worker %u: new process %ld ready, old process %ld draining", w,
			    (long)m->procs[nxt].pid, (long)m->procs[cur].pid);
			r->replaced++;
			r->starting = 0;
			r->next++;
			continue;
		}
		if (m->procs[nxt].pid == 0 || now >= r->deadline_ms) {
			char why[512], reason[160] = "", late[64];

			for (int k = 0; k < REASON_COUNT; k++)
				if (stats_reason_get(&m->shm->slot[nxt].reason[k], reason, sizeof(reason)) > 0)
					break;
			snprintf(late, sizeof(late), "was not ready within %llu s (reload_timeout)",
			    (unsigned long long)(ready_timeout_ms(m) / 1000));
			snprintf(why, sizeof(why), "worker %u: the new process %s%s%s; the old one "
			    "keeps running, the workers after it were not replaced, and the "
			    "configuration before the reload is back in force", w,
			    m->procs[nxt].pid == 0 ? "exited before it was ready" : late,
			    reason[0] ? ": " : "", reason);
			master_retire_proc(m, nxt);
			free(m->last_errors);
			m->last_errors = strdup(why);
			/* Nothing was started or retired beyond the old workers yet. */
			m->shm->nworkers = r->old_n;
			reload_finish(m, 0, why);
			return;
		}
		return;
	}
}

