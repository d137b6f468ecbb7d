/*
 * drain-watch: times event-relayd draining a pre-loaded queue, for
 * bench/run.
 *
 *   drain-watch -p METRICS_PORT -n MSGS -r RELAY_PID [-i POLL_MS]
 *               [-T TIMEOUT_S] [-s SKIP] [PID...]
 *
 * Polls http://127.0.0.1:METRICS_PORT/metrics every POLL_MS (20): t0 is
 * the first poll that sees event_relay_consumed_total > 0 (the poll
 * before, if everything was acked within one poll), t1 the first that
 * sees event_relay_acked_total >= MSGS. At t0 and at t1 it reads the CPU
 * time (utime + stime, clock ticks) of each PID, of the relay and of its
 * children (the workers then alive), and the machine's idle ticks and
 * context switches (/proc/stat), and prints one line:
 *
 *   drain seconds=S consumed=C acked=A idle0=I idle1=I ctxt0=X ctxt1=X
 *     ticks0=T,T.. ticks1=T,T.. relay0=M,W,N relay1=M,W,N
 *
 * with the ticks in the order of the PIDs; M: the relay's ticks, W: its
 * N children's. The workers are forked after the relay starts, so the
 * caller cannot name them before the drain; a worker that ends during
 * the drain takes its ticks with it (the relay's restarts say so). With
 * -s SKIP it also samples the first poll that sees
 * event_relay_consumed_total >= SKIP (each window filled once) and adds
 *
 *     steady_seconds=S steady_acked=A relay_s=M,W,N
 *
 * S from that poll to t1, A the messages acked in between, M,W,N the
 * relay's ticks at that poll: the drain past its first SKIP deliveries.
 * Exit 1 if RELAY_PID ends or TIMEOUT_S (600) passes first, with the
 * reason on stderr.
 *
 * The one thing to know before changing it: it runs on the machine it
 * measures. A poll is one connect, one write, a few large reads and a
 * scan for two lines; the observer it replaced (bash reading the
 * response through /dev/tcp, one read(2) per byte, and forking for every
 * liveness check) took 0.4 of the 2 cores during a drain.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define TOOL_NAME "drain-watch"
#include "tool.h"

#define MAX_PIDS 16
#define RESP_MAX (4 << 20)

struct sample {
	unsigned long long idle;
	unsigned long long ctxt;	/* the machine's context switches */
	unsigned long long ticks[MAX_PIDS];
	unsigned long long relay, children;	/* the relay's ticks, its children's */
	int nchildren;
};

static void
usage(FILE *f, int rc)
{
	fprintf(f,
	    "usage: drain-watch -p METRICS_PORT -n MSGS -r RELAY_PID [-i POLL_MS]\n"
	    "         [-T TIMEOUT_S] [-s SKIP] [PID...]\n"
	    "  times event-relayd draining MSGS messages (first delivery to last\n"
	    "  ack, from /metrics) and prints 'drain seconds=S consumed=C acked=A\n"
	    "  idle0=I idle1=I ctxt0=X ctxt1=X ticks0=T,... ticks1=T,...\n"
	    "  relay0=M,W,N relay1=M,W,N' (CPU ticks of each PID, of the relay and\n"
	    "  of its N children, idle ticks and context switches of the machine at\n"
	    "  both ends); -s SKIP: also 'steady_seconds=S steady_acked=A\n"
	    "  relay_s=M,W,N' from the first poll seeing SKIP deliveries consumed\n");
	exit(rc);
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Reads a small /proc file into buf; returns its length or -1. */
static ssize_t
read_proc(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return -1;
	n = fread(buf, 1, size - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (ssize_t)n;
}

/* utime + stime of pid (all threads); state in *state. -1 if gone. */
static int
proc_ticks(long pid, unsigned long long *ticks, char *state)
{
	char path[64], buf[1024];
	unsigned long long ut, st;
	const char *p;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (read_proc(path, buf, sizeof(buf)) < 0 || (p = strrchr(buf, ')')) == NULL)
		return -1;
	/* After ") ": state (field 3), ..., utime (14), stime (15). */
	if (sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
	    state, &ut, &st) != 3)
		return -1;
	*ticks = ut + st;
	return 0;
}

/* The machine's idle ticks and context switches (0 where unreadable). */
static void
machine_stat(unsigned long long *idle_out, unsigned long long *ctxt_out)
{
	static char buf[1 << 16];	/* the "intr" line before "ctxt" is long */
	unsigned long long user, nice, sys, idle, iowait;
	const char *c;

	*idle_out = *ctxt_out = 0;
	if (read_proc("/proc/stat", buf, sizeof(buf)) < 0)
		return;
	if (sscanf(buf, "cpu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait) == 5)
		*idle_out = idle + iowait;
	if ((c = strstr(buf, "\nctxt ")) != NULL)
		*ctxt_out = strtoull(c + 6, NULL, 10);
}

/* The ticks of relay and of the children its main thread forked. */
static void
relay_ticks(long relay, struct sample *s)
{
	char path[80], buf[4096], state, *p, *end;
	unsigned long long t;

	s->relay = s->children = 0;
	s->nchildren = 0;
	if (proc_ticks(relay, &t, &state) == 0)
		s->relay = t;
	snprintf(path, sizeof(path), "/proc/%ld/task/%ld/children", relay, relay);
	if (read_proc(path, buf, sizeof(buf)) < 0)
		return;
	for (p = buf;; p = end) {
		long child = strtol(p, &end, 10);

		if (end == p)
			break;
		if (proc_ticks(child, &t, &state) == 0) {
			s->children += t;
			s->nchildren++;
		}
	}
}

static void
take(struct sample *s, long relay, const long *pids, int npids)
{
	char state;

	machine_stat(&s->idle, &s->ctxt);
	for (int i = 0; i < npids; i++)
		if (proc_ticks(pids[i], &s->ticks[i], &state) < 0)
			s->ticks[i] = 0;
	relay_ticks(relay, s);
}

/* The value of the unlabelled series `name` in a /metrics body, or -1. */
static long long
metric(const char *body, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = body; (p = strstr(p, name)) != NULL; p += len) {
		if ((p == body || p[-1] == '\n') && p[len] == ' ')
			return strtoll(p + len + 1, NULL, 10);
	}
	return -1;
}

/*
 * GET /metrics into buf (NUL-terminated body). 0, or -1 when the relay
 * does not answer (yet).
 */
static int
scrape(int port, char *buf, size_t size, const char **body)
{
	static const char req[] = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	size_t got = 0;
	ssize_t n;
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)(sizeof(req) - 1)) {
		close(fd);
		return -1;
	}
	while (got < size - 1 && (n = read(fd, buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = '\0';
	if (strncmp(buf, "HTTP/1.", 7) != 0 || strncmp(buf + 8, " 200", 4) != 0 ||
	    (*body = strstr(buf, "\r\n\r\n")) == NULL)
		return -1;
	*body += 4;
	return 0;
}

static void
print_ticks(const char *key, const struct sample *s, int npids)
{
	printf(" %s=", key);
	for (int i = 0; i < npids; i++)
		printf("%s%llu", i ? "," : "", s->ticks[i]);
}

int
main(int argc, char **argv)
{
	long port = 0, msgs = 0, relay = 0, poll_ms = 20, timeout_s = 600;
	long pids[MAX_PIDS];
	long skip = 0;
	int npids = 0, c, started = 0, skipped = 0;
	struct sample prev, s0, s1, ss;
	uint64_t ts = 0;
	long long acked_s = 0;
	uint64_t t_prev, t0 = 0, t1, deadline;
	long long consumed = 0, acked = 0;
	char *buf;

	while ((c = getopt(argc, argv, "p:n:r:i:T:s:h")) != -1) {
		switch (c) {
		case 'p': port = parse_num("-p", optarg, 1, 65535); break;
		case 'n': msgs = parse_num("-n", optarg, 1, LONG_MAX); break;
		case 'r': relay = parse_num("-r", optarg, 1, INT_MAX); break;
		case 'i': poll_ms = parse_num("-i", optarg, 1, 999); break;
		case 'T': timeout_s = parse_num("-T", optarg, 1, 86400); break;
		case 's': skip = parse_num("-s", optarg, 1, LONG_MAX); break;
		case 'h': usage(stdout, 0); break;
		default: usage(stderr, 2); break;
		}
	}
	if (port == 0 || msgs == 0 || relay == 0 || argc - optind > MAX_PIDS)
		usage(stderr, 2);
	for (int i = optind; i < argc; i++)
		pids[npids++] = parse_num("PID", argv[i], 1, INT_MAX);
	if ((buf = malloc(RESP_MAX)) == NULL) {
		fputs("drain-watch: out of memory\n", stderr);
		return 1;
	}

	t_prev = now_us();
	take(&prev, relay, pids, npids);
	deadline = t_prev + (uint64_t)timeout_s * 1000000u;
	for (;;) {
		struct timespec nap = { 0, poll_ms * 1000000L };
		const char *body;
		unsigned long long t;
		char state;
		uint64_t now;

		if (scrape((int)port, buf, RESP_MAX, &body) == 0) {
			now = now_us();
			consumed = metric(body, "event_relay_consumed_total");
			acked = metric(body, "event_relay_acked_total");
			if (!started && consumed > 0) {
				started = 1;
				/* All done within one poll: count from the poll before. */
				if (acked >= msgs) {
					t0 = t_prev;
					s0 = prev;
				} else {
					t0 = now;
					take(&s0, relay, pids, npids);
				}
			}
			if (skip > 0 && !skipped && consumed >= skip && acked < msgs) {
				skipped = 1;
				ts = now;
				acked_s = acked;
				take(&ss, relay, pids, npids);
			}
			if (started && acked >= msgs) {
				t1 = now;
				take(&s1, relay, pids, npids);
				break;
			}
		} else {
			now = now_us();
		}
		if (!started) {
			t_prev = now;
			take(&prev, relay, pids, npids);
		}
		if (proc_ticks(relay, &t, &state) < 0 || state == 'Z') {
			fprintf(stderr, "drain-watch: event-relayd (pid %ld) is gone: consumed %lld, "
			    "acked %lld of %ld\n", relay, consumed, acked, msgs);
			return 1;
		}
		if (now >= deadline) {
			fprintf(stderr, "drain-watch: timed out after %ld s: consumed %lld, acked %lld "
			    "of %ld\n", timeout_s, consumed, acked, msgs);
			return 1;
		}
		nanosleep(&nap, NULL);
	}
	printf("drain seconds=%.3f consumed=%lld acked=%lld idle0=%llu idle1=%llu ctxt0=%llu ctxt1=%llu",
	    (double)(t1 - t0) / 1e6, consumed, acked, s0.idle, s1.idle, s0.ctxt, s1.ctxt);
	print_ticks("ticks0", &s0, npids);
	print_ticks("ticks1", &s1, npids);
	printf(" relay0=%llu,%llu,%d relay1=%llu,%llu,%d", s0.relay, s0.children, s0.nchildren,
	    s1.relay, s1.children, s1.nchildren);
	if (skipped)
		printf(" steady_seconds=%.3f steady_acked=%lld relay_s=%llu,%llu,%d",
		    (double)(t1 - ts) / 1e6, acked - acked_s, ss.relay, ss.children, ss.nchildren);
	putchar('\n');
	free(buf);
	return 0;
}
