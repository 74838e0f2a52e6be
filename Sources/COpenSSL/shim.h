/*
 * shim.h: the C surface of swift-openssl.
 *
 * Includes the OpenSSL 3 headers and re-exports, as one-statement
 * `static inline` functions named `cossl_<original name>`, what Swift cannot
 * import: function-like macros and macros built from casts or other macros.
 * No logic lives here. Every wrapper is referenced by Tests/OpenSSLTests/ShimTests.swift.
 */
#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H

#include <openssl/opensslv.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/decoder.h>
#include <openssl/encoder.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/x509_vfy.h>
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/pkcs12.h>

/* ---- error codes ----
 * OpenSSL 3's ERR_GET_LIB / ERR_GET_REASON, computed here rather than by
 * calling them: they are static inline functions, which Swift emits as
 * shared-linkage symbols under their own names, so in a binary that also
 * links BoringSSL (swift-nio-ssl, swift-crypto) the linker could keep
 * BoringSSL's same-named, differently-encoded copy for our calls. */
static inline int cossl_ERR_GET_LIB(unsigned long code) {
    if (code & ERR_SYSTEM_FLAG) return ERR_LIB_SYS;
    return (int)((code >> ERR_LIB_OFFSET) & ERR_LIB_MASK);
}
static inline int cossl_ERR_GET_REASON(unsigned long code) {
    if (code & ERR_SYSTEM_FLAG) return (int)(code & ERR_SYSTEM_MASK);
    return (int)(code & ERR_REASON_MASK);
}

/* ---- memory ---- */
static inline void cossl_OPENSSL_free(void *p) { OPENSSL_free(p); }

/* ---- keys ---- */
static inline int cossl_EVP_PKEY_KEYPAIR(void) { return EVP_PKEY_KEYPAIR; }

/* ---- BIO ---- */
static inline long cossl_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }

/* ---- X509_NAME print flags ---- */
static inline unsigned long cossl_XN_FLAG_RFC2253(void) { return XN_FLAG_RFC2253; }
static inline unsigned long cossl_XN_FLAG_ONELINE(void) { return XN_FLAG_ONELINE; }
static inline unsigned long cossl_XN_FLAG_SEP_CPLUS_SPC(void) { return XN_FLAG_SEP_CPLUS_SPC; }
static inline unsigned long cossl_ASN1_STRFLGS_ESC_MSB(void) { return ASN1_STRFLGS_ESC_MSB; }
static inline unsigned long cossl_ASN1_STRFLGS_UTF8_CONVERT(void) { return ASN1_STRFLGS_UTF8_CONVERT; }

/* ---- extensions ---- */
static inline unsigned long cossl_X509V3_EXT_DUMP_UNKNOWN(void) { return X509V3_EXT_DUMP_UNKNOWN; }

/* ---- stacks ---- */
static inline int cossl_sk_GENERAL_NAME_num(const GENERAL_NAMES *sk) { return sk_GENERAL_NAME_num(sk); }
static inline GENERAL_NAME *cossl_sk_GENERAL_NAME_value(const GENERAL_NAMES *sk, int i) { return sk_GENERAL_NAME_value(sk, i); }
static inline int cossl_sk_ASN1_OBJECT_num(const STACK_OF(ASN1_OBJECT) *sk) { return sk_ASN1_OBJECT_num(sk); }
static inline ASN1_OBJECT *cossl_sk_ASN1_OBJECT_value(const STACK_OF(ASN1_OBJECT) *sk, int i) { return sk_ASN1_OBJECT_value(sk, i); }
static inline int cossl_sk_DIST_POINT_num(const STACK_OF(DIST_POINT) *sk) { return sk_DIST_POINT_num(sk); }
static inline DIST_POINT *cossl_sk_DIST_POINT_value(const STACK_OF(DIST_POINT) *sk, int i) { return sk_DIST_POINT_value(sk, i); }
static inline int cossl_sk_ACCESS_DESCRIPTION_num(const AUTHORITY_INFO_ACCESS *sk) { return sk_ACCESS_DESCRIPTION_num(sk); }
static inline ACCESS_DESCRIPTION *cossl_sk_ACCESS_DESCRIPTION_value(const AUTHORITY_INFO_ACCESS *sk, int i) { return sk_ACCESS_DESCRIPTION_value(sk, i); }
static inline int cossl_sk_X509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
static inline X509 *cossl_sk_X509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }
static inline STACK_OF(X509) *cossl_sk_X509_new_null(void) { return sk_X509_new_null(); }
static inline int cossl_sk_X509_push(STACK_OF(X509) *sk, X509 *x) { return sk_X509_push(sk, x); }
static inline void cossl_sk_X509_free(STACK_OF(X509) *sk) { sk_X509_free(sk); }
static inline void cossl_sk_X509_pop_free(STACK_OF(X509) *sk) { sk_X509_pop_free(sk, X509_free); }

/* ---- TLS: every SSL_OP_* option (built with SSL_OP_BIT, which Swift cannot import) ---- */
static inline uint64_t cossl_SSL_OP_NO_EXTENDED_MASTER_SECRET(void) { return SSL_OP_NO_EXTENDED_MASTER_SECRET; }
static inline uint64_t cossl_SSL_OP_CLEANSE_PLAINTEXT(void) { return SSL_OP_CLEANSE_PLAINTEXT; }
static inline uint64_t cossl_SSL_OP_LEGACY_SERVER_CONNECT(void) { return SSL_OP_LEGACY_SERVER_CONNECT; }
static inline uint64_t cossl_SSL_OP_ENABLE_KTLS(void) { return SSL_OP_ENABLE_KTLS; }
static inline uint64_t cossl_SSL_OP_TLSEXT_PADDING(void) { return SSL_OP_TLSEXT_PADDING; }
static inline uint64_t cossl_SSL_OP_SAFARI_ECDHE_ECDSA_BUG(void) { return SSL_OP_SAFARI_ECDHE_ECDSA_BUG; }
static inline uint64_t cossl_SSL_OP_IGNORE_UNEXPECTED_EOF(void) { return SSL_OP_IGNORE_UNEXPECTED_EOF; }
static inline uint64_t cossl_SSL_OP_ALLOW_CLIENT_RENEGOTIATION(void) { return SSL_OP_ALLOW_CLIENT_RENEGOTIATION; }
static inline uint64_t cossl_SSL_OP_DISABLE_TLSEXT_CA_NAMES(void) { return SSL_OP_DISABLE_TLSEXT_CA_NAMES; }
static inline uint64_t cossl_SSL_OP_ALLOW_NO_DHE_KEX(void) { return SSL_OP_ALLOW_NO_DHE_KEX; }
static inline uint64_t cossl_SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS(void) { return SSL_OP_DONT_INSERT_EMPTY_FRAGMENTS; }
static inline uint64_t cossl_SSL_OP_NO_QUERY_MTU(void) { return SSL_OP_NO_QUERY_MTU; }
static inline uint64_t cossl_SSL_OP_COOKIE_EXCHANGE(void) { return SSL_OP_COOKIE_EXCHANGE; }
static inline uint64_t cossl_SSL_OP_NO_TICKET(void) { return SSL_OP_NO_TICKET; }
static inline uint64_t cossl_SSL_OP_CISCO_ANYCONNECT(void) { return SSL_OP_CISCO_ANYCONNECT; }
static inline uint64_t cossl_SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION(void) { return SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION; }
static inline uint64_t cossl_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t cossl_SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION(void) { return SSL_OP_ALLOW_UNSAFE_LEGACY_RENEGOTIATION; }
static inline uint64_t cossl_SSL_OP_NO_ENCRYPT_THEN_MAC(void) { return SSL_OP_NO_ENCRYPT_THEN_MAC; }
static inline uint64_t cossl_SSL_OP_ENABLE_MIDDLEBOX_COMPAT(void) { return SSL_OP_ENABLE_MIDDLEBOX_COMPAT; }
static inline uint64_t cossl_SSL_OP_PRIORITIZE_CHACHA(void) { return SSL_OP_PRIORITIZE_CHACHA; }
static inline uint64_t cossl_SSL_OP_CIPHER_SERVER_PREFERENCE(void) { return SSL_OP_CIPHER_SERVER_PREFERENCE; }
static inline uint64_t cossl_SSL_OP_TLS_ROLLBACK_BUG(void) { return SSL_OP_TLS_ROLLBACK_BUG; }
static inline uint64_t cossl_SSL_OP_NO_ANTI_REPLAY(void) { return SSL_OP_NO_ANTI_REPLAY; }
static inline uint64_t cossl_SSL_OP_NO_SSLv3(void) { return SSL_OP_NO_SSLv3; }
static inline uint64_t cossl_SSL_OP_NO_TLSv1(void) { return SSL_OP_NO_TLSv1; }
static inline uint64_t cossl_SSL_OP_NO_TLSv1_2(void) { return SSL_OP_NO_TLSv1_2; }
static inline uint64_t cossl_SSL_OP_NO_TLSv1_1(void) { return SSL_OP_NO_TLSv1_1; }
static inline uint64_t cossl_SSL_OP_NO_TLSv1_3(void) { return SSL_OP_NO_TLSv1_3; }
static inline uint64_t cossl_SSL_OP_NO_DTLSv1(void) { return SSL_OP_NO_DTLSv1; }
static inline uint64_t cossl_SSL_OP_NO_DTLSv1_2(void) { return SSL_OP_NO_DTLSv1_2; }
static inline uint64_t cossl_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline uint64_t cossl_SSL_OP_CRYPTOPRO_TLSEXT_BUG(void) { return SSL_OP_CRYPTOPRO_TLSEXT_BUG; }
static inline uint64_t cossl_SSL_OP_ALL(void) { return SSL_OP_ALL; }
static inline uint64_t cossl_SSL_OP_NO_SSL_MASK(void) { return SSL_OP_NO_SSL_MASK; }
static inline uint64_t cossl_SSL_OP_NO_DTLS_MASK(void) { return SSL_OP_NO_DTLS_MASK; }

/* ---- TLS: context and connection macros ---- */
static inline long cossl_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
static inline long cossl_SSL_CTX_clear_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_clear_mode(ctx, mode); }
static inline long cossl_SSL_CTX_get_mode(SSL_CTX *ctx) { return SSL_CTX_get_mode(ctx); }
static inline long cossl_SSL_set_mode(SSL *ssl, long mode) { return SSL_set_mode(ssl, mode); }
static inline long cossl_SSL_clear_mode(SSL *ssl, long mode) { return SSL_clear_mode(ssl, mode); }
static inline long cossl_SSL_get_mode(SSL *ssl) { return SSL_get_mode(ssl); }
static inline int cossl_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
static inline int cossl_SSL_CTX_set_max_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_max_proto_version(ctx, version); }
static inline int cossl_SSL_CTX_get_min_proto_version(SSL_CTX *ctx) { return (int)SSL_CTX_get_min_proto_version(ctx); }
static inline int cossl_SSL_CTX_get_max_proto_version(SSL_CTX *ctx) { return (int)SSL_CTX_get_max_proto_version(ctx); }
static inline int cossl_SSL_set_min_proto_version(SSL *ssl, int version) { return (int)SSL_set_min_proto_version(ssl, version); }
static inline int cossl_SSL_set_max_proto_version(SSL *ssl, int version) { return (int)SSL_set_max_proto_version(ssl, version); }
static inline long cossl_SSL_CTX_add_extra_chain_cert(SSL_CTX *ctx, X509 *x509) { return SSL_CTX_add_extra_chain_cert(ctx, x509); }
static inline long cossl_SSL_CTX_get_extra_chain_certs(SSL_CTX *ctx, STACK_OF(X509) **chain) { return SSL_CTX_get_extra_chain_certs(ctx, chain); }
static inline int cossl_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) { return (int)SSL_CTX_set1_groups_list(ctx, list); }
static inline long cossl_SSL_CTX_set_dh_auto(SSL_CTX *ctx, int onoff) { return SSL_CTX_set_dh_auto(ctx, onoff); }
static inline int cossl_SSL_set_tlsext_host_name(SSL *ssl, const char *name) { return (int)SSL_set_tlsext_host_name(ssl, name); }
static inline int cossl_SSL_CTX_set_app_data(SSL_CTX *ctx, void *data) { return SSL_CTX_set_app_data(ctx, data); }
static inline void *cossl_SSL_CTX_get_app_data(const SSL_CTX *ctx) { return SSL_CTX_get_app_data(ctx); }
static inline int cossl_SSL_set_app_data(SSL *ssl, void *data) { return SSL_set_app_data(ssl, data); }
static inline void *cossl_SSL_get_app_data(const SSL *ssl) { return SSL_get_app_data(ssl); }
static inline int cossl_SSL_want_read(const SSL *ssl) { return SSL_want_read(ssl); }
static inline int cossl_SSL_want_write(const SSL *ssl) { return SSL_want_write(ssl); }
static inline int cossl_SSL_want_retry_verify(const SSL *ssl) { return SSL_want_retry_verify(ssl); }
static inline int cossl_SSL_want_x509_lookup(const SSL *ssl) { return SSL_want_x509_lookup(ssl); }
static inline int cossl_SSL_add1_chain_cert(SSL *ssl, X509 *x509) { return (int)SSL_add1_chain_cert(ssl, x509); }
static inline int cossl_SSL_clear_chain_certs(SSL *ssl) { return (int)SSL_clear_chain_certs(ssl); }
static inline long cossl_SSL_CTX_clear_extra_chain_certs(SSL_CTX *ctx) { return SSL_CTX_clear_extra_chain_certs(ctx); }
static inline int cossl_SSL_set_retry_verify(SSL *ssl) { return SSL_set_retry_verify(ssl); }
static inline int cossl_BIO_set_mem_eof_return(BIO *bio, int value) { return (int)BIO_set_mem_eof_return(bio, value); }
static inline int cossl_sk_X509_NAME_num(const STACK_OF(X509_NAME) *sk) { return sk_X509_NAME_num(sk); }
static inline X509_NAME *cossl_sk_X509_NAME_value(const STACK_OF(X509_NAME) *sk, int i) { return sk_X509_NAME_value(sk, i); }
static inline STACK_OF(X509_NAME) *cossl_sk_X509_NAME_new_null(void) { return sk_X509_NAME_new_null(); }
static inline int cossl_sk_X509_NAME_push(STACK_OF(X509_NAME) *sk, X509_NAME *name) { return sk_X509_NAME_push(sk, name); }
static inline void cossl_sk_X509_NAME_pop_free(STACK_OF(X509_NAME) *sk) { sk_X509_NAME_pop_free(sk, X509_NAME_free); }

/* ---- store (X509_STORE, store context, PKCS12) ---- */
static inline int cossl_X509_STORE_get_ex_new_index(long argl, void *argp, CRYPTO_EX_new *newf, CRYPTO_EX_dup *dupf, CRYPTO_EX_free *freef) { return X509_STORE_get_ex_new_index(argl, argp, newf, dupf, freef); }
static inline int cossl_X509_STORE_CTX_get_ex_new_index(long argl, void *argp, CRYPTO_EX_new *newf, CRYPTO_EX_dup *dupf, CRYPTO_EX_free *freef) { return X509_STORE_CTX_get_ex_new_index(argl, argp, newf, dupf, freef); }
static inline int cossl_sk_PKCS7_num(const STACK_OF(PKCS7) *sk) { return sk_PKCS7_num(sk); }
static inline PKCS7 *cossl_sk_PKCS7_value(const STACK_OF(PKCS7) *sk, int i) { return sk_PKCS7_value(sk, i); }
static inline void cossl_sk_PKCS7_pop_free(STACK_OF(PKCS7) *sk) { sk_PKCS7_pop_free(sk, PKCS7_free); }
static inline int cossl_sk_PKCS12_SAFEBAG_num(const STACK_OF(PKCS12_SAFEBAG) *sk) { return sk_PKCS12_SAFEBAG_num(sk); }
static inline PKCS12_SAFEBAG *cossl_sk_PKCS12_SAFEBAG_value(const STACK_OF(PKCS12_SAFEBAG) *sk, int i) { return sk_PKCS12_SAFEBAG_value(sk, i); }
static inline void cossl_sk_PKCS12_SAFEBAG_pop_free(STACK_OF(PKCS12_SAFEBAG) *sk) { sk_PKCS12_SAFEBAG_pop_free(sk, PKCS12_SAFEBAG_free); }

/* ---- transport (custom BIO, sockets) ---- */
static inline void cossl_BIO_set_retry_read(BIO *b) { BIO_set_retry_read(b); }
static inline void cossl_BIO_set_retry_write(BIO *b) { BIO_set_retry_write(b); }
static inline void cossl_BIO_clear_retry_flags(BIO *b) { BIO_clear_retry_flags(b); }
static inline int cossl_BIO_should_retry(BIO *b) { return BIO_should_retry(b); }
static inline int cossl_BIO_should_read(BIO *b) { return BIO_should_read(b); }
static inline int cossl_BIO_should_write(BIO *b) { return BIO_should_write(b); }
static inline int cossl_BIO_eof(BIO *b) { return BIO_eof(b); }

/* ---- builder (X509 builder, CSR, CRL) ---- */
static inline STACK_OF(X509_EXTENSION) *cossl_sk_X509_EXTENSION_new_null(void) { return sk_X509_EXTENSION_new_null(); }
static inline int cossl_sk_X509_EXTENSION_push(STACK_OF(X509_EXTENSION) *sk, X509_EXTENSION *ext) { return sk_X509_EXTENSION_push(sk, ext); }
static inline int cossl_sk_X509_EXTENSION_num(const STACK_OF(X509_EXTENSION) *sk) { return sk_X509_EXTENSION_num(sk); }
static inline X509_EXTENSION *cossl_sk_X509_EXTENSION_value(const STACK_OF(X509_EXTENSION) *sk, int i) { return sk_X509_EXTENSION_value(sk, i); }
static inline void cossl_sk_X509_EXTENSION_pop_free(STACK_OF(X509_EXTENSION) *sk) { sk_X509_EXTENSION_pop_free(sk, X509_EXTENSION_free); }
static inline int cossl_sk_X509_REVOKED_num(const STACK_OF(X509_REVOKED) *sk) { return sk_X509_REVOKED_num(sk); }
static inline X509_REVOKED *cossl_sk_X509_REVOKED_value(const STACK_OF(X509_REVOKED) *sk, int i) { return sk_X509_REVOKED_value(sk, i); }

/* ---- TLS features (SNI, ALPN, sessions, callbacks, DTLS) ---- */
static inline long cossl_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *)) { return SSL_CTX_set_tlsext_servername_callback(ctx, cb); }
static inline long cossl_SSL_CTX_set_tlsext_status_cb(SSL_CTX *ctx, int (*cb)(SSL *, void *)) { return SSL_CTX_set_tlsext_status_cb(ctx, cb); }
static inline long cossl_SSL_set_tlsext_status_type(SSL *ssl, int type) { return SSL_set_tlsext_status_type(ssl, type); }
static inline long cossl_SSL_get_tlsext_status_type(SSL *ssl) { return SSL_get_tlsext_status_type(ssl); }
static inline long cossl_SSL_set_tlsext_status_ocsp_resp(SSL *ssl, unsigned char *resp, long len) { return SSL_set_tlsext_status_ocsp_resp(ssl, resp, len); }
static inline long cossl_SSL_get_tlsext_status_ocsp_resp(SSL *ssl, unsigned char **resp) { return SSL_get_tlsext_status_ocsp_resp(ssl, resp); }
static inline long cossl_SSL_CTX_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }
static inline long cossl_SSL_CTX_get_session_cache_mode(SSL_CTX *ctx) { return SSL_CTX_get_session_cache_mode(ctx); }
static inline long cossl_SSL_CTX_sess_set_cache_size(SSL_CTX *ctx, long size) { return SSL_CTX_sess_set_cache_size(ctx, size); }
static inline long cossl_SSL_CTX_sess_get_cache_size(SSL_CTX *ctx) { return SSL_CTX_sess_get_cache_size(ctx); }
static inline long cossl_SSL_CTX_sess_number(SSL_CTX *ctx) { return SSL_CTX_sess_number(ctx); }
static inline int cossl_SSL_get_negotiated_group(SSL *ssl) { return (int)SSL_get_negotiated_group(ssl); }
static inline int cossl_SSL_get_peer_signature_nid(SSL *ssl, int *nid) { return (int)SSL_get_peer_signature_nid(ssl, nid); }
static inline int cossl_SSL_get_peer_tmp_key(SSL *ssl, EVP_PKEY **key) { return (int)SSL_get_peer_tmp_key(ssl, key); }
static inline long cossl_SSL_total_renegotiations(SSL *ssl) { return SSL_total_renegotiations(ssl); }
static inline int cossl_DTLSv1_get_timeout(SSL *ssl, struct timeval *tv) { return (int)DTLSv1_get_timeout(ssl, tv); }
static inline int cossl_DTLSv1_handle_timeout(SSL *ssl) { return (int)DTLSv1_handle_timeout(ssl); }
static inline long cossl_SSL_set_mtu(SSL *ssl, long mtu) { return SSL_set_mtu(ssl, mtu); }
static inline int cossl_BIO_ctrl_set_connected(BIO *bio, BIO_ADDR *peer) { return (int)BIO_ctrl_set_connected(bio, peer); }

/* ---- calls that changed between OpenSSL 3.0 and 3.5: one name for both ----
 * 3.4 deprecated the `long` time functions (not Y2038-safe) for `time_t`
 * ones (SSL_SESSION_get_time_ex since 3.3, SSL_CTX_flush_sessions_ex since
 * 3.4); the headers compiled against pick the call, so neither version warns. */
#if OPENSSL_VERSION_NUMBER >= 0x30300000L
static inline time_t cossl_SSL_SESSION_get_time(const SSL_SESSION *s) { return SSL_SESSION_get_time_ex(s); }
#else
static inline time_t cossl_SSL_SESSION_get_time(const SSL_SESSION *s) { return (time_t)SSL_SESSION_get_time(s); }
#endif
#if OPENSSL_VERSION_NUMBER >= 0x30400000L
static inline void cossl_SSL_CTX_flush_sessions(SSL_CTX *ctx, time_t tm) { SSL_CTX_flush_sessions_ex(ctx, tm); }
#else
static inline void cossl_SSL_CTX_flush_sessions(SSL_CTX *ctx, time_t tm) { SSL_CTX_flush_sessions(ctx, (long)tm); }
#endif

#endif /* COPENSSL_SHIM_H */
