/* The site's certificate authority: generation of a self-signed root, import of a root or an
 * intermediate from PKCS#12 (with the rules the seed systems apply, and a few more), storage
 * of the certificate, chain and encrypted key in the store, loading and export. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "vmspki/alarm.h"
#include "vmspki/ca.h"
#include "vmspki/datadir.h"
#include "vmspki/issue.h"
#include "vmspki/render_json.h"
#include "vmspki/settings.h"
#include "vmspki/task.h"
#include "vmspki/x509info.h"
#include "vmspki/util.h"

/* key_value keys */
#define KV_CERT  "ca.cert"   /* PEM */
#define KV_KEY   "ca.key"    /* encrypted PKCS#8 PEM */
#define KV_CHAIN "ca.chain"  /* PEM of the issuers above the CA ("" for a root) */
#define KV_KIND  "ca.kind"   /* "root" or "intermediate" */
/* During a replacement (vp_ca_init/import with replace) the CA that was replaced, still
 * trusted until its task retires it, and that task's id. */
#define KV_PREV_PREFIX "ca.previous."
#define KV_REPLACE_TASK "ca.replace_task"

struct vp_ca {
	X509 *cert;
	STACK_OF(X509) *chain;
	EVP_PKEY *key;
	int root;
	char fingerprint[65];
};

void
vp_ca_free(vp_ca *ca)
{
	if (ca == NULL)
		return;
	X509_free(ca->cert);
	vp_x509_stack_free(ca->chain);
	EVP_PKEY_free(ca->key);
	free(ca);
}

X509 *vp_ca_cert(const vp_ca *ca) { return ca->cert; }
STACK_OF(X509) *vp_ca_chain(const vp_ca *ca) { return ca->chain; }
EVP_PKEY *vp_ca_key(const vp_ca *ca) { return ca->key; }
int vp_ca_is_root(const vp_ca *ca) { return ca->root; }
const char *vp_ca_fingerprint(const vp_ca *ca) { return ca->fingerprint; }

STACK_OF(X509) *
vp_ca_chain_full(const vp_ca *ca)
{
	STACK_OF(X509) *sk = sk_X509_new_null();

	if (sk == NULL || !sk_X509_push(sk, ca->cert))
		goto fail;
	for (int i = 0; i < sk_X509_num(ca->chain); i++)
		if (!sk_X509_push(sk, sk_X509_value(ca->chain, i)))
			goto fail;
	return sk;
fail:
	sk_X509_free(sk);   /* the certificates are the CA's */
	return NULL;
}

/* Is there a CA in the store already? */
static vp_err
ca_exists(vp_store *s, int *exists, vp_error *e)
{
	unsigned char *v = NULL;
	size_t n;
	vp_err rc = vp_store_kv_get(s, KV_CERT, &v, &n, e);

	free(v);
	if (rc == VP_ERR_NOTFOUND) {
		vp_error_clear(e);
		*exists = 0;
		return VP_OK;
	}
	*exists = rc == VP_OK;
	return rc;
}

/* The id of the unfinished replacement, 0 when there is none. */
static vp_err
replace_task(vp_store *s, int64_t *id, vp_error *e)
{
	unsigned char *v = NULL;
	size_t n;
	vp_err rc = vp_store_kv_get(s, KV_REPLACE_TASK, &v, &n, e);

	*id = 0;
	if (rc == VP_ERR_NOTFOUND) {
		vp_error_clear(e);
		return VP_OK;
	}
	if (rc == VP_OK)
		*id = strtoll((char *)v, NULL, 10);
	free(v);
	return rc;
}

/* May a CA be stored now? Without replace: only when there is none. With replace: only over
 * an existing CA whose key the passphrase opens (the new key is kept under the same one, so
 * that a running daemon and the site key keep working), with no replacement unfinished. */
static vp_err
refuse_existing(vp_store *s, int replace, const char *passphrase, vp_error *e)
{
	vp_ca *cur = NULL;
	int64_t task;
	int exists;
	vp_err rc;

	if ((rc = ca_exists(s, &exists, e)) != VP_OK)
		return rc;
	if (!replace) {
		if (exists)
			return vp_error_set(e, VP_ERR_EXISTS, "this data directory already has a "
			    "CA: it was left unchanged (see `vmspki ca show`; `--replace` replaces "
			    "it)");
		return VP_OK;
	}
	if (!exists)
		return vp_error_set(e, VP_ERR_NOTFOUND, "there is no CA to replace: create one "
		    "without --replace");
	if ((rc = replace_task(s, &task, e)) != VP_OK)
		return rc;
	if (task != 0)
		return vp_error_set(e, VP_ERR_EXISTS, "the replacement of the CA started by task %"
		    PRId64 " has not finished: nothing was changed; finish it first (`vmspki task "
		    "show %" PRId64 "`, `vmspki task retry-failed %" PRId64 " --wait`)", task, task,
		    task);
	if ((rc = vp_ca_load(s, passphrase, &cur, e)) != VP_OK) {
		if (rc == VP_ERR_PASSPHRASE)
			vp_error_set(e, rc, "wrong CA passphrase: replacing the CA needs the "
			    "passphrase of the current one (the new key is kept under it); nothing "
			    "was changed");
		return rc;
	}
	vp_ca_free(cur);
	return VP_OK;
}

/* Writes <datadir>/certs/ca.cert.pem (the CA alone; during a replacement followed by the CA
 * it replaces, prev: what the site trusts) and ca.chain.pem (CA and issuers). */
static vp_err
write_ca_files(const char *datadir, X509 *cert, STACK_OF(X509) *chain, X509 *prev,
    vp_error *e)
{
	char *dir = vp_datadir_join(datadir, VP_PATH_CERTS), *path = NULL, *pem = NULL;
	char *cpem = NULL, *all = NULL, *ppem = NULL, *trust = NULL;
	size_t n, cn, pn = 0;
	vp_err rc;

	if (dir == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if ((rc = vp_mkdir_p(dir, 0755, e)) != VP_OK ||
	    (rc = vp_x509_to_pem(cert, &pem, &n, e)) != VP_OK ||
	    (rc = vp_x509_chain_to_pem(chain, &cpem, &cn, e)) != VP_OK ||
	    (prev != NULL && (rc = vp_x509_to_pem(prev, &ppem, &pn, e)) != VP_OK))
		goto out;
	if ((path = vp_datadir_join(datadir, VP_PATH_CA_CERT)) == NULL ||
	    (all = malloc(n + cn + 1)) == NULL || (trust = malloc(n + pn + 1)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(trust, pem, n);
	if (pn > 0)
		memcpy(trust + n, ppem, pn);
	if ((rc = vp_file_write_atomic(path, trust, n + pn, 0644, e)) != VP_OK)
		goto out;
	free(path);
	memcpy(all, pem, n);
	memcpy(all + n, cpem, cn);
	if ((path = vp_datadir_join(datadir, VP_PATH_CA_CHAIN)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = vp_file_write_atomic(path, all, n + cn, 0644, e);
out:
	free(trust);
	free(ppem);
	free(all);
	free(path);
	free(cpem);
	free(pem);
	free(dir);
	return rc;
}

/* Moves the current CA's rows to KV_PREV_PREFIX (in the caller's transaction). */
static vp_err
keep_previous(vp_store *s, vp_error *e)
{
	static const char *const keys[] = { KV_CERT, KV_CHAIN, KV_KEY, KV_KIND };
	vp_err rc = VP_OK;

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]) && rc == VP_OK; i++) {
		unsigned char *v = NULL;
		size_t n = 0;
		char key[64];

		snprintf(key, sizeof(key), KV_PREV_PREFIX "%s", keys[i] + 3);
		if ((rc = vp_store_kv_get(s, keys[i], &v, &n, e)) == VP_OK)
			rc = vp_store_kv_put(s, key, v, n, e);
		vp_secret_free(v, n);
	}
	return rc;
}

/* Stores a CA (certificate, chain, encrypted key, kind) with one audit row, in one
 * transaction, then writes the public files. With replace, the same transaction keeps the
 * current CA as the previous one and creates the task that moves everything to the new CA. */
static vp_err
store_ca(vp_store *s, const char *datadir, X509 *cert, STACK_OF(X509) *chain, EVP_PKEY *key,
    int root, const char *passphrase, int replace, const char *actor, const char *action,
    vp_error *e)
{
	char *pem = NULL, *kpem = NULL, *cpem = NULL;
	size_t n, kn = 0, cn;
	vp_cert_rec rec;
	vp_ca *prev = NULL;
	char detail[1200], tid[32];
	const char *kind = root ? "root" : "intermediate";
	int64_t task = 0;
	vp_err rc;

	memset(&rec, 0, sizeof(rec));
	/* The slow, fallible work first: nothing is written until all of it succeeded. */
	if ((rc = vp_x509_to_pem(cert, &pem, &n, e)) != VP_OK ||
	    (rc = vp_x509_chain_to_pem(chain, &cpem, &cn, e)) != VP_OK ||
	    (rc = vp_key_encrypt_pem(key, passphrase, &kpem, &kn, e)) != VP_OK ||
	    (rc = vp_cert_rec_from_x509(cert, &rec, e)) != VP_OK)
		goto out;
	snprintf(detail, sizeof(detail), "%s CA %s fingerprint %s", kind, rec.subject,
	    rec.fingerprint);
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto out;
	if ((rc = refuse_existing(s, replace, passphrase, e)) != VP_OK)
		goto fail;
	if (replace) {
		if ((rc = vp_ca_load(s, NULL, &prev, e)) != VP_OK)
			goto fail;
		if (strcmp(vp_ca_fingerprint(prev), rec.fingerprint) == 0) {
			rc = vp_error_set(e, VP_ERR_INVALID, "that is the site's CA already "
			    "(fingerprint %.16s...): nothing was changed", rec.fingerprint);
			goto fail;
		}
		if ((rc = keep_previous(s, e)) != VP_OK)
			goto fail;
	}
	if ((rc = vp_store_kv_put(s, KV_CERT, pem, n, e)) != VP_OK ||
	    (rc = vp_store_kv_put(s, KV_CHAIN, cpem, cn, e)) != VP_OK ||
	    (rc = vp_store_kv_put(s, KV_KEY, kpem, kn, e)) != VP_OK ||
	    (rc = vp_store_kv_put(s, KV_KIND, kind, strlen(kind), e)) != VP_OK)
		goto fail;
	if (replace) {
		size_t l = strlen(detail);

		if ((rc = vp_task_create_ca_replace(s, actor, &task, e)) != VP_OK)
			goto fail;
		snprintf(tid, sizeof(tid), "%" PRId64, task);
		if ((rc = vp_store_kv_put(s, KV_REPLACE_TASK, tid, strlen(tid), e)) != VP_OK)
			goto fail;
		snprintf(detail + l, sizeof(detail) - l, ", replacing %.16s... (task %" PRId64 ")",
		    vp_ca_fingerprint(prev), task);
	}
	if ((rc = vp_store_audit_append(s, actor, replace ? "ca.replace" : action, rec.serial,
	    detail, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	/* The files are copies of what the store holds; if writing them fails the CA is kept
	 * and the next command that writes them (ca show) can recreate them. */
	if ((rc = write_ca_files(datadir, cert, chain, prev != NULL ? vp_ca_cert(prev) : NULL,
	    e)) != VP_OK)
		vp_error_prefix(e, "the CA was stored, but its public files could not be written");
	goto out;
fail:
	vp_store_rollback(s);
out:
	vp_ca_free(prev);
	vp_cert_rec_clear(&rec);
	vp_secret_free(kpem, kn);
	free(cpem);
	free(pem);
	return rc;
}

vp_err
vp_ca_init(vp_store *s, const char *datadir, const vp_ca_init_opts *o, const char *passphrase,
    vp_error *e)
{
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	X509_NAME *name = NULL;
	ASN1_INTEGER *serial = NULL;
	STACK_OF(X509) *chain = NULL;
	char cn[256], host[200];
	int days = o->days > 0 ? o->days : 3652;
	time_t now = time(NULL);
	vp_err rc;

	/* Refuse early (before minutes of key generation) if there is a CA already; store_ca
	 * checks again inside its transaction. */
	if ((rc = refuse_existing(s, o->replace, passphrase, e)) != VP_OK)
		return rc;
	if (days > 36525)
		return vp_error_set(e, VP_ERR_INVALID, "--days %d is more than 100 years", days);
	if (o->cn != NULL) {
		if (*o->cn == '\0' || strlen(o->cn) > 64)
			return vp_error_set(e, VP_ERR_INVALID,
			    "the CA name (--cn) must have 1 to 64 characters");
		snprintf(cn, sizeof(cn), "%s", o->cn);
	} else {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		snprintf(cn, sizeof(cn), "vmspki Root CA (%.40s)", host);
	}
	if ((rc = vp_key_generate(o->key, &key, e)) != VP_OK ||
	    (rc = vp_serial_random(&serial, e)) != VP_OK)
		goto out;
	if ((x = X509_new()) == NULL || (name = X509_NAME_new()) == NULL ||
	    !X509_set_version(x, X509_VERSION_3) || !X509_set_serialNumber(x, serial) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, -300, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &now) == NULL ||
	    !X509_set_pubkey(x, key)) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot build the CA certificate");
		goto out;
	}
	if ((rc = vp_x509_add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE", e)) != VP_OK ||
	    (rc = vp_x509_add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign", e)) != VP_OK ||
	    (rc = vp_x509_add_ext(x, x, NID_subject_key_identifier, "hash", e)) != VP_OK)
		goto out;
	if (X509_sign(x, key, EVP_get_digestbyname(vp_sign_md(key))) <= 0) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot sign the CA certificate");
		goto out;
	}
	if ((chain = sk_X509_new_null()) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = store_ca(s, datadir, x, chain, key, 1, passphrase, o->replace,
	    o->actor != NULL ? o->actor : "unknown", "ca.init", e);
out:
	sk_X509_free(chain);
	ASN1_INTEGER_free(serial);
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

static int
self_signed(X509 *x)
{
	return X509_check_issued(x, x) == X509_V_OK;
}

/* The rules a certificate must pass to become the site's CA, each with its own message. */
static vp_err
check_ca_cert(X509 *cert, EVP_PKEY *key, vp_error *e)
{
	BASIC_CONSTRAINTS *bc;
	time_t now = time(NULL);
	char cn[256], when[32];
	int is_ca;
	vp_err rc;

	vp_x509_name_cn(X509_get_subject_name(cert), cn, sizeof(cn));
	bc = X509_get_ext_d2i(cert, NID_basic_constraints, NULL, NULL);
	is_ca = bc != NULL && bc->ca;
	BASIC_CONSTRAINTS_free(bc);
	if (!is_ca)
		return vp_error_set(e, VP_ERR_INVALID,
		    "\"%s\" is not a CA certificate: it lacks basicConstraints CA:TRUE "
		    "(2.5.29.19)", cn);
	if ((X509_get_extension_flags(cert) & EXFLAG_KUSAGE) == 0 ||
	    (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN) == 0)
		return vp_error_set(e, VP_ERR_INVALID,
		    "\"%s\" may not sign certificates: its keyUsage (2.5.29.15) lacks keyCertSign",
		    cn);
	if (X509_cmp_time(X509_get0_notBefore(cert), &now) > 0) {
		vp_time_iso(vp_asn1_time_unix(X509_get0_notBefore(cert)), when, sizeof(when));
		return vp_error_set(e, VP_ERR_INVALID,
		    "\"%s\" is outside its validity period: it is not valid before %s", cn, when);
	}
	if (X509_cmp_time(X509_get0_notAfter(cert), &now) <= 0) {
		vp_time_iso(vp_asn1_time_unix(X509_get0_notAfter(cert)), when, sizeof(when));
		return vp_error_set(e, VP_ERR_INVALID,
		    "\"%s\" is outside its validity period: it expired on %s", cn, when);
	}
	if ((rc = vp_key_check_strength(key, "the CA", e)) != VP_OK)
		return rc;
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		return vp_error_set(e, VP_ERR_INVALID,
		    "the private key does not match the certificate \"%s\"", cn);
	}
	return VP_OK;
}

/* Finds the chain from cert up to a self-signed root among pool: *chain gets the issuers
 * above cert, root last. */
static vp_err
build_chain(X509 *cert, STACK_OF(X509) *pool, STACK_OF(X509) **chain, vp_error *e)
{
	X509_STORE *roots = NULL;
	X509_STORE_CTX *ctx = NULL;
	STACK_OF(X509) *untrusted = NULL, *full = NULL;
	char issuer[256];
	int i;
	vp_err rc = VP_OK;

	*chain = NULL;
	if ((roots = X509_STORE_new()) == NULL || (untrusted = sk_X509_new_null()) == NULL ||
	    (ctx = X509_STORE_CTX_new()) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < sk_X509_num(pool); i++) {
		X509 *c = sk_X509_value(pool, i);

		if (self_signed(c) ? !X509_STORE_add_cert(roots, c) : !sk_X509_push(untrusted, c)) {
			rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot collect the chain certificates");
			goto out;
		}
	}
	if (!X509_STORE_CTX_init(ctx, roots, cert, untrusted)) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot prepare chain verification");
		goto out;
	}
	if (X509_verify_cert(ctx) != 1) {
		int err = X509_STORE_CTX_get_error(ctx);
		X509 *bad = X509_STORE_CTX_get_current_cert(ctx);

		ERR_clear_error();
		vp_x509_name_cn(bad != NULL ? X509_get_issuer_name(bad) :
		    X509_get_issuer_name(cert), issuer, sizeof(issuer));
		if (err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
		    err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
		    err == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN)
			rc = vp_error_set(e, VP_ERR_INVALID,
			    "the intermediate CA's chain to a self-signed root is incomplete: the "
			    "certificate of \"%s\" is neither in the PKCS#12 file nor in --chain", issuer);
		else
			rc = vp_error_set(e, VP_ERR_INVALID,
			    "the intermediate CA's chain does not verify: %s (at \"%s\")",
			    X509_verify_cert_error_string(err), issuer);
		goto out;
	}
	full = X509_STORE_CTX_get1_chain(ctx);
	if (full == NULL || sk_X509_num(full) < 2) {
		rc = vp_error_set(e, VP_ERR_INTERNAL, "the verified chain is empty");
		goto out;
	}
	X509_free(sk_X509_shift(full));	/* drop cert itself: the chain is what is above it */
	*chain = full;
	full = NULL;
out:
	vp_x509_stack_free(full);
	X509_STORE_CTX_free(ctx);
	sk_X509_free(untrusted);
	X509_STORE_free(roots);
	return rc;
}

vp_err
vp_ca_import(vp_store *s, const char *datadir, const unsigned char *p12, size_t p12_len,
    const char *p12_pass, const unsigned char *extra_chain, size_t extra_chain_len,
    const char *passphrase, int replace, const char *actor, vp_error *e)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *pool = NULL, *extra = NULL, *chain = NULL;
	int root, i;
	vp_err rc;

	if (replace && (rc = refuse_existing(s, replace, passphrase, e)) != VP_OK)
		return rc;
	if ((rc = vp_p12_parse(p12, p12_len, p12_pass, &key, &cert, &pool, e)) != VP_OK)
		return rc;
	if (cert == NULL || key == NULL) {
		rc = vp_error_set(e, VP_ERR_INVALID, "the PKCS#12 file holds no %s",
		    cert == NULL ? "certificate matching its key" : "private key");
		goto out;
	}
	if ((rc = check_ca_cert(cert, key, e)) != VP_OK)
		goto out;
	if (extra_chain != NULL && extra_chain_len > 0) {
		if ((rc = vp_chain_from_pem(extra_chain, extra_chain_len, &extra, e)) != VP_OK) {
			vp_error_prefix(e, "--chain");
			goto out;
		}
		for (i = 0; i < sk_X509_num(extra); i++) {
			if (!sk_X509_push(pool, sk_X509_value(extra, i))) {
				rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
				goto out;
			}
			X509_up_ref(sk_X509_value(extra, i));
		}
	}
	root = self_signed(cert);
	if (root) {
		if ((chain = sk_X509_new_null()) == NULL) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
	} else if ((rc = build_chain(cert, pool, &chain, e)) != VP_OK)
		goto out;
	rc = store_ca(s, datadir, cert, chain, key, root, passphrase, replace,
	    actor != NULL ? actor : "unknown", "ca.import", e);
out:
	vp_x509_stack_free(chain);
	vp_x509_stack_free(extra);
	vp_x509_stack_free(pool);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* Loads the CA kept under the key_value keys prefix+"cert", ... ("ca." or KV_PREV_PREFIX). */
static vp_err
ca_load(vp_store *s, const char *prefix, const char *passphrase, vp_ca **out, vp_error *e)
{
	unsigned char *cert_pem = NULL, *chain_pem = NULL, *kind = NULL, *key_pem = NULL;
	size_t cert_len = 0, chain_len = 0, kind_len = 0, key_len = 0;
	STACK_OF(X509) *certs = NULL;
	char kc[64], kch[64], kk[64], kkey[64];
	vp_ca *ca;
	vp_err rc;

	*out = NULL;
	snprintf(kc, sizeof(kc), "%scert", prefix);
	snprintf(kch, sizeof(kch), "%schain", prefix);
	snprintf(kk, sizeof(kk), "%skind", prefix);
	snprintf(kkey, sizeof(kkey), "%skey", prefix);
	if ((ca = calloc(1, sizeof(*ca))) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	rc = vp_store_kv_get(s, kc, &cert_pem, &cert_len, e);
	if (rc == VP_ERR_NOTFOUND) {
		rc = vp_error_set(e, VP_ERR_NOTFOUND, strcmp(prefix, "ca.") == 0 ?
		    "there is no CA yet: create one with `vmspki ca init` or import one with "
		    "`vmspki ca import`" : "no CA is being replaced");
		goto out;
	}
	if (rc != VP_OK ||
	    (rc = vp_store_kv_get(s, kch, &chain_pem, &chain_len, e)) != VP_OK ||
	    (rc = vp_store_kv_get(s, kk, &kind, &kind_len, e)) != VP_OK)
		goto out;
	if ((rc = vp_chain_from_pem(cert_pem, cert_len, &certs, e)) != VP_OK ||
	    sk_X509_num(certs) != 1) {
		rc = vp_error_set(e, VP_ERR_STORE, "the stored CA certificate is damaged");
		goto out;
	}
	ca->cert = sk_X509_shift(certs);
	if ((rc = vp_chain_from_pem(chain_pem, chain_len, &ca->chain, e)) != VP_OK) {
		vp_error_prefix(e, "the stored CA chain is damaged");
		goto out;
	}
	ca->root = strcmp((char *)kind, "root") == 0;
	/* Cache the extensions now, so that concurrent signers only read the certificate. */
	X509_check_purpose(ca->cert, -1, 0);
	if ((rc = vp_x509_fingerprint(ca->cert, "SHA256", ca->fingerprint,
	    sizeof(ca->fingerprint), e)) != VP_OK)
		goto out;
	if (passphrase != NULL) {
		if ((rc = vp_store_kv_get(s, kkey, &key_pem, &key_len, e)) != VP_OK)
			goto out;
		if ((rc = vp_key_decrypt_pem((char *)key_pem, key_len, passphrase, &ca->key, e)) !=
		    VP_OK) {
			if (rc == VP_ERR_PASSPHRASE)
				vp_error_set(e, rc, "wrong CA passphrase: the CA key could not be "
				    "decrypted, nothing was changed");
			goto out;
		}
		if (X509_check_private_key(ca->cert, ca->key) != 1) {
			ERR_clear_error();
			rc = vp_error_set(e, VP_ERR_PASSPHRASE,
			    "wrong CA passphrase: the decrypted key does not match the CA certificate");
			goto out;
		}
	}
	*out = ca;
	ca = NULL;
out:
	vp_x509_stack_free(certs);
	vp_secret_free(key_pem, key_len);
	free(kind);
	free(chain_pem);
	free(cert_pem);
	vp_ca_free(ca);
	return rc;
}

vp_err
vp_ca_load(vp_store *s, const char *passphrase, vp_ca **out, vp_error *e)
{
	return ca_load(s, "ca.", passphrase, out, e);
}

vp_err
vp_ca_previous_load(vp_store *s, vp_ca **out, vp_error *e)
{
	return ca_load(s, KV_PREV_PREFIX, NULL, out, e);
}

vp_err
vp_ca_transition_get(vp_store *s, vp_ca_transition *out, vp_error *e)
{
	vp_ca *prev = NULL;
	vp_err rc;

	memset(out, 0, sizeof(*out));
	if ((rc = replace_task(s, &out->task, e)) != VP_OK || out->task == 0)
		return rc;
	if ((rc = vp_ca_previous_load(s, &prev, e)) != VP_OK)
		return rc;
	{
		char *subj = vp_x509_name_str(X509_get_subject_name(prev->cert));

		snprintf(out->subject, sizeof(out->subject), "%s", subj != NULL ? subj : "");
		free(subj);
	}
	snprintf(out->fingerprint, sizeof(out->fingerprint), "%s", prev->fingerprint);
	vp_ca_free(prev);
	return VP_OK;
}

vp_err
vp_ca_write_files(vp_store *s, const char *datadir, vp_error *e)
{
	vp_ca *ca = NULL, *prev = NULL;
	vp_ca_transition t;
	vp_err rc;

	if ((rc = vp_ca_load(s, NULL, &ca, e)) != VP_OK ||
	    (rc = vp_ca_transition_get(s, &t, e)) != VP_OK ||
	    (t.task != 0 && (rc = vp_ca_previous_load(s, &prev, e)) != VP_OK))
		goto out;
	rc = write_ca_files(datadir, ca->cert, ca->chain, prev != NULL ? prev->cert : NULL, e);
out:
	vp_ca_free(prev);
	vp_ca_free(ca);
	return rc;
}

vp_err
vp_ca_retire_previous(vp_store *s, const char *datadir, int64_t task, const char *actor,
    vp_error *e)
{
	static const char *const keys[] = {
		KV_PREV_PREFIX "cert", KV_PREV_PREFIX "chain", KV_PREV_PREFIX "key",
		KV_PREV_PREFIX "kind", KV_REPLACE_TASK
	};
	vp_ca *ca = NULL;
	vp_ca_transition t;
	char detail[400];
	vp_err rc;

	if ((rc = vp_ca_transition_get(s, &t, e)) != VP_OK)
		return rc;
	if (t.task == 0)
		return VP_OK;                 /* retired already */
	if (t.task != task)
		return vp_error_set(e, VP_ERR_INVALID, "the CA replacement in progress is task %"
		    PRId64 ", not %" PRId64, t.task, task);
	/* The files first: if this stops after them, the store still says "in transition" and
	 * the task does this again. */
	if ((rc = vp_ca_load(s, NULL, &ca, e)) != VP_OK ||
	    (rc = write_ca_files(datadir, ca->cert, ca->chain, NULL, e)) != VP_OK)
		goto out;
	snprintf(detail, sizeof(detail), "task %" PRId64 ": the replaced CA %.200s (fingerprint "
	    "%.16s...) is no longer trusted", task, t.subject, t.fingerprint);
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto out;
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if ((rc = vp_store_kv_delete(s, keys[i], e)) != VP_OK && rc != VP_ERR_NOTFOUND)
			goto fail;
	vp_error_clear(e);
	if ((rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "ca.retire", NULL,
	    detail, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	goto out;
fail:
	vp_store_rollback(s);
out:
	vp_ca_free(ca);
	return rc;
}

vp_err
vp_ca_export(const vp_ca *ca, vp_export_fmt fmt, unsigned char **out, size_t *len, vp_error *e)
{
	STACK_OF(X509) *all = NULL;
	PKCS7 *p7 = NULL;
	char *pem = NULL, *cpem = NULL;
	size_t n = 0, cn = 0;
	unsigned char *der = NULL;
	int dn, i;
	vp_err rc = VP_OK;

	*out = NULL;
	*len = 0;
	switch (fmt) {
	case VP_EXPORT_DER:
		if ((dn = i2d_X509(ca->cert, &der)) <= 0)
			return vp_error_ssl(e, VP_ERR_CRYPTO, "cannot encode the CA certificate");
		*out = der;
		*len = (size_t)dn;
		return VP_OK;
	case VP_EXPORT_PEM:
		if ((rc = vp_x509_to_pem(ca->cert, &pem, &n, e)) != VP_OK ||
		    (rc = vp_x509_chain_to_pem(ca->chain, &cpem, &cn, e)) != VP_OK)
			goto out;
		if ((*out = malloc(n + cn + 1)) == NULL) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
		memcpy(*out, pem, n);
		memcpy(*out + n, cpem, cn + 1);
		*len = n + cn;
		goto out;
	case VP_EXPORT_P7B:
		if ((all = sk_X509_new_null()) == NULL || !sk_X509_push(all, ca->cert)) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
		for (i = 0; i < sk_X509_num(ca->chain); i++)
			if (!sk_X509_push(all, sk_X509_value(ca->chain, i))) {
				rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
				goto out;
			}
		/* A certs-only SignedData, as Windows and browsers import .p7b bundles. */
		if ((p7 = PKCS7_sign(NULL, NULL, all, NULL, PKCS7_PARTIAL)) == NULL ||
		    (dn = i2d_PKCS7(p7, &der)) <= 0) {
			rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot build the PKCS#7 bundle");
			goto out;
		}
		*out = der;
		*len = (size_t)dn;
		goto out;
	}
	rc = vp_error_set(e, VP_ERR_INVALID, "unknown export format");
out:
	PKCS7_free(p7);
	sk_X509_free(all);
	free(cpem);
	free(pem);
	return rc;
}

vp_err
vp_ca_export_p12(const vp_ca *ca, const char *p12_pass, unsigned char **out, size_t *len,
    vp_error *e)
{
	char cn[256];

	if (ca->key == NULL)
		return vp_error_set(e, VP_ERR_PASSPHRASE,
		    "the CA key is needed to export it: give the CA passphrase");
	vp_x509_name_cn(X509_get_subject_name(ca->cert), cn, sizeof(cn));
	return vp_p12_build(ca->key, ca->cert, ca->chain, cn, p12_pass, out, len, e);
}

vp_err
vp_ca_export_p12_ex(const vp_ca *ca, const char *p12_pass, int flags, unsigned char **out,
    size_t *len, vp_error *e)
{
	char cn[256];

	if (ca->key == NULL)
		return vp_error_set(e, VP_ERR_PASSPHRASE,
		    "the CA key is needed to export it: give the CA passphrase");
	vp_x509_name_cn(X509_get_subject_name(ca->cert), cn, sizeof(cn));
	return vp_p12_build_ex(ca->key, ca->cert, ca->chain, cn, p12_pass, flags, out, len, e);
}

vp_err
vp_json_ca(const vp_ca *ca, int64_t issued, json_t *o, vp_error *e)
{
	vp_err rc;
	int bad = 0;

	if ((rc = vp_json_x509(vp_ca_cert(ca), o, e)) != VP_OK)
		return rc;
	bad |= json_object_set_new(o, "root", json_boolean(vp_ca_is_root(ca)));
	bad |= json_object_set_new(o, "chain_length", json_integer(sk_X509_num(vp_ca_chain(ca))));
	bad |= json_object_set_new(o, "certificates_issued", json_integer(issued));
	return bad ? vp_error_set(e, VP_ERR_NOMEM, "out of memory") : VP_OK;
}

/* ---- CA renewal (issue 19, item 5) ----
 * A renewal is a new self-signed certificate for the same key and subject: the subject key
 * identifier (and so every issued certificate's authority key identifier) stays the same,
 * and every certificate already issued keeps verifying against it. The old certificate is
 * kept as "previous" (the same transition as a replacement: certs/ca.cert.pem holds both)
 * until the ca-renew task has given the renewed certificate to every device and component
 * that held the old one. The key row is not touched: it stays encrypted as it was. */

#define RENEW_DAYS_DEFAULT 3652

/* The renewed certificate of cur: same subject, issuer, key and extensions, a new serial,
 * valid from now for days. */
static vp_err
renewed_cert(const vp_ca *cur, int days, X509 **out, vp_error *e)
{
	ASN1_INTEGER *serial = NULL;
	X509 *x = NULL;
	time_t now = time(NULL);
	vp_err rc;

	*out = NULL;
	if ((rc = vp_serial_random(&serial, e)) != VP_OK)
		return rc;
	if ((x = X509_new()) == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !X509_set_serialNumber(x, serial) ||
	    !X509_set_subject_name(x, X509_get_subject_name(cur->cert)) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(cur->cert)) ||
	    X509_time_adj_ex(X509_getm_notBefore(x), 0, -300, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), days, 0, &now) == NULL ||
	    !X509_set_pubkey(x, X509_get0_pubkey(cur->cert))) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot build the renewed CA certificate");
		goto out;
	}
	/* Every extension as it was: basicConstraints, keyUsage, the same SKI. */
	for (int i = 0; i < X509_get_ext_count(cur->cert); i++)
		if (!X509_add_ext(x, X509_get_ext(cur->cert, i), -1)) {
			rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot copy the CA's extensions");
			goto out;
		}
	if (X509_sign(x, cur->key, EVP_get_digestbyname(vp_sign_md(cur->key))) <= 0) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot sign the renewed CA certificate");
		goto out;
	}
	*out = x;
	x = NULL;
	rc = VP_OK;
out:
	X509_free(x);
	ASN1_INTEGER_free(serial);
	return rc;
}

/* May the CA be renewed now? The CA loaded with its key into *cur. */
static vp_err
renew_check(vp_store *s, const char *passphrase, int days, vp_ca **cur, vp_error *e)
{
	int64_t task, until;
	char when[32];
	vp_err rc;

	*cur = NULL;
	if (days < 1 || days > 36525)
		return vp_error_set(e, VP_ERR_INVALID, "--days %d: give a number of days from 1 to "
		    "36525 (100 years)", days);
	if ((rc = replace_task(s, &task, e)) != VP_OK)
		return rc;
	if (task != 0)
		return vp_error_set(e, VP_ERR_EXISTS, "the CA is in the middle of task %" PRId64
		    " (a replacement or a renewal): nothing was changed; finish it first (`vmspki "
		    "task show %" PRId64 "`, `vmspki task retry-failed %" PRId64 " --wait`)", task,
		    task, task);
	if ((rc = vp_ca_load(s, passphrase, cur, e)) != VP_OK) {
		if (rc == VP_ERR_PASSPHRASE)
			vp_error_set(e, rc, "wrong CA passphrase: renewing the CA signs with its "
			    "key; nothing was changed");
		return rc;
	}
	if (!(*cur)->root) {
		rc = vp_error_set(e, VP_ERR_INVALID, "the site's CA is an intermediate CA: only "
		    "the CA above it can renew it; have it renewed there and import it (`vmspki ca "
		    "import --replace`); nothing was changed");
		goto fail;
	}
	until = (int64_t)time(NULL) + (int64_t)days * 86400;
	if (until <= vp_asn1_time_unix(X509_get0_notAfter((*cur)->cert))) {
		vp_time_iso(vp_asn1_time_unix(X509_get0_notAfter((*cur)->cert)), when,
		    sizeof(when));
		rc = vp_error_set(e, VP_ERR_INVALID, "--days %d would not extend the CA, which is "
		    "valid until %s: give more days; nothing was changed", days, when);
		goto fail;
	}
	return VP_OK;
fail:
	vp_ca_free(*cur);
	*cur = NULL;
	return rc;
}

/* The CA's expiry alarms that the renewal ends (the nightly job would clear them): expired
 * always, about to expire when the renewed CA ends after the warning window. In the caller's
 * transaction. */
static vp_err
renew_alarms(vp_store *s, int64_t not_after, vp_error *e)
{
	long warn = 30;
	int cleared = 0;
	vp_err rc;

	if ((rc = vp_alarm_clear(s, VP_ALARM_CA_EXPIRED, "ca", &cleared, e)) != VP_OK ||
	    (rc = vp_setting_get_int(s, "lifecycle.warning_days", &warn, e)) != VP_OK)
		return rc;
	if (not_after - (int64_t)time(NULL) > (int64_t)warn * 86400)
		rc = vp_alarm_clear(s, VP_ALARM_CA_EXPIRING, "ca", &cleared, e);
	return rc;
}

vp_err
vp_ca_renew(vp_store *s, const char *datadir, int days, const char *passphrase,
    const char *actor, int64_t *task, vp_error *e)
{
	vp_ca *cur = NULL;
	X509 *x = NULL;
	vp_cert_rec rec;
	char *pem = NULL, detail[1200], tid[32], was[32], until[32];
	size_t n = 0;
	vp_err rc;

	*task = 0;
	memset(&rec, 0, sizeof(rec));
	if (days == 0)
		days = RENEW_DAYS_DEFAULT;
	if ((rc = renew_check(s, passphrase, days, &cur, e)) != VP_OK)
		return rc;
	if ((rc = renewed_cert(cur, days, &x, e)) != VP_OK ||
	    (rc = vp_x509_to_pem(x, &pem, &n, e)) != VP_OK ||
	    (rc = vp_cert_rec_from_x509(x, &rec, e)) != VP_OK)
		goto out;
	vp_time_iso(vp_asn1_time_unix(X509_get0_notAfter(cur->cert)), was, sizeof(was));
	vp_time_iso(rec.not_after, until, sizeof(until));
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto out;
	/* Checked again inside the transaction: a replacement may have begun meanwhile. */
	if ((rc = replace_task(s, task, e)) != VP_OK)
		goto fail;
	if (*task != 0) {
		rc = vp_error_set(e, VP_ERR_EXISTS, "task %" PRId64 " has begun to replace or "
		    "renew the CA meanwhile: nothing was changed", *task);
		*task = 0;
		goto fail;
	}
	/* The certificates issued so far are the renewed CA's as much as the old one's: the
	 * same key signed them (cert list, ca show and the daemon's admin check go by it). */
	if ((rc = keep_previous(s, e)) != VP_OK ||
	    (rc = vp_store_kv_put(s, KV_CERT, pem, n, e)) != VP_OK ||
	    (rc = vp_store_cert_move_issuer(s, cur->fingerprint, rec.fingerprint, e)) != VP_OK ||
	    (rc = vp_task_create_ca_renew(s, actor, task, e)) != VP_OK)
		goto fail;
	snprintf(tid, sizeof(tid), "%" PRId64, *task);
	snprintf(detail, sizeof(detail), "root CA %.300s renewed: the same key and subject, valid "
	    "until %s (was %s), fingerprint %s, replacing %.16s... (task %" PRId64 ")",
	    rec.subject, until, was, rec.fingerprint, cur->fingerprint, *task);
	if ((rc = vp_store_kv_put(s, KV_REPLACE_TASK, tid, strlen(tid), e)) != VP_OK ||
	    (rc = renew_alarms(s, rec.not_after, e)) != VP_OK ||
	    (rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "ca.renew",
	    rec.serial, detail, e)) != VP_OK || (rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	if ((rc = write_ca_files(datadir, x, cur->chain, cur->cert, e)) != VP_OK)
		vp_error_prefix(e, "the CA was renewed, but its public files could not be written");
	goto out;
fail:
	*task = 0;
	vp_store_rollback(s);
out:
	vp_cert_rec_clear(&rec);
	free(pem);
	X509_free(x);
	vp_ca_free(cur);
	return rc;
}
