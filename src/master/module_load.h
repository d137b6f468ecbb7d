/*
 * module_load: loading worker.so (see worker/module.h).
 */
#ifndef ER_MODULE_LOAD_H
#define ER_MODULE_LOAD_H

#include <stddef.h>

struct er_config;
struct worker_module;

/* Loads worker.so into this process; NULL with the reason in err. */
const struct worker_module *module_load(char *err, size_t errsz);

/*
 * In a short-lived child: loads worker.so and checks kafka.properties
 * and the AMQP TLS files with it. 0, or -1 with the reason (a bad
 * property, a key that does not match its certificate, a missing
 * module) in err.
 */
int module_check(const struct er_config *cfg, char *err, size_t errsz);

#endif
