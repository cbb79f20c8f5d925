/* Unit tests for the API server certificate (src/lib/servercert.c, netif.c): first issue,
 * no needless renewal, forced renewal, the host's names, and an operator's import. */
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
#include <openssl/x509v3.h>

#include "testutil.h"
#include "vmspki/ca.h"
#include "vmspki/netif.h"
#include "vmspki/servercert.h"
#include "vmspki/store.h"
#include "vmspki/util.h"

#define PASS "correct horse battery"

static X509 *
read_cert(const char *dir, const char *name)
{
	char *p = vp_path_join(dir, name);
	FILE *f = fopen(p, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	free(p);
	assert_non_null(x);
	return x;
}

static void
servercert_is_made_once_renewed_on_demand_and_names_the_host(void **state)
{
	char *dir = vp_test_mkdtemp(), *kp;
	vp_ca_init_opts o = { .key = VP_KEY_EC_P256, .actor = "test" };
	vp_servercert_status st;
	vp_netif *host = NULL;
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	char first[64];
	int renewed = -1, days, secs;
	struct stat sb;
	size_t i;
	vp_error e;
	(void)state;

	s = vp_test_store_open(dir);
	assert_int_equal(vp_ca_init(s, dir, &o, PASS, &e), VP_OK);
	assert_int_equal(vp_ca_load(s, PASS, &ca, &e), VP_OK);
	assert_int_equal(vp_servercert_status_get(ca, dir, &st, &e), VP_OK);
	assert_false(st.present);
	assert_string_equal(st.reason, "there is no server certificate");

	assert_int_equal(vp_servercert_ensure(s, ca, dir, 0, "test", &renewed, &st, &e), VP_OK);
	assert_int_equal(renewed, 1);
	assert_true(st.present && st.from_current_ca && st.covers_host);
	assert_string_equal(st.reason, "");
	snprintf(first, sizeof(first), "%s", st.serial);
	kp = vp_path_join(dir, "certs/server.key.pem");
	assert_int_equal(stat(kp, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	free(kp);

	/* the certificate names localhost, 127.0.0.1, ::1 and every interface address */
	X509 *leaf = read_cert(dir, "certs/public.pem");
	assert_int_equal(X509_check_host(leaf, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(leaf, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(leaf, "::1", 0), 1);
	assert_int_equal(vp_netif_collect(&host, &e), VP_OK);
	for (i = 0; i < host->nip; i++)
		assert_int_equal(X509_check_ip_asc(leaf, host->ip[i], 0), 1);
	assert_true(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(leaf), X509_get0_notAfter(leaf)));
	assert_true(days <= 825);
	X509_free(leaf);
	vp_netif_free(host);

	/* nothing due: no renewal */
	assert_int_equal(vp_servercert_ensure(s, ca, dir, 0, "test", &renewed, &st, &e), VP_OK);
	assert_int_equal(renewed, 0);
	assert_string_equal(st.serial, first);
	/* on demand: a new serial */
	assert_int_equal(vp_servercert_ensure(s, ca, dir, 1, "test", &renewed, &st, &e), VP_OK);
	assert_int_equal(renewed, 1);
	assert_string_not_equal(st.serial, first);
	/* server.crt holds the leaf then the CA */
	X509 *chain_leaf = read_cert(dir, "certs/server.crt");
	assert_int_equal(X509_verify(chain_leaf, X509_get0_pubkey(vp_ca_cert(ca))), 1);
	X509_free(chain_leaf);

	/* an operator's certificate from another CA is kept, not renewed away */
	{
		EVP_PKEY *k = vp_test_key("rsa2048"), *other = vp_test_key("ec-p384");
		X509 *foreign_ca = vp_test_cert(other, "Corp CA", NULL, NULL, 1, "critical,keyCertSign", -1, 400);
		X509 *srv = vp_test_cert(k, "vms.corp", foreign_ca, other, 0, "critical,digitalSignature", -1, 300);
		unsigned char *der = NULL;
		size_t len;

		assert_int_equal(vp_p12_build(k, srv, NULL, "srv", "pw", &der, &len, &e), VP_OK);
		assert_int_equal(vp_servercert_import(s, dir, der, len, "nope", "test", &e),
		    VP_ERR_PASSPHRASE);
		assert_int_equal(vp_servercert_import(s, dir, der, len, "pw", "test", &e), VP_OK);
		OPENSSL_free(der);
		assert_int_equal(vp_servercert_ensure(s, ca, dir, 0, "test", &renewed, &st, &e), VP_OK);
		assert_int_equal(renewed, 0);
		assert_true(st.imported);
		assert_false(st.from_current_ca);
		/* a CA certificate is not a server certificate */
		assert_int_equal(vp_p12_build(other, foreign_ca, NULL, "ca", "pw", &der, &len, &e), VP_OK);
		assert_int_equal(vp_servercert_import(s, dir, der, len, "pw", "test", &e), VP_ERR_INVALID);
		assert_non_null(strstr(e.msg, "CA certificate"));
		OPENSSL_free(der);
		X509 *still = read_cert(dir, "certs/public.pem");
		assert_int_equal(X509_cmp(still, srv), 0);
		X509_free(still);
		X509_free(foreign_ca);
		X509_free(srv);
		EVP_PKEY_free(k);
		EVP_PKEY_free(other);
	}
	vp_ca_free(ca);
	vp_store_close(s);
	vp_test_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(servercert_is_made_once_renewed_on_demand_and_names_the_host),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
