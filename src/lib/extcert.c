/* Certificates from the site's own CA on cameras: the CSR of a key made on the camera goes
 * out, the certificate signed elsewhere comes in, checked here before a task installs it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "vmspki/addr.h"
#include "vmspki/device.h"
#include "vmspki/extcert.h"
#include "vmspki/issue.h"
#include "vmspki/task.h"
#include "vmspki/x509info.h"

/* key_value keys: the CSR per device, the input per task, the pin per device. */
static void
key_csr(char *k, size_t n, int64_t dev)
{
	snprintf(k, n, "extcert.csr.%" PRId64, dev);
}

static void
key_task(char *k, size_t n, int64_t id)
{
	snprintf(k, n, "extcert.task.%" PRId64, id);
}

static void
key_pin(char *k, size_t n, int64_t dev)
{
	snprintf(k, n, "extcert.pin.%" PRId64, dev);
}

static vp_err
kv_json_put(vp_store *s, const char *key, json_t *o, vp_error *e)
{
	char *txt;
	vp_err rc;

	if (o == NULL || (txt = json_dumps(o, JSON_COMPACT)) == NULL) {
		json_decref(o);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	}
	json_decref(o);
	rc = vp_store_kv_put(s, key, txt, strlen(txt), e);
	free(txt);
	return rc;
}

static vp_err
kv_json_get(vp_store *s, const char *key, json_t **out, vp_error *e)
{
	unsigned char *v = NULL;
	size_t len = 0;
	json_error_t je;
	vp_err rc;

	*out = NULL;
	if ((rc = vp_store_kv_get(s, key, &v, &len, e)) != VP_OK)
		return rc;
	*out = json_loadb((const char *)v, len, 0, &je);
	free(v);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		*out = NULL;
		return vp_error_set(e, VP_ERR_INTERNAL, "the stored record %s is damaged", key);
	}
	return VP_OK;
}

vp_err
vp_extcert_csr_task(vp_store *s, int64_t dev_id, int timeout_s, const char *actor,
    int64_t *id, vp_error *e)
{
	vp_task_opts o = { .kind = VP_TASK_HTTPS_CSR, .timeout_s = timeout_s };

	return vp_task_create(s, &o, &dev_id, 1, 0, actor, id, e);
}

vp_err
vp_extcert_csr_put(vp_store *s, int64_t dev_id, int64_t task_id, const char *alias,
    const char *csr_pem, vp_error *e)
{
	char k[64];

	key_csr(k, sizeof(k), dev_id);
	return kv_json_put(s, k, json_pack("{s:I, s:s, s:s}", "task", (json_int_t)task_id,
	    "alias", alias, "csr", csr_pem), e);
}

vp_err
vp_extcert_csr_get(vp_store *s, int64_t dev_id, char **csr_pem, char *alias, size_t n,
    vp_error *e)
{
	char k[64];
	json_t *o;
	const char *csr, *a;
	vp_err rc;

	*csr_pem = NULL;
	key_csr(k, sizeof(k), dev_id);
	if ((rc = kv_json_get(s, k, &o, e)) != VP_OK) {
		if (rc == VP_ERR_NOTFOUND)
			vp_error_set(e, rc, "device %" PRId64 " has no CSR: run `vmspki https csr %"
			    PRId64 "` first", dev_id, dev_id);
		return rc;
	}
	csr = json_string_value(json_object_get(o, "csr"));
	a = json_string_value(json_object_get(o, "alias"));
	if (csr == NULL || a == NULL)
		rc = vp_error_set(e, VP_ERR_INTERNAL, "the stored CSR of device %" PRId64
		    " is damaged", dev_id);
	else if ((*csr_pem = strdup(csr)) == NULL)
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	else
		snprintf(alias, n, "%s", a);
	json_decref(o);
	return rc;
}

int
vp_extcert_pin_of(const char *pem, char *out, size_t n)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	unsigned char *der = NULL, md[32], b64[64];
	int len = x != NULL ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1, ok = 0;

	if (len > 0 && EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(), NULL) == 1 &&
	    EVP_EncodeBlock(b64, md, 32) > 0) {
		snprintf(out, n, "sha256//%s", (const char *)b64);
		ok = 1;
	}
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(b);
	ERR_clear_error();
	return ok;
}

vp_err
vp_extcert_pin_put(vp_store *s, int64_t dev_id, const char *pin, vp_error *e)
{
	char k[64];

	key_pin(k, sizeof(k), dev_id);
	return vp_store_kv_put(s, k, pin, strlen(pin), e);
}

vp_err
vp_extcert_pin_get(vp_store *s, int64_t dev_id, char *pin, size_t n, vp_error *e)
{
	char k[64];
	unsigned char *v = NULL;
	size_t len = 0;
	vp_err rc;

	key_pin(k, sizeof(k), dev_id);
	if ((rc = vp_store_kv_get(s, k, &v, &len, e)) != VP_OK)
		return rc;
	snprintf(pin, n, "%s", (const char *)v);
	free(v);
	return VP_OK;
}

vp_err
vp_extcert_pin_delete(vp_store *s, int64_t dev_id, vp_error *e)
{
	char k[64];

	key_pin(k, sizeof(k), dev_id);
	return vp_store_kv_delete(s, k, e);
}

vp_err
vp_extcert_forget(vp_store *s, int64_t dev_id, vp_error *e)
{
	char k[64];
	vp_err rc;

	key_csr(k, sizeof(k), dev_id);
	if ((rc = vp_store_kv_delete(s, k, e)) != VP_OK)
		return rc;
	key_pin(k, sizeof(k), dev_id);
	return vp_store_kv_delete(s, k, e);
}

/* Does the certificate name the device (its address as IP or DNS name, or its name)? */
static int
names_device(X509 *x, const vp_device *d)
{
	if (vp_addr_is_ip(d->address) ? X509_check_ip_asc(x, d->address, 0) == 1 :
	    X509_check_host(x, d->address, 0, 0, NULL) == 1)
		return 1;
	return d->name[0] != '\0' && X509_check_host(x, d->name, 0, 0, NULL) == 1;
}

/* A path from leaf to a self-signed certificate of chain (the outside CA, trusted here for
 * this check only), the other certificates as intermediates. */
static vp_err
verify_chain(X509 *leaf, STACK_OF(X509) *chain, vp_error *e)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *inter = sk_X509_new_null();
	int roots = 0, ok;
	vp_err rc = VP_OK;

	if (st == NULL || ctx == NULL || inter == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int i = 0; i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);

		if (X509_check_issued(c, c) == X509_V_OK) {
			X509_STORE_add_cert(st, c);
			roots++;
		} else if (!sk_X509_push(inter, c)) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (roots == 0) {
		rc = vp_error_set(e, VP_ERR_INVALID, "the chain has no root (self-signed) CA "
		    "certificate: give the chain up to the company's root CA with --chain");
		goto out;
	}
	X509_STORE_set_purpose(st, X509_PURPOSE_SSL_SERVER);
	if (X509_STORE_CTX_init(ctx, st, leaf, inter) != 1) {
		rc = vp_error_ssl(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((ok = X509_verify_cert(ctx)) != 1)
		rc = vp_error_set(e, VP_ERR_INVALID, "the certificate does not verify against the "
		    "chain given: %s", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
out:
	ERR_clear_error();
	sk_X509_free(inter);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	return rc;
}

/* The certificates of chain that are not self-signed, as PEM (*out NULL when none). */
static vp_err
intermediates(STACK_OF(X509) *chain, char **out, vp_error *e)
{
	STACK_OF(X509) *in = sk_X509_new_null();
	size_t len;
	vp_err rc = VP_OK;

	*out = NULL;
	if (in == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	for (int i = 0; chain != NULL && i < sk_X509_num(chain); i++) {
		X509 *c = sk_X509_value(chain, i);

		if (X509_check_issued(c, c) != X509_V_OK && !sk_X509_push(in, c)) {
			rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (sk_X509_num(in) > VP_EXT_MAX_INTER)
		rc = vp_error_set(e, VP_ERR_INVALID, "the chain has %d intermediate CA certificates; "
		    "a camera gets at most %d", sk_X509_num(in), VP_EXT_MAX_INTER);
	else if (sk_X509_num(in) > 0)
		rc = vp_x509_chain_to_pem(in, out, &len, e);
out:
	ERR_clear_error();
	sk_X509_free(in);
	return rc;
}

vp_err
vp_extcert_install_task(vp_store *s, int64_t dev_id, const char *cert_pem,
    const char *chain_pem, int https_only, int timeout_s, const char *actor, int64_t *id,
    vp_error *e)
{
	vp_task_opts o = { .kind = VP_TASK_HTTPS_INSTALL, .https_only = https_only,
	    .timeout_s = timeout_s };
	STACK_OF(X509) *certs = NULL, *chain = NULL;
	X509_REQ *req = NULL;
	X509 *leaf;
	EVP_PKEY *rk;
	vp_device d;
	char *csr = NULL, alias[128], fp[65], k[64];
	char *leaf_pem = NULL, *chain_out = NULL, *inter_out = NULL;
	size_t len;
	vp_err rc;
	int began = 0;

	if ((rc = vp_device_get(s, dev_id, &d, e)) != VP_OK)
		return rc;
	if ((rc = vp_extcert_csr_get(s, dev_id, &csr, alias, sizeof(alias), e)) != VP_OK)
		return rc;
	if ((rc = vp_csr_parse((const unsigned char *)csr, strlen(csr), &req, e)) != VP_OK)
		goto out;
	if ((rc = vp_chain_from_pem((const unsigned char *)cert_pem, strlen(cert_pem), &certs,
	    e)) != VP_OK || (chain_pem != NULL && (rc = vp_chain_from_pem((const unsigned char *)
	    chain_pem, strlen(chain_pem), &chain, e)) != VP_OK)) {
		char why[sizeof(e->msg)];

		snprintf(why, sizeof(why), "%s", e->msg);
		rc = vp_error_set(e, VP_ERR_INVALID, "%s: %s", certs == NULL ? "the certificate" :
		    "the chain", why);
		goto out;
	}
	leaf = sk_X509_shift(certs);
	if (chain == NULL && sk_X509_num(certs) > 0) {
		chain = certs;
		certs = NULL;
	}
	rk = X509_REQ_get0_pubkey(req);
	if (rk == NULL || EVP_PKEY_eq(rk, X509_get0_pubkey(leaf)) != 1) {
		rc = vp_error_set(e, VP_ERR_INVALID, "the certificate is not for the key device %"
		    PRId64 " made (its public key differs from the CSR's of key %s): sign the CSR "
		    "`vmspki https csr %" PRId64 "` gave last", dev_id, alias, dev_id);
		goto free_leaf;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0 ||
	    X509_cmp_current_time(X509_get0_notBefore(leaf)) >= 0) {
		rc = vp_error_set(e, VP_ERR_INVALID, "the certificate is not valid now (see its "
		    "notBefore and notAfter)");
		goto free_leaf;
	}
	if (!names_device(leaf, &d)) {
		rc = vp_error_set(e, VP_ERR_INVALID, "the certificate names neither the device's "
		    "address %s nor its name in its subject alternative names: clients could not "
		    "verify it", d.address);
		goto free_leaf;
	}
	if (chain != NULL && (rc = verify_chain(leaf, chain, e)) != VP_OK)
		goto free_leaf;
	if ((rc = intermediates(chain, &inter_out, e)) != VP_OK)
		goto free_leaf;
	if ((rc = vp_x509_fingerprint(leaf, "SHA256", fp, sizeof(fp), e)) != VP_OK ||
	    (rc = vp_x509_to_pem(leaf, &leaf_pem, &len, e)) != VP_OK ||
	    (chain != NULL && (rc = vp_x509_chain_to_pem(chain, &chain_out, &len, e)) != VP_OK))
		goto free_leaf;
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		goto free_leaf;
	began = 1;
	if ((rc = vp_task_create(s, &o, &dev_id, 1, 0, actor, id, e)) != VP_OK)
		goto free_leaf;
	key_task(k, sizeof(k), *id);
	if ((rc = kv_json_put(s, k, json_pack("{s:s, s:s, s:s, s:s?, s:s, s:I}", "alias", alias,
	    "certificate", leaf_pem, "fingerprint", fp, "chain", chain_out, "intermediates",
	    inter_out != NULL ? inter_out : "", "not_after",
	    (json_int_t)vp_asn1_time_unix(X509_get0_notAfter(leaf))), e)) != VP_OK)
		goto free_leaf;
	rc = vp_store_commit(s, e);
	began = 0;
free_leaf:
	if (began)
		vp_store_rollback(s);
	X509_free(leaf);
out:
	free(leaf_pem);
	free(chain_out);
	free(inter_out);
	free(csr);
	X509_REQ_free(req);
	vp_x509_stack_free(certs);
	vp_x509_stack_free(chain);
	return rc;
}

vp_err
vp_extcert_task_input(vp_store *s, int64_t id, char *alias, size_t n, char **cert_pem,
    char fp[65], int64_t *not_after, char **inter_pem, vp_error *e)
{
	char k[64];
	json_t *o;
	const char *a, *c, *f, *in;
	vp_err rc;

	*cert_pem = NULL;
	*inter_pem = NULL;
	key_task(k, sizeof(k), id);
	if ((rc = kv_json_get(s, k, &o, e)) != VP_OK)
		return rc;
	a = json_string_value(json_object_get(o, "alias"));
	c = json_string_value(json_object_get(o, "certificate"));
	f = json_string_value(json_object_get(o, "fingerprint"));
	if (a == NULL || c == NULL || f == NULL || strlen(f) != 64)
		rc = vp_error_set(e, VP_ERR_INTERNAL, "the input of task %" PRId64 " is damaged", id);
	else if ((*cert_pem = strdup(c)) == NULL ||
	    (*inter_pem = strdup((in = json_string_value(json_object_get(o, "intermediates"))) !=
	    NULL ? in : "")) == NULL)
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	else {
		snprintf(alias, n, "%s", a);
		memcpy(fp, f, 65);
		*not_after = (int64_t)json_integer_value(json_object_get(o, "not_after"));
	}
	json_decref(o);
	return rc;
}
