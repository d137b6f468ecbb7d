/*
 * dlq: event-relayctl's dead-letter commands (list, replay, purge) on
 * one route's dead-letter queue, talking to RabbitMQ directly.
 */
#ifndef ER_CTL_DLQ_H
#define ER_CTL_DLQ_H

#include <stdio.h>

struct er_config;

/* ctl_dlq's exit codes. */
enum {
	CTL_DLQ_OK = 0,
	CTL_DLQ_FAILED = 1,
	CTL_DLQ_USAGE = 2,
	CTL_DLQ_UNREACHABLE = 3,	/* no connection to RabbitMQ at all */
};

/*
 * Runs one dead-letter command. cfg: the loaded configuration
 * (rabbitmq.url, rabbitmq.connect_timeout); queue: the route's source
 * queue; dlq: its dead-letter queue; argv[0]: "list", "replay" or
 * "purge", followed by that command's options (parsed here with getopt,
 * from argv[1]); json: --json was given to event-relayctl. Writes the
 * result to stdout and errors to stderr; returns the process's exit
 * code (above).
 */
int ctl_dlq(const struct er_config *cfg, const char *queue, const char *dlq, int argc,
    char **argv, int json);

/* The usage lines of the dead-letter commands, for event-relayctl -h. */
void ctl_dlq_usage(FILE *out);

#endif
