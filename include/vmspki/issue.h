/* Issuing certificates: check a CSR (or generate a key here), build the certificate from a
 * profile, sign it with the CA, and record it in the store with an audit row. Signing is
 * thread-safe for one vp_ca shared by several threads; recording takes a per-thread store. */
#ifndef VMSPKI_ISSUE_H
#define VMSPKI_ISSUE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "vmspki/ca.h"
#include "vmspki/err.h"
#include "vmspki/store.h"

/* Reads a PKCS#10 CSR (PEM or DER), checks its self-signature and key strength (RSA >= 2048,
 * EC P-256/P-384/P-521). VP_ERR_INVALID says which check failed. */
vp_err vp_csr_parse(const unsigned char *data, size_t len, X509_REQ **out, vp_error *e);

/* Checks that key is strong enough to be certified (same rule as for CSRs and imported CAs). */
vp_err vp_key_check_strength(EVP_PKEY *key, const char *what, vp_error *e);

typedef struct vp_issue_req {
	const char *profile;        /* profile name */
	X509_REQ *csr;              /* the subject's CSR, or NULL with generate_key */
	int generate_key;           /* make the key here (RSA 2048) and return it */
	const char *cn;             /* subject CN; NULL: from the CSR, else the first DNS name */
	const char *const *dns;     /* DNS SANs */
	size_t ndns;
	const char *const *ip;      /* IP SANs (IPv4 or IPv6 text) */
	size_t nip;
	const char *const *email;   /* email SANs (component client) */
	size_t nemail;
	int days;                   /* 0: the profile default, clamped to the CA's notAfter */
	const char *owner_kind;     /* NULL or e.g. "device" */
	const char *owner_id;
	int64_t now;                /* 0: the current time (tests pass a fixed one) */
} vp_issue_req;

typedef struct vp_issued {
	X509 *cert;                 /* from a CSR, it carries the CSR's SubjectPublicKeyInfo bytes
	                             * as they were and X509_get0_pubkey(cert) is NULL (decoding the
	                             * key again costs ~7 % of an issuance): use the CSR's key, or
	                             * parse rec.pem */
	EVP_PKEY *key;              /* only with generate_key */
	int clamped;                /* validity was cut to the CA's notAfter */
	vp_cert_rec rec;            /* what will be / was stored */
} vp_issued;

/* Builds and signs a certificate. Nothing is stored. */
vp_err vp_issue_sign(const vp_ca *ca, const vp_issue_req *req, vp_issued **out, vp_error *e);
void vp_issued_free(vp_issued *c);

/* The PKCS#12 handed out with a certificate whose key was made here (generate_key): its key
 * and certificate, the issuing CA and the issuers above it (vp_ca_chain_full), its CN as the
 * friendly name, under pass (vp_p12_build). *out is a secret: vp_secret_free(*out, *len). */
vp_err vp_issued_p12(const vp_issued *is, const vp_ca *ca, const char *pass,
    unsigned char **out, size_t *len, vp_error *e);

/* Records n issued certificates and their audit rows in one transaction (n > 1 lets callers
 * batch durable commits). On failure nothing is recorded. */
vp_err vp_issue_record(vp_store *s, vp_issued *const *certs, size_t n, const char *actor,
    vp_error *e);

/* Fills r from cert (serial, fingerprint, subject, SANs, validity); profile/owner/issuer_fp
 * are left for the caller. */
vp_err vp_cert_rec_from_x509(X509 *cert, vp_cert_rec *r, vp_error *e);

/* Helpers shared by the CLI and the API. */
vp_err vp_x509_to_pem(X509 *cert, char **out, size_t *len, vp_error *e);
/* PEM of every certificate in chain, concatenated, as a new NUL-terminated string (free() it;
 * "" for an empty chain). */
vp_err vp_x509_chain_to_pem(STACK_OF(X509) *chain, char **out, size_t *len, vp_error *e);
vp_err vp_x509_fingerprint(X509 *cert, const char *md, char *hex, size_t hexlen, vp_error *e);
vp_err vp_key_to_pem(EVP_PKEY *key, char **out, size_t *len, vp_error *e); /* unencrypted PKCS#8 */

/* ---- legacy PKCS#12 (issue 19, item 6) ---- */

/* vp_issued_p12 with VP_P12_* flags (ca.h). */
vp_err vp_issued_p12_ex(const vp_issued *is, const vp_ca *ca, const char *pass, int flags,
    unsigned char **out, size_t *len, vp_error *e);

/* ---- a new certificate like an issued one (issue 19, item 4: cert renew) ---- */

/* What a renewal keeps of an issued certificate: its profile, CN, DNS, IP and email names,
 * and its owner. Every string is owned (vp_issue_renewal_clear). */
typedef struct vp_issue_renewal {
	char profile[32];
	char *cn;                   /* NULL when the certificate has none */
	char **dns, **ip, **email;
	size_t ndns, nip, nemail;
	char *owner_kind, *owner_id;
} vp_issue_renewal;

/* Fills out from old (its stored PEM). VP_ERR_INVALID for a revoked certificate, one whose
 * holder vmspki renews itself (a device, a component, the API server), or a damaged row. */
vp_err vp_issue_renewal_from(const vp_cert_rec *old, vp_issue_renewal *out, vp_error *e);
void vp_issue_renewal_clear(vp_issue_renewal *r);

#endif
