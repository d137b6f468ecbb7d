/*
 * host: this machine's name, for the identities a worker shows its
 * servers (AMQP consumer tag, Kafka client.id, Redis claim tokens).
 */
#ifndef ER_HOST_H
#define ER_HOST_H

/* gethostname(2), or "localhost"; read once, NUL-terminated. */
const char *host_name(void);

#endif
