/* The API server certificate: its files in <datadir>/certs, the checks that decide a renewal
 * (missing, expiring within a third of its life, another CA, host addresses changed), the
 * renewal itself, and the import of an operator's certificate in its place. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "vmspki/datadir.h"
#include "vmspki/issue.h"
#include "vmspki/netif.h"
#include "vmspki/render_json.h"
#include "vmspki/servercert.h"
#include "vmspki/util.h"

#define F_CHAIN    VP_PATH_SERVER_CERT
#define F_KEY      VP_PATH_SERVER_KEY
#define F_PUBLIC   VP_PATH_SERVER_PUBLIC
#define F_IMPORTED VP_PATH_SERVER_IMPORTED	/* marker: the operator's certificate */

static char *
file_in(const char *datadir, vp_path p)
{
	return vp_datadir_join(datadir, p);
}

/* Loads the leaf of server.crt and the key; NULLs when missing or unreadable. */
static void
load_pair(const char *datadir, X509 **cert, EVP_PKEY **key)
{
	char *cp = file_in(datadir, F_CHAIN), *kp = file_in(datadir, F_KEY);
	FILE *f;

	*cert = NULL;
	*key = NULL;
	if (cp != NULL && (f = fopen(cp, "r")) != NULL) {
		*cert = PEM_read_X509(f, NULL, NULL, NULL);
		fclose(f);
	}
	if (kp != NULL && (f = fopen(kp, "r")) != NULL) {
		*key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	ERR_clear_error();
	free(cp);
	free(kp);
}

vp_err
vp_servercert_status_get(const vp_ca *ca, const char *datadir, vp_servercert_status *st,
    vp_error *e)
{
	X509 *cert = NULL;
	EVP_PKEY *key = NULL;
	vp_netif *host = NULL;
	vp_cert_rec rec;
	char *marker = file_in(datadir, F_IMPORTED);
	time_t now = time(NULL);
	vp_err rc = VP_OK;

	memset(st, 0, sizeof(*st));
	memset(&rec, 0, sizeof(rec));
	if (marker == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	st->imported = access(marker, F_OK) == 0;
	free(marker);
	load_pair(datadir, &cert, &key);
	if (cert == NULL || key == NULL || X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		snprintf(st->reason, sizeof(st->reason), "%s",
		    cert == NULL ? "there is no server certificate" :
		    key == NULL ? "the server key is missing" :
		    "the server key does not match the certificate");
		goto out;
	}
	st->present = 1;
	if ((rc = vp_cert_rec_from_x509(cert, &rec, e)) != VP_OK)
		goto out;
	snprintf(st->serial, sizeof(st->serial), "%s", rec.serial);
	snprintf(st->fingerprint, sizeof(st->fingerprint), "%s", rec.fingerprint);
	st->not_before = rec.not_before;
	st->not_after = rec.not_after;
	st->renew_after = rec.not_before + (rec.not_after - rec.not_before) * 2 / 3;
	st->from_current_ca = X509_check_issued(vp_ca_cert(ca), cert) == X509_V_OK &&
	    X509_verify(cert, X509_get0_pubkey(vp_ca_cert(ca))) == 1;
	ERR_clear_error();
	if ((rc = vp_netif_collect(&host, e)) != VP_OK)
		goto out;
	st->covers_host = vp_netif_covered_by(host, rec.pem);
	if ((int64_t)now >= st->not_after)
		snprintf(st->reason, sizeof(st->reason), "the server certificate has expired");
	else if (!st->from_current_ca)
		snprintf(st->reason, sizeof(st->reason),
		    "the server certificate was not issued by the current CA");
	/* One that already ends with the CA would come back with the same end: renewing it
	 * every night changes nothing (the CA's own alarm says what to do). */
	else if ((int64_t)now >= st->renew_after && st->not_after <
	    vp_asn1_time_unix(X509_get0_notAfter(vp_ca_cert(ca))) - 86400)
		snprintf(st->reason, sizeof(st->reason),
		    "less than a third of the server certificate's life is left");
	else if (!st->covers_host)
		snprintf(st->reason, sizeof(st->reason),
		    "the host's names or addresses changed since the certificate was issued");
out:
	vp_netif_free(host);
	vp_cert_rec_clear(&rec);
	EVP_PKEY_free(key);
	X509_free(cert);
	return rc;
}

/* Writes the three files: the key first, so that a reader that sees a new certificate also
 * finds its key (readers check the pair and retry on a mismatch). */
static vp_err
write_files(const char *datadir, EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain,
    vp_error *e)
{
	char *kpem = NULL, *cpem = NULL, *chpem = NULL, *all = NULL, *path = NULL, *dir = NULL;
	size_t kn = 0, cn = 0, chn = 0;
	vp_err rc;

	if ((dir = file_in(datadir, VP_PATH_CERTS)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if ((rc = vp_mkdir_p(dir, 0755, e)) != VP_OK ||
	    (rc = vp_key_to_pem(key, &kpem, &kn, e)) != VP_OK ||
	    (rc = vp_x509_to_pem(cert, &cpem, &cn, e)) != VP_OK ||
	    (rc = vp_x509_chain_to_pem(chain, &chpem, &chn, e)) != VP_OK)
		goto out;
	if ((all = malloc(cn + chn + 1)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	memcpy(all, cpem, cn);
	memcpy(all + cn, chpem, chn + 1);
	if ((path = file_in(datadir, F_KEY)) == NULL ||
	    (rc = vp_file_write_atomic(path, kpem, kn, 0600, e)) != VP_OK)
		goto out;
	free(path);
	if ((path = file_in(datadir, F_CHAIN)) == NULL ||
	    (rc = vp_file_write_atomic(path, all, cn + chn, 0644, e)) != VP_OK)
		goto out;
	free(path);
	if ((path = file_in(datadir, F_PUBLIC)) == NULL ||
	    (rc = vp_file_write_atomic(path, cpem, cn, 0644, e)) != VP_OK)
		goto out;
out:
	if (path == NULL && rc == VP_OK)
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	free(path);
	free(all);
	free(chpem);
	free(cpem);
	vp_secret_free(kpem, kn);
	free(dir);
	return rc;
}

/* The chain served after the leaf: the CA and the issuers above it. */
static STACK_OF(X509) *
served_chain(const vp_ca *ca)
{
	STACK_OF(X509) *sk = sk_X509_new_null();
	int i;

	if (sk == NULL || !sk_X509_push(sk, vp_ca_cert(ca)))
		goto fail;
	for (i = 0; i < sk_X509_num(vp_ca_chain(ca)); i++)
		if (!sk_X509_push(sk, sk_X509_value(vp_ca_chain(ca), i)))
			goto fail;
	return sk;
fail:
	sk_X509_free(sk);
	return NULL;
}

vp_err
vp_servercert_ensure(vp_store *s, const vp_ca *ca, const char *datadir, int force,
    const char *actor, int *renewed, vp_servercert_status *st, vp_error *e)
{
	vp_netif *host = NULL;
	vp_issued *c = NULL;
	STACK_OF(X509) *chain = NULL;
	char *marker = NULL;
	int64_t ca_end, now = (int64_t)time(NULL);
	vp_err rc;

	*renewed = 0;
	if ((rc = vp_servercert_status_get(ca, datadir, st, e)) != VP_OK)
		return rc;
	if (!force && (st->reason[0] == '\0' || (st->imported && st->present)))
		return VP_OK;
	if (vp_ca_key(ca) == NULL)
		return vp_error_set(e, VP_ERR_PASSPHRASE,
		    "the server certificate needs renewing (%s) but the CA key is locked: give the "
		    "CA passphrase", st->reason[0] != '\0' ? st->reason : "on demand");
	if ((rc = vp_netif_collect(&host, e)) != VP_OK)
		goto out;
	ca_end = vp_asn1_time_unix(X509_get0_notAfter(vp_ca_cert(ca)));
	{
		vp_issue_req req = {
			.profile = "server", .generate_key = 1, .cn = host->hostname,
			.dns = (const char *const *)host->dns, .ndns = host->ndns,
			.ip = (const char *const *)host->ip, .nip = host->nip,
			/* Near the CA's end, let issuance clamp to it rather than refuse. */
			.days = ca_end - now > (int64_t)VP_SERVERCERT_DAYS * 86400 ?
			    VP_SERVERCERT_DAYS : 0,
			.owner_kind = "server", .owner_id = "api",
		};
		if (strlen(req.cn) > 64)
			req.cn = "localhost";
		if ((rc = vp_issue_sign(ca, &req, &c, e)) != VP_OK ||
		    (rc = vp_issue_record(s, &c, 1, actor, e)) != VP_OK)
			goto out;
	}
	if ((chain = served_chain(ca)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = write_files(datadir, c->key, c->cert, chain, e)) != VP_OK) {
		vp_error_prefix(e, "the new server certificate %s was recorded, but", c->rec.serial);
		goto out;
	}
	if ((marker = file_in(datadir, F_IMPORTED)) != NULL)
		unlink(marker);
	*renewed = 1;
	rc = vp_servercert_status_get(ca, datadir, st, e);
out:
	free(marker);
	sk_X509_free(chain);
	vp_issued_free(c);
	vp_netif_free(host);
	return rc;
}

vp_err
vp_servercert_import(vp_store *s, const char *datadir, const unsigned char *p12, size_t len,
    const char *pass, const char *actor, vp_error *e)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	EXTENDED_KEY_USAGE *eku = NULL;
	vp_cert_rec rec;
	char *marker = NULL, detail[600];
	time_t now = time(NULL);
	vp_err rc;
	int i, server = 0;

	memset(&rec, 0, sizeof(rec));
	if ((rc = vp_p12_parse(p12, len, pass, &key, &cert, &chain, e)) != VP_OK)
		return rc;
	if (cert == NULL || key == NULL) {
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "the PKCS#12 file must hold the server certificate and its private key");
		goto out;
	}
	if (X509_check_private_key(cert, key) != 1) {
		ERR_clear_error();
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "the private key does not match the server certificate");
		goto out;
	}
	if ((rc = vp_key_check_strength(key, "the server certificate", e)) != VP_OK)
		goto out;
	if (X509_cmp_time(X509_get0_notAfter(cert), &now) <= 0 ||
	    X509_cmp_time(X509_get0_notBefore(cert), &now) > 0) {
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "the server certificate is outside its validity period");
		goto out;
	}
	if ((eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL)) != NULL) {
		for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
			server |= OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == NID_server_auth;
		if (!server) {
			rc = vp_error_set(e, VP_ERR_INVALID,
			    "the certificate is not for TLS servers: its extended key usage lacks "
			    "serverAuth");
			goto out;
		}
	}
	if (X509_check_ca(cert) != 0) {
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "that is a CA certificate, not a server certificate (use `vmspki ca import`)");
		goto out;
	}
	if ((rc = vp_cert_rec_from_x509(cert, &rec, e)) != VP_OK)
		goto out;
	snprintf(detail, sizeof(detail), "subject %.300s fingerprint %s", rec.subject,
	    rec.fingerprint);
	if ((marker = file_in(datadir, F_IMPORTED)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	/* The marker first: a crash between the two leaves the old pair marked as imported,
	 * which only stops automatic renewal until the next import or `server-cert renew`. */
	if ((rc = vp_file_write_atomic(marker, "imported\n", 9, 0644, e)) != VP_OK)
		goto out;
	if ((rc = write_files(datadir, key, cert, chain, e)) != VP_OK) {
		unlink(marker);
		goto out;
	}
	rc = vp_store_audit_append(s, actor, "servercert.import", rec.serial, detail, e);
out:
	free(marker);
	vp_cert_rec_clear(&rec);
	EXTENDED_KEY_USAGE_free(eku);
	vp_x509_stack_free(chain);
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

json_t *
vp_json_servercert(const vp_servercert_status *st)
{
	json_t *o = json_object();
	int bad = o == NULL;

	bad |= json_object_set_new(o, "present", json_boolean(st->present));
	bad |= json_object_set_new(o, "imported", json_boolean(st->imported));
	bad |= json_object_set_new(o, "serial", vp_json_str_or_null(st->serial));
	bad |= json_object_set_new(o, "fingerprint", vp_json_str_or_null(st->fingerprint));
	/* Without a usable certificate (present 0) there are no times to give. */
	bad |= json_object_set_new(o, "not_before", st->present ? vp_json_time(st->not_before) :
	    json_null());
	bad |= json_object_set_new(o, "not_after", st->present ? vp_json_time(st->not_after) :
	    json_null());
	bad |= json_object_set_new(o, "renew_after", st->present ? vp_json_time(st->renew_after) :
	    json_null());
	bad |= json_object_set_new(o, "from_current_ca", json_boolean(st->from_current_ca));
	bad |= json_object_set_new(o, "covers_host", json_boolean(st->covers_host));
	bad |= json_object_set_new(o, "renewal_due", json_boolean(st->reason[0] != '\0' &&
	    !st->imported));
	bad |= json_object_set_new(o, "reason", vp_json_str_or_null(st->reason));
	return vp_json_done(o, bad);
}
