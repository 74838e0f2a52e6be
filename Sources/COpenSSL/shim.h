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

/* ---- store (X509_STORE, store context, PKCS12) ---- */
static inline int cossl_X509_STORE_CTX_get_ex_new_index(long argl, void *argp, CRYPTO_EX_new *newf, CRYPTO_EX_dup *dupf, CRYPTO_EX_free *freef) { return X509_STORE_CTX_get_ex_new_index(argl, argp, newf, dupf, freef); }

#endif /* COPENSSL_SHIM_H */
