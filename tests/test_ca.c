/* Unit tests for the CA (src/lib/ca.c, keyprot.c): generation, every import rule with its
 * message, key protection at rest, PKCS#12, loading with a wrong passphrase, and export. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/pkcs7.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "vmspki/ca.h"
#include "vmspki/store.h"
#include "vmspki/util.h"

#define PASS "correct horse battery"

struct fx {
	char *dir;
	vp_store *s;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->dir = vp_test_mkdtemp();
	f->s = vp_test_store_open(f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	vp_store_close(f->s);
	vp_test_rmdir(f->dir);
	free(f);
	return 0;
}

static int64_t
count(vp_store *s)
{
	int64_t n = -1;
	vp_cert_filter all = { 0 };
	vp_error e;

	assert_int_equal(vp_store_cert_count(s, &all, &n, &e), VP_OK);
	return n;
}

static int64_t
audit_rows(vp_store *s)
{
	int64_t rows = -1, bad = -1;
	vp_error e;

	assert_int_equal(vp_store_audit_verify(s, &rows, &bad, &e), VP_OK);
	return rows;
}

/* A PKCS#12 of key and cert (and chain) with password pw. */
static unsigned char *
p12_of(EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain, const char *pw, size_t *len)
{
	unsigned char *der = NULL;
	vp_error e;

	assert_int_equal(vp_p12_build(key, cert, chain, "test", pw, &der, len, &e), VP_OK);
	return der;
}

static void
ca_init_makes_a_root_with_the_required_extensions(void **state)
{
	struct fx *f = *state;
	vp_ca_init_opts o = { .cn = "Site CA", .key = VP_KEY_EC_P256, .actor = "test" };
	vp_ca *ca = NULL;
	BASIC_CONSTRAINTS *bc;
	int crit = -1;
	vp_error e;
	struct stat st;
	char *path;

	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_OK);
	assert_int_equal(vp_ca_load(f->s, PASS, &ca, &e), VP_OK);
	X509 *x = vp_ca_cert(ca);
	bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);
	assert_non_null(bc);
	assert_true(bc->ca);
	assert_int_equal(crit, 1);
	BASIC_CONSTRAINTS_free(bc);
	ASN1_BIT_STRING *ku = X509_get_ext_d2i(x, NID_key_usage, &crit, NULL);
	assert_non_null(ku);
	assert_int_equal(crit, 1);
	ASN1_BIT_STRING_free(ku);
	assert_int_equal(X509_get_key_usage(x), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(x));
	assert_true(vp_ca_is_root(ca));
	assert_int_equal(X509_check_issued(x, x), X509_V_OK);
	/* 10 years by default */
	int days, secs;
	assert_true(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)));
	assert_in_range(days, 3651, 3653);
	/* the public certificate is on disk */
	path = vp_path_join(f->dir, "certs/ca.cert.pem");
	assert_int_equal(stat(path, &st), 0);
	free(path);
	assert_int_equal(audit_rows(f->s), 1);
	vp_ca_free(ca);
}

static void
ca_init_default_is_rsa_4096(void **state)
{
	struct fx *f = *state;
	vp_ca_init_opts o = { .key = VP_KEY_RSA4096, .actor = "test" };
	vp_ca *ca = NULL;
	char cn[256];
	vp_error e;

	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_OK);
	assert_int_equal(vp_ca_load(f->s, NULL, &ca, &e), VP_OK);
	assert_true(EVP_PKEY_is_a(X509_get0_pubkey(vp_ca_cert(ca)), "RSA"));
	assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(vp_ca_cert(ca))), 4096);
	X509_NAME_get_text_by_NID(X509_get_subject_name(vp_ca_cert(ca)), NID_commonName, cn,
	    sizeof(cn));
	assert_non_null(strstr(cn, "vmspki Root CA ("));
	assert_null(vp_ca_key(ca));
	vp_ca_free(ca);
}

static void
ca_init_twice_is_refused_and_keeps_the_first(void **state)
{
	struct fx *f = *state;
	vp_ca_init_opts o = { .key = VP_KEY_EC_P256, .actor = "test" };
	vp_ca *a = NULL, *b = NULL;
	vp_error e;

	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_OK);
	assert_int_equal(vp_ca_load(f->s, NULL, &a, &e), VP_OK);
	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_ERR_EXISTS);
	assert_non_null(strstr(e.msg, "already has a CA"));
	assert_int_equal(vp_ca_load(f->s, NULL, &b, &e), VP_OK);
	assert_string_equal(vp_ca_fingerprint(a), vp_ca_fingerprint(b));
	assert_int_equal(audit_rows(f->s), 1);
	vp_ca_free(a);
	vp_ca_free(b);
}

static void
ca_load_refuses_a_wrong_passphrase(void **state)
{
	struct fx *f = *state;
	vp_ca_init_opts o = { .key = VP_KEY_EC_P256, .actor = "test" };
	vp_ca *ca = NULL;
	vp_error e;

	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_OK);
	assert_int_equal(vp_ca_load(f->s, "wrong passphrase", &ca, &e), VP_ERR_PASSPHRASE);
	assert_null(ca);
	assert_non_null(strstr(e.msg, "wrong CA passphrase"));
	assert_null(strstr(e.msg, "wrong passphrase\""));
}

static void
ca_load_without_a_ca_says_how_to_make_one(void **state)
{
	struct fx *f = *state;
	vp_ca *ca = NULL;
	vp_error e;

	assert_int_equal(vp_ca_load(f->s, NULL, &ca, &e), VP_ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "vmspki ca init"));
}

static void
key_at_rest_is_pbes2_aes256_pbkdf2_sha256_strong(void **state)
{
	EVP_PKEY *key = vp_test_key("ec-p256"), *back = NULL;
	char *pem = NULL;
	size_t len = 0;
	vp_error e;
	(void)state;

	assert_int_equal(vp_key_encrypt_pem(key, PASS, &pem, &len, &e), VP_OK);
	assert_non_null(strstr(pem, "BEGIN ENCRYPTED PRIVATE KEY"));
	/* Parse the algorithm identifiers back. */
	BIO *b = BIO_new_mem_buf(pem, (int)len);
	X509_SIG *sig = PEM_read_bio_PKCS8(b, NULL, NULL, NULL);
	const X509_ALGOR *alg;
	const ASN1_OCTET_STRING *digest;
	assert_non_null(sig);
	X509_SIG_get0(sig, &alg, &digest);
	assert_int_equal(OBJ_obj2nid(alg->algorithm), NID_pbes2);
	PBE2PARAM *pbe2 = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBE2PARAM), alg->parameter);
	assert_non_null(pbe2);
	assert_int_equal(OBJ_obj2nid(pbe2->keyfunc->algorithm), NID_id_pbkdf2);
	assert_int_equal(OBJ_obj2nid(pbe2->encryption->algorithm), NID_aes_256_cbc);
	PBKDF2PARAM *kdf = ASN1_TYPE_unpack_sequence(ASN1_ITEM_rptr(PBKDF2PARAM),
	    pbe2->keyfunc->parameter);
	assert_non_null(kdf);
	assert_true(ASN1_INTEGER_get(kdf->iter) >= 600000);
	assert_int_equal(OBJ_obj2nid(kdf->prf->algorithm), NID_hmacWithSHA256);
	PBKDF2PARAM_free(kdf);
	PBE2PARAM_free(pbe2);
	X509_SIG_free(sig);
	BIO_free(b);

	assert_int_equal(vp_key_decrypt_pem(pem, len, "not it", &back, &e), VP_ERR_PASSPHRASE);
	assert_null(back);
	assert_int_equal(vp_key_decrypt_pem(pem, len, PASS, &back, &e), VP_OK);
	assert_int_equal(EVP_PKEY_eq(key, back), 1);
	EVP_PKEY_free(back);
	EVP_PKEY_free(key);
	vp_secret_free(pem, len);
}

static void
p12_roundtrip_and_wrong_password(void **state)
{
	EVP_PKEY *key = vp_test_key("ec-p256"), *k2 = NULL;
	X509 *cert = vp_test_cert(key, "p12", NULL, NULL, 1, "critical,keyCertSign", 0, 30), *c2 = NULL;
	STACK_OF(X509) *chain = NULL;
	unsigned char junk[64] = { 0x30, 0x03, 0x02, 0x01 };
	size_t len;
	unsigned char *der = p12_of(key, cert, NULL, "pw12345678", &len);
	vp_error e;
	(void)state;

	assert_int_equal(vp_p12_parse(der, len, "nope", &k2, &c2, &chain, &e), VP_ERR_PASSPHRASE);
	assert_non_null(strstr(e.msg, "wrong PKCS#12 password"));
	assert_int_equal(vp_p12_parse(junk, sizeof(junk), "x", &k2, &c2, &chain, &e),
	    VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "not a PKCS#12"));
	assert_int_equal(vp_p12_parse(der, len, "pw12345678", &k2, &c2, &chain, &e), VP_OK);
	assert_int_equal(X509_cmp(cert, c2), 0);
	assert_int_equal(EVP_PKEY_eq(key, k2), 1);
	EVP_PKEY_free(k2);
	X509_free(c2);
	sk_X509_pop_free(chain, X509_free);
	OPENSSL_free(der);
	X509_free(cert);
	EVP_PKEY_free(key);
}

/* Imports key+cert(+chain) and expects rc with msg in the message, and nothing stored. */
static void
expect_import(struct fx *f, EVP_PKEY *key, X509 *cert, STACK_OF(X509) *chain,
    const char *extra_pem, vp_err want, const char *msg)
{
	size_t len;
	unsigned char *der = p12_of(key, cert, chain, "pw12345678", &len);
	vp_ca *ca = NULL;
	vp_error e;
	vp_err rc;
	int64_t rows_before = audit_rows(f->s);
	vp_err had_ca = vp_ca_load(f->s, NULL, &ca, &e);
	char fp_before[65] = "";

	if (had_ca == VP_OK)
		snprintf(fp_before, sizeof(fp_before), "%s", vp_ca_fingerprint(ca));
	vp_ca_free(ca);
	ca = NULL;
	rc = vp_ca_import(f->s, f->dir, der, len, "pw12345678", (const unsigned char *)extra_pem,
	    extra_pem != NULL ? strlen(extra_pem) : 0, PASS, 0, "test", &e);
	if (rc != want)
		fail_msg("import gave %d (%s), wanted %d", rc, e.msg, want);
	if (want != VP_OK) {
		if (strstr(e.msg, msg) == NULL)
			fail_msg("message \"%s\" lacks \"%s\"", e.msg, msg);
		/* nothing changed: no CA (or the same one) and no audit row */
		assert_int_equal(vp_ca_load(f->s, NULL, &ca, &e), had_ca);
		if (had_ca == VP_OK)
			assert_string_equal(vp_ca_fingerprint(ca), fp_before);
		vp_ca_free(ca);
		assert_int_equal(audit_rows(f->s), rows_before);
	}
	OPENSSL_free(der);
}

static void
ca_import_refuses_each_broken_rule_with_its_reason(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = vp_test_key("ec-p256"), *other = vp_test_key("ec-p384");
	EVP_PKEY *weak = vp_test_key("rsa1024"), *k1 = vp_test_key("ec-secp256k1");
	X509 *leaf = vp_test_cert(k, "leaf", NULL, NULL, 0, "critical,digitalSignature", 0, 30);
	X509 *nosign = vp_test_cert(k, "no sign", NULL, NULL, 1, "critical,cRLSign", 0, 30);
	X509 *noku = vp_test_cert(k, "no ku", NULL, NULL, 1, NULL, 0, 30);
	X509 *expired = vp_test_cert(k, "expired", NULL, NULL, 1, "critical,keyCertSign", -60, -1);
	X509 *future = vp_test_cert(k, "future", NULL, NULL, 1, "critical,keyCertSign", 5, 60);
	X509 *good = vp_test_cert(k, "good", NULL, NULL, 1, "critical,keyCertSign,cRLSign", 0, 30);
	X509 *weakc = vp_test_cert(weak, "weak", NULL, NULL, 1, "critical,keyCertSign", 0, 30);
	X509 *k1c = vp_test_cert(k1, "k1", NULL, NULL, 1, "critical,keyCertSign", 0, 30);

	expect_import(f, k, leaf, NULL, NULL, VP_ERR_INVALID, "basicConstraints CA:TRUE");
	expect_import(f, k, nosign, NULL, NULL, VP_ERR_INVALID, "lacks keyCertSign");
	expect_import(f, k, noku, NULL, NULL, VP_ERR_INVALID, "lacks keyCertSign");
	expect_import(f, k, expired, NULL, NULL, VP_ERR_INVALID, "outside its validity period");
	expect_import(f, k, future, NULL, NULL, VP_ERR_INVALID, "not valid before");
	expect_import(f, weak, weakc, NULL, NULL, VP_ERR_INVALID, "at least 2048 bits");
	expect_import(f, k1, k1c, NULL, NULL, VP_ERR_INVALID, "only P-256, P-384 and P-521");
	/* A key that does not match: PKCS12_create refuses such a pair, so build it by hand. */
	{
		size_t len;
		unsigned char *der = NULL;
		PKCS12 *p12 = PKCS12_create("pw12345678", "x", NULL, good, NULL, 0, 0, 2048, 2048, 0);
		STACK_OF(PKCS7) *safes = sk_PKCS7_new_null();
		STACK_OF(PKCS12_SAFEBAG) *bags = NULL;
		vp_error e;

		/* cert-only p12 plus a separate key bag for another key */
		assert_non_null(p12);
		PKCS12_free(p12);
		PKCS12_add_cert(&bags, good);
		PKCS12_add_key(&bags, other, 0, 2048, NID_aes_256_cbc, "pw12345678");
		PKCS12_add_safe(&safes, bags, -1, 0, NULL);
		p12 = PKCS12_add_safes(safes, 0);
		PKCS12_set_mac(p12, "pw12345678", -1, NULL, 0, 2048, NULL);
		int n = i2d_PKCS12(p12, &der);
		assert_true(n > 0);
		len = (size_t)n;
		assert_int_equal(vp_ca_import(f->s, f->dir, der, len, "pw12345678", NULL, 0, PASS, 0,
		    "test", &e), VP_ERR_INVALID);
		assert_true(strstr(e.msg, "does not match") != NULL || strstr(e.msg, "no certificate") != NULL);
		OPENSSL_free(der);
		PKCS12_free(p12);
		sk_PKCS7_pop_free(safes, PKCS7_free);
		sk_PKCS12_SAFEBAG_pop_free(bags, PKCS12_SAFEBAG_free);
	}
	/* wrong PKCS#12 password */
	{
		size_t len;
		unsigned char *der = p12_of(k, good, NULL, "pw12345678", &len);
		vp_error e;

		assert_int_equal(vp_ca_import(f->s, f->dir, der, len, "other", NULL, 0, PASS, 0, "t",
		    &e), VP_ERR_PASSPHRASE);
		assert_non_null(strstr(e.msg, "wrong PKCS#12 password"));
		OPENSSL_free(der);
	}
	assert_int_equal(count(f->s), 0);
	X509_free(leaf); X509_free(nosign); X509_free(noku); X509_free(expired);
	X509_free(future); X509_free(good); X509_free(weakc); X509_free(k1c);
	EVP_PKEY_free(k); EVP_PKEY_free(other); EVP_PKEY_free(weak); EVP_PKEY_free(k1);
}

static char *
pem_of(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &data);
	out = strndup(data, (size_t)n);
	BIO_free(b);
	return out;
}

static void
ca_import_intermediate_needs_its_chain_to_a_root(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *rk = vp_test_key("ec-p384"), *ik = vp_test_key("rsa2048");
	X509 *root = vp_test_cert(rk, "Corp Root", NULL, NULL, 1, "critical,keyCertSign,cRLSign", -1, 3000);
	X509 *inter = vp_test_cert(ik, "Site Intermediate", root, rk, 1,
	    "critical,keyCertSign,cRLSign", -1, 2000);
	STACK_OF(X509) *chain = sk_X509_new_null();
	char *root_pem = pem_of(root);
	vp_ca *ca = NULL;
	unsigned char *out = NULL;
	size_t len;
	vp_error e;

	/* without the root anywhere: refused, naming the missing issuer */
	expect_import(f, ik, inter, NULL, NULL, VP_ERR_INVALID, "\"Corp Root\"");
	/* with the root given by --chain: accepted, chain kept */
	expect_import(f, ik, inter, NULL, root_pem, VP_OK, NULL);
	assert_int_equal(vp_ca_load(f->s, PASS, &ca, &e), VP_OK);
	assert_false(vp_ca_is_root(ca));
	assert_int_equal(sk_X509_num(vp_ca_chain(ca)), 1);
	assert_int_equal(X509_cmp(sk_X509_value(vp_ca_chain(ca), 0), root), 0);
	/* PEM export carries the chain, P7B too */
	assert_int_equal(vp_ca_export(ca, VP_EXPORT_PEM, &out, &len, &e), VP_OK);
	assert_non_null(strstr((char *)out, "-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----"));
	free(out);
	assert_int_equal(vp_ca_export(ca, VP_EXPORT_P7B, &out, &len, &e), VP_OK);
	const unsigned char *p = out;
	PKCS7 *p7 = d2i_PKCS7(NULL, &p, (long)len);
	assert_non_null(p7);
	assert_true(PKCS7_type_is_signed(p7));
	assert_int_equal(sk_X509_num(p7->d.sign->cert), 2);
	PKCS7_free(p7);
	OPENSSL_free(out);
	assert_int_equal(vp_ca_export(ca, VP_EXPORT_DER, &out, &len, &e), VP_OK);
	p = out;
	X509 *der = d2i_X509(NULL, &p, (long)len);
	assert_int_equal(X509_cmp(der, inter), 0);
	X509_free(der);
	OPENSSL_free(out);
	vp_ca_free(ca);
	/* a second import is refused: one CA per site (replacement is a later feature) */
	sk_X509_push(chain, root);
	expect_import(f, ik, inter, chain, NULL, VP_ERR_EXISTS, "already has a CA");
	sk_X509_free(chain);
	free(root_pem);
	X509_free(root); X509_free(inter);
	EVP_PKEY_free(rk); EVP_PKEY_free(ik);
}

static void
ca_export_p12_reimports_as_the_same_ca(void **state)
{
	struct fx *f = *state;
	vp_ca_init_opts o = { .key = VP_KEY_EC_P384, .actor = "test" };
	vp_ca *ca = NULL, *again = NULL;
	unsigned char *der = NULL;
	size_t len;
	vp_error e;
	char *dir2 = vp_test_mkdtemp();
	vp_store *s2 = NULL;

	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_OK);
	assert_int_equal(vp_ca_load(f->s, NULL, &ca, &e), VP_OK);
	assert_int_equal(vp_ca_export_p12(ca, "export pw", &der, &len, &e), VP_ERR_PASSPHRASE);
	vp_ca_free(ca);
	assert_int_equal(vp_ca_load(f->s, PASS, &ca, &e), VP_OK);
	assert_int_equal(vp_ca_export_p12(ca, "export pw", &der, &len, &e), VP_OK);
	s2 = vp_test_store_open(dir2);
	assert_int_equal(vp_ca_import(s2, dir2, der, len, "export pw", NULL, 0, "new pass 123", 0,
	    "test", &e), VP_OK);
	assert_int_equal(vp_ca_load(s2, "new pass 123", &again, &e), VP_OK);
	assert_string_equal(vp_ca_fingerprint(ca), vp_ca_fingerprint(again));
	assert_true(vp_ca_is_root(again));
	vp_ca_free(again);
	vp_ca_free(ca);
	OPENSSL_free(der);
	vp_store_close(s2);
	vp_test_rmdir(dir2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(ca_init_makes_a_root_with_the_required_extensions, setup, teardown),
		cmocka_unit_test_setup_teardown(ca_init_default_is_rsa_4096, setup, teardown),
		cmocka_unit_test_setup_teardown(ca_init_twice_is_refused_and_keeps_the_first, setup, teardown),
		cmocka_unit_test_setup_teardown(ca_load_refuses_a_wrong_passphrase, setup, teardown),
		cmocka_unit_test_setup_teardown(ca_load_without_a_ca_says_how_to_make_one, setup, teardown),
		cmocka_unit_test(key_at_rest_is_pbes2_aes256_pbkdf2_sha256_strong),
		cmocka_unit_test(p12_roundtrip_and_wrong_password),
		cmocka_unit_test_setup_teardown(ca_import_refuses_each_broken_rule_with_its_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(ca_import_intermediate_needs_its_chain_to_a_root, setup, teardown),
		cmocka_unit_test_setup_teardown(ca_export_p12_reimports_as_the_same_ca, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
