/*
 * cbench: the benchmark workloads written directly in C against libssl — the
 * reference ("the limit") that the Swift library is measured against.
 *
 * It is deliberately plain: what a careful C programmer writes with two
 * BIO_s_mem per connection and a copy pump between them. It is not tuned,
 * so the ratios mean the same from run to run.
 */
#ifndef CBENCH_H
#define CBENCH_H

#include <stddef.h>
#include <stdint.h>

/* Contexts, built once from PEM text. */
typedef struct cb_env cb_env;
/* Two connected endpoints (handshake done) for the data workloads. */
typedef struct cb_pair cb_pair;

typedef struct {
    const char *root_pem;          /* the CA the clients trust */
    const char *ecdsa_cert_pem;    /* server leaf, P-256, signed by the root */
    const char *ecdsa_key_pem;
    const char *rsa_cert_pem;      /* server leaf, RSA-2048, signed by the root */
    const char *rsa_key_pem;
    const char *client_cert_pem;   /* self-signed client certificate (mutual TLS) */
    const char *client_key_pem;
    const char *groups;            /* key-exchange groups of every context (SSL_CTX_set1_groups_list), NULL: OpenSSL's default */
} cb_pki;

enum {
    CB_ECDSA13 = 0,   /* W1: TLS 1.3, ECDSA P-256 */
    CB_RSA13 = 1,     /* W1b: TLS 1.3, RSA-2048 */
    CB_ECDSA12 = 2,   /* W1c: TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256 */
    CB_MTLS13 = 3,    /* W4: TLS 1.3, client certificate, whole-chain hook with a SHA-256 fingerprint */
    CB_DATA13 = 4     /* W2, W3: TLS 1.3, TLS_AES_128_GCM_SHA256 */
};

/* NULL on failure, with the reason in err. */
cb_env *cb_env_new(const cb_pki *pki, char *err, size_t errlen);
void cb_env_free(cb_env *env);

/* `iterations` full handshakes of `kind`, both endpoints over memory BIOs. 0 on success. */
int cb_handshakes(cb_env *env, int kind, long iterations);

/* A connected pair of `kind` (normally CB_DATA13). NULL on failure. */
cb_pair *cb_pair_new(cb_env *env, int kind);
void cb_pair_free(cb_pair *pair);
/* W2: `writes` writes of 16 KiB client -> server, each pumped and read into a reused buffer. 0 on success. */
int cb_bulk(cb_pair *pair, long writes);
/* W3: `count` round trips of a 64-byte request and a 64-byte response. 0 on success. */
int cb_roundtrips(cb_pair *pair, long count);

/* W5: parses every certificate of a PEM bundle and reads its subject
 * (RFC 2253), SANs and SHA-256 fingerprint. Returns the count, -1 on failure. */
long cb_parse_bundle(const char *pem, size_t length);

/* W6: `iterations` W1 handshakes over TCP on 127.0.0.1, server in a second thread. 0 on success. */
int cb_tcp_handshakes(cb_env *env, long iterations);

/* W7: `count` connected pairs of `kind`, each handshaken and with one
 * 64-byte message each way, then held open; with `release`, both endpoints
 * in SSL_MODE_RELEASE_BUFFERS. NULL on failure. Free with cb_idle_free. */
typedef struct cb_idle cb_idle;
cb_idle *cb_idle_new(cb_env *env, int kind, long count, int release);
void cb_idle_free(cb_idle *idle);

/* W8: one chain verification, the plain way: a store trusting `root`, the
 * expected host set on its parameters (X509_VERIFY_PARAM_set1_host), and per
 * verification a new X509_STORE_CTX with the leaf and the intermediate as
 * untrusted, X509_verify_cert, free. NULL on failure. */
typedef struct cb_verify cb_verify;
cb_verify *cb_verify_new(const char *root_pem, const char *intermediate_pem, const char *leaf_pem, const char *host);
void cb_verify_free(cb_verify *verify);
/* `iterations` verifications; 0 when every one succeeded. */
int cb_verify_run(cb_verify *verify, long iterations);

/* SHA-256 (for swift-nio-ssl's W4 hook, which has no digest of its own to call). */
void cb_sha256(const void *data, size_t length, unsigned char out[32]);

#endif
