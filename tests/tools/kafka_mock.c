/*
 * kafka-mock: a librdkafka mock cluster in a process of its own, for the
 * integration tests.
 *
 * It starts a cluster of N brokers (ids 1..N, listening on 127.0.0.1),
 * prints the bootstrap list as the first line on stdout, then reads one
 * command per line on stdin and answers every line with exactly one line,
 * "ok" or "error: <reason>", flushed at once, so that a driver can pair
 * each command with its answer:
 *
 *   topic NAME PARTITIONS [REPLICATION]  create a topic (rf min(3,N))
 *   down ID | up ID                       take broker ID down / up
 *   rtt ID MS                             delay every response of broker ID
 *   err API COUNT ERR...                  queue COUNT request errors for API
 *                                         on the whole cluster (the ERR list
 *                                         is repeated to fill COUNT)
 *   berr ID API COUNT ERR MS              queue COUNT (ERR, delay MS) on
 *                                         broker ID only
 *   topicerr NAME ERR                     topic-level error in Metadata
 *   leader TOPIC PARTITION ID             move a partition's leader
 *   clear                                 drop all queued cluster errors
 *   quit                                  answer ok and exit
 *
 * API is a Kafka protocol request name (Produce, Fetch, Metadata,
 * InitProducerId, ...) or its number; ERR is a librdkafka error name as
 * printed by rd_kafka_err2name (REQUEST_TIMED_OUT, NOT_LEADER_FOR_PARTITION,
 * _TRANSPORT to cut the connection, ...) or its number.
 *
 * EOF on stdin, SIGTERM or SIGINT destroy the cluster and exit 0.
 *
 * The one thing to know before changing it: the cluster's threads are
 * created with SIGINT/SIGTERM blocked, so that those signals reach only
 * the main thread's self-pipe; keep the blocking before rd_kafka_new().
 *
 * The mock brokers' connections get TCP_NODELAY, as a real Kafka
 * broker's do (see accept() below).
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

/*
 * librdkafka 2.0.2's mock broker accepts its connections with accept()
 * and leaves Nagle's algorithm on, where a real Kafka broker sets
 * TCP_NODELAY. With Nagle on, a small response written while the one
 * before is still unacknowledged waits for the client's delayed ACK:
 * produce requests of one producer stalled ~40 ms, over a hundred times
 * in a 6 s drain. This definition is the one the library's accept()
 * call binds to (the executable comes first in symbol lookup).
 */
int
accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
	int s = accept4(fd, addr, addrlen, 0);
	int one = 1;

	if (s >= 0)
		(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return s;
}

#define MAX_LINE 4096
#define MAX_TOKENS 64
#define MAX_ERRORS 100000

/* Kafka protocol request keys (the Kafka protocol guide's numbering). */
static const struct {
	const char *name;
	int16_t key;
} api_keys[] = {
	{ "Produce", 0 },
	{ "Fetch", 1 },
	{ "ListOffsets", 2 },
	{ "Metadata", 3 },
	{ "OffsetCommit", 8 },
	{ "OffsetFetch", 9 },
	{ "FindCoordinator", 10 },
	{ "JoinGroup", 11 },
	{ "Heartbeat", 12 },
	{ "LeaveGroup", 13 },
	{ "SyncGroup", 14 },
	{ "DescribeGroups", 15 },
	{ "ListGroups", 16 },
	{ "SaslHandshake", 17 },
	{ "ApiVersion", 18 },
	{ "ApiVersions", 18 },
	{ "CreateTopics", 19 },
	{ "DeleteTopics", 20 },
	{ "DeleteRecords", 21 },
	{ "InitProducerId", 22 },
	{ "OffsetForLeaderEpoch", 23 },
	{ "AddPartitionsToTxn", 24 },
	{ "AddOffsetsToTxn", 25 },
	{ "EndTxn", 26 },
	{ "TxnOffsetCommit", 28 },
	{ "DescribeConfigs", 32 },
	{ "AlterConfigs", 33 },
	{ "SaslAuthenticate", 36 },
	{ "CreatePartitions", 37 },
};

/* Highest request key librdkafka 2.0.x knows (RD_KAFKAP__NUM - 1). */
#define API_KEY_MAX 58

static volatile sig_atomic_t got_signal;
static int sig_pipe[2] = { -1, -1 };

static rd_kafka_mock_cluster_t *mcluster;
static int broker_cnt = 3;

static void on_signal(int sig)
{
	int saved = errno;
	char c = 1;

	got_signal = sig;
	if (write(sig_pipe[1], &c, 1) < 0) {
		/* The pipe is full: a wakeup is already pending. */
	}
	errno = saved;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kafka-mock [-b BROKERS] [-t TOPIC:PARTITIONS]...\n"
		   "  prints the bootstrap list, then reads commands on stdin\n"
		   "  (topic, down, up, rtt, err, berr, topicerr, leader,\n"
		   "  clear, quit); see the comment in kafka_mock.c\n");
}

static void answer(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void answer(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	if (fflush(stdout) != 0) {
		/* Nobody reads our answers any more: nothing left to do. */
		fprintf(stderr, "kafka-mock: stdout: %s\n", strerror(errno));
		exit(1);
	}
}

/* Parses a whole decimal number within [min, max]; 0 or -1. */
static int parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_api(const char *s, int16_t *key)
{
	size_t i;
	long v;

	for (i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
		if (strcasecmp(s, api_keys[i].name) == 0) {
			*key = api_keys[i].key;
			return 0;
		}
	}
	if (parse_long(s, 0, API_KEY_MAX, &v) == 0) {
		*key = (int16_t)v;
		return 0;
	}
	return -1;
}

static int parse_err(const char *s, rd_kafka_resp_err_t *err)
{
	const struct rd_kafka_err_desc *descs;
	size_t cnt, i;
	long v;

	if (strncasecmp(s, "RD_KAFKA_RESP_ERR_", 18) == 0)
		s += 18;
	else if (strncasecmp(s, "ERR_", 4) == 0)
		s += 4;

	rd_kafka_get_err_descs(&descs, &cnt);
	for (i = 0; i < cnt; i++) {
		if (descs[i].name && strcasecmp(s, descs[i].name) == 0) {
			*err = descs[i].code;
			return 0;
		}
	}
	if (parse_long(s, INT_MIN, INT_MAX, &v) == 0) {
		*err = (rd_kafka_resp_err_t)v;
		return 0;
	}
	return -1;
}

static int parse_broker(const char *s, int32_t *id)
{
	long v;

	if (parse_long(s, 1, broker_cnt, &v) != 0)
		return -1;
	*id = (int32_t)v;
	return 0;
}

static void answer_err(rd_kafka_resp_err_t err)
{
	if (err)
		answer("error: %s", rd_kafka_err2name(err));
	else
		answer("ok");
}

static int create_topic(const char *name, long parts, long rf)
{
	rd_kafka_resp_err_t err;

	err = rd_kafka_mock_topic_create(mcluster, name, (int)parts, (int)rf);
	if (err) {
		fprintf(stderr, "kafka-mock: topic %s: %s\n", name,
			rd_kafka_err2str(err));
		return -1;
	}
	return 0;
}

static void cmd_err(char **tok, int ntok)
{
	rd_kafka_resp_err_t *errs;
	int16_t key;
	long cnt, i;
	int nnames = ntok - 3;

	if (ntok < 4 || parse_api(tok[1], &key) != 0 ||
	    parse_long(tok[2], 1, MAX_ERRORS, &cnt) != 0 || nnames > cnt) {
		answer("error: usage: err API COUNT ERRNAME...");
		return;
	}
	errs = calloc((size_t)cnt, sizeof(*errs));
	if (!errs) {
		answer("error: out of memory");
		return;
	}
	for (i = 0; i < nnames; i++) {
		if (parse_err(tok[3 + i], &errs[i]) != 0) {
			answer("error: unknown error name %s", tok[3 + i]);
			free(errs);
			return;
		}
	}
	for (i = nnames; i < cnt; i++)
		errs[i] = errs[i % nnames];
	rd_kafka_mock_push_request_errors_array(mcluster, key, (size_t)cnt,
						errs);
	free(errs);
	answer("ok");
}

static void cmd_berr(char **tok, int ntok)
{
	rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
	int32_t id;
	int16_t key;
	long cnt, ms, i;

	if (ntok != 6 || parse_broker(tok[1], &id) != 0 ||
	    parse_api(tok[2], &key) != 0 ||
	    parse_long(tok[3], 1, MAX_ERRORS, &cnt) != 0 ||
	    parse_err(tok[4], &err) != 0 ||
	    parse_long(tok[5], 0, INT_MAX, &ms) != 0) {
		answer("error: usage: berr BROKER API COUNT ERRNAME MS");
		return;
	}
	/* One at a time: the broker variant only takes varargs. */
	for (i = 0; i < cnt; i++) {
		rd_kafka_resp_err_t r;

		r = rd_kafka_mock_broker_push_request_error_rtts(
			mcluster, id, key, 1, err, (int)ms);
		if (r) {
			answer_err(r);
			return;
		}
	}
	answer("ok");
}

static void cmd_clear(void)
{
	int16_t key;

	for (key = 0; key <= API_KEY_MAX; key++)
		rd_kafka_mock_clear_request_errors(mcluster, key);
	answer("ok");
}

/* Runs one command line; returns 1 when the tool must exit. */
static int run_command(char *line)
{
	char *tok[MAX_TOKENS];
	char *save = NULL, *t;
	int ntok = 0;
	int32_t id;
	long a, b;

	for (t = strtok_r(line, " \t\r", &save); t;
	     t = strtok_r(NULL, " \t\r", &save)) {
		if (ntok == MAX_TOKENS) {
			answer("error: too many words");
			return 0;
		}
		tok[ntok++] = t;
	}
	if (ntok == 0) {
		answer("error: empty command");
		return 0;
	}

	if (strcmp(tok[0], "quit") == 0) {
		answer("ok");
		return 1;
	} else if (strcmp(tok[0], "topic") == 0) {
		b = broker_cnt < 3 ? broker_cnt : 3;
		if ((ntok != 3 && ntok != 4) ||
		    parse_long(tok[2], 1, 100000, &a) != 0 ||
		    (ntok == 4 && parse_long(tok[3], 1, broker_cnt, &b) != 0)) {
			answer("error: usage: topic NAME PARTITIONS [REPLICATION]");
			return 0;
		}
		answer_err(rd_kafka_mock_topic_create(mcluster, tok[1], (int)a,
						      (int)b));
	} else if (strcmp(tok[0], "down") == 0 || strcmp(tok[0], "up") == 0) {
		if (ntok != 2 || parse_broker(tok[1], &id) != 0) {
			answer("error: usage: %s BROKER (1..%d)", tok[0],
			       broker_cnt);
			return 0;
		}
		answer_err(tok[0][0] == 'd' ?
			   rd_kafka_mock_broker_set_down(mcluster, id) :
			   rd_kafka_mock_broker_set_up(mcluster, id));
	} else if (strcmp(tok[0], "rtt") == 0) {
		if (ntok != 3 || parse_broker(tok[1], &id) != 0 ||
		    parse_long(tok[2], 0, INT_MAX, &a) != 0) {
			answer("error: usage: rtt BROKER MS");
			return 0;
		}
		answer_err(rd_kafka_mock_broker_set_rtt(mcluster, id, (int)a));
	} else if (strcmp(tok[0], "err") == 0) {
		cmd_err(tok, ntok);
	} else if (strcmp(tok[0], "berr") == 0) {
		cmd_berr(tok, ntok);
	} else if (strcmp(tok[0], "topicerr") == 0) {
		rd_kafka_resp_err_t err;

		if (ntok != 3 || parse_err(tok[2], &err) != 0) {
			answer("error: usage: topicerr TOPIC ERRNAME");
			return 0;
		}
		rd_kafka_mock_topic_set_error(mcluster, tok[1], err);
		answer("ok");
	} else if (strcmp(tok[0], "leader") == 0) {
		if (ntok != 4 || parse_long(tok[2], 0, INT32_MAX, &a) != 0 ||
		    parse_broker(tok[3], &id) != 0) {
			answer("error: usage: leader TOPIC PARTITION BROKER");
			return 0;
		}
		answer_err(rd_kafka_mock_partition_set_leader(
			mcluster, tok[1], (int32_t)a, id));
	} else if (strcmp(tok[0], "clear") == 0) {
		cmd_clear();
	} else {
		answer("error: unknown command %s", tok[0]);
	}
	return 0;
}

/*
 * Reads stdin until EOF, "quit" or a signal. Lines longer than MAX_LINE
 * are answered with an error and skipped.
 */
static void command_loop(void)
{
	char buf[MAX_LINE + 1];
	size_t len = 0;
	int overlong = 0;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = STDIN_FILENO, .events = POLLIN },
			{ .fd = sig_pipe[0], .events = POLLIN },
		};
		ssize_t n;
		char *nl;

		if (got_signal)
			return;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kafka-mock: poll: %s\n",
				strerror(errno));
			return;
		}
		if (got_signal)
			return;
		if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;

		n = read(STDIN_FILENO, buf + len, MAX_LINE - len);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			fprintf(stderr, "kafka-mock: stdin: %s\n",
				strerror(errno));
			return;
		}
		if (n == 0) {
			/* EOF: a last line without newline still counts. */
			if (len > 0 && !overlong) {
				buf[len] = '\0';
				run_command(buf);
			}
			return;
		}
		len += (size_t)n;

		while ((nl = memchr(buf, '\n', len)) != NULL) {
			size_t linelen = (size_t)(nl - buf);

			*nl = '\0';
			if (overlong) {
				overlong = 0;
			} else if (run_command(buf)) {
				return;
			}
			len -= linelen + 1;
			memmove(buf, nl + 1, len);
		}
		if (len == MAX_LINE) {
			if (!overlong)
				answer("error: line too long");
			overlong = 1;
			len = 0;
		}
	}
}

static int setup_signals(sigset_t *blocked)
{
	struct sigaction sa;
	int i;

	if (pipe(sig_pipe) != 0) {
		fprintf(stderr, "kafka-mock: pipe: %s\n", strerror(errno));
		return -1;
	}
	for (i = 0; i < 2; i++) {
		fcntl(sig_pipe[i], F_SETFD, FD_CLOEXEC);
		fcntl(sig_pipe[i], F_SETFL, O_NONBLOCK);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	sigemptyset(blocked);
	sigaddset(blocked, SIGTERM);
	sigaddset(blocked, SIGINT);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "brokers", required_argument, NULL, 'b' },
		{ "topic", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char *topics[64];
	int ntopics = 0;
	rd_kafka_conf_t *conf;
	rd_kafka_t *rk;
	sigset_t blocked;
	char errstr[512];
	long v;
	int c, i, rc = 0;

	while ((c = getopt_long(argc, argv, "b:t:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (parse_long(optarg, 1, 32, &v) != 0) {
				fprintf(stderr, "kafka-mock: -b wants 1..32\n");
				return 2;
			}
			broker_cnt = (int)v;
			break;
		case 't':
			if (ntopics == 64 || !strchr(optarg, ':')) {
				fprintf(stderr, "kafka-mock: -t TOPIC:PARTITIONS"
						" (at most 64)\n");
				return 2;
			}
			topics[ntopics++] = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	if (setup_signals(&blocked) != 0)
		return 1;
	/* librdkafka's threads inherit this mask (see the file comment). */
	pthread_sigmask(SIG_BLOCK, &blocked, NULL);

	/*
	 * The mock cluster needs an rd_kafka_t for its bookkeeping only: a
	 * producer that is never used and has no bootstrap servers.
	 */
	conf = rd_kafka_conf_new();
	if (rd_kafka_conf_set(conf, "client.id", "kafka-mock", errstr,
			      sizeof(errstr)) != RD_KAFKA_CONF_OK) {
		fprintf(stderr, "kafka-mock: conf: %s\n", errstr);
		return 1;
	}
	rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (!rk) {
		fprintf(stderr, "kafka-mock: rd_kafka_new: %s\n", errstr);
		return 1;
	}
	mcluster = rd_kafka_mock_cluster_new(rk, broker_cnt);
	if (!mcluster) {
		fprintf(stderr, "kafka-mock: rd_kafka_mock_cluster_new failed\n");
		rd_kafka_destroy(rk);
		return 1;
	}

	for (i = 0; i < ntopics; i++) {
		char *colon = strrchr(topics[i], ':');
		long rf = broker_cnt < 3 ? broker_cnt : 3;

		*colon = '\0';
		if (parse_long(colon + 1, 1, 100000, &v) != 0) {
			fprintf(stderr, "kafka-mock: -t %s: bad partition"
					" count\n", topics[i]);
			rc = 1;
			goto out;
		}
		if (create_topic(topics[i], v, rf) != 0) {
			rc = 1;
			goto out;
		}
	}

	printf("%s\n", rd_kafka_mock_cluster_bootstraps(mcluster));
	if (fflush(stdout) != 0) {
		rc = 1;
		goto out;
	}

	pthread_sigmask(SIG_UNBLOCK, &blocked, NULL);
	command_loop();

out:
	rd_kafka_mock_cluster_destroy(mcluster);
	rd_kafka_destroy(rk);
	return rc;
}
