/*
 * Unit tests of the control protocol's parser (control.c) and of the
 * master's report (status.c): JSON and text, each compared byte for
 * byte with a golden file, from a segment whose worker 0 is in the
 * middle of a reload (a new process active, the old one draining).
 *
 * After an intended change of the output, regenerate the golden files
 * with ER_UPDATE_GOLDEN=1 ./test_control, then read the diff.
 */
#include "autoconf.h"
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/route.h"
#include "common/stats.h"
#include "master/control.h"
#include "master/status.h"

static const struct {
	const char *line;
	int ok;
	enum control_cmd cmd;
	const char *args;
} parse_cases[] = {
	{ "status", 1, CTL_STATUS, "" },
	{ "status text", 1, CTL_STATUS, "text" },
	{ "reload", 1, CTL_RELOAD, "" },
	{ "reload wait", 1, CTL_RELOAD, "wait" },
	{ "reload \t wait", 1, CTL_RELOAD, "wait" },
	{ "pause", 1, CTL_PAUSE, "" },
	{ "resume", 1, CTL_RESUME, "" },
	{ "stop", 1, CTL_STOP, "" },
	{ "log-reopen", 1, CTL_LOG_REOPEN, "" },
	{ "version", 1, CTL_VERSION, "" },
	{ "", 0, CTL_COUNT, NULL },
	{ "reloadx", 0, CTL_COUNT, NULL },
	{ "paus", 0, CTL_COUNT, NULL },
	{ "PAUSE", 0, CTL_COUNT, NULL },
	{ " pause", 0, CTL_COUNT, NULL },
};

Test(control, parse)
{
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		enum control_cmd cmd = CTL_COUNT;
		const char *args = NULL;
		int rc = control_parse(parse_cases[i].line, &cmd, &args);

		cr_expect((rc == 0) == parse_cases[i].ok, "\"%s\": got %s, want %s",
		    parse_cases[i].line, rc == 0 ? "a command" : "unknown",
		    parse_cases[i].ok ? "a command" : "unknown");
		if (rc != 0 || !parse_cases[i].ok)
			continue;
		cr_expect(cmd == parse_cases[i].cmd, "\"%s\": command %d, want %d", parse_cases[i].line,
		    cmd, parse_cases[i].cmd);
		cr_expect_str_eq(args, parse_cases[i].args, "\"%s\": args \"%s\", want \"%s\"",
		    parse_cases[i].line, args, parse_cases[i].args);
	}
}

/* Worker 0: old process (half 0) draining, new one (half 1) active. */
static struct route route_default = {
	.name = (char *)"default", .queue = (char *)"events", .topic = (char *)"processed_events",
	.dlq = (char *)"events.dlq",
};

static struct stats_shm *
make_shm(void)
{
	struct stats_shm *shm = stats_create(2);
	struct worker_slot *old, *w0, *w1;

	cr_assert(shm != NULL, "stats_create(2): got NULL");
	shm->active[0] = 1;
	old = &shm->slot[0];
	w0 = stats_active(shm, 0);
	w1 = stats_active(shm, 1);
	cr_assert(w0 == &shm->slot[1] && w1 == &shm->slot[2], "active slots: got %td and %td",
	    w0 - shm->slot, w1 - shm->slot);
	old->pid = 100;
	old->state = WS_STOPPING;
	stat_add(&old->retired.consumed, 5000);
	stat_add(&old->cur.consumed, 200);
	stat_add(&old->cur.published, 4500);
	stat_set(&old->gauges.in_flight, 3);
	w0->pid = 200;
	w0->state = WS_RUNNING;
	w0->generation = 2;
	w0->config_generation = 2;
	w0->started_s = 1700000100;
	w0->heartbeat_ms = 990;
	stat_add(&w0->cur.consumed, 40);
	stat_add(&w0->cur.published, 30);
	stat_add(&w0->cur.duplicates, 4);
	stat_add(&w0->cur.dead_lettered[DLQ_invalid_json], 2);
	route_default.stats_idx = (unsigned)stats_route_register(shm, "default");
	stat_add(&w0->rcur[0].consumed, 40);
	stat_add(&w0->rcur[0].published, 30);
	stat_add(&w0->rcur[0].duplicates, 4);
	stat_add(&w0->rcur[0].dead_lettered[DLQ_invalid_json], 2);
	stat_set(&w0->gauges.in_flight, 6);
	stat_set(&w0->gauges.amqp_up, 1);
	stat_set(&w0->gauges.kafka_up, 1);
	stat_set(&w0->gauges.redis_up, 1);
	for (int i = 0; i < 99; i++)
		stats_observe_latency(&w0->cur, 4000);
	stats_observe_latency(&w0->cur, 90000);
	w1->pid = 300;
	w1->state = WS_DEGRADED;
	w1->generation = 1;
	w1->config_generation = 1;
	w1->started_s = 1700000000;
	w1->heartbeat_ms = 400;
	stat_set(&w1->gauges.amqp_up, 1);
	stat_set(&w1->gauges.kafka_up, 1);
	stat_set(&w1->gauges.breaker_open, 1);
	stat_set(&w1->gauges.paused, 1);
	stats_reason_set(&w1->reason[REASON_REDIS], "redis: 127.0.0.1:6379: connect: Connection refused");
	/* A ready worker with a parked route: a warning, not a reason it is not ready. */
	stats_reason_set(&w0->reason[REASON_AMQP],
	    "amqp: route audit: check queue audit: channel closed: 404 NOT_FOUND");
	return shm;
}

static const double rates[2] = { 1234.5, 0 };

static const struct route_set routes = { .v = &route_default, .n = 1, .implicit = 1 };

static const struct status_info info = {
	.version = "9.9.9",
	.instance = "relay-a",
	.config_path = "/etc/event-relay/event-relay.conf",
	.routes = &routes,
	.generation = 2,
	.started_s = 1700000000,
	.now_s = 1700003723,
	.now_ms = 1000,
	.paused = 1,
	.reload_at_s = 1700000100,
	.reload_ok = 1,
	.reload_needs_restart = "metrics.listen\n",
	.msgs_per_s = rates,
};

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	cr_assert(f != NULL, "open %s: got an error, want the golden file", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = calloc(1, (size_t)n + 1);
	cr_assert(buf != NULL && fread(buf, 1, (size_t)n, f) == (size_t)n, "read %s", path);
	fclose(f);
	return buf;
}

static void
check_golden(const char *got, const char *name)
{
	char path[512];
	char *want;

	snprintf(path, sizeof(path), "%s/golden/%s", TEST_SRCDIR, name);
	if (getenv("ER_UPDATE_GOLDEN") != NULL) {
		FILE *f = fopen(path, "wb");

		cr_assert(f != NULL, "cannot write %s", path);
		fputs(got, f);
		fclose(f);
	}
	want = slurp(path);
	cr_expect_str_eq(got, want, "%s: got\n%s\nwant\n%s", name, got, want);
	free(want);
}

static char *
render(int text)
{
	struct stats_shm *shm = make_shm();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert(f != NULL);
	if (text)
		status_render_text(f, shm, &info);
	else
		status_render(f, shm, &info);
	fclose(f);
	stats_destroy(shm);
	return buf;
}

Test(status, json_golden)
{
	char *got = render(0);

	check_golden(got, "status.json");
	/* Worker 0's counters add its draining process's. */
	cr_expect(strstr(got, "\"consumed_total\":5240") != NULL, "worker 0 consumed: %s", got);
	cr_expect(strstr(got, "\"draining_pid\":100") != NULL, "worker 0 draining pid: %s", got);
	cr_expect(strstr(got, "password") == NULL && strstr(got, "amqp://") == NULL,
	    "a secret or URL in /status: %s", got);
	free(got);
}

Test(status, text_golden)
{
	char *got = render(1);

	check_golden(got, "status.txt");
	free(got);
}

Test(status, metrics_add_both_halves)
{
	struct stats_shm *shm = make_shm();
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert(f != NULL);
	stats_render_prometheus(shm, f);
	fclose(f);
	cr_expect(strstr(buf, "\nevent_relay_consumed_total 5240\n") != NULL, "total: %s", buf);
	cr_expect(strstr(buf, "\nevent_relay_worker_consumed_total{worker=\"0\"} 5240\n") != NULL,
	    "worker 0 consumed, both processes: got no such line");
	cr_expect(strstr(buf, "\nevent_relay_worker_in_flight{worker=\"0\"} 9\n") != NULL,
	    "worker 0 in flight, both processes: got no such line");
	cr_expect(strstr(buf, "event_relay_worker_state{worker=\"0\",state=\"running\"} 1\n") != NULL,
	    "worker 0's state is its active process's");
	free(buf);
	stats_destroy(shm);
}
