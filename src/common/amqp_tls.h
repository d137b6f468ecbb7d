/*
 * amqp_tls: the TLS side of an amqps:// connection and the login
 * mechanism, for the workers (src/worker/amqp_source.c) and
 * event-relayctl's dead-letter commands (src/ctl/amqp_client.c).
 * Compiled into libworker.a and libctl.a, never into libcommon.a: the
 * master maps no TLS library.
 *
 * The settings (rabbitmq.tls_*, rabbitmq.auth_mechanism) apply to every
 * amqps:// URL; a URL's own parameters (cacertfile, certfile, keyfile,
 * server_name_indication, auth_mechanism) override them for that URL.
 * Peer and host name verification are done by OpenSSL during the
 * handshake, so that a failed check ends it with the reason on record.
 */
#ifndef ER_AMQP_TLS_H
#define ER_AMQP_TLS_H

#include <stddef.h>

#include <amqp.h>

struct amqp_url;
struct er_config;

/*
 * What the certificate check of one handshake found; the caller owns it
 * and keeps it until the connection is open (OpenSSL's callbacks write
 * it during amqp_socket_open).
 */
struct amqp_tls_state {
	int verify_peer, verify_hostname;
	char name[256];		/* checked against the certificate, sent as SNI */
	char ca[256];		/* the CA file, "" for the system's trust store */
	int verify_error;	/* X509_V_OK, or the error that ended the handshake */
	int verify_depth;
	int name_error;		/* the error was the name check */
	char subject[256];	/* of the certificate at fault */
	char names[256];	/* the names that certificate is for */
};

/*
 * Creates the TLS socket of `conn` for the amqps:// URL `u`: trust
 * store, client certificate and key (the key's content read by the
 * master: config_secret(); a program without a configuration, cfg NULL,
 * reads the file), verification, SNI. cfg NULL: the URL's parameters
 * alone, verification on, the system's trust store. NULL with err set
 * ("TLS: cannot read the CA file ...").
 */
amqp_socket_t *amqp_tls_socket(amqp_connection_state_t conn, const struct amqp_url *u,
    const struct er_config *cfg, struct amqp_tls_state *st, char *err, size_t errsz);

/*
 * After amqp_socket_open() failed with `rc` on such a socket: whether it
 * was TLS that failed (1) and then what, in one sentence that names the
 * step (handshake, certificate verification, host name); 0 when it was
 * the TCP connection (out untouched). Clears OpenSSL's error queue.
 */
int amqp_tls_explain(const struct amqp_tls_state *st, int rc, char *out, size_t outsz);

/*
 * The response of an EXTERNAL login. RabbitMQ ignores it (the user is
 * the certificate's); rabbitmq-c 0.11 cannot send an empty one (a
 * zero-length allocation fails as "out of memory").
 */
#define AMQP_TLS_EXTERNAL_IDENTITY "*"

/* 1 if the URL logs in with EXTERNAL (the client certificate), else 0 (PLAIN). */
int amqp_tls_external(const struct amqp_url *u, const struct er_config *cfg);

/*
 * Loads the CA file, client certificate and key of every amqps:// URL
 * into a scratch context, as a connection would: 0, or -1 with what is
 * wrong in err (a key that does not match its certificate, an encrypted
 * key, a file that is not PEM). For event-relayd -t, start and reload.
 */
int amqp_tls_check(const struct er_config *cfg, char *err, size_t errsz);

#endif
