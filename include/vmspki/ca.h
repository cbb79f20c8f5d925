/* The site's certificate authority: generated here or imported from PKCS#12 (root or
 * intermediate), its key kept in the store encrypted with a passphrase, exported on demand. */
#ifndef VMSPKI_CA_H
#define VMSPKI_CA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "vmspki/err.h"
#include "vmspki/store.h"

typedef struct vp_ca vp_ca;

typedef enum vp_keytype {
	VP_KEY_RSA2048,
	VP_KEY_RSA3072,
	VP_KEY_RSA4096,
	VP_KEY_EC_P256,
	VP_KEY_EC_P384
} vp_keytype;

/* Parses "rsa4096", "ec-p256", ... into *out; VP_ERR_INVALID naming the accepted values. */
vp_err vp_keytype_parse(const char *s, vp_keytype *out, vp_error *e);
const char *vp_keytype_name(vp_keytype t);

/* Generates a new private key of type t. */
vp_err vp_key_generate(vp_keytype t, EVP_PKEY **out, vp_error *e);

/* Minimum iteration count of PBKDF2 (HMAC-SHA256) for the CA key at rest and PKCS#12 exports. */
#define VP_KDF_ITER 600000

typedef struct vp_ca_init_opts {
	const char *cn;     /* NULL: "vmspki Root CA (<host>)" */
	vp_keytype key;     /* VP_KEY_RSA4096 by default */
	int days;           /* 0: 3652 (10 years) */
	int replace;        /* replace the existing CA (see "Replacing the CA" below); else
	                     * VP_ERR_EXISTS when there is one */
	const char *actor;  /* who asks, for the audit log */
} vp_ca_init_opts;

/* Creates a self-signed root CA, stores its certificate and encrypted key (one transaction,
 * one audit row) and writes <datadir>/certs/ca.cert.pem. passphrase protects the key. */
vp_err vp_ca_init(vp_store *s, const char *datadir, const vp_ca_init_opts *o,
    const char *passphrase, vp_error *e);

/* Imports a CA from PKCS#12 (p12/p12_len, opened with p12_pass). extra_chain (PEM, may be
 * NULL) adds issuer certificates the file lacks. Refuses, saying which rule failed: not a CA,
 * no keyCertSign, outside validity, key/cert mismatch, wrong password, chain to a self-signed
 * root incomplete, key weaker than RSA 2048 / EC P-256. */
vp_err vp_ca_import(vp_store *s, const char *datadir, const unsigned char *p12, size_t p12_len,
    const char *p12_pass, const unsigned char *extra_chain, size_t extra_chain_len,
    const char *passphrase, int replace, const char *actor, vp_error *e);

/* Loads the CA. With passphrase NULL only the public part is loaded (show, export, verify);
 * otherwise the key is decrypted and checked against the certificate: VP_ERR_PASSPHRASE if
 * it does not decrypt. VP_ERR_NOTFOUND if there is no CA yet. */
vp_err vp_ca_load(vp_store *s, const char *passphrase, vp_ca **out, vp_error *e);
void vp_ca_free(vp_ca *ca);

X509 *vp_ca_cert(const vp_ca *ca);              /* borrowed */
STACK_OF(X509) *vp_ca_chain(const vp_ca *ca);   /* borrowed: issuers above the CA, may be empty */
/* The CA certificate followed by the issuers above it (what a leaf's chain file and PKCS#12
 * carry): a new stack of borrowed certificates, freed with sk_X509_free alone. NULL when out
 * of memory. */
STACK_OF(X509) *vp_ca_chain_full(const vp_ca *ca);
EVP_PKEY *vp_ca_key(const vp_ca *ca);           /* borrowed; NULL when loaded without key */
int vp_ca_is_root(const vp_ca *ca);
const char *vp_ca_fingerprint(const vp_ca *ca); /* SHA-256 hex of the CA certificate */
/* Adds to o the CA certificate's fields (vp_json_x509, render_json.h), root, chain_length and
 * certificates_issued (issued: how many certificates the store holds from this CA);
 * VP_ERR_NOMEM, or the error of reading the certificate. */
vp_err vp_json_ca(const vp_ca *ca, int64_t issued, json_t *o, vp_error *e);

/* Replacing the CA. vp_ca_init or vp_ca_import with replace, given the passphrase of the
 * current CA (the new key is kept under it), stores the new CA as the one that issues from
 * now on, keeps the old one as "previous" (still trusted: certs/ca.cert.pem holds the new CA
 * then the old one) and creates a task (VP_TASK_CA_REPLACE, task.h) over every device with a
 * certificate of ours, every component and the server certificate: one transaction. The
 * task engine moves each to the new CA and, once all are, calls vp_ca_retire_previous. Only
 * one replacement at a time (VP_ERR_EXISTS names the unfinished task). */
typedef struct vp_ca_transition {
	int64_t task;           /* the replacement task; 0: no replacement in progress */
	char subject[256];      /* of the CA being replaced */
	char fingerprint[65];
} vp_ca_transition;

vp_err vp_ca_transition_get(vp_store *s, vp_ca_transition *out, vp_error *e);
/* The CA being replaced (public part); VP_ERR_NOTFOUND when there is none. */
vp_err vp_ca_previous_load(vp_store *s, vp_ca **out, vp_error *e);
/* Writes certs/ca.cert.pem (with the previous CA during a replacement) and ca.chain.pem from
 * what the store holds. */
vp_err vp_ca_write_files(vp_store *s, const char *datadir, vp_error *e);
/* Ends the replacement of task: the old CA leaves certs/ca.cert.pem, then the store (one
 * transaction, one audit row). Nothing to do when it was retired already. */
vp_err vp_ca_retire_previous(vp_store *s, const char *datadir, int64_t task,
    const char *actor, vp_error *e);

typedef enum vp_export_fmt { VP_EXPORT_PEM, VP_EXPORT_DER, VP_EXPORT_P7B } vp_export_fmt;

/* The public CA certificate; PEM and P7B include the chain above it. *out freed by caller. */
vp_err vp_ca_export(const vp_ca *ca, vp_export_fmt fmt, unsigned char **out, size_t *len,
    vp_error *e);

/* The CA with its key as PKCS#12 (AES-256-CBC, PBKDF2-HMAC-SHA256, SHA-256 MAC). Needs a CA
 * loaded with its key. */
vp_err vp_ca_export_p12(const vp_ca *ca, const char *p12_pass, unsigned char **out,
    size_t *len, vp_error *e);

/* Encrypts key as PKCS#8 PEM (PBES2, AES-256-CBC, PBKDF2-HMAC-SHA256, VP_KDF_ITER rounds). */
vp_err vp_key_encrypt_pem(EVP_PKEY *key, const char *passphrase, char **pem, size_t *len,
    vp_error *e);
/* Decrypts such a PEM; VP_ERR_PASSPHRASE when the passphrase is wrong. */
vp_err vp_key_decrypt_pem(const char *pem, size_t len, const char *passphrase, EVP_PKEY **out,
    vp_error *e);

/* Builds a PKCS#12 of key, cert and chain (AES-256, PBKDF2, SHA-256 MAC); name may be NULL. */
vp_err vp_p12_build(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain, const char *name,
    const char *pass, unsigned char **out, size_t *len, vp_error *e);

/* The rule for a password that protects a key in a PKCS#12 we hand out (what: the key it
 * protects, "the key" or "the CA key", for the sentence): at least VP_PASSPHRASE_MIN
 * characters, else VP_ERR_INVALID. Front ends check it before any work. */
vp_err vp_p12_pass_check(const char *pass, const char *what, vp_error *e);

/* Opens a PKCS#12: VP_ERR_PASSPHRASE on a wrong password, VP_ERR_INVALID if it is not one. */
vp_err vp_p12_parse(const unsigned char *der, size_t len, const char *pass, EVP_PKEY **key,
    X509 **cert, STACK_OF(X509) **chain, vp_error *e);

/* ---- legacy PKCS#12 (issue 19, item 6) ---- */

/* vp_p12_build with flags: VP_P12_LEGACY protects key and certificates with
 * pbeWithSHA1And3-KeyTripleDES-CBC and a SHA-1 MAC (2048 rounds), the format older Windows
 * (Server 2016, 10 before 1709) imports and `openssl pkcs12 -legacy` reads; weak against
 * password guessing, so only on request. 0: as vp_p12_build. */
#define VP_P12_LEGACY 0x1
vp_err vp_p12_build_ex(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain, const char *name,
    const char *pass, int flags, unsigned char **out, size_t *len, vp_error *e);
/* vp_ca_export_p12 with VP_P12_* flags. */
vp_err vp_ca_export_p12_ex(const vp_ca *ca, const char *p12_pass, int flags,
    unsigned char **out, size_t *len, vp_error *e);
/* ---- CA renewal (issue 19, item 5) ---- */
/* Renews the site's root CA: a new self-signed certificate with the same key, subject and
 * extensions (so the same subject key identifier), a new serial, valid from now for days
 * (0: 3652), which must end after the current one. passphrase opens the CA key (it signs);
 * the stored key is not touched. In one transaction (one audit row "ca.renew") the renewed
 * certificate becomes the CA's, the old one is kept as "previous" (as in a replacement:
 * still in certs/ca.cert.pem) and a task (VP_TASK_CA_RENEW) is made over every device with a
 * certificate of ours and every component; *task gets its id. Refused (nothing changed) for an
 * intermediate CA, during a replacement or renewal, or with a validity that would not extend
 * the CA. */
vp_err vp_ca_renew(vp_store *s, const char *datadir, int days, const char *passphrase,
    const char *actor, int64_t *task, vp_error *e);

#endif
