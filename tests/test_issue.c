/* Unit tests for issuance (src/lib/issue.c, profile.c): CSR checks, each profile's
 * extensions, names, validity rules (clamping and refusal), serials, and recording. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "vmspki/ca.h"
#include "vmspki/issue.h"
#include "vmspki/profile.h"
#include "vmspki/store.h"
#include "vmspki/util.h"

#define PASS "correct horse battery"

struct fx {
	char *dir;
	vp_store *s;
	vp_ca *ca;
};

static int
setup_days(void **state, int days)
{
	struct fx *f = calloc(1, sizeof(*f));
	vp_ca_init_opts o = { .key = VP_KEY_EC_P256, .days = days, .actor = "test" };
	vp_error e;

	f->dir = vp_test_mkdtemp();
	f->s = vp_test_store_open(f->dir);
	assert_int_equal(vp_ca_init(f->s, f->dir, &o, PASS, &e), VP_OK);
	assert_int_equal(vp_ca_load(f->s, PASS, &f->ca, &e), VP_OK);
	*state = f;
	return 0;
}

static int setup(void **state) { return setup_days(state, 0); }
static int setup_short_ca(void **state) { return setup_days(state, 100); }

static int
teardown(void **state)
{
	struct fx *f = *state;

	vp_ca_free(f->ca);
	vp_store_close(f->s);
	vp_test_rmdir(f->dir);
	free(f);
	return 0;
}

static X509_REQ *
csr(EVP_PKEY *key, const char *cn, const char *san, const char *extra)
{
	char *pem = vp_test_csr_pem(key, cn, san, extra);
	X509_REQ *r = NULL;
	vp_error e;

	if (vp_csr_parse((unsigned char *)pem, strlen(pem), &r, &e) != VP_OK)
		fail_msg("csr: %s", e.msg);
	free(pem);
	return r;
}

static int
has_eku(X509 *x, int nid)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	int found = 0, i;

	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
		found |= OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid;
	int n = sk_ASN1_OBJECT_num(eku);
	EXTENDED_KEY_USAGE_free(eku);
	return found && n == 1;
}

static void
every_profile_gets_its_eku_aki_ski_and_names(void **state)
{
	struct fx *f = *state;
	const vp_profile *p;
	EVP_PKEY *k = vp_test_key("rsa2048");
	X509_REQ *r = csr(k, "cam-1", NULL, NULL);
	const char *dns[] = { "cam-1.site.local" };
	const char *ip[] = { "10.0.0.7", "fd00::7" };
	vp_error e;

	for (p = vp_profile_all(); p->name != NULL; p++) {
		vp_issue_req req = { .profile = p->name, .csr = r, .dns = dns, .ndns = 1,
		    .ip = ip, .nip = 2 };
		vp_issued *c = NULL;
		int server = strcmp(p->ext_key_usage, "serverAuth") == 0;

		if (p->email_san_allowed && !p->csr_san_allowed && !server) {
			req.ndns = 0;	/* client profiles: names are optional */
			req.nip = 0;
		}
		if (vp_issue_sign(f->ca, &req, &c, &e) != VP_OK)
			fail_msg("%s: %s", p->name, e.msg);
		assert_true(has_eku(c->cert, server ? NID_server_auth : NID_client_auth));
		assert_non_null(X509_get0_authority_key_id(c->cert));
		assert_non_null(X509_get0_subject_key_id(c->cert));
		assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(c->cert),
		    X509_get0_subject_key_id(vp_ca_cert(f->ca))), 0);
		assert_int_equal(X509_check_ca(c->cert), 0);
		assert_true(X509_get_key_usage(c->cert) & KU_DIGITAL_SIGNATURE);
		assert_false(X509_get_key_usage(c->cert) & KU_KEY_CERT_SIGN);
		assert_int_equal(X509_verify(c->cert, X509_get0_pubkey(vp_ca_cert(f->ca))), 1);
		assert_string_equal(c->rec.profile, p->name);
		assert_string_equal(c->rec.issuer_fp, vp_ca_fingerprint(f->ca));
		if (req.ndns > 0) {
			assert_int_equal(X509_check_host(c->cert, "cam-1.site.local", 0, 0, NULL), 1);
			assert_int_equal(X509_check_ip_asc(c->cert, "10.0.0.7", 0), 1);
			assert_int_equal(X509_check_ip_asc(c->cert, "fd00::7", 0), 1);
		}
		vp_issued_free(c);
	}
	X509_REQ_free(r);
	EVP_PKEY_free(k);
}

static void
csr_public_key_is_copied_byte_for_byte(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = vp_test_key("rsa2048");
	X509_REQ *r = csr(k, "cam-9", NULL, NULL);
	const char *ip[] = { "10.0.0.9" };
	vp_issue_req req = { .profile = "device-https", .csr = r, .ip = ip, .nip = 1 };
	unsigned char *a = NULL, *b = NULL;
	int na, nb;
	vp_issued *c = NULL;
	vp_error e;

	assert_int_equal(vp_issue_sign(f->ca, &req, &c, &e), VP_OK);
	na = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(r), &a);
	nb = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(c->cert), &b);
	assert_true(na > 0);
	assert_int_equal(na, nb);
	assert_memory_equal(a, b, (size_t)na);
	/* parsed back from its PEM, the certificate's key is the CSR's key */
	BIO *bio = BIO_new_mem_buf(c->rec.pem, -1);
	X509 *back = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(back), k), 1);
	X509_free(back);
	BIO_free(bio);
	OPENSSL_free(a);
	OPENSSL_free(b);
	vp_issued_free(c);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
}

static void
serials_are_random_positive_and_at_most_159_bits(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = vp_test_key("ec-p256");
	X509_REQ *r = csr(k, "client-1", NULL, NULL);
	vp_issue_req req = { .profile = "client", .csr = r };
	char prev[64] = "";
	int i;
	vp_error e;

	for (i = 0; i < 8; i++) {
		vp_issued *c = NULL;
		BIGNUM *bn;

		assert_int_equal(vp_issue_sign(f->ca, &req, &c, &e), VP_OK);
		bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(c->cert), NULL);
		assert_false(BN_is_negative(bn));
		assert_true(BN_num_bits(bn) <= 159);
		assert_true(BN_num_bits(bn) > 128);	/* 2^-31 chance of a false failure */
		assert_string_not_equal(c->rec.serial, prev);
		snprintf(prev, sizeof(prev), "%s", c->rec.serial);
		BN_free(bn);
		vp_issued_free(c);
	}
	X509_REQ_free(r);
	EVP_PKEY_free(k);
}

static void
csr_checks_refuse_bad_requests_with_reasons(void **state)
{
	EVP_PKEY *weak = vp_test_key("rsa1024"), *k = vp_test_key("rsa2048");
	char *pem = vp_test_csr_pem(weak, "weak", NULL, NULL), *good = vp_test_csr_pem(k, "x", NULL, NULL);
	X509_REQ *r = NULL;
	vp_error e;
	(void)state;

	assert_int_equal(vp_csr_parse((unsigned char *)pem, strlen(pem), &r, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "1024-bit RSA key: at least 2048"));
	/* truncated PEM */
	assert_int_equal(vp_csr_parse((unsigned char *)good, strlen(good) / 2, &r, &e),
	    VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "truncated or damaged"));
	/* garbage that is not PEM */
	assert_int_equal(vp_csr_parse((unsigned char *)"\x30\x82hello", 7, &r, &e), VP_ERR_INVALID);
	assert_int_equal(vp_csr_parse((unsigned char *)"", 0, &r, &e), VP_ERR_INVALID);
	/* broken signature: flip a bit in the signature (the last bytes of the DER) */
	{
		BIO *b = BIO_new_mem_buf(good, -1);
		X509_REQ *ok = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
		unsigned char *der = NULL;
		int n = i2d_X509_REQ(ok, &der);

		der[n - 5] ^= 0x01;
		assert_int_equal(vp_csr_parse(der, (size_t)n, &r, &e), VP_ERR_INVALID);
		assert_non_null(strstr(e.msg, "signature does not verify"));
		OPENSSL_free(der);
		X509_REQ_free(ok);
		BIO_free(b);
	}
	assert_null(r);
	free(pem);
	free(good);
	EVP_PKEY_free(weak);
	EVP_PKEY_free(k);
}

static void
requested_extensions_are_ignored_unless_the_profile_allows_them(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = vp_test_key("ec-p256");
	X509_REQ *r = csr(k, "192.168.5.20", "DNS:cam20.site.local,IP:192.168.5.20",
	    "critical,CA:TRUE");
	vp_issue_req dev = { .profile = "device-https", .csr = r };
	vp_issue_req cli = { .profile = "device-8021x", .csr = r };
	vp_issued *c = NULL;
	vp_error e;

	/* device-https copies the camera's requested names, never its CA:TRUE request */
	assert_int_equal(vp_issue_sign(f->ca, &dev, &c, &e), VP_OK);
	assert_int_equal(X509_check_host(c->cert, "cam20.site.local", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(c->cert, "192.168.5.20", 0), 1);
	assert_int_equal(X509_check_ca(c->cert), 0);
	vp_issued_free(c);
	/* an 802.1X client certificate takes no names from the CSR */
	assert_int_equal(vp_issue_sign(f->ca, &cli, &c, &e), VP_OK);
	assert_int_equal(X509_get_ext_by_NID(c->cert, NID_subject_alt_name, -1), -1);
	assert_int_equal(X509_check_ca(c->cert), 0);
	vp_issued_free(c);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
}

static void
names_are_checked(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *k = vp_test_key("ec-p256");
	X509_REQ *r = csr(k, "srv", NULL, NULL);
	const char *bad_dns[] = { "bad name.example" };
	const char *bad_ip[] = { "10.0.0.300" };
	const char *email[] = { "a@b.example" };
	vp_issue_req noname = { .profile = "server", .csr = r };
	vp_issue_req dns = { .profile = "server", .csr = r, .dns = bad_dns, .ndns = 1 };
	vp_issue_req ip = { .profile = "server", .csr = r, .ip = bad_ip, .nip = 1 };
	vp_issue_req em = { .profile = "server", .csr = r, .email = email, .nemail = 1 };
	vp_issue_req unknown = { .profile = "webserver", .csr = r };
	vp_issued *c = NULL;
	vp_error e;

	assert_int_equal(vp_issue_sign(f->ca, &noname, &c, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "needs at least one name"));
	assert_int_equal(vp_issue_sign(f->ca, &dns, &c, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "not a valid DNS name"));
	assert_int_equal(vp_issue_sign(f->ca, &ip, &c, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "not an IP address"));
	assert_int_equal(vp_issue_sign(f->ca, &em, &c, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "does not take email"));
	assert_int_equal(vp_issue_sign(f->ca, &unknown, &c, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "unknown profile \"webserver\""));
	assert_null(c);
	X509_REQ_free(r);
	EVP_PKEY_free(k);
}

static void
generated_key_follows_the_xprotect_flow(void **state)
{
	struct fx *f = *state;
	const char *dns[] = { "rs1.site.local", "rs1" };
	const char *ip[] = { "10.0.0.103" };
	vp_issue_req req = { .profile = "server", .generate_key = 1, .dns = dns, .ndns = 2,
	    .ip = ip, .nip = 1 };
	vp_issued *c = NULL;
	char cn[128];
	vp_error e;

	assert_int_equal(vp_issue_sign(f->ca, &req, &c, &e), VP_OK);
	assert_non_null(c->key);
	assert_int_equal(EVP_PKEY_get_bits(c->key), 2048);
	assert_int_equal(X509_check_private_key(c->cert, c->key), 1);
	X509_NAME_get_text_by_NID(X509_get_subject_name(c->cert), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "rs1.site.local");	/* the first DNS name is the subject */
	assert_true(has_eku(c->cert, NID_server_auth));
	vp_issued_free(c);
}

static void
component_client_gets_its_broker_email(void **state)
{
	struct fx *f = *state;
	vp_issue_req req = { .profile = "component-client", .generate_key = 1, .cn = "recorder" };
	vp_issued *c = NULL;
	vp_error e;

	assert_int_equal(vp_issue_sign(f->ca, &req, &c, &e), VP_OK);
	assert_int_equal(X509_check_email(c->cert, "recorder.component@natsbroker.localhost", 0, 0), 1);
	assert_non_null(strstr(c->rec.sans, "email:recorder.component@natsbroker.localhost"));
	vp_issued_free(c);
	/* from a CSR without --cn: the CSR's CN names the component */
	{
		EVP_PKEY *k = vp_test_key("ec-p256");
		X509_REQ *r = csr(k, "archiver", NULL, NULL);
		vp_issue_req fromcsr = { .profile = "component-client", .csr = r };

		assert_int_equal(vp_issue_sign(f->ca, &fromcsr, &c, &e), VP_OK);
		assert_int_equal(X509_check_email(c->cert, "archiver.component@natsbroker.localhost", 0, 0), 1);
		vp_issued_free(c);
		X509_REQ_free(r);
		EVP_PKEY_free(k);
	}
}

static void
validity_is_clamped_to_the_ca_or_refused_when_explicit(void **state)
{
	struct fx *f = *state;	/* a CA with 100 days left */
	const char *dns[] = { "svc.local" };
	vp_issue_req dflt = { .profile = "component-server", .generate_key = 1, .dns = dns, .ndns = 1 };
	vp_issue_req expl = { .profile = "component-server", .generate_key = 1, .dns = dns, .ndns = 1,
	    .days = 400 };
	vp_issue_req fits = { .profile = "server", .generate_key = 1, .dns = dns, .ndns = 1,
	    .days = 30 };
	vp_issue_req toolong = { .profile = "server", .generate_key = 1, .dns = dns, .ndns = 1,
	    .days = 900 };
	vp_issue_req late = { .profile = "server", .generate_key = 1, .dns = dns, .ndns = 1,
	    .now = (int64_t)time(NULL) + 200 * 86400 };
	vp_issued *c = NULL;
	vp_error e;

	assert_int_equal(vp_issue_sign(f->ca, &dflt, &c, &e), VP_OK);
	assert_true(c->clamped);
	assert_int_equal(ASN1_TIME_compare(X509_get0_notAfter(c->cert),
	    X509_get0_notAfter(vp_ca_cert(f->ca))), 0);
	vp_issued_free(c);
	c = NULL;
	assert_int_equal(vp_issue_sign(f->ca, &expl, &c, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "would end after the CA itself expires"));
	assert_int_equal(vp_issue_sign(f->ca, &toolong, &c, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "at most 825 days"));
	assert_int_equal(vp_issue_sign(f->ca, &late, &c, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "the CA expired"));
	assert_null(c);
	assert_int_equal(vp_issue_sign(f->ca, &fits, &c, &e), VP_OK);
	assert_false(c->clamped);
	vp_issued_free(c);
}

static void
record_stores_each_certificate_with_an_audit_row_or_nothing(void **state)
{
	struct fx *f = *state;
	const char *dns[] = { "a.local" };
	vp_issue_req req = { .profile = "server", .generate_key = 1, .dns = dns, .ndns = 1,
	    .owner_kind = "device", .owner_id = "cam-7" };
	vp_issued *c[3] = { NULL, NULL, NULL };
	vp_cert_filter all = { 0 };
	vp_cert_rec got;
	int64_t n = 0, rows = 0, bad = 0;
	vp_error e;

	assert_int_equal(vp_issue_sign(f->ca, &req, &c[0], &e), VP_OK);
	assert_int_equal(vp_issue_sign(f->ca, &req, &c[1], &e), VP_OK);
	assert_int_equal(vp_issue_record(f->s, c, 2, "test", &e), VP_OK);
	assert_int_equal(vp_store_cert_count(f->s, &all, &n, &e), VP_OK);
	assert_int_equal(n, 2);
	memset(&got, 0, sizeof(got));
	assert_int_equal(vp_store_cert_get(f->s, c[1]->rec.serial, &got, &e), VP_OK);
	assert_string_equal(got.owner_id, "cam-7");
	assert_string_equal(got.pem, c[1]->rec.pem);
	vp_cert_rec_clear(&got);
	/* a batch with a duplicate records nothing at all */
	assert_int_equal(vp_issue_sign(f->ca, &req, &c[2], &e), VP_OK);
	vp_issued *dup[2] = { c[2], c[0] };
	assert_int_equal(vp_issue_record(f->s, dup, 2, "test", &e), VP_ERR_EXISTS);
	assert_int_equal(vp_store_cert_count(f->s, &all, &n, &e), VP_OK);
	assert_int_equal(n, 2);
	assert_int_equal(vp_store_audit_verify(f->s, &rows, &bad, &e), VP_OK);
	assert_int_equal(rows, 3);	/* ca.init + two issues */
	for (int i = 0; i < 3; i++)
		vp_issued_free(c[i]);
}

/* issue 19, item 4: a renewal keeps profile, CN, every name and the owner of the original;
 * holders vmspki renews itself, and revoked certificates, are refused. */
static void
renewal_keeps_names_and_owner_and_refuses_what_vmspki_renews(void **state)
{
	struct fx *f = *state;
	const char *dns[] = { "rs1.site.local", "rs1" };
	const char *ip[] = { "10.0.0.103", "fd00::7" };
	vp_issue_req req = { .profile = "server", .generate_key = 1, .cn = "rs1.site.local",
	    .dns = dns, .ndns = 2, .ip = ip, .nip = 2, .owner_kind = "recording-server",
	    .owner_id = "rs1" };
	vp_issue_renewal rn;
	vp_issued *c = NULL;
	vp_error e;

	assert_int_equal(vp_issue_sign(f->ca, &req, &c, &e), VP_OK);
	assert_int_equal(vp_issue_renewal_from(&c->rec, &rn, &e), VP_OK);
	assert_string_equal(rn.profile, "server");
	assert_string_equal(rn.cn, "rs1.site.local");
	assert_int_equal(rn.ndns, 2);
	assert_string_equal(rn.dns[0], "rs1.site.local");
	assert_string_equal(rn.dns[1], "rs1");
	assert_int_equal(rn.nip, 2);
	assert_string_equal(rn.ip[0], "10.0.0.103");
	assert_string_equal(rn.ip[1], "fd00::7");
	assert_int_equal(rn.nemail, 0);
	assert_string_equal(rn.owner_kind, "recording-server");
	assert_string_equal(rn.owner_id, "rs1");
	vp_issue_renewal_clear(&rn);
	vp_issue_renewal_clear(&rn);          /* twice: harmless */

	free(c->rec.owner_kind);
	c->rec.owner_kind = vp_strdup("device");
	assert_int_equal(vp_issue_renewal_from(&c->rec, &rn, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "https update"));
	free(c->rec.owner_kind);
	c->rec.owner_kind = vp_strdup("");
	snprintf(c->rec.status, sizeof(c->rec.status), "revoked");
	assert_int_equal(vp_issue_renewal_from(&c->rec, &rn, &e), VP_ERR_INVALID);
	vp_issued_free(c);
}

/* issue 19, item 6: the legacy PKCS#12 (3DES, SHA-1 MAC) opens with the password, and our
 * own reader takes it back. */
static void
legacy_p12_round_trips(void **state)
{
	struct fx *f = *state;
	const char *dns[] = { "rs2.site.local" };
	vp_issue_req req = { .profile = "server", .generate_key = 1, .dns = dns, .ndns = 1 };
	vp_issued *c = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	PKCS12 *p12;
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	STACK_OF(X509) *chain = NULL;
	vp_error e;

	assert_int_equal(vp_issue_sign(f->ca, &req, &c, &e), VP_OK);
	assert_int_equal(vp_issued_p12_ex(c, f->ca, "windows 2016 pfx", VP_P12_LEGACY, &der,
	    &len, &e), VP_OK);
	p = der;
	assert_non_null(p12 = d2i_PKCS12(NULL, &p, (long)len));
	assert_int_equal(PKCS12_verify_mac(p12, "windows 2016 pfx", -1), 1);
	{
		const X509_ALGOR *alg = NULL;

		PKCS12_get0_mac(NULL, &alg, NULL, NULL, p12);
		assert_int_equal(OBJ_obj2nid(alg->algorithm), NID_sha1);
	}
	PKCS12_free(p12);
	assert_int_equal(vp_p12_parse(der, len, "windows 2016 pfx", &k, &x, &chain, &e), VP_OK);
	assert_int_equal(X509_cmp(x, c->cert), 0);
	assert_int_equal(EVP_PKEY_eq(k, c->key), 1);
	EVP_PKEY_free(k);
	X509_free(x);
	sk_X509_pop_free(chain, X509_free);
	vp_secret_free(der, len);
	vp_issued_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(every_profile_gets_its_eku_aki_ski_and_names, setup, teardown),
		cmocka_unit_test_setup_teardown(serials_are_random_positive_and_at_most_159_bits, setup, teardown),
		cmocka_unit_test_setup_teardown(csr_public_key_is_copied_byte_for_byte, setup, teardown),
		cmocka_unit_test(csr_checks_refuse_bad_requests_with_reasons),
		cmocka_unit_test_setup_teardown(requested_extensions_are_ignored_unless_the_profile_allows_them, setup, teardown),
		cmocka_unit_test_setup_teardown(names_are_checked, setup, teardown),
		cmocka_unit_test_setup_teardown(generated_key_follows_the_xprotect_flow, setup, teardown),
		cmocka_unit_test_setup_teardown(component_client_gets_its_broker_email, setup, teardown),
		cmocka_unit_test_setup_teardown(validity_is_clamped_to_the_ca_or_refused_when_explicit, setup_short_ca, teardown),
		cmocka_unit_test_setup_teardown(record_stores_each_certificate_with_an_audit_row_or_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(renewal_keeps_names_and_owner_and_refuses_what_vmspki_renews, setup, teardown),
		cmocka_unit_test_setup_teardown(legacy_p12_round_trips, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
