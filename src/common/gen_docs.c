/*
 * gen-docs: prints the generated parts of the man pages in man(7)
 * markup, from the same tables the daemon is built from:
 *   gen-docs settings   the settings list of event-relay.conf(5)
 *   gen-docs env        the ENVIRONMENT list of event-relayd(8)
 *   gen-docs metrics    the METRICS list of event-relayd(8)
 *   gen-docs reasons    the dead-letter reasons of event-relayd(8)
 *   gen-docs commands   the commands of event-relayctl(8)
 *   gen-docs routes     the KEYS list of event-relay-routes(5)
 *   gen-docs seccomp    a worker's allowed system calls, for event-relayd(8)
 * A build-time tool (noinst); man/Makefile.inc splices its output into
 * the .in pages.
 *
 * Before changing: the families that are not rows of stats.def
 * (dead-lettered, latency, restarts, up, state, workers) are described
 * here by hand and must follow stats_render.c.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "common/config.h"
#include "common/stats.h"

/*
 * Writes `s` as roff text. `literal` is for names, paths and values:
 * '-' becomes "\-" so that it is copied as typed, not as a hyphen.
 */
static void
roff(const char *s, int literal)
{
	for (int bol = 1; *s != '\0'; s++, bol = 0) {
		if (bol && (*s == '.' || *s == '\''))
			fputs("\\&", stdout);
		if (*s == '\\')
			fputs("\\e", stdout);
		else if (*s == '-' && literal)
			fputs("\\-", stdout);
		else
			putchar(*s);
	}
}

/* roff() of the first n bytes of s, as a literal. */
static void
roff_n(const char *s, size_t n)
{
	char buf[128];

	if (n >= sizeof(buf))
		n = sizeof(buf) - 1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	roff(buf, 1);
}

/* Writes prose filled to lines of at most ~72 bytes, then a newline. */
static void
text(const char *s)
{
	size_t col = 0;

	while (*s != '\0') {
		size_t n = strcspn(s, " ");
		char word[256];

		if (n >= sizeof(word))
			n = sizeof(word) - 1;
		memcpy(word, s, n);
		word[n] = '\0';
		if (col > 0 && col + 1 + n > 72) {
			putchar('\n');
			col = 0;
		} else if (col > 0) {
			putchar(' ');
			col++;
		}
		roff(word, 0);
		col += n;
		s += n;
		s += strspn(s, " ");
	}
	putchar('\n');
}

/* A tag line: ".B name". */
static void
tag(const char *name)
{
	fputs(".TP\n.B ", stdout);
	roff(name, 1);
	putchar('\n');
}

/* The value of a default, in libconfig syntax. */
static void
put_default(const struct setting_doc *d)
{
	if (strcmp(d->type, "INT") == 0 || strcmp(d->type, "BOOL") == 0) {
		roff(d->def, 1);
	} else if (strcmp(d->type, "CHOICE") == 0) {
		fputs("\\(dq", stdout);
		roff_n(d->def, strcspn(d->def, "|"));
		fputs("\\(dq", stdout);
	} else if (strcmp(d->type, "LIST") == 0) {
		fputs("[ ", stdout);
		roff(d->def, 1);
		fputs(" ]", stdout);
	} else {
		fputs("\\(dq", stdout);
		roff(d->def, 1);
		fputs("\\(dq", stdout);
	}
}

/* The type of a setting, as a sentence. */
static void
put_type(const struct setting_doc *d)
{
	static const struct {
		const char *type, *text;
	} words[] = {
		{ "BOOL", "A boolean, true or false." },
		{ "STR", "A string." },
		{ "ADDR", "A string host:port (an IPv6 host in brackets)." },
		{ "ADDRS", "A list of host:port strings, or one string of them separated by commas; empty: none." },
		{ "URL", "A string: amqp:// or amqps:// URLs, separated by commas." },
		{ "LEVEL", "A string; warning is taken as warn." },
		{ "LIST", "A list of strings." },
		{ "LOGTARGET", "A string: stderr, syslog or an absolute path." },
	};

	if (strcmp(d->type, "INT") == 0) {
		printf("An integer from %ld to %ld.\n", d->min, d->max);
		return;
	}
	if (strcmp(d->type, "CHOICE") == 0) {
		fputs("One of the strings ", stdout);
		for (const char *p = d->def;;) {
			size_t len = strcspn(p, "|");

			fputs("\\(dq", stdout);
			roff_n(p, len);
			fputs("\\(dq", stdout);
			if (p[len] == '\0')
				break;
			p += len + 1;
			fputs(strchr(p, '|') != NULL ? ", " : " or ", stdout);
		}
		fputs(".\n", stdout);
		return;
	}
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcmp(d->type, words[i].type) == 0) {
			printf("%s\n", words[i].text);
			return;
		}
	}
	printf("A %s.\n", d->type);
}

static void
settings(void)
{
	const struct setting_doc *docs;
	size_t n = config_settings(&docs);

	for (size_t i = 0; i < n; i++) {
		const struct setting_doc *d = &docs[i];

		tag(d->path);
		text(d->help);
		put_type(d);
		if (*d->def == '\0' && strcmp(d->type, "INT") != 0 && strcmp(d->type, "BOOL") != 0) {
			fputs("Empty by default.\n", stdout);
		} else {
			fputs("Default: ", stdout);
			put_default(d);
			fputs(".\n", stdout);
		}
		if (d->env != NULL) {
			fputs("Environment:\n.BR ", stdout);
			roff(d->env, 1);
			fputs(" .\n", stdout);
		}
	}
}

static void
env(void)
{
	const struct setting_doc *docs;
	size_t n = config_settings(&docs);

	for (size_t i = 0; i < n; i++) {
		if (docs[i].env == NULL)
			continue;
		tag(docs[i].env);
		fputs("Overrides\n.BR ", stdout);
		roff(docs[i].path, 1);
		fputs(" .\n", stdout);
		text(docs[i].help);
	}
}

/* ".BR event_relay_NAME , event_relay_worker_NAME" under a .TP. */
static void
family_tag(const char *name)
{
	fputs(".TP\n.BR event_relay_", stdout);
	roff(name, 1);
	fputs(" \", \" event_relay_worker_", stdout);
	roff(name, 1);
	putchar('\n');
}

static void
metrics(void)
{
	static const uint64_t bounds_us[] = {
#define LATENCY_BUCKET(us) us,
#include "common/stats.def"
#undef LATENCY_BUCKET
	};
	char buf[512];
	size_t len;

#define STAT_COUNTER(f, name, help) \
	family_tag(name); \
	fputs("Counter.\n", stdout); \
	text(help);
#include "common/stats.def"
#undef STAT_COUNTER
#define STAT_GAUGE(f, name, help) \
	family_tag(name); \
	fputs("Gauge.\n", stdout); \
	text(help);
#include "common/stats.def"
#undef STAT_GAUGE

	family_tag("dead_lettered_total");
	fputs("Counter.\nMessages dead-lettered, labelled\n.I reason\n", stdout);
	fputs("(the per-worker series also\n.IR worker ),\n", stdout);
	fputs("one series for each reason under\n.BR \"DEAD LETTERS\" .\n", stdout);

#define STAT_ROUTE_COUNTER(f, name, help) \
	tag("event_relay_" name); \
	fputs("Counter, totals only, labelled\n.IR route .\n", stdout); \
	text(help);
#include "common/stats.def"
#undef STAT_ROUTE_COUNTER
	tag("event_relay_route_dead_lettered_total");
	fputs("Counter, totals only, labelled\n.I route\nand\n.IR reason .\n", stdout);
	fputs("Each family by route adds up to its unlabelled total; a route keeps its series\n"
	    "after a reload removes it, so that counters never go back.\n", stdout);

	family_tag("processing_latency_seconds");
	fputs("Histogram.\nSeconds from receiving a delivery to acknowledging it.\n", stdout);
	len = (size_t)snprintf(buf, sizeof(buf), "Bucket upper bounds:");
	for (size_t i = 0; i < sizeof(bounds_us) / sizeof(bounds_us[0]) && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s %g", i > 0 ? "," : "",
		    (double)bounds_us[i] / 1e6);
	if (len < sizeof(buf))
		snprintf(buf + len, sizeof(buf) - len, " and +Inf.");
	text(buf);

	family_tag("processing_latency_max_seconds");
	fputs("Gauge.\nThe longest time from receiving a delivery to acknowledging it\n"
	    "since the relay started (kept across worker restarts).\n", stdout);

	family_tag("claim_latency_seconds");
	fputs("Histogram, same buckets.\nSeconds from receiving a delivery to handing its record to the Kafka\n"
	    "producer the first time: decoding, the Redis claim's round trip (or the\n"
	    "wait for another consumer's claim) and the worker's loop. Deliveries never produced\n"
	    "(duplicates, most dead letters) are not counted.\n", stdout);

	family_tag("kafka_produce_latency_seconds");
	fputs("Histogram, same buckets.\nSeconds from handing a record to the Kafka producer to its delivery\n"
	    "report: librdkafka's\n.B linger.ms\nand its queue, the produce request and the brokers'\n"
	    ".BR acks=all .\n"
	    "Set beside the processing latency, it tells Kafka's share of it from the\n"
	    "relay's own (the claim latency above, the loop, the wait for older\n"
	    "deliveries, since acknowledgements are cumulative).\n", stdout);

	family_tag("restarts_total");
	fputs("Counter.\nWorker processes restarted after they exited.\n", stdout);

	tag("event_relay_worker_up");
	fputs("Gauge, per worker only.\n1 while the worker is running or degraded, else 0.\n",
	    stdout);

	tag("event_relay_worker_state");
	fputs("Gauge, per worker only, labelled\n.IR state :\n", stdout);
	len = (size_t)snprintf(buf, sizeof(buf), "1 for the state the worker is in, 0 for the others");
	for (size_t i = 0; i < WS_STATE_COUNT && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
		    i == 0 ? " (" : i + 1 == WS_STATE_COUNT ? " and " : ", ", worker_state_names[i]);
	if (len < sizeof(buf))
		snprintf(buf + len, sizeof(buf) - len, ").");
	text(buf);

	tag("event_relay_workers");
	fputs("Gauge.\nThe configured number of worker processes.\n", stdout);
}

static void
reasons(void)
{
#define DLQ_REASON(f, label, help) \
	tag(label); \
	text(help);
#include "common/stats.def"
#undef DLQ_REASON
}

/* The control socket's commands (control.def), for event-relayctl(8). */
static void
commands(void)
{
	char name[128];

#define CONTROL_CMD(cname, id, changes, args, help) \
	snprintf(name, sizeof(name), "%s%s%s", cname, \
	    strcmp(cname, "reload") == 0 ? " [--wait]" : strcmp(cname, "status") == 0 ? \
	    " [--json]" : "", ""); \
	tag(name); \
	text(help); \
	if (changes) \
		text("Changes the daemon: needs the control socket (root or the daemon's group).");
#include "common/control.def"
#undef CONTROL_CMD
	(void)name;
}

/* What a value of route kind `kind` may be (route_keys.def). */
static const char *
route_kind_expect(const char *kind)
{
#define ROUTE_KIND(k, expect) \
	if (strcmp(#k, kind) == 0) \
		return expect;
#include "common/route_keys.def"
#undef ROUTE_KIND
	return "";
}

/* One key of a route file: required or its default, help, the value. */
static void
route_key(const char *key, const char *kind, int required, const char *def, const char *help)
{
	char buf[512];

	tag(key);
	if (required) {
		fputs("Required.\n", stdout);
	} else if (def != NULL && *def == '\0') {
		fputs("Default: the empty string.\n", stdout);
	} else if (def != NULL) {
		fputs("Default:\n.BR ", stdout);
		roff(def, 1);
		fputs(" .\n", stdout);
	}
	text(help);
	snprintf(buf, sizeof(buf), "Value: %s.", route_kind_expect(kind));
	text(buf);
}

/* The keys of a route file (route_keys.def), one subsection per mapping. */
static void
routes(void)
{
	static const struct {
		const char *sec, *title;
	} secs[] = {
#define ROUTE_SECTION(sec, title) { #sec, title },
#include "common/route_keys.def"
#undef ROUTE_SECTION
	};
	static const struct {
		const char *sec, *key, *kind, *def, *help;
		int required;
	} keys[] = {
#define ROUTE_KEY(sec, key, field, kind, req, def, help) { #sec, key, #kind, def, help, req },
#include "common/route_keys.def"
#undef ROUTE_KEY
	};

	for (size_t i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
		fputs(".SS ", stdout);
		roff(secs[i].title, 0);
		putchar('\n');
		for (size_t j = 0; j < sizeof(keys) / sizeof(keys[0]); j++)
			if (strcmp(keys[j].sec, secs[i].sec) == 0)
				route_key(keys[j].key, keys[j].kind, keys[j].required, keys[j].def,
				    keys[j].help);
	}
}

/* One system call of the allowlist, bold, without its line break. */
static void
syscall_row(const char *name)
{
	fputs("\\fB", stdout);
	roff(name, 1);
	fputs("\\fR", stdout);
}

/*
 * The seccomp allowlist (worker/seccomp.def), for event-relayd(8): one
 * paragraph per group, then one of the rows of sanitizer builds.
 */
static void
seccomp(void)
{
	static const struct {
		const char *group, *name, *arg0;
		int sanitizer;
	} rows[] = {
#define GROUP(id, title)
#define SYSCALL(name, group) { #group, #name, NULL, 0 },
#define SYSCALL_ARG0(name, group, ...) { #group, #name, #__VA_ARGS__, 0 },
#define SANITIZER_SYSCALL(name, group) { #group, #name, NULL, 1 },
#include "worker/seccomp.def"
#undef GROUP
#undef SYSCALL
#undef SYSCALL_ARG0
#undef SANITIZER_SYSCALL
	};
	static const struct {
		const char *id, *title;
	} groups[] = {
#define GROUP(id, title) { #id, title },
#define SYSCALL(name, group)
#define SYSCALL_ARG0(name, group, ...)
#define SANITIZER_SYSCALL(name, group)
#include "worker/seccomp.def"
#undef GROUP
#undef SYSCALL
#undef SYSCALL_ARG0
#undef SANITIZER_SYSCALL
	};
	size_t nrows = sizeof(rows) / sizeof(rows[0]);
	int first = 1;

	for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++) {
		char title[512];

		first = 1;
		for (size_t i = 0; i < nrows; i++) {
			if (rows[i].sanitizer || strcmp(rows[i].group, groups[g].id) != 0)
				continue;
			if (first) {
				snprintf(title, sizeof(title), "%s:", groups[g].title);
				fputs(".PP\n", stdout);
				text(title);
			} else {
				fputs(",\n", stdout);
			}
			syscall_row(rows[i].name);
			if (rows[i].arg0 != NULL) {
				fputs(" (", stdout);
				roff(rows[i].arg0, 1);
				fputs(" only)", stdout);
			}
			first = 0;
		}
		if (!first)
			fputs(".\n", stdout);
	}
	first = 1;
	for (size_t i = 0; i < nrows; i++) {
		if (!rows[i].sanitizer)
			continue;
		if (first)
			fputs(".PP\nAddressSanitizer builds (tests) only:\n", stdout);
		else
			fputs(",\n", stdout);
		syscall_row(rows[i].name);
		first = 0;
	}
	if (!first)
		fputs(".\n", stdout);
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "settings") == 0) {
		settings();
	} else if (argc == 2 && strcmp(argv[1], "env") == 0) {
		env();
	} else if (argc == 2 && strcmp(argv[1], "metrics") == 0) {
		metrics();
	} else if (argc == 2 && strcmp(argv[1], "reasons") == 0) {
		reasons();
	} else if (argc == 2 && strcmp(argv[1], "commands") == 0) {
		commands();
	} else if (argc == 2 && strcmp(argv[1], "routes") == 0) {
		routes();
	} else if (argc == 2 && strcmp(argv[1], "seccomp") == 0) {
		seccomp();
	} else {
		fputs("usage: gen-docs settings|env|metrics|reasons|commands|routes|seccomp\n",
		    stderr);
		return 1;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("gen-docs: stdout");
		return 1;
	}
	return 0;
}
