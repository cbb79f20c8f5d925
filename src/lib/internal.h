/* Internal helpers shared by the library's modules (not part of the public API). */
#ifndef VMSPKI_INTERNAL_H
#define VMSPKI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include "vmspki/err.h"
#include "vmspki/issue.h"
#include "vmspki/util.h"
#include "vmspki/x509info.h"

/* A random positive serial number of at most 159 bits (RFC 5280: at most 20 octets). */
vp_err vp_serial_random(ASN1_INTEGER **out, vp_error *e);

/* vp_time_iso (util.h), vp_asn1_time_unix and vp_x509_name_cn (x509info.h) and
 * vp_x509_chain_to_pem (issue.h) are public: the front ends use them too. */

/* The message digest to sign with for key (SHA-256, SHA-384 for P-384/P-521). */
const char *vp_sign_md(EVP_PKEY *key);
/* The digest called name ("SHA1", "SHA256", "SHA384", "SHA512"), fetched from the default
 * providers once per process and shared. A lone fetch costs ~0.2 us, but in the daemon, with
 * every signing thread fetching for each certificate, perf put the fetches at 0.2 % of its
 * CPU. NULL for another name or when the fetch failed. Not to be freed. */
const EVP_MD *vp_md(const char *name);
/* A library context that holds only the null provider, made once per process and shared (not
 * to be freed): parsing in it reads an ASN.1 structure but decodes no key in it. NULL when it
 * could not be made. */
OSSL_LIB_CTX *vp_nodecode_ctx(void);

/* All certificates of a PEM bundle; an empty bundle is an empty stack. */
vp_err vp_chain_from_pem(const unsigned char *pem, size_t len, STACK_OF(X509) **out,
    vp_error *e);

/* Adds the extension nid with an X.509v3 config value ("critical,CA:TRUE", "hash", ...) to x,
 * with issuer for AKI. */
vp_err vp_x509_add_ext(X509 *x, X509 *issuer, int nid, const char *value, vp_error *e);

/* Frees a stack of certificates and the certificates (NULL is fine). */
void vp_x509_stack_free(STACK_OF(X509) *sk);

#endif
