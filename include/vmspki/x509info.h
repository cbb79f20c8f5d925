/* The facts a front end shows about a certificate (CA, issued certificate, server certificate):
 * names, serial, validity, key, fingerprints. Shared by the REST API and the CLI. */
#ifndef VMSPKI_X509INFO_H
#define VMSPKI_X509INFO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "vmspki/err.h"
#include "vmspki/store.h"

typedef struct vp_x509_info {
	char *subject;          /* RFC 2253 one line */
	char *issuer;
	char *sans;             /* "DNS:a, IP Address:1.2.3.4" (may be "") */
	char serial[64];        /* lowercase hex, no leading zeros (the store's form) */
	int64_t not_before, not_after;
	char key[32];           /* "RSA 2048", "EC P-256", ... */
	char sha256[65];        /* fingerprints of the DER, lowercase hex */
	char sha1[41];
	int is_ca;              /* basicConstraints CA:TRUE */
	int self_signed;
} vp_x509_info;

/* Fills *out (cleared first; free its strings with vp_x509_info_clear). */
vp_err vp_x509_info_get(X509 *x, vp_x509_info *out, vp_error *e);
void vp_x509_info_clear(vp_x509_info *i);

/* "RSA 4096", "EC P-256", "Ed25519", ... for key (NULL gives "unknown"). */
void vp_key_describe(EVP_PKEY *key, char *buf, size_t n);

/* The serial number of x in the store's form (lowercase hex, no leading zeros). */
vp_err vp_x509_serial_hex(const X509 *x, char *buf, size_t n, vp_error *e);

/* name as one RFC 2253 line ("CN=cam1,O=Site"); free() it. NULL when out of memory. */
char *vp_x509_name_str(const X509_NAME *name);

/* Seconds since the epoch for an ASN1_TIME; -1 if it cannot be read (or t is NULL). */
int64_t vp_asn1_time_unix(const ASN1_TIME *t);

/* The first CN of name as UTF-8 into buf (cut to len); "" if there is none. */
void vp_x509_name_cn(const X509_NAME *name, char *buf, size_t len);

/* What a user needs to know of a stored certificate at time now: "revoked", "expired" (by the
 * clock) or "valid". */
const char *vp_cert_rec_status(const vp_cert_rec *r, int64_t now);

#endif
