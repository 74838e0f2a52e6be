/*
 * The C reference: each workload written the plain way against libssl 3.
 * Two BIO_s_mem per connection and a copy pump; reads drain until
 * SSL_ERROR_WANT_READ; no tuning. See cbench.h.
 */
#define _GNU_SOURCE
#include "cbench.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PUMP_BUFFER 65536
#define DATA_WRITE 16384
#define SMALL_MESSAGE 64

struct cb_env {
    SSL_CTX *server[5];   /* by kind */
    SSL_CTX *client[5];
    int listener;         /* W6 */
    int port;
};

struct cb_pair {
    SSL *client, *server;
    BIO *client_in, *client_out, *server_in, *server_out;
    unsigned char *payload;   /* DATA_WRITE bytes to send */
    unsigned char *readbuf;   /* reused read buffer */
};

/* Something the work produces, so the compiler cannot drop it. */
volatile unsigned long cb_sink;

static void fail(char *err, size_t errlen, const char *what) {
    unsigned long code = ERR_get_error();
    char reason[256] = "";
    if (code) ERR_error_string_n(code, reason, sizeof reason);
    snprintf(err, errlen, "%s: %s", what, reason);
    ERR_clear_error();
}

static X509 *read_cert(const char *pem) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return x;
}

static EVP_PKEY *read_key(const char *pem) {
    BIO *bio = BIO_new_mem_buf(pem, -1);
    EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    return k;
}

/* The same defaults the library's Context starts with. */
static SSL_CTX *new_ctx(const SSL_METHOD *method) {
    SSL_CTX *ctx = SSL_CTX_new(method);
    if (!ctx) return NULL;
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    return ctx;
}

static int use_pair(SSL_CTX *ctx, const char *cert_pem, const char *key_pem) {
    X509 *cert = read_cert(cert_pem);
    EVP_PKEY *key = read_key(key_pem);
    int ok = cert && key && SSL_CTX_use_certificate(ctx, cert) == 1 && SSL_CTX_use_PrivateKey(ctx, key) == 1
             && SSL_CTX_check_private_key(ctx) == 1;
    X509_free(cert);
    EVP_PKEY_free(key);
    return ok;
}

static void hex_fingerprint(const unsigned char *md, unsigned int length, char *out) {
    static const char digits[] = "0123456789ABCDEF";
    for (unsigned int i = 0; i < length; i++) {
        out[3 * i] = digits[md[i] >> 4];
        out[3 * i + 1] = digits[md[i] & 15];
        out[3 * i + 2] = i + 1 < length ? ':' : '\0';
    }
}

/* W4's whole-chain hook: OpenSSL's own verdict (which refuses the
 * self-signed client), then the leaf's SHA-256 fingerprint, then accept. */
static int fingerprint_and_accept(X509_STORE_CTX *store, void *arg) {
    (void)arg;
    int verified = X509_verify_cert(store);
    X509 *leaf = X509_STORE_CTX_get0_cert(store);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!leaf || !X509_digest(leaf, EVP_sha256(), md, &length)) return 0;
    char hex[3 * EVP_MAX_MD_SIZE];
    hex_fingerprint(md, length, hex);
    cb_sink += (unsigned long)hex[0] + (unsigned long)verified;
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
}

cb_env *cb_env_new(const cb_pki *pki, char *err, size_t errlen) {
    cb_env *env = calloc(1, sizeof *env);
    if (!env) return NULL;
    env->listener = -1;
    X509 *root = read_cert(pki->root_pem);
    if (!root) { fail(err, errlen, "read root"); goto failed; }

    for (int kind = 0; kind < 5; kind++) {
        SSL_CTX *server = env->server[kind] = new_ctx(TLS_server_method());
        SSL_CTX *client = env->client[kind] = new_ctx(TLS_client_method());
        if (!server || !client) { fail(err, errlen, "SSL_CTX_new"); goto failed; }
        if (pki->groups && (SSL_CTX_set1_groups_list(server, pki->groups) != 1
                            || SSL_CTX_set1_groups_list(client, pki->groups) != 1)) {
            fail(err, errlen, "groups"); goto failed;
        }
        const char *cert = kind == CB_RSA13 ? pki->rsa_cert_pem : pki->ecdsa_cert_pem;
        const char *key = kind == CB_RSA13 ? pki->rsa_key_pem : pki->ecdsa_key_pem;
        if (!use_pair(server, cert, key)) { fail(err, errlen, "server certificate"); goto failed; }
        /* Clients verify the server against the root (and the host name, per connection). */
        if (X509_STORE_add_cert(SSL_CTX_get_cert_store(client), root) != 1) { fail(err, errlen, "trust root"); goto failed; }
        SSL_CTX_set_verify(client, SSL_VERIFY_PEER, NULL);
        switch (kind) {
        case CB_ECDSA12:
            if (SSL_CTX_set_max_proto_version(server, TLS1_2_VERSION) != 1
                || SSL_CTX_set_cipher_list(server, "ECDHE-ECDSA-AES128-GCM-SHA256") != 1) {
                fail(err, errlen, "TLS 1.2 set-up"); goto failed;
            }
            break;
        case CB_MTLS13:
            if (!use_pair(client, pki->client_cert_pem, pki->client_key_pem)) { fail(err, errlen, "client certificate"); goto failed; }
            SSL_CTX_set_verify(server, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
            SSL_CTX_set_cert_verify_callback(server, fingerprint_and_accept, NULL);
            SSL_CTX_set_session_id_context(server, (const unsigned char *)"swift-openssl mTLS", 18);
            break;
        case CB_DATA13:
            if (SSL_CTX_set_ciphersuites(server, "TLS_AES_128_GCM_SHA256") != 1
                || SSL_CTX_set_ciphersuites(client, "TLS_AES_128_GCM_SHA256") != 1) {
                fail(err, errlen, "ciphersuites"); goto failed;
            }
            break;
        default:
            break;
        }
    }
    X509_free(root);
    return env;
failed:
    X509_free(root);
    cb_env_free(env);
    return NULL;
}

void cb_env_free(cb_env *env) {
    if (!env) return;
    for (int kind = 0; kind < 5; kind++) {
        SSL_CTX_free(env->server[kind]);
        SSL_CTX_free(env->client[kind]);
    }
    if (env->listener >= 0) close(env->listener);
    free(env);
}

/* Moves every pending ciphertext byte from one memory BIO to another; returns how many. */
static long pump(BIO *from, BIO *to) {
    unsigned char buffer[PUMP_BUFFER];
    long moved = 0;
    while (BIO_ctrl_pending(from) > 0) {
        int n = BIO_read(from, buffer, sizeof buffer);
        if (n <= 0) break;
        if (BIO_write(to, buffer, n) != n) return -1;
        moved += n;
    }
    return moved;
}

static int new_endpoints(cb_env *env, int kind, cb_pair *pair) {
    memset(pair, 0, sizeof *pair);
    pair->client = SSL_new(env->client[kind]);
    pair->server = SSL_new(env->server[kind]);
    pair->client_in = BIO_new(BIO_s_mem());
    pair->client_out = BIO_new(BIO_s_mem());
    pair->server_in = BIO_new(BIO_s_mem());
    pair->server_out = BIO_new(BIO_s_mem());
    if (!pair->client || !pair->server || !pair->client_in || !pair->client_out || !pair->server_in || !pair->server_out)
        return 0;
    SSL_set_bio(pair->client, pair->client_in, pair->client_out);
    SSL_set_bio(pair->server, pair->server_in, pair->server_out);
    SSL_set_connect_state(pair->client);
    SSL_set_accept_state(pair->server);
    return SSL_set_tlsext_host_name(pair->client, "localhost") == 1 && SSL_set1_host(pair->client, "localhost") == 1;
}

static void free_endpoints(cb_pair *pair) {
    /* The SSLs own their BIOs. */
    SSL_free(pair->client);
    SSL_free(pair->server);
    if (!pair->client) { BIO_free(pair->client_in); BIO_free(pair->client_out); }
    if (!pair->server) { BIO_free(pair->server_in); BIO_free(pair->server_out); }
}

static int step(SSL *ssl) {
    if (SSL_is_init_finished(ssl)) return 1;
    int r = SSL_do_handshake(ssl);
    return r == 1 || SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ;
}

static int handshake(cb_pair *p) {
    for (int round = 0; round < 64; round++) {
        if (!step(p->client) || !step(p->server)) return 0;
        long a = pump(p->client_out, p->server_in);
        long b = pump(p->server_out, p->client_in);
        if (a < 0 || b < 0) return 0;
        if (SSL_is_init_finished(p->client) && SSL_is_init_finished(p->server) && a + b == 0) return 1;
    }
    return 0;
}

int cb_handshakes(cb_env *env, int kind, long iterations) {
    for (long i = 0; i < iterations; i++) {
        cb_pair pair;
        int ok = new_endpoints(env, kind, &pair) && handshake(&pair);
        free_endpoints(&pair);
        if (!ok) { ERR_clear_error(); return -1; }
    }
    return 0;
}

cb_pair *cb_pair_new(cb_env *env, int kind) {
    cb_pair *pair = malloc(sizeof *pair);
    if (!pair) return NULL;
    if (!new_endpoints(env, kind, pair) || !handshake(pair)) {
        free_endpoints(pair);
        free(pair);
        ERR_clear_error();
        return NULL;
    }
    pair->payload = malloc(DATA_WRITE);
    pair->readbuf = malloc(DATA_WRITE);
    if (!pair->payload || !pair->readbuf) { cb_pair_free(pair); return NULL; }
    for (int i = 0; i < DATA_WRITE; i++) pair->payload[i] = (unsigned char)(i * 31);
    return pair;
}

void cb_pair_free(cb_pair *pair) {
    if (!pair) return;
    free_endpoints(pair);
    free(pair->payload);
    free(pair->readbuf);
    free(pair);
}

/* Reads until SSL_ERROR_WANT_READ; returns the bytes read, -1 on any other outcome. */
static long drain(SSL *ssl, unsigned char *buffer, size_t size) {
    long total = 0;
    for (;;) {
        size_t n = 0;
        if (SSL_read_ex(ssl, buffer, size, &n)) { total += (long)n; continue; }
        return SSL_get_error(ssl, 0) == SSL_ERROR_WANT_READ ? total : -1;
    }
}

int cb_bulk(cb_pair *p, long writes) {
    for (long i = 0; i < writes; i++) {
        size_t written = 0;
        if (!SSL_write_ex(p->client, p->payload, DATA_WRITE, &written) || written != DATA_WRITE) return -1;
        if (pump(p->client_out, p->server_in) < 0) return -1;
        if (drain(p->server, p->readbuf, DATA_WRITE) != DATA_WRITE) return -1;
    }
    return 0;
}

int cb_roundtrips(cb_pair *p, long count) {
    for (long i = 0; i < count; i++) {
        size_t written = 0;
        if (!SSL_write_ex(p->client, p->payload, SMALL_MESSAGE, &written) || written != SMALL_MESSAGE) return -1;
        if (pump(p->client_out, p->server_in) < 0) return -1;
        if (drain(p->server, p->readbuf, DATA_WRITE) != SMALL_MESSAGE) return -1;
        if (!SSL_write_ex(p->server, p->payload, SMALL_MESSAGE, &written) || written != SMALL_MESSAGE) return -1;
        if (pump(p->server_out, p->client_in) < 0) return -1;
        if (drain(p->client, p->readbuf, DATA_WRITE) != SMALL_MESSAGE) return -1;
    }
    return 0;
}

long cb_parse_bundle(const char *pem, size_t length) {
    BIO *bundle = BIO_new_mem_buf(pem, (int)length);
    if (!bundle) return -1;
    const unsigned long flags = (XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) | ASN1_STRFLGS_UTF8_CONVERT;
    long count = 0;
    X509 *x;
    while ((x = PEM_read_bio_X509(bundle, NULL, NULL, NULL)) != NULL) {
        /* Subject, RFC 2253 */
        BIO *text = BIO_new(BIO_s_mem());
        char *data = NULL;
        X509_NAME_print_ex(text, X509_get_subject_name(x), 0, flags);
        long textLength = BIO_get_mem_data(text, &data);
        cb_sink += (unsigned long)textLength;
        BIO_free(text);
        /* SANs */
        GENERAL_NAMES *names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
        for (int i = 0; names && i < sk_GENERAL_NAME_num(names); i++) {
            const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
            if (name->type == GEN_DNS || name->type == GEN_EMAIL || name->type == GEN_URI)
                cb_sink += (unsigned long)ASN1_STRING_length(name->d.ia5);
            else
                cb_sink += (unsigned long)name->type;
        }
        GENERAL_NAMES_free(names);
        /* SHA-256 fingerprint */
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdLength = 0;
        if (!X509_digest(x, EVP_sha256(), md, &mdLength)) { X509_free(x); BIO_free(bundle); return -1; }
        char hex[3 * EVP_MAX_MD_SIZE];
        hex_fingerprint(md, mdLength, hex);
        cb_sink += (unsigned long)hex[1];
        X509_free(x);
        count++;
    }
    ERR_clear_error();   /* "no start line" at the end of the bundle */
    BIO_free(bundle);
    return count;
}

/* ---- W6: TCP on 127.0.0.1 ---- */

static int ensure_listener(cb_env *env) {
    if (env->listener >= 0) return 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = 0 };
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (bind(fd, (struct sockaddr *)&address, sizeof address) != 0 || listen(fd, 64) != 0
        || getsockname(fd, (struct sockaddr *)&address, &size) != 0) {
        close(fd);
        return 0;
    }
    env->listener = fd;
    env->port = ntohs(address.sin_port);
    return 1;
}

struct server_job {
    cb_env *env;
    long iterations;
    int failed;
};

static void *tcp_server(void *argument) {
    struct server_job *job = argument;
    static const unsigned char ok = 'k';
    for (long i = 0; i < job->iterations; i++) {
        int fd = accept(job->env->listener, NULL, NULL);
        if (fd < 0) { job->failed = 1; return NULL; }
        SSL *ssl = SSL_new(job->env->server[CB_ECDSA13]);
        size_t written = 0;
        if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_accept(ssl) != 1 || !SSL_write_ex(ssl, &ok, 1, &written))
            job->failed = 1;
        SSL_free(ssl);
        close(fd);
        ERR_clear_error();
        if (job->failed) return NULL;
    }
    return NULL;
}

int cb_tcp_handshakes(cb_env *env, long iterations) {
    if (!ensure_listener(env)) return -1;
    struct server_job job = { env, iterations, 0 };
    pthread_t thread;
    if (pthread_create(&thread, NULL, tcp_server, &job) != 0) return -1;
    int failed = 0;
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_port = htons((uint16_t)env->port) };
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (long i = 0; i < iterations && !failed; i++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
            failed = 1;
            if (fd >= 0) close(fd);
            break;
        }
        SSL *ssl = SSL_new(env->client[CB_ECDSA13]);
        unsigned char byte = 0;
        size_t n = 0;
        if (!ssl || SSL_set_fd(ssl, fd) != 1 || SSL_set_tlsext_host_name(ssl, "localhost") != 1
            || SSL_set1_host(ssl, "localhost") != 1 || SSL_connect(ssl) != 1 || !SSL_read_ex(ssl, &byte, 1, &n) || byte != 'k')
            failed = 1;
        SSL_free(ssl);
        close(fd);
        ERR_clear_error();
    }
    if (failed) {
        /* Unblock the server's accept so the thread ends. */
        shutdown(env->listener, SHUT_RDWR);
        pthread_join(thread, NULL);
        close(env->listener);
        env->listener = -1;
        return -1;
    }
    pthread_join(thread, NULL);
    return job.failed ? -1 : 0;
}

void cb_sha256(const void *data, size_t length, unsigned char out[32]) {
    unsigned int size = 32;
    EVP_Digest(data, length, out, &size, EVP_sha256(), NULL);
}

/* W7: idle connections. The pairs hold nothing of the benchmark's own (no
 * payload or read buffers): what stays allocated is the SSLs, their BIOs and
 * what OpenSSL keeps for them. */
struct cb_idle {
    long count;
    cb_pair *pairs;
};

static int one_message(SSL *from, BIO *from_out, BIO *to_in, SSL *to) {
    unsigned char message[SMALL_MESSAGE], buffer[256];
    memset(message, 'm', sizeof message);
    size_t written = 0;
    if (!SSL_write_ex(from, message, sizeof message, &written) || written != sizeof message) return 0;
    if (pump(from_out, to_in) < 0) return 0;
    return drain(to, buffer, sizeof buffer) == SMALL_MESSAGE;
}

cb_idle *cb_idle_new(cb_env *env, int kind, long count, int release) {
    cb_idle *idle = calloc(1, sizeof *idle);
    if (!idle) return NULL;
    idle->pairs = calloc((size_t)count, sizeof *idle->pairs);
    if (!idle->pairs) { free(idle); return NULL; }
    for (long i = 0; i < count; i++) {
        cb_pair *p = &idle->pairs[i];
        int ok = new_endpoints(env, kind, p);
        idle->count = i + 1;
        if (ok && release) {
            SSL_set_mode(p->client, SSL_MODE_RELEASE_BUFFERS);
            SSL_set_mode(p->server, SSL_MODE_RELEASE_BUFFERS);
        }
        ok = ok && handshake(p)
             && one_message(p->client, p->client_out, p->server_in, p->server)
             && one_message(p->server, p->server_out, p->client_in, p->client);
        if (!ok) { ERR_clear_error(); cb_idle_free(idle); return NULL; }
    }
    return idle;
}

void cb_idle_free(cb_idle *idle) {
    if (!idle) return;
    for (long i = 0; i < idle->count; i++) free_endpoints(&idle->pairs[i]);
    free(idle->pairs);
    free(idle);
}

/* W8 */

struct cb_verify {
    X509_STORE *store;
    X509 *leaf;
    STACK_OF(X509) *untrusted;
};

void cb_verify_free(cb_verify *v) {
    if (!v) return;
    X509_STORE_free(v->store);
    X509_free(v->leaf);
    sk_X509_pop_free(v->untrusted, X509_free);
    free(v);
}

cb_verify *cb_verify_new(const char *root_pem, const char *intermediate_pem, const char *leaf_pem, const char *host) {
    cb_verify *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    X509 *root = read_cert(root_pem);
    X509 *intermediate = read_cert(intermediate_pem);
    v->leaf = read_cert(leaf_pem);
    v->store = X509_STORE_new();
    v->untrusted = sk_X509_new_null();
    int ok = root && intermediate && v->leaf && v->store && v->untrusted
             && X509_STORE_add_cert(v->store, root) == 1
             && sk_X509_push(v->untrusted, intermediate) > 0;
    if (ok) intermediate = NULL;   /* the stack owns it */
    if (ok && host) ok = X509_VERIFY_PARAM_set1_host(X509_STORE_get0_param(v->store), host, 0) == 1;
    X509_free(root);
    X509_free(intermediate);
    if (!ok) { ERR_clear_error(); cb_verify_free(v); return NULL; }
    return v;
}

int cb_verify_run(cb_verify *v, long iterations) {
    for (long i = 0; i < iterations; i++) {
        X509_STORE_CTX *ctx = X509_STORE_CTX_new();
        if (!ctx) return -1;
        int ok = X509_STORE_CTX_init(ctx, v->store, v->leaf, v->untrusted) == 1 && X509_verify_cert(ctx) == 1;
        if (ok) cb_sink += (unsigned long)sk_X509_num(X509_STORE_CTX_get0_chain(ctx));
        X509_STORE_CTX_free(ctx);
        if (!ok) { ERR_clear_error(); return -1; }
    }
    return 0;
}
