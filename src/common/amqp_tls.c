/*
 * amqp_tls: rabbitmq-c's OpenSSL socket, set up from the settings and
 * the URL (see amqp_tls.h).
 *
 * rabbitmq-c 0.11 checks the peer after the handshake, against the host
 * it connected to, and keeps the reason to itself; it also has no way
 * to send a server name other than that host. So its own checks are
 * turned off and OpenSSL does them during the handshake instead: the
 * expected name is set on the context (inherited by the connection's
 * SSL object), a verify callback records the first failure in the
 * caller's amqp_tls_state, and an info callback sets the SNI name just
 * before the ClientHello is written.
 *
 * The one thing to know: every callback finds its state through the
 * SSL_CTX's app data, and rabbitmq-c makes one SSL_CTX per socket, so
 * one state per connection attempt is all it takes.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>
#include <amqp_ssl_socket.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/amqp_tls.h"
#include "common/amqp_url.h"
#include "common/config.h"

/* What a URL's connection uses: its parameters over the settings. */
struct tls_files {
	const char *ca, *cert, *key;
	const char *key_setting;	/* where the key came from, for messages */
};

static void
files_of(const struct amqp_url *u, const struct er_config *cfg, struct tls_files *f)
{
	f->ca = *u->cacertfile != '\0' ? u->cacertfile : cfg != NULL ? cfg->amqp_tls_ca_file : "";
	f->cert = *u->certfile != '\0' ? u->certfile : cfg != NULL ? cfg->amqp_tls_cert_file : "";
	f->key = *u->keyfile != '\0' ? u->keyfile : cfg != NULL ? cfg->amqp_tls_key_file : "";
	f->key_setting = *u->keyfile != '\0' ? "keyfile" : "rabbitmq.tls_key_file";
	if (f->ca == NULL)
		f->ca = "";
	if (f->cert == NULL)
		f->cert = "";
	if (f->key == NULL)
		f->key = "";
}

int
amqp_tls_external(const struct amqp_url *u, const struct er_config *cfg)
{
	if (u->auth != AMQP_AUTH_UNSET)
		return u->auth == AMQP_AUTH_EXTERNAL;
	return cfg != NULL && cfg->amqp_auth_mechanism != NULL &&
	    strcmp(cfg->amqp_auth_mechanism, "external") == 0;
}

/* OpenSSL's reason for the last error, or `dflt`; the queue is cleared. */
static const char *
ssl_reason(const char *dflt)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r != NULL ? r : dflt;
}

/* Never asked for a passphrase: an encrypted key is an error, not a prompt. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

/*
 * Loads the trust store, client certificate and key into `ctx`. The key
 * is the master's copy (config_secret) when there is a configuration,
 * else the file. 0, or -1 with err.
 */
static int
load_files(SSL_CTX *ctx, const struct tls_files *f, const struct er_config *cfg, char *err,
    size_t errsz)
{
	FILE *probe;

	if (*f->ca != '\0') {
		if ((probe = fopen(f->ca, "r")) == NULL) {
			snprintf(err, errsz, "TLS: cannot read the CA file %s: %s", f->ca,
			    strerror(errno));
			return -1;
		}
		fclose(probe);
		if (SSL_CTX_load_verify_locations(ctx, f->ca, NULL) != 1) {
			snprintf(err, errsz, "TLS: the CA file %s holds no PEM certificate: %s", f->ca,
			    ssl_reason("unknown error"));
			return -1;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		snprintf(err, errsz, "TLS: cannot load the system's trust store: %s",
		    ssl_reason("unknown error"));
		return -1;
	}
	if (*f->cert == '\0')
		return 0;
	if ((probe = fopen(f->cert, "r")) == NULL) {
		snprintf(err, errsz, "TLS: cannot read the client certificate %s: %s", f->cert,
		    strerror(errno));
		return -1;
	}
	fclose(probe);
	if (SSL_CTX_use_certificate_chain_file(ctx, f->cert) != 1) {
		snprintf(err, errsz, "TLS: the client certificate %s is not a PEM certificate: %s",
		    f->cert, ssl_reason("unknown error"));
		return -1;
	}
	if (*f->key != '\0') {
		size_t len = 0;
		const char *pem = config_secret(cfg, f->key, &len);
		EVP_PKEY *pkey = NULL;
		BIO *bio;

		if (pem != NULL) {
			bio = BIO_new_mem_buf(pem, (int)len);
		} else if (cfg != NULL) {
			/* config_load read every key: this is a bug, not a missing file. */
			snprintf(err, errsz, "TLS: %s %s was not read at start", f->key_setting, f->key);
			return -1;
		} else {
			bio = BIO_new_file(f->key, "r");
			if (bio == NULL) {
				snprintf(err, errsz, "TLS: cannot read the client key %s: %s", f->key,
				    strerror(errno));
				ERR_clear_error();
				return -1;
			}
		}
		if (bio != NULL)
			pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
		BIO_free(bio);
		if (pkey == NULL) {
			snprintf(err, errsz, "TLS: the client key %s is not an unencrypted PEM private "
			    "key: %s", f->key, ssl_reason("unknown error"));
			return -1;
		}
		if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
			EVP_PKEY_free(pkey);
			snprintf(err, errsz, "TLS: the client key %s does not match the certificate %s",
			    f->key, f->cert);
			ERR_clear_error();
			return -1;
		}
		EVP_PKEY_free(pkey);
	}
	return 0;
}

/* "DNS:a, DNS:b, IP:1.2.3.4" of the certificate's subjectAltName, or its CN. */
static void
cert_names(X509 *cert, char *out, size_t outsz)
{
	GENERAL_NAMES *gens = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	size_t n = 0;

	out[0] = '\0';
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens) && n + 1 < outsz; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		char ip[INET6_ADDRSTRLEN] = "";
		int w = 0;

		if (g->type == GEN_DNS) {
			const ASN1_IA5STRING *s = g->d.dNSName;

			w = snprintf(out + n, outsz - n, "%sDNS:%.*s", n > 0 ? ", " : "",
			    ASN1_STRING_length(s) > 100 ? 100 : ASN1_STRING_length(s),
			    (const char *)ASN1_STRING_get0_data(s));
		} else if (g->type == GEN_IPADD) {
			const ASN1_OCTET_STRING *s = g->d.iPAddress;
			int len = ASN1_STRING_length(s);

			if (len == 4 || len == 16)
				inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(s), ip,
				    sizeof(ip));
			w = snprintf(out + n, outsz - n, "%sIP:%s", n > 0 ? ", " : "", ip);
		}
		if (w < 0 || (size_t)w >= outsz - n)
			break;
		n += (size_t)w;
	}
	GENERAL_NAMES_free(gens);
	if (n == 0) {
		char cn[128];

		if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn,
		    sizeof(cn)) > 0)
			snprintf(out, outsz, "CN %s, no subjectAltName", cn);
		else
			snprintf(out, outsz, "no name");
	}
}

static struct amqp_tls_state *
state_of(SSL *ssl)
{
	return ssl != NULL ? SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)) : NULL;
}

/*
 * Decides each check the chain verification makes: a name mismatch
 * fails only with verify_hostname, any other error only with
 * verify_peer. The first failure is recorded for amqp_tls_explain.
 */
static int
verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct amqp_tls_state *st = state_of(ssl);
	int e = X509_STORE_CTX_get_error(xs);
	int name = e == X509_V_ERR_HOSTNAME_MISMATCH || e == X509_V_ERR_IP_ADDRESS_MISMATCH;
	X509 *cert = X509_STORE_CTX_get_current_cert(xs);

	if (ok || st == NULL)
		return ok;
	if (name ? !st->verify_hostname : !st->verify_peer)
		return 1;
	if (st->verify_error == X509_V_OK) {
		st->verify_error = e;
		st->verify_depth = X509_STORE_CTX_get_error_depth(xs);
		st->name_error = name;
		st->subject[0] = st->names[0] = '\0';
		if (cert != NULL) {
			X509_NAME_oneline(X509_get_subject_name(cert), st->subject, sizeof(st->subject));
			cert_names(cert, st->names, sizeof(st->names));
		}
	}
	return 0;
}

/* Sends the server name of the URL's server_name_indication. */
static void
info_cb(const SSL *ssl, int where, int ret)
{
	struct amqp_tls_state *st = state_of((SSL *)ssl);

	(void)ret;
	if ((where & SSL_CB_HANDSHAKE_START) && st != NULL)
		SSL_set_tlsext_host_name((SSL *)ssl, st->name);
}

static int
is_ip(const char *s)
{
	unsigned char buf[16];

	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

amqp_socket_t *
amqp_tls_socket(amqp_connection_state_t conn, const struct amqp_url *u,
    const struct er_config *cfg, struct amqp_tls_state *st, char *err, size_t errsz)
{
	amqp_socket_t *sock = amqp_ssl_socket_new(conn);
	struct tls_files f;
	SSL_CTX *ctx;

	memset(st, 0, sizeof(*st));
	st->verify_error = X509_V_OK;
	if (sock == NULL) {
		snprintf(err, errsz, "TLS: cannot create a socket: %s", ssl_reason("out of memory"));
		return NULL;
	}
	ctx = amqp_ssl_socket_get_context(sock);
	files_of(u, cfg, &f);
	st->verify_peer = cfg != NULL ? cfg->amqp_tls_verify_peer : 1;
	st->verify_hostname = cfg != NULL ? cfg->amqp_tls_verify_hostname : 1;
	snprintf(st->name, sizeof(st->name), "%s", *u->server_name != '\0' ? u->server_name :
	    u->host);
	snprintf(st->ca, sizeof(st->ca), "%s", f.ca);
	if (load_files(ctx, &f, cfg, err, errsz) < 0)
		return NULL;	/* the socket belongs to conn, freed with it */
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_app_data(ctx, st);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, verify_cb);
	if (st->verify_hostname) {
		X509_VERIFY_PARAM *p = SSL_CTX_get0_param(ctx);

		X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (is_ip(st->name) ? X509_VERIFY_PARAM_set1_ip_asc(p, st->name) != 1 :
		    X509_VERIFY_PARAM_set1_host(p, st->name, 0) != 1) {
			snprintf(err, errsz, "TLS: cannot check the certificate against \"%s\"",
			    st->name);
			ERR_clear_error();
			return NULL;
		}
	}
	/* Only a name the URL gave: rabbitmq-c sends the host it connects to. */
	if (*u->server_name != '\0')
		SSL_CTX_set_info_callback(ctx, info_cb);
	amqp_ssl_socket_set_verify_peer(sock, 0);
	amqp_ssl_socket_set_verify_hostname(sock, 0);
	return sock;
}

/* A hint after OpenSSL's reason, for the failures people meet first. */
static const char *
hint(const char *reason)
{
	if (strstr(reason, "wrong version number") != NULL ||
	    strstr(reason, "packet length too long") != NULL)
		return " (is this a TLS port? amqps:// needs the broker's TLS listener, 5671 by "
		    "default)";
	if (strstr(reason, "certificate required") != NULL ||
	    strstr(reason, "unknown ca") != NULL || strstr(reason, "bad certificate") != NULL ||
	    strstr(reason, "certificate unknown") != NULL)
		return " (the broker refused the client certificate: check "
		    "rabbitmq.tls_cert_file or the URL's certfile, and the broker's cacertfile)";
	if (strstr(reason, "unexpected eof") != NULL)
		return " (the broker closed the connection during the handshake)";
	return "";
}

/* The chain ends in no CA of the trust store. */
static int
untrusted(int e)
{
	return e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
	    e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
	    e == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN ||
	    e == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
	    e == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE;
}

int
amqp_tls_explain(const struct amqp_tls_state *st, int rc, char *out, size_t outsz)
{
	const char *reason;

	if (st->verify_error != X509_V_OK) {
		ERR_clear_error();
		if (st->name_error)
			snprintf(out, outsz, "TLS host name verification failed: the broker's "
			    "certificate is not for \"%s\" (it is for %s); connect to a name it is "
			    "for, or give it as the URL's server_name_indication", st->name, st->names);
		else
			snprintf(out, outsz, "TLS certificate verification failed: %s (depth %d, "
			    "subject %s)%s%s", X509_verify_cert_error_string(st->verify_error),
			    st->verify_depth, st->subject[0] != '\0' ? st->subject : "unknown",
			    !untrusted(st->verify_error) ? "" : st->ca[0] != '\0' ?
			    ": the broker's certificate does not chain to a CA in " :
			    ": the broker's certificate does not chain to a CA in the system's trust "
			    "store (set rabbitmq.tls_ca_file)",
			    untrusted(st->verify_error) ? st->ca : "");
		return 1;
	}
	if (rc != AMQP_STATUS_SSL_ERROR && rc != AMQP_STATUS_SSL_CONNECTION_FAILED &&
	    rc != AMQP_STATUS_SSL_PEER_VERIFY_FAILED && rc != AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED) {
		ERR_clear_error();
		return 0;
	}
	reason = ssl_reason(amqp_error_string2(rc));
	snprintf(out, outsz, "TLS handshake failed: %s%s", reason, hint(reason));
	return 1;
}

int
amqp_tls_check(const struct er_config *cfg, char *err, size_t errsz)
{
	struct amqp_url *v = calloc(AMQP_URL_MAX, sizeof(*v));
	char msg[256];
	int n, rc = 0;

	if (v == NULL) {
		snprintf(err, errsz, "out of memory");
		return -1;
	}
	n = amqp_url_parse_list(cfg->amqp_url, v, AMQP_URL_MAX, msg, sizeof(msg));
	for (int i = 0; i < n && rc == 0; i++) {
		struct tls_files f;
		SSL_CTX *ctx;
		char why[512];

		if (!v[i].tls)
			continue;
		ctx = SSL_CTX_new(TLS_client_method());
		if (ctx == NULL) {
			snprintf(err, errsz, "rabbitmq.url: TLS: %s", ssl_reason("out of memory"));
			rc = -1;
			break;
		}
		files_of(&v[i], cfg, &f);
		if (load_files(ctx, &f, cfg, why, sizeof(why)) < 0) {
			if (n > 1)
				snprintf(err, errsz, "rabbitmq.url: URL %d of %d: %s", i + 1, n, why);
			else
				snprintf(err, errsz, "rabbitmq.url: %s", why);
			rc = -1;
		}
		SSL_CTX_free(ctx);
	}
	explicit_bzero(v, AMQP_URL_MAX * sizeof(*v));
	free(v);
	return rc;
}
