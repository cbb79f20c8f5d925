/* Helpers for the unit tests: temporary directories that are removed afterwards, a store in
 * one, test keys, certificates and CSRs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "vmspki/err.h"
#include "vmspki/util.h"

char *
vp_test_mkdtemp(void)
{
	const char *base = getenv("VP_TEST_TMP");
	char *dir;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	mkdir(base, 0700);
	if ((dir = malloc(strlen(base) + 32)) == NULL)
		abort();
	sprintf(dir, "%s/vptest.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return dir;
}

void
vp_test_rmdir(char *dir)
{
	char cmd[4200];

	if (dir == NULL)
		return;
	if (strlen(dir) < 4000 && strstr(dir, "vptest.") != NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	free(dir);
}

const char *
vp_test_pg(void)
{
	const char *u = getenv("VMSPKI_TEST_PG");

	return u != NULL && *u != '\0' ? u : NULL;
}

void
vp_test_pg_reset(void)
{
	PGconn *c;
	PGresult *r;

	if (vp_test_pg() == NULL)
		return;
	if ((c = PQconnectdb(vp_test_pg())) == NULL || PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "cannot reach the test PostgreSQL: %s\n",
		    c != NULL ? PQerrorMessage(c) : "out of memory");
		abort();
	}
	r = PQexec(c, "SET client_min_messages = warning; DROP SCHEMA public CASCADE; "
	    "CREATE SCHEMA public");
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		fprintf(stderr, "cannot empty the test PostgreSQL: %s\n", PQerrorMessage(c));
		abort();
	}
	PQclear(r);
	PQfinish(c);
}

char *
vp_test_store_where(const char *dir)
{
	char *w = vp_test_pg() != NULL ? strdup(vp_test_pg()) : vp_path_join(dir, "vmspki.db");

	if (w == NULL)
		abort();
	return w;
}

vp_store *
vp_test_store_open(const char *dir)
{
	char *db = vp_test_store_where(dir);
	vp_store *s = NULL;
	vp_error e;

	if (db == NULL || vp_store_open(db, &s, &e) != VP_OK) {
		fprintf(stderr, "cannot open the test store in %s: %s\n", dir,
		    db == NULL ? "out of memory" : e.msg);
		abort();
	}
	free(db);
	return s;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_nconf_nid(NULL, &ctx, nid, value)) == NULL || !X509_add_ext(x, ext, -1))
		abort();
	X509_EXTENSION_free(ext);
}

X509 *
vp_test_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca,
    const char *ku, int nb_days, int na_days)
{
	static long serial = 1000;
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	time_t now = time(NULL);

	if (x == NULL || name == NULL || !X509_set_version(x, X509_VERSION_3) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial++) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name) ||
	    X509_time_adj_ex(X509_getm_notBefore(x), nb_days, 0, &now) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), na_days, 0, &now) == NULL ||
	    !X509_set_pubkey(x, key))
		abort();
	if (ca)
		add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
	if (ku != NULL)
		add_ext(x, x, NID_key_usage, ku);
	add_ext(x, x, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		add_ext(x, issuer, NID_authority_key_identifier, "keyid:always");
	if (X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) <= 0)
		abort();
	X509_NAME_free(name);
	return x;
}

char *
vp_test_csr_pem(EVP_PKEY *key, const char *cn, const char *san, const char *extra)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	if (req == NULL || name == NULL || exts == NULL || b == NULL ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, key))
		abort();
	if (san != NULL)
		sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, san));
	if (extra != NULL)
		sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, extra));
	if (sk_X509_EXTENSION_num(exts) > 0 && !X509_REQ_add_extensions(req, exts))
		abort();
	if (X509_REQ_sign(req, key, EVP_sha256()) <= 0 || !PEM_write_bio_X509_REQ(b, req))
		abort();
	n = BIO_get_mem_data(b, &data);
	if ((out = malloc((size_t)n + 1)) == NULL)
		abort();
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(name);
	X509_REQ_free(req);
	BIO_free(b);
	return out;
}

EVP_PKEY *
vp_test_key(const char *type)
{
	static struct { const char *type; EVP_PKEY *key; } cache[8];
	static int n;
	EVP_PKEY *k = NULL;
	int i;

	for (i = 0; i < n; i++)
		if (strcmp(cache[i].type, type) == 0) {
			EVP_PKEY_up_ref(cache[i].key);
			return cache[i].key;
		}
	if (strncmp(type, "rsa", 3) == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)atoi(type + 3));
	else if (strcmp(type, "ec-p256") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(type, "ec-p384") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	else if (strcmp(type, "ec-secp256k1") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	if (k == NULL || n == 8)
		abort();
	cache[n].type = type;
	cache[n].key = k;
	n++;
	EVP_PKEY_up_ref(k);
	return k;
}
