/*
 * trace_config: resolves the span export settings (tracing.* and the
 * OpenTelemetry environment variables, JAEGER_URL) into the fields
 * trace_* of struct er_config, once every source is loaded. Private to
 * config.c and trace_config.c.
 */
#ifndef ER_TRACE_CONFIG_H
#define ER_TRACE_CONFIG_H

#include "common/config.h"
#include "common/config_secret.h"

void config_resolve_tracing(struct er_config *cfg, config_getenv_fn env, config_err_fn err,
    void *arg);

/* Frees what config_resolve_tracing() set (config_free). */
void config_free_tracing(struct er_config *cfg);

#endif
