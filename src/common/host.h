/*
 * host: this instance's name, for the identities a worker shows its
 * servers (AMQP consumer tag, Kafka client.id, Redis claim tokens) and
 * for /status: the `instance` setting, or the machine's name.
 */
#ifndef ER_HOST_H
#define ER_HOST_H

/*
 * The instance name: set by host_set_instance(), else gethostname(2),
 * else "localhost"; NUL-terminated.
 */
const char *host_name(void);
/* Names this instance (the `instance` setting); NULL or "" keeps the host name. */
void host_set_instance(const char *name);

#endif
