/* Issuing certificates: a CSR is checked (format, self-signature, key strength) or a key is
 * generated here; the certificate is built from a profile (names, validity clamped to the CA,
 * extensions), signed by the CA and recorded with its audit row in one transaction. */
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "internal.h"
#include "vmspki/addr.h"
#include "vmspki/issue.h"
#include "vmspki/profile.h"
#include "vmspki/util.h"

#define NOT_BEFORE_SKEW 3600	/* backdate by an hour: devices' clocks are often a bit off */
#define CN_MAX 64		/* ub-common-name, RFC 5280 */

/* PEM if "-----BEGIN" appears anywhere (text may precede it); otherwise DER. */
static int
looks_like_pem(const unsigned char *data, size_t len)
{
	static const char tag[] = "-----BEGIN";
	size_t i;

	for (i = 0; i + sizeof(tag) - 1 <= len; i++)
		if (memcmp(data + i, tag, sizeof(tag) - 1) == 0)
			return 1;
	return 0;
}

/* Checks what every CSR must pass: a readable key of accepted strength, a valid signature. */
static vp_err
csr_check(X509_REQ *req, EVP_PKEY *pub, vp_error *e)
{
	vp_err rc;

	if (pub == NULL)
		return vp_error_ssl(e, VP_ERR_INVALID, "the CSR's public key cannot be read");
	if ((rc = vp_key_check_strength(pub, "the CSR", e)) != VP_OK)
		return rc;
	if (X509_REQ_verify_ex(req, pub, NULL, NULL) != 1)
		return vp_error_ssl(e, VP_ERR_INVALID,
		    "the CSR's signature does not verify: the request was altered or damaged, or "
		    "was not signed by the key it contains");
	return VP_OK;
}

/*
 * The CSR's public key without OpenSSL 3.0's decoder framework. Parsing a CSR makes OpenSSL
 * decode its SubjectPublicKeyInfo into an EVP_PKEY at once, and in 3.0 that builds a decoder
 * context over every provider's decoders for each key: ~80 us of the ~120 us a CSR takes, 3-4 %
 * of an issuance through the API. Parsed in a library context that holds only the null
 * provider, the structure is read as usual but that attempt finds no decoder and leaves the
 * key as bytes; an RSA key (the PKCS#1 RSAPublicKey inside) is then read by d2i_PublicKey,
 * which needs no decoder. The checks are the same as on the ordinary path, and the result is
 * kept only when the request with its key set encodes to exactly the bytes received;
 * anything else (EC keys, odd encodings) takes the ordinary path.
 */
/* The fast path for RSA keys (above): VP_OK with *out set, VP_OK with *out NULL when the
 * ordinary path must decide, or the refusal. */
static vp_err
csr_d2i_rsa(const unsigned char *der, long len, X509_REQ **out, vp_error *e)
{
	const unsigned char *p = der, *pk;
	OSSL_LIB_CTX *ctx;
	X509_REQ *req = NULL;
	EVP_PKEY *pub = NULL;
	ASN1_OBJECT *alg;
	unsigned char *enc = NULL;
	int pklen, n;
	vp_err rc = VP_OK;

	*out = NULL;
	if ((ctx = vp_nodecode_ctx()) == NULL)
		return VP_OK;
	req = (X509_REQ *)ASN1_item_d2i_ex(NULL, &p, len, ASN1_ITEM_rptr(X509_REQ), ctx, NULL);
	if (req == NULL || !X509_PUBKEY_get0_param(&alg, &pk, &pklen, NULL,
	    X509_REQ_get_X509_PUBKEY(req)) || OBJ_obj2nid(alg) != NID_rsaEncryption)
		goto out;
	len = (long)(p - der);   /* the request's own bytes */
	if ((pub = d2i_PublicKey(EVP_PKEY_RSA, NULL, &pk, pklen)) == NULL)
		goto out;        /* the ordinary path says what is wrong */
	if ((rc = csr_check(req, pub, e)) != VP_OK)
		goto out;
	if (!X509_REQ_set_pubkey(req, pub) || (n = i2d_X509_REQ(req, &enc)) != len ||
	    memcmp(enc, der, (size_t)len) != 0)
		goto out;
	*out = req;
	req = NULL;
out:
	ERR_clear_error();   /* a decline leaves nothing for the ordinary path's message */
	OPENSSL_free(enc);
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
	return rc;
}

vp_err
vp_csr_parse(const unsigned char *data, size_t len, X509_REQ **out, vp_error *e)
{
	X509_REQ *req = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	long derlen = 0;
	BIO *b = NULL;
	vp_err rc = VP_OK;
	int pem;

	*out = NULL;
	if (len == 0)
		return vp_error_set(e, VP_ERR_INVALID, "the CSR is empty");
	if (len > INT_MAX)
		return vp_error_set(e, VP_ERR_INVALID, "the CSR is too large");
	pem = looks_like_pem(data, len);
	if (pem) {
		if ((b = BIO_new_mem_buf(data, (int)len)) == NULL) {
			rc = vp_error_ssl(e, VP_ERR_NOMEM, "out of memory");
			goto out;
		}
		if (!PEM_bytes_read_bio(&der, &derlen, NULL, PEM_STRING_X509_REQ, b, NULL, NULL)) {
			rc = vp_error_ssl(e, VP_ERR_INVALID, "the CSR is not a readable PEM "
			    "certificate request (truncated or damaged?)");
			goto out;
		}
		p = der;
	} else {
		p = data;
		derlen = (long)len;
	}
	if ((rc = csr_d2i_rsa(p, derlen, &req, e)) != VP_OK || req != NULL)
		goto out;
	/* The ordinary path: OpenSSL decodes the key as it parses. */
	if ((req = d2i_X509_REQ(NULL, &p, derlen)) == NULL) {
		rc = vp_error_ssl(e, VP_ERR_INVALID, pem ?
		    "the CSR is not a readable PEM certificate request (truncated or damaged?)" :
		    "the CSR is neither a PEM nor a DER PKCS#10 certificate request");
		goto out;
	}
	rc = csr_check(req, X509_REQ_get0_pubkey(req), e);
out:
	if (rc != VP_OK) {
		X509_REQ_free(req);
		req = NULL;
	}
	*out = req;
	OPENSSL_free(der);
	BIO_free(b);
	return rc;
}

static int
email_ok(const char *s)
{
	const char *at = strchr(s, '@');
	size_t i;

	if (at == NULL || at == s || strchr(at + 1, '@') != NULL ||
	    !vp_addr_is_hostname(at + 1, VP_ADDR_SAN) || strlen(s) > 254)
		return 0;
	for (i = 0; s + i < at; i++)
		if (!isgraph((unsigned char)s[i]))
			return 0;
	return 1;
}

static vp_err
push_name(GENERAL_NAMES *gens, int type, const char *value, vp_error *e)
{
	GENERAL_NAME *g = NULL;
	ASN1_OCTET_STRING *ip = NULL;
	ASN1_IA5STRING *ia5 = NULL;

	if ((g = GENERAL_NAME_new()) == NULL)
		goto nomem;
	if (type == GEN_IPADD) {
		if ((ip = a2i_IPADDRESS(value)) == NULL) {
			GENERAL_NAME_free(g);
			ERR_clear_error();
			return vp_error_set(e, VP_ERR_INVALID,
			    "\"%s\" is not an IP address (IPv4 like 10.0.0.3 or IPv6 like fd00::3)",
			    value);
		}
		GENERAL_NAME_set0_value(g, GEN_IPADD, ip);
	} else {
		if ((ia5 = ASN1_IA5STRING_new()) == NULL ||
		    !ASN1_STRING_set(ia5, value, (int)strlen(value))) {
			ASN1_IA5STRING_free(ia5);
			GENERAL_NAME_free(g);
			goto nomem;
		}
		GENERAL_NAME_set0_value(g, type, ia5);
	}
	if (!sk_GENERAL_NAME_push(gens, g)) {
		GENERAL_NAME_free(g);
		goto nomem;
	}
	return VP_OK;
nomem:
	return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
}

/* Collects the SANs: those given, or (where the profile allows) the DNS and IP names the CSR
 * asks for. Every name is checked; *first_name gets the first DNS or IP name for the CN. */
static vp_err
collect_sans(const vp_profile *p, const vp_issue_req *r, const char *cn, GENERAL_NAMES **out,
    char *first_name, size_t first_len, vp_error *e)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null(), *asked = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	char email[320];
	size_t i;
	int j;
	vp_err rc = VP_OK;

	*out = NULL;
	first_name[0] = '\0';
	if (gens == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	for (i = 0; i < r->ndns && rc == VP_OK; i++) {
		if (!vp_addr_is_hostname(r->dns[i], VP_ADDR_SAN))
			rc = vp_error_set(e, VP_ERR_INVALID,
			    "\"%.80s\" is not a valid DNS name (letters, digits, hyphens and dots; "
			    "\"*.\" only as the first label)", r->dns[i]);
		else
			rc = push_name(gens, GEN_DNS, r->dns[i], e);
	}
	for (i = 0; i < r->nip && rc == VP_OK; i++)
		rc = push_name(gens, GEN_IPADD, r->ip[i], e);
	if (rc != VP_OK)
		goto out;
	if (r->nemail > 0 && !p->email_san_allowed) {
		rc = vp_error_set(e, VP_ERR_INVALID, "the %s profile does not take email names",
		    p->name);
		goto out;
	}
	for (i = 0; i < r->nemail && rc == VP_OK; i++) {
		if (!email_ok(r->email[i]))
			rc = vp_error_set(e, VP_ERR_INVALID, "\"%.80s\" is not a valid email address",
			    r->email[i]);
		else
			rc = push_name(gens, GEN_EMAIL, r->email[i], e);
	}
	if (rc != VP_OK)
		goto out;
	/* Names the CSR asks for are used only when the caller gave none and the profile allows
	 * it (cameras put their addresses in their CSRs); every other requested extension is
	 * ignored. */
	if (r->ndns == 0 && r->nip == 0 && r->csr != NULL && p->csr_san_allowed) {
		exts = X509_REQ_get_extensions(r->csr);
		for (j = 0; j < sk_X509_EXTENSION_num(exts); j++) {
			X509_EXTENSION *x = sk_X509_EXTENSION_value(exts, j);

			if (OBJ_obj2nid(X509_EXTENSION_get_object(x)) == NID_subject_alt_name) {
				asked = X509V3_EXT_d2i(x);
				break;
			}
		}
		for (j = 0; j < sk_GENERAL_NAME_num(asked) && rc == VP_OK; j++) {
			GENERAL_NAME *g = sk_GENERAL_NAME_value(asked, j);
			GENERAL_NAME *copy;

			if (g->type == GEN_DNS) {
				char name[256];
				int n = ASN1_STRING_length(g->d.dNSName);

				snprintf(name, sizeof(name), "%.*s", n,
				    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
				if (n <= 0 || n > 253 || strlen(name) != (size_t)n ||
				    !vp_addr_is_hostname(name, VP_ADDR_SAN)) {
					rc = vp_error_set(e, VP_ERR_INVALID,
					    "the CSR asks for an invalid DNS name \"%.80s\"", name);
					break;
				}
			} else if (g->type != GEN_IPADD ||
			    (ASN1_STRING_length(g->d.iPAddress) != 4 &&
			    ASN1_STRING_length(g->d.iPAddress) != 16)) {
				continue;	/* other kinds of names are not copied */
			}
			if ((copy = GENERAL_NAME_dup(g)) == NULL || !sk_GENERAL_NAME_push(gens, copy)) {
				GENERAL_NAME_free(copy);
				rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
			}
		}
		if (rc != VP_OK)
			goto out;
	}
	if (sk_GENERAL_NAME_num(gens) == 0 && p->default_email_domain != NULL && cn[0] != '\0') {
		snprintf(email, sizeof(email), "%s%s", cn, p->default_email_domain);
		if (!email_ok(email)) {
			rc = vp_error_set(e, VP_ERR_INVALID,
			    "\"%.80s\" cannot be used in an email name: use letters, digits, dots "
			    "and hyphens", cn);
			goto out;
		}
		if ((rc = push_name(gens, GEN_EMAIL, email, e)) != VP_OK)
			goto out;
	}
	for (j = 0; j < sk_GENERAL_NAME_num(gens); j++) {
		GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, j);

		if (g->type == GEN_DNS) {
			snprintf(first_name, first_len, "%.*s", ASN1_STRING_length(g->d.dNSName),
			    (const char *)ASN1_STRING_get0_data(g->d.dNSName));
			break;
		}
	}
	if (first_name[0] == '\0' && r->nip > 0)
		snprintf(first_name, first_len, "%s", r->ip[0]);
	if (p->needs_name && sk_GENERAL_NAME_num(gens) == 0) {
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "a %s certificate needs at least one name: give --dns NAME or --ip ADDRESS "
		    "(clients check the names in the certificate, not its CN)", p->name);
		goto out;
	}
	*out = gens;
	gens = NULL;
out:
	GENERAL_NAMES_free(asked);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	return rc;
}

/* The validity: [now - skew, now + days], cut to the CA's notAfter. An explicit --days that
 * reaches past the CA is refused; a profile default is clamped and the caller told. */
static vp_err
validity(const vp_ca *ca, const vp_profile *p, const vp_issue_req *r, time_t now,
    time_t *nb, time_t *na, int *clamped, vp_error *e)
{
	int64_t ca_end = vp_asn1_time_unix(X509_get0_notAfter(vp_ca_cert(ca)));
	int64_t ca_start = vp_asn1_time_unix(X509_get0_notBefore(vp_ca_cert(ca)));
	int days = r->days > 0 ? r->days : p->default_days;
	char when[32];

	*clamped = 0;
	if (r->days < 0 || r->days > 36525)
		return vp_error_set(e, VP_ERR_INVALID, "--days must be between 1 and 36525");
	if (p->max_days > 0 && days > p->max_days)
		return vp_error_set(e, VP_ERR_INVALID,
		    "the %s profile allows at most %d days (asked for %d)%s", p->name,
		    p->max_days, days, p->max_days == 825 ?
		    ": Apple clients refuse TLS certificates valid longer than 825 days" : "");
	vp_time_iso(ca_end, when, sizeof(when));
	if (ca_end <= (int64_t)now)
		return vp_error_set(e, VP_ERR_INVALID,
		    "the CA expired on %s: it cannot issue certificates any more; replace it", when);
	if (ca_start > (int64_t)now)
		return vp_error_set(e, VP_ERR_INVALID,
		    "the CA is not valid yet (check the system clock)");
	*nb = now - NOT_BEFORE_SKEW;
	if (*nb < (time_t)ca_start)
		*nb = (time_t)ca_start;
	*na = now + (time_t)days * 86400;
	if ((int64_t)*na > ca_end) {
		if (r->days > 0)
			return vp_error_set(e, VP_ERR_INVALID,
			    "--days %d would end after the CA itself expires (%s): at most %lld "
			    "days are possible", r->days, when,
			    (long long)((ca_end - (int64_t)now) / 86400));
		*na = (time_t)ca_end;
		*clamped = 1;
	}
	return VP_OK;
}

void
vp_issued_free(vp_issued *c)
{
	if (c == NULL)
		return;
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
	vp_cert_rec_clear(&c->rec);
	free(c);
}

/* Copies the CSR's SubjectPublicKeyInfo into cert as it is: X509_set_pubkey would encode the
 * EVP_PKEY and decode it again through the OpenSSL 3 decoder framework, ~7 % of an RSA-4096
 * issuance. */
static int
copy_pubkey(X509 *cert, X509_REQ *req)
{
	X509_PUBKEY *src = X509_REQ_get_X509_PUBKEY(req), *dst = X509_get_X509_PUBKEY(cert);
	ASN1_OBJECT *obj = NULL;
	const unsigned char *pk;
	unsigned char *penc = NULL;
	int pklen, ptype;
	X509_ALGOR *alg;
	const ASN1_OBJECT *aobj;
	const void *pval;
	void *pdup = NULL;

	if (src == NULL || dst == NULL || !X509_PUBKEY_get0_param(NULL, &pk, &pklen, &alg, src) ||
	    pklen <= 0)
		return 0;
	X509_ALGOR_get0(&aobj, &ptype, &pval, alg);
	if ((obj = OBJ_dup(aobj)) == NULL || (penc = OPENSSL_memdup(pk, (size_t)pklen)) == NULL)
		goto fail;
	if (ptype == V_ASN1_OBJECT) {
		if ((pdup = OBJ_dup(pval)) == NULL)
			goto fail;
	} else if (ptype == V_ASN1_SEQUENCE) {
		if ((pdup = ASN1_STRING_dup(pval)) == NULL)
			goto fail;
	} else if (ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
		goto fail;
	if (!X509_PUBKEY_set0_param(dst, obj, ptype, pdup, penc, pklen))
		goto fail;
	return 1;
fail:
	ASN1_OBJECT_free(obj);
	OPENSSL_free(penc);
	if (ptype == V_ASN1_OBJECT)
		ASN1_OBJECT_free(pdup);
	else
		ASN1_STRING_free(pdup);
	return 0;
}

vp_err
vp_issue_sign(const vp_ca *ca, const vp_issue_req *r, vp_issued **out, vp_error *e)
{
	const vp_profile *p;
	vp_issued *c = NULL;
	GENERAL_NAMES *sans = NULL;
	ASN1_INTEGER *serial = NULL;
	X509_NAME *name = NULL;
	EVP_PKEY *pub;
	const EVP_MD *md;
	char cn[256], first[256];
	time_t now = r->now > 0 ? (time_t)r->now : time(NULL), nb = 0, na = 0;
	int clamped;
	vp_err rc;

	*out = NULL;
	if ((p = vp_profile_find(r->profile, e)) == NULL)
		return VP_ERR_INVALID;
	if (vp_ca_key(ca) == NULL)
		return vp_error_set(e, VP_ERR_PASSPHRASE, "the CA key is needed: give the passphrase");
	if ((r->csr == NULL) == (r->generate_key == 0))
		return vp_error_set(e, VP_ERR_INVALID,
		    "give either a CSR or ask for a key to be generated, not both or neither");
	if ((rc = validity(ca, p, r, now, &nb, &na, &clamped, e)) != VP_OK)
		return rc;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	c->clamped = clamped;
	/* The CN: given, else the CSR's, else the first name (the XProtect flow: the first DNS
	 * name is the subject). */
	cn[0] = '\0';
	if (r->cn != NULL)
		snprintf(cn, sizeof(cn), "%s", r->cn);
	else if (r->csr != NULL)
		vp_x509_name_cn(X509_REQ_get_subject_name(r->csr), cn, sizeof(cn));
	if ((rc = collect_sans(p, r, cn, &sans, first, sizeof(first), e)) != VP_OK)
		goto out;
	if (cn[0] == '\0')
		snprintf(cn, sizeof(cn), "%s", first);
	if (cn[0] == '\0') {
		rc = vp_error_set(e, VP_ERR_INVALID,
		    "the certificate needs a subject name: give --cn NAME (or --dns NAME)");
		goto out;
	}
	if (strlen(cn) > CN_MAX || (r->cn != NULL && strlen(r->cn) > CN_MAX)) {
		rc = vp_error_set(e, VP_ERR_INVALID, "the CN is longer than %d characters", CN_MAX);
		goto out;
	}
	if (r->generate_key) {
		if ((rc = vp_key_generate(VP_KEY_RSA2048, &c->key, e)) != VP_OK)
			goto out;
		pub = c->key;
	} else
		pub = X509_REQ_get0_pubkey(r->csr);
	if ((rc = vp_serial_random(&serial, e)) != VP_OK)
		goto out;
	if ((c->cert = X509_new()) == NULL || (name = X509_NAME_new()) == NULL ||
	    !X509_set_version(c->cert, X509_VERSION_3) ||
	    !X509_set_serialNumber(c->cert, serial) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(c->cert, name) ||
	    !X509_set_issuer_name(c->cert, X509_get_subject_name(vp_ca_cert(ca))) ||
	    ASN1_TIME_set(X509_getm_notBefore(c->cert), nb) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(c->cert), na) == NULL ||
	    !(r->generate_key ? X509_set_pubkey(c->cert, pub) : copy_pubkey(c->cert, r->csr))) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot build the certificate");
		goto out;
	}
	/* EC keys cannot encipher keys: their key usage is digitalSignature alone. */
	if ((rc = vp_x509_add_ext(c->cert, vp_ca_cert(ca), NID_basic_constraints, "critical,CA:FALSE",
	    e)) != VP_OK ||
	    (rc = vp_x509_add_ext(c->cert, vp_ca_cert(ca), NID_key_usage, EVP_PKEY_is_a(pub, "EC") ?
	    "critical,digitalSignature" : p->key_usage, e)) != VP_OK ||
	    (rc = vp_x509_add_ext(c->cert, vp_ca_cert(ca), NID_ext_key_usage, p->ext_key_usage, e)) !=
	    VP_OK ||
	    (rc = vp_x509_add_ext(c->cert, vp_ca_cert(ca), NID_subject_key_identifier, "hash", e)) !=
	    VP_OK ||
	    (rc = vp_x509_add_ext(c->cert, vp_ca_cert(ca), NID_authority_key_identifier, "keyid:always",
	    e)) != VP_OK)
		goto out;
	if (sk_GENERAL_NAME_num(sans) > 0 &&
	    X509_add1_ext_i2d(c->cert, NID_subject_alt_name, sans, 0, X509V3_ADD_DEFAULT) != 1) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot add the subject alternative names");
		goto out;
	}
	if ((md = vp_md(vp_sign_md(vp_ca_key(ca)))) == NULL ||
	    X509_sign(c->cert, vp_ca_key(ca), md) <= 0) {
		rc = vp_error_ssl(e, VP_ERR_CRYPTO, "cannot sign the certificate");
		goto out;
	}
	if ((rc = vp_cert_rec_from_x509(c->cert, &c->rec, e)) != VP_OK)
		goto out;
	snprintf(c->rec.profile, sizeof(c->rec.profile), "%s", p->name);
	snprintf(c->rec.issuer_fp, sizeof(c->rec.issuer_fp), "%s", vp_ca_fingerprint(ca));
	free(c->rec.owner_kind);
	free(c->rec.owner_id);
	c->rec.owner_kind = vp_strdup(r->owner_kind != NULL ? r->owner_kind : "");
	c->rec.owner_id = vp_strdup(r->owner_id != NULL ? r->owner_id : "");
	if (c->rec.owner_kind == NULL || c->rec.owner_id == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	*out = c;
	c = NULL;
out:
	X509_NAME_free(name);
	ASN1_INTEGER_free(serial);
	GENERAL_NAMES_free(sans);
	vp_issued_free(c);
	return rc;
}

vp_err
vp_issue_record(vp_store *s, vp_issued *const *certs, size_t n, const char *actor, vp_error *e)
{
	char detail[600];
	size_t i;
	vp_err rc;

	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	for (i = 0; i < n; i++) {
		const vp_cert_rec *r = &certs[i]->rec;
		char until[32];

		vp_time_iso(r->not_after, until, sizeof(until));
		snprintf(detail, sizeof(detail), "profile %s subject %.300s until %s%s", r->profile,
		    r->subject, until, certs[i]->clamped ? " (clamped to the CA)" : "");
		if ((rc = vp_store_cert_insert(s, r, e)) != VP_OK ||
		    (rc = vp_store_audit_append(s, actor != NULL ? actor : "unknown", "cert.issue",
		    r->serial, detail, e)) != VP_OK) {
			vp_store_rollback(s);
			return rc;
		}
	}
	if ((rc = vp_store_commit(s, e)) != VP_OK)
		vp_store_rollback(s);
	return rc;
}

/* ---- issue 19, item 4: a new certificate like an issued one (cert renew) ---- */

void
vp_issue_renewal_clear(vp_issue_renewal *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->ndns; i++)
		free(r->dns[i]);
	for (i = 0; i < r->nip; i++)
		free(r->ip[i]);
	for (i = 0; i < r->nemail; i++)
		free(r->email[i]);
	free(r->dns);
	free(r->ip);
	free(r->email);
	free(r->cn);
	free(r->owner_kind);
	free(r->owner_id);
	memset(r, 0, sizeof(*r));
}

/* Appends a copy of the n bytes at v to the list. */
static vp_err
renewal_push(char ***list, size_t *n, const char *v, size_t len, vp_error *e)
{
	char **grown, *copy;

	if ((copy = malloc(len + 1)) == NULL ||
	    (grown = realloc(*list, (*n + 1) * sizeof(**list))) == NULL) {
		free(copy);
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	}
	memcpy(copy, v, len);
	copy[len] = '\0';
	grown[(*n)++] = copy;
	*list = grown;
	return VP_OK;
}

vp_err
vp_issue_renewal_from(const vp_cert_rec *old, vp_issue_renewal *out, vp_error *e)
{
	GENERAL_NAMES *gens = NULL;
	X509 *x = NULL;
	BIO *b = NULL;
	char cn[256], ip[INET6_ADDRSTRLEN];
	vp_err rc = VP_OK;
	int i;

	memset(out, 0, sizeof(*out));
	if (old->owner_kind != NULL && (strcmp(old->owner_kind, "device") == 0 ||
	    strcmp(old->owner_kind, "component") == 0 || strcmp(old->owner_kind, "server") == 0))
		return vp_error_set(e, VP_ERR_INVALID, "certificate %s belongs to a %s: vmspki "
		    "renews it itself (%s)", old->serial, old->owner_kind,
		    strcmp(old->owner_kind, "device") == 0 ? "vmspki https update" :
		    strcmp(old->owner_kind, "component") == 0 ? "vmspki component renew" :
		    "vmspki server-cert renew");
	if (strcmp(old->status, "revoked") == 0)
		return vp_error_set(e, VP_ERR_INVALID, "certificate %s is revoked: issue a new one "
		    "(vmspki issue) rather than renew it", old->serial);
	if (old->pem == NULL || (b = BIO_new_mem_buf(old->pem, -1)) == NULL ||
	    (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) == NULL) {
		ERR_clear_error();
		rc = vp_error_set(e, VP_ERR_INVALID, "certificate %s in the store does not parse: "
		    "the store is damaged", old->serial);
		goto out;
	}
	snprintf(out->profile, sizeof(out->profile), "%s", old->profile);
	vp_x509_name_cn(X509_get_subject_name(x), cn, sizeof(cn));
	if ((cn[0] != '\0' && (out->cn = vp_strdup(cn)) == NULL) ||
	    (out->owner_kind = vp_strdup(old->owner_kind != NULL ? old->owner_kind : "")) == NULL ||
	    (out->owner_id = vp_strdup(old->owner_id != NULL ? old->owner_id : "")) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	for (i = 0; i < sk_GENERAL_NAME_num(gens) && rc == VP_OK; i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
		const ASN1_STRING *v;

		switch (g->type) {
		case GEN_DNS:
			v = g->d.dNSName;
			rc = renewal_push(&out->dns, &out->ndns, (const char *)ASN1_STRING_get0_data(v),
			    (size_t)ASN1_STRING_length(v), e);
			break;
		case GEN_EMAIL:
			v = g->d.rfc822Name;
			rc = renewal_push(&out->email, &out->nemail,
			    (const char *)ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v), e);
			break;
		case GEN_IPADD:
			v = g->d.iPAddress;
			if (inet_ntop(ASN1_STRING_length(v) == 4 ? AF_INET : AF_INET6,
			    ASN1_STRING_get0_data(v), ip, sizeof(ip)) == NULL ||
			    (ASN1_STRING_length(v) != 4 && ASN1_STRING_length(v) != 16))
				break;        /* not an address we issue: not copied */
			rc = renewal_push(&out->ip, &out->nip, ip, strlen(ip), e);
			break;
		default:
			break;
		}
	}
out:
	if (rc != VP_OK)
		vp_issue_renewal_clear(out);
	GENERAL_NAMES_free(gens);
	X509_free(x);
	BIO_free(b);
	return rc;
}
