/* Unit tests for component certificates (src/lib/component.c): the id rule, the files and
 * their modes, names and key usages, the renewal rules (another CA included), recovery of
 * every half-replaced pair, the nats-server configuration and its escaping, components.json
 * checks, and reload commands. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "testutil.h"
#include "vmspki/ca.h"
#include "vmspki/component.h"
#include "vmspki/issue.h"
#include "vmspki/netif.h"
#include "vmspki/settings.h"
#include "vmspki/store.h"
#include "vmspki/util.h"

#define PASS "correct horse battery"

/* Two CAs, each in its own store; every test gets a fresh component data directory. */
typedef struct fx {
	char *dir_a, *dir_b;
	vp_store *sa, *sb;
	vp_ca *ca, *cb;      /* with their keys */
	char *data;          /* this test's data directory */
} fx;

static fx F;

static int
group_setup(void **state)
{
	vp_ca_init_opts o = { .key = VP_KEY_EC_P256, .actor = "test" };
	vp_error e;
	(void)state;

	F.dir_a = vp_test_mkdtemp();
	F.dir_b = vp_test_mkdtemp();
	F.sa = vp_test_store_open(F.dir_a);
	F.sb = vp_test_store_open(F.dir_b);
	o.cn = "Site A CA";
	if (vp_ca_init(F.sa, F.dir_a, &o, PASS, &e) != VP_OK || vp_ca_load(F.sa, PASS, &F.ca, &e))
		return -1;
	o.cn = "Site B CA";
	if (vp_ca_init(F.sb, F.dir_b, &o, PASS, &e) != VP_OK || vp_ca_load(F.sb, PASS, &F.cb, &e))
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	vp_ca_free(F.ca);
	vp_ca_free(F.cb);
	vp_store_close(F.sa);
	vp_store_close(F.sb);
	vp_test_rmdir(F.dir_a);
	vp_test_rmdir(F.dir_b);
	return 0;
}

typedef struct idlist {
	char id[64][72];
	size_t n;
} idlist;

static int
collect_id(const vp_store_component *c, void *arg)
{
	idlist *l = arg;

	if (l->n < 64)
		snprintf(l->id[l->n++], sizeof(l->id[0]), "%s", c->id);
	return 0;
}

static int
setup(void **state)
{
	(void)state;
	F.data = vp_test_mkdtemp();
	return 0;
}

static int
teardown(void **state)
{
	vp_error e;
	(void)state;

	/* The component rows go with the test. */
	for (int i = 0; i < 2; i++) {
		vp_store *s = i == 0 ? F.sa : F.sb;
		idlist l = { .n = 0 };

		vp_store_component_list(s, collect_id, &l, &e);
		for (size_t k = 0; k < l.n; k++)
			vp_store_component_delete(s, l.id[k], &e);
	}
	vp_store_kv_delete(F.sa, VP_COMPONENT_RENEW_KEY, &e);
	vp_test_rmdir(F.data);
	F.data = NULL;
	return 0;
}

/* ---- helpers ---- */

static char *
cfile(const char *id, vp_component_kind k, int key)
{
	char *p = vp_component_file(F.data, id, k, key);

	assert_non_null(p);
	return p;
}

static X509 *
read_cert_file(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x;

	assert_non_null(f);
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(x);
	return x;
}

static X509 *
read_cert(const char *id, vp_component_kind k)
{
	char *p = cfile(id, k, 0);
	X509 *x = read_cert_file(p);

	free(p);
	return x;
}

static EVP_PKEY *
read_key(const char *id, vp_component_kind k)
{
	char *p = cfile(id, k, 1);
	FILE *f = fopen(p, "r");
	EVP_PKEY *key;

	assert_non_null(f);
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	free(p);
	assert_non_null(key);
	return key;
}

static int
pair_matches(const char *id, vp_component_kind k)
{
	X509 *x = read_cert(id, k);
	EVP_PKEY *key = read_key(id, k);
	int ok = X509_check_private_key(x, key) == 1;

	EVP_PKEY_free(key);
	X509_free(x);
	return ok;
}

static void
serial_of(const char *id, vp_component_kind k, char *buf, size_t n)
{
	X509 *x = read_cert(id, k);
	ASN1_INTEGER *s = X509_get_serialNumber(x);
	BIGNUM *bn = ASN1_INTEGER_to_BN(s, NULL);
	char *hex = BN_bn2hex(bn);

	for (char *p = hex; *p; p++)
		*p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
	snprintf(buf, n, "%s", hex[0] == '0' && hex[1] != '\0' ? hex + 1 : hex);
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static char *
read_text(const char *path)
{
	unsigned char *buf = NULL;
	size_t len = 0;
	vp_error e;

	assert_int_equal(vp_file_read(path, VP_FILE_MAX, &buf, &len, &e), VP_OK);
	return (char *)buf;
}

static int
exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void
write_conf(const char *text)
{
	char *p = vp_path_join(F.data, "components.json");

	write_text(p, text);
	free(p);
}

static vp_component_outcome *
renew(vp_store *s, vp_ca *ca, const char *id, int force, size_t *n)
{
	vp_component_outcome *oc = NULL;
	vp_error e;
	const char *ids[1] = { id };

	if (vp_component_renew(s, ca, F.data, ids, id != NULL, force, "test", NULL, NULL, &oc, n,
	    &e) != VP_OK)
		fail_msg("renew: %s", e.msg);
	return oc;
}

/* Writes a key/certificate pair for id/k: cert signed by issuer (key ikey), valid from now to
 * now + na_days, with key. */
static void
plant_pair(const char *id, vp_component_kind k, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey,
    int na_days)
{
	X509 *x = vp_test_cert(key, id, issuer, ikey, 0, NULL, -1, na_days);
	char *cp = cfile(id, k, 0), *kp = cfile(id, k, 1);
	FILE *f;

	assert_non_null(f = fopen(cp, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	assert_non_null(f = fopen(kp, "w"));
	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	free(cp);
	free(kp);
	X509_free(x);
}

/* ---- ids ---- */

static void
component_ids_follow_the_rule(void **state)
{
	static const char *const good[] = { "a", "nats", "rec-1.x_y", "0abc", "a.", "a-" };
	static const char *const bad[] = { "", "../x", "/", "a/b", "A", "a b", ".x", "-x", "x\n",
	    "caf\xc3\xa9", "a\tb", "a:b", "a\\b" };
	char long_ok[65], too_long[66];
	vp_component_info info;
	vp_error e;
	size_t i;
	(void)state;

	memset(long_ok, 'a', 64);
	long_ok[64] = '\0';
	memset(too_long, 'a', 65);
	too_long[65] = '\0';
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(vp_component_id_check(good[i], &e), VP_OK);
	assert_int_equal(vp_component_id_check(long_ok, &e), VP_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vp_component_id_check(bad[i], &e), VP_ERR_INVALID);
		assert_non_null(strstr(e.msg, "1 to 64 characters of a-z, 0-9"));
		assert_null(strchr(e.msg, '\n'));
		/* refused by every command before anything is written */
		assert_int_equal(vp_component_add(F.sa, F.ca, F.data, bad[i], 1, 1, "test", &info,
		    &e), VP_ERR_INVALID);
	}
	assert_int_equal(vp_component_id_check(too_long, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "65 characters long"));
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, too_long, 1, 1, "test", &info, &e),
	    VP_ERR_INVALID);
	assert_int_equal(vp_component_remove(F.sa, F.data, "../x", "test", &e), VP_ERR_INVALID);
	{
		char *out = NULL;
		size_t len;

		assert_int_equal(vp_component_nats_config(F.sa, F.data, "a/b", &out, &len, &e),
		    VP_ERR_INVALID);
		assert_null(out);
	}
	{
		const char *ids[1] = { ".." };
		vp_component_outcome *oc = NULL;
		size_t n;

		assert_int_equal(vp_component_renew(F.sa, F.ca, F.data, ids, 1, 1, "test", NULL, NULL,
		    &oc, &n, &e), VP_ERR_INVALID);
		assert_null(oc);
	}
	/* nothing was written: not even the components directory */
	{
		char *p = vp_path_join(F.data, "components");

		assert_false(exists(p));
		free(p);
	}
}

/* ---- files ---- */

static void
add_writes_both_pairs_with_their_modes_and_records_them(void **state)
{
	vp_component_info info;
	vp_store_component row;
	vp_cert_filter f = { .owner_kind = "component", .owner_id = "nats" };
	struct stat sb;
	int64_t count = 0, before[3];
	vp_error e;
	char *p;
	int k;
	(void)state;

	assert_int_equal(vp_store_cert_count(F.sa, &f, &before[0], &e), VP_OK);
	f.profile = "component-server";
	assert_int_equal(vp_store_cert_count(F.sa, &f, &before[1], &e), VP_OK);
	f.profile = "component-client";
	assert_int_equal(vp_store_cert_count(F.sa, &f, &before[2], &e), VP_OK);
	f.profile = NULL;
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "nats", 0, 0, "test", &info, &e),
	    VP_OK);
	assert_string_equal(info.id, "nats");
	assert_true(info.cert[0].wanted && info.cert[1].wanted);
	assert_string_equal(info.cert[0].status, "OK");
	assert_string_equal(info.cert[1].status, "OK");
	assert_int_equal(vp_store_component_get(F.sa, "nats", &row, &e), VP_OK);
	assert_true(row.server && row.client && row.created_at > 0);

	p = vp_path_join(F.data, "components/certificates");
	assert_int_equal(stat(p, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	free(p);
	for (k = 0; k < 2; k++) {
		X509 *leaf, *second;
		EVP_PKEY *key;
		char *text;
		FILE *fp;

		p = cfile("nats", (vp_component_kind)k, 1);
		assert_int_equal(stat(p, &sb), 0);
		assert_int_equal(sb.st_mode & 0777, 0600);
		text = read_text(p);
		/* unencrypted PKCS#8: nats-server reads it without a passphrase */
		assert_non_null(strstr(text, "-----BEGIN PRIVATE KEY-----"));
		free(text);
		free(p);
		key = read_key("nats", (vp_component_kind)k);
		assert_true(EVP_PKEY_is_a(key, "RSA"));
		assert_int_equal(EVP_PKEY_get_bits(key), 2048);
		EVP_PKEY_free(key);
		assert_true(pair_matches("nats", (vp_component_kind)k));

		/* the certificate, then the CA */
		p = cfile("nats", (vp_component_kind)k, 0);
		assert_non_null(fp = fopen(p, "r"));
		leaf = PEM_read_X509(fp, NULL, NULL, NULL);
		second = PEM_read_X509(fp, NULL, NULL, NULL);
		fclose(fp);
		free(p);
		assert_non_null(leaf);
		assert_non_null(second);
		assert_int_equal(X509_cmp(second, vp_ca_cert(F.ca)), 0);
		assert_int_equal(X509_check_issued(vp_ca_cert(F.ca), leaf), X509_V_OK);
		assert_string_equal(info.cert[k].status, "OK");
		X509_free(leaf);
		X509_free(second);
	}
	/* both recorded as the component's */
	assert_int_equal(vp_store_cert_count(F.sa, &f, &count, &e), VP_OK);
	assert_int_equal(count, before[0] + 2);
	f.profile = "component-server";
	assert_int_equal(vp_store_cert_count(F.sa, &f, &count, &e), VP_OK);
	assert_int_equal(count, before[1] + 1);
	f.profile = "component-client";
	assert_int_equal(vp_store_cert_count(F.sa, &f, &count, &e), VP_OK);
	assert_int_equal(count, before[2] + 1);
}

static void
add_refuses_what_exists_and_adds_a_missing_kind(void **state)
{
	vp_component_info info;
	vp_store_component row;
	char before[64], after[64];
	char *sp;
	vp_error e;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "rec1", 0, 1, "test", &info, &e),
	    VP_OK);
	assert_false(info.cert[VP_COMPONENT_SERVER].wanted);
	sp = cfile("rec1", VP_COMPONENT_SERVER, 0);
	assert_false(exists(sp));
	serial_of("rec1", VP_COMPONENT_CLIENT, before, sizeof(before));
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "rec1", 0, 1, "test", &info, &e),
	    VP_ERR_EXISTS);
	assert_non_null(strstr(e.msg, "exists already"));
	/* adding the server kind keeps the client certificate */
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "rec1", 0, 0, "test", &info, &e),
	    VP_OK);
	assert_true(exists(sp));
	serial_of("rec1", VP_COMPONENT_CLIENT, after, sizeof(after));
	assert_string_equal(before, after);
	assert_int_equal(vp_store_component_get(F.sa, "rec1", &row, &e), VP_OK);
	assert_true(row.server && row.client);
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "rec1", 1, 0, "test", &info, &e),
	    VP_ERR_EXISTS);
	/* a CA loaded without its key cannot issue */
	{
		vp_ca *pub = NULL;

		assert_int_equal(vp_ca_load(F.sa, NULL, &pub, &e), VP_OK);
		assert_int_equal(vp_component_add(F.sa, pub, F.data, "other", 1, 0, "test", &info,
		    &e), VP_ERR_PASSPHRASE);
		assert_int_equal(vp_store_component_get(F.sa, "other", &row, &e), VP_ERR_NOTFOUND);
		vp_ca_free(pub);
	}
	free(sp);
}

/* ---- names and key usages ---- */

static int
has_eku(X509 *x, int nid)
{
	EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, NULL, NULL);
	int found = 0;

	for (int i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
		found |= OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) == nid;
	EXTENDED_KEY_USAGE_free(eku);
	return found;
}

static void
certificates_carry_the_names_and_usages_of_their_kind(void **state)
{
	vp_component_info info;
	vp_netif *host = NULL;
	X509 *srv, *cli;
	char cn[128];
	vp_error e;
	size_t i;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "broker-1", 0, 0, "test", &info,
	    &e), VP_OK);
	srv = read_cert("broker-1", VP_COMPONENT_SERVER);
	cli = read_cert("broker-1", VP_COMPONENT_CLIENT);

	X509_NAME_get_text_by_NID(X509_get_subject_name(srv), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "broker-1");
	X509_NAME_get_text_by_NID(X509_get_subject_name(cli), NID_commonName, cn, sizeof(cn));
	assert_string_equal(cn, "broker-1");

	/* server: the host's names and every address, serverAuth only */
	assert_int_equal(vp_netif_collect(&host, &e), VP_OK);
	assert_int_equal(X509_check_host(srv, "localhost", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
	    NULL), 1);
	assert_int_equal(X509_check_host(srv, host->hostname, 0,
	    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 1);
	assert_int_equal(X509_check_ip_asc(srv, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(srv, "::1", 0), 1);
	for (i = 0; i < host->nip; i++)
		assert_int_equal(X509_check_ip_asc(srv, host->ip[i], 0), 1);
	for (i = 0; i < host->ndns; i++)
		assert_int_equal(X509_check_host(srv, host->dns[i], 0,
		    X509_CHECK_FLAG_NEVER_CHECK_SUBJECT, NULL), 1);
	assert_true(has_eku(srv, NID_server_auth));
	assert_false(has_eku(srv, NID_client_auth));
	assert_int_equal(X509_check_email(srv, "broker-1.component@natsbroker.localhost", 0, 0),
	    0);

	/* client: the broker email, clientAuth only, no host names */
	assert_int_equal(X509_check_email(cli, "broker-1.component@natsbroker.localhost", 0, 0), 1);
	assert_true(has_eku(cli, NID_client_auth));
	assert_false(has_eku(cli, NID_server_auth));
	assert_int_equal(X509_check_host(cli, "localhost", 0, X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
	    NULL), 0);

	/* 10 years, clamped to the CA (itself 10 years old at most) */
	assert_true(ASN1_TIME_compare(X509_get0_notAfter(srv), X509_get0_notAfter(vp_ca_cert(F.ca)))
	    <= 0);
	{
		time_t in9y = time(NULL) + (time_t)9 * 365 * 86400;

		assert_true(X509_cmp_time(X509_get0_notAfter(cli), &in9y) > 0);
	}
	vp_netif_free(host);
	X509_free(srv);
	X509_free(cli);
}

/* ---- renewal ---- */

static void
renewal_happens_only_when_due_or_forced(void **state)
{
	vp_component_outcome *oc;
	vp_component_info info;
	char s0[64], s1[64], t[64];
	size_t n;
	vp_error e;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "nats", 0, 0, "test", &info, &e),
	    VP_OK);
	serial_of("nats", VP_COMPONENT_SERVER, s0, sizeof(s0));
	serial_of("nats", VP_COMPONENT_CLIENT, s1, sizeof(s1));

	/* nothing due: nothing changes, and the CA key is not needed */
	{
		vp_ca *pub = NULL;

		assert_int_equal(vp_ca_load(F.sa, NULL, &pub, &e), VP_OK);
		oc = renew(F.sa, pub, NULL, 0, &n);
		assert_int_equal(n, 1);
		assert_false(oc[0].renewed[0] || oc[0].renewed[1]);
		assert_string_equal(oc[0].serial[0], s0);
		free(oc);
		/* forced: the key is needed */
		{
			const char *ids[1] = { "nats" };

			assert_int_equal(vp_component_renew(F.sa, pub, F.data, ids, 1, 1, "test", NULL,
			    NULL, &oc, &n, &e), VP_ERR_PASSPHRASE);
			assert_non_null(strstr(e.msg, "CA key is locked"));
		}
		vp_ca_free(pub);
	}
	serial_of("nats", VP_COMPONENT_SERVER, t, sizeof(t));
	assert_string_equal(t, s0);

	oc = renew(F.sa, F.ca, "nats", 1, &n);
	assert_true(oc[0].renewed[0] && oc[0].renewed[1]);
	assert_string_equal(oc[0].reason[0], "forced");
	assert_string_not_equal(oc[0].serial[0], s0);
	assert_string_not_equal(oc[0].serial[1], s1);
	serial_of("nats", VP_COMPONENT_SERVER, t, sizeof(t));
	assert_string_equal(t, oc[0].serial[0]);
	assert_true(pair_matches("nats", VP_COMPONENT_SERVER));
	assert_true(pair_matches("nats", VP_COMPONENT_CLIENT));
	free(oc);

	/* an unknown id: nothing is done */
	{
		const char *ids[2] = { "nats", "ghost" };

		assert_int_equal(vp_component_renew(F.sa, F.ca, F.data, ids, 2, 1, "test", NULL, NULL,
		    &oc, &n, &e), VP_ERR_NOTFOUND);
		assert_non_null(strstr(e.msg, "ghost"));
		serial_of("nats", VP_COMPONENT_SERVER, s0, sizeof(s0));
		assert_string_equal(s0, t);
	}
}

static void
renewal_replaces_missing_and_mismatched_pairs(void **state)
{
	vp_component_outcome *oc;
	vp_component_info info;
	char *p, *q, *text;
	size_t n;
	vp_error e;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "nats", 0, 0, "test", &info, &e),
	    VP_OK);
	/* the client key is gone; the server key is the client's */
	p = cfile("nats", VP_COMPONENT_CLIENT, 1);
	q = cfile("nats", VP_COMPONENT_SERVER, 1);
	text = read_text(p);
	write_text(q, text);
	free(text);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(vp_component_get(F.sa, F.ca, F.data, "nats", &info, &e), VP_OK);
	assert_string_equal(info.cert[VP_COMPONENT_CLIENT].status, "Missing");
	assert_string_equal(info.cert[VP_COMPONENT_SERVER].status, "Missing");
	assert_string_equal(info.cert[VP_COMPONENT_SERVER].reason,
	    "the key does not match the certificate");

	oc = renew(F.sa, F.ca, NULL, 0, &n);
	assert_int_equal(n, 1);
	assert_true(oc[0].renewed[0] && oc[0].renewed[1]);
	assert_string_equal(oc[0].reason[VP_COMPONENT_CLIENT], "the key is missing");
	assert_string_equal(oc[0].reason[VP_COMPONENT_SERVER],
	    "the key does not match the certificate");
	assert_true(pair_matches("nats", VP_COMPONENT_SERVER));
	assert_true(pair_matches("nats", VP_COMPONENT_CLIENT));
	free(oc);

	/* a missing certificate too */
	p[strlen(p) - strlen("key.pem")] = '\0';
	strcat(p, "cert.pem");
	assert_int_equal(unlink(p), 0);
	oc = renew(F.sa, F.ca, "nats", 0, &n);
	assert_false(oc[0].renewed[VP_COMPONENT_SERVER]);
	assert_true(oc[0].renewed[VP_COMPONENT_CLIENT]);
	assert_string_equal(oc[0].reason[VP_COMPONENT_CLIENT], "the certificate is missing");
	free(oc);
	free(p);
	free(q);
}

static void
renewal_window_follows_the_setting(void **state)
{
	vp_component_outcome *oc;
	vp_component_info info;
	size_t n;
	int days;
	vp_error e;
	(void)state;

	assert_int_equal(vp_component_renew_days(F.sa, &days, &e), VP_OK);
	assert_int_equal(days, 37);
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "rec1", 0, 1, "test", &info, &e),
	    VP_OK);
	/* a window longer than the certificate's life: it shows as about to expire, but it
	 * ends with the CA, so a renewal would not extend it: not renewed (no re-key loop) */
	assert_int_equal(vp_store_kv_put(F.sa, VP_COMPONENT_RENEW_KEY, "3700", 4, &e), VP_OK);
	assert_int_equal(vp_component_get(F.sa, F.ca, F.data, "rec1", &info, &e), VP_OK);
	assert_string_equal(info.cert[VP_COMPONENT_CLIENT].status, "Certificate about to expire");
	oc = renew(F.sa, F.ca, "rec1", 0, &n);
	assert_false(oc[0].renewed[VP_COMPONENT_CLIENT]);
	free(oc);
	/* the site setting (what `settings set` takes) comes before the bare store key */
	assert_int_equal(vp_setting_set(F.sa, VP_COMPONENT_RENEW_SETTING, "45", "test", &e), VP_OK);
	assert_int_equal(vp_component_renew_days(F.sa, &days, &e), VP_OK);
	assert_int_equal(days, 45);
	assert_int_equal(vp_setting_set(F.sa, VP_COMPONENT_RENEW_SETTING, NULL, "test", &e), VP_OK);
	/* a bad setting is refused, saying which */
	assert_int_equal(vp_store_kv_put(F.sa, VP_COMPONENT_RENEW_KEY, "soon", 4, &e), VP_OK);
	assert_int_equal(vp_component_renew_days(F.sa, &days, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, VP_COMPONENT_RENEW_KEY));
	assert_int_equal(vp_store_kv_put(F.sa, VP_COMPONENT_RENEW_KEY, "0", 1, &e), VP_OK);
	assert_int_equal(vp_component_renew_days(F.sa, &days, &e), VP_ERR_INVALID);
	assert_int_equal(vp_store_kv_put(F.sa, VP_COMPONENT_RENEW_KEY, "30", 2, &e), VP_OK);
	assert_int_equal(vp_component_renew_days(F.sa, &days, &e), VP_OK);
	assert_int_equal(days, 30);
}

static void
status_tells_expired_expiring_and_renews_them(void **state)
{
	vp_component_outcome *oc;
	vp_component_info info;
	EVP_PKEY *k = vp_test_key("rsa2048");
	size_t n;
	vp_error e;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "cam-svc", 0, 0, "test", &info, &e),
	    VP_OK);
	/* certificates from the CA: one expired yesterday, one ends in 10 days */
	plant_pair("cam-svc", VP_COMPONENT_CLIENT, k, vp_ca_cert(F.ca), vp_ca_key(F.ca), -1);
	plant_pair("cam-svc", VP_COMPONENT_SERVER, k, vp_ca_cert(F.ca), vp_ca_key(F.ca), 10);
	assert_int_equal(vp_component_get(F.sa, F.ca, F.data, "cam-svc", &info, &e), VP_OK);
	assert_string_equal(info.cert[VP_COMPONENT_CLIENT].status, "Certificate has expired");
	assert_string_equal(info.cert[VP_COMPONENT_CLIENT].reason, "expired");
	assert_string_equal(info.cert[VP_COMPONENT_SERVER].status, "Certificate about to expire");
	assert_string_equal(info.cert[VP_COMPONENT_SERVER].reason, "expires within 37 days");
	oc = renew(F.sa, F.ca, NULL, 0, &n);
	assert_true(oc[0].renewed[0] && oc[0].renewed[1]);
	free(oc);
	assert_int_equal(vp_component_get(F.sa, F.ca, F.data, "cam-svc", &info, &e), VP_OK);
	assert_string_equal(info.cert[VP_COMPONENT_CLIENT].status, "OK");
	assert_string_equal(info.cert[VP_COMPONENT_SERVER].status, "OK");
	EVP_PKEY_free(k);
}

static void
server_certificate_lacking_an_address_is_renewed(void **state)
{
	vp_component_outcome *oc;
	vp_component_info info;
	vp_issued *c = NULL;
	const char *dns[1] = { "localhost" };
	vp_issue_req req = { .profile = "component-server", .generate_key = 1, .cn = "nats",
	    .dns = dns, .ndns = 1 };
	char *cpem, *kpem, *cp, *kp;
	size_t cl, kl, n;
	vp_error e;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "nats", 1, 0, "test", &info, &e),
	    VP_OK);
	assert_int_equal(vp_issue_sign(F.ca, &req, &c, &e), VP_OK);
	assert_int_equal(vp_x509_to_pem(c->cert, &cpem, &cl, &e), VP_OK);
	assert_int_equal(vp_key_to_pem(c->key, &kpem, &kl, &e), VP_OK);
	cp = cfile("nats", VP_COMPONENT_SERVER, 0);
	kp = cfile("nats", VP_COMPONENT_SERVER, 1);
	write_text(cp, cpem);
	write_text(kp, kpem);
	assert_int_equal(vp_component_get(F.sa, F.ca, F.data, "nats", &info, &e), VP_OK);
	assert_string_equal(info.cert[VP_COMPONENT_SERVER].status, "OK");
	assert_string_equal(info.cert[VP_COMPONENT_SERVER].reason,
	    "does not name every current name and address of the host");
	oc = renew(F.sa, F.ca, "nats", 0, &n);
	assert_true(oc[0].renewed[VP_COMPONENT_SERVER]);
	assert_false(oc[0].wanted[VP_COMPONENT_CLIENT]);
	free(oc);
	assert_int_equal(vp_component_get(F.sa, F.ca, F.data, "nats", &info, &e), VP_OK);
	assert_string_equal(info.cert[VP_COMPONENT_SERVER].reason, "");
	free(cpem);
	free(kpem);
	free(cp);
	free(kp);
	vp_issued_free(c);
}

static void
certificates_of_another_ca_are_renewed(void **state)
{
	vp_component_outcome *oc;
	vp_component_info info;
	X509 *x;
	size_t n;
	vp_error e;
	(void)state;

	/* CA A makes the pair; CA B, another store pointed at the same directory, replaces it */
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "nats", 0, 0, "test", &info, &e),
	    VP_OK);
	assert_int_equal(vp_component_add(F.sb, F.cb, F.data, "nats", 0, 0, "test", &info, &e),
	    VP_OK);
	assert_string_equal(info.cert[VP_COMPONENT_SERVER].status, "OK");
	x = read_cert("nats", VP_COMPONENT_SERVER);
	assert_int_equal(X509_check_issued(vp_ca_cert(F.cb), x), X509_V_OK);
	X509_free(x);

	/* as A sees them */
	assert_int_equal(vp_component_get(F.sa, F.ca, F.data, "nats", &info, &e), VP_OK);
	assert_string_equal(info.cert[VP_COMPONENT_SERVER].status, "Issued by another CA");
	assert_string_equal(info.cert[VP_COMPONENT_CLIENT].status, "Issued by another CA");
	oc = renew(F.sa, F.ca, NULL, 0, &n);
	assert_int_equal(n, 1);
	assert_true(oc[0].renewed[0] && oc[0].renewed[1]);
	assert_string_equal(oc[0].reason[0], "issued by another CA");
	assert_string_equal(oc[0].reason[1], "issued by another CA");
	free(oc);
	x = read_cert("nats", VP_COMPONENT_CLIENT);
	assert_int_equal(X509_check_issued(vp_ca_cert(F.ca), x), X509_V_OK);
	X509_free(x);

	/* and now B sees A's */
	assert_int_equal(vp_component_get(F.sb, F.cb, F.data, "nats", &info, &e), VP_OK);
	assert_string_equal(info.cert[VP_COMPONENT_CLIENT].status, "Issued by another CA");
	oc = renew(F.sa, F.ca, NULL, 0, &n);
	assert_false(oc[0].renewed[0] || oc[0].renewed[1]);
	free(oc);
}

/* ---- recovery ---- */

static void
copy_file(const char *from, const char *to)
{
	char *text = read_text(from);

	write_text(to, text);
	free(text);
}

static char *
suffixed(const char *p, const char *s)
{
	char *r = malloc(strlen(p) + strlen(s) + 1);

	assert_non_null(r);
	strcpy(r, p);
	strcat(r, s);
	return r;
}

static void
recovery_finishes_or_undoes_every_half_replaced_pair(void **state)
{
	vp_component_info info;
	char *ck, *cc, *ok, *oc_, *ckn, *ccn, *tmp, *junk, *dir;
	char old[64], other[64], now[64];
	vp_error e;
	int step;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "nats", 0, 1, "test", &info, &e),
	    VP_OK);
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "spare", 0, 1, "test", &info, &e),
	    VP_OK);
	ck = cfile("nats", VP_COMPONENT_CLIENT, 1);
	cc = cfile("nats", VP_COMPONENT_CLIENT, 0);
	ok = cfile("spare", VP_COMPONENT_CLIENT, 1);   /* another valid pair: the "new" one */
	oc_ = cfile("spare", VP_COMPONENT_CLIENT, 0);
	ckn = suffixed(ck, ".new");
	ccn = suffixed(cc, ".new");
	serial_of("spare", VP_COMPONENT_CLIENT, other, sizeof(other));

	/* Each state a kill can leave, in the order a replacement passes through them. */
	for (step = 0; step < 4; step++) {
		serial_of("nats", VP_COMPONENT_CLIENT, old, sizeof(old));
		switch (step) {
		case 0:   /* killed while writing key.new: only its temporary file */
			tmp = suffixed(ckn, ".tmp.Ab12Cd");
			copy_file(ok, tmp);
			free(tmp);
			break;
		case 1:   /* key.new written, cert.new not */
			copy_file(ok, ckn);
			break;
		case 2:   /* both written, nothing renamed */
			copy_file(ok, ckn);
			copy_file(oc_, ccn);
			break;
		case 3:   /* key renamed, certificate not */
			copy_file(ok, ck);
			copy_file(oc_, ccn);
			assert_false(pair_matches("nats", VP_COMPONENT_CLIENT));
			break;
		}
		assert_int_equal(vp_component_recover(F.data, NULL, NULL, &e), VP_OK);
		assert_false(exists(ckn));
		assert_false(exists(ccn));
		assert_true(pair_matches("nats", VP_COMPONENT_CLIENT));
		serial_of("nats", VP_COMPONENT_CLIENT, now, sizeof(now));
		/* undone before cert.new exists, finished after */
		assert_string_equal(now, step < 2 ? old : other);
		/* back to a pair of its own for the next step */
		if (step >= 2) {
			vp_component_outcome *o;
			size_t n;

			o = renew(F.sa, F.ca, "nats", 1, &n);
			free(o);
		}
	}
	/* other files are left alone, and every command recovers first */
	dir = vp_component_dir(F.data);
	junk = vp_path_join(dir, "notes.txt");
	write_text(junk, "keep me");
	tmp = vp_path_join(dir, "UPPER.client.key.pem.new");
	write_text(tmp, "not ours");
	copy_file(ok, ckn);
	assert_int_equal(vp_component_get(F.sa, F.ca, F.data, "nats", &info, &e), VP_OK);
	assert_false(exists(ckn));
	assert_true(exists(junk));
	assert_true(exists(tmp));
	assert_string_equal(info.cert[VP_COMPONENT_CLIENT].status, "OK");
	free(junk);
	free(tmp);
	free(dir);
	free(ck);
	free(cc);
	free(ok);
	free(oc_);
	free(ckn);
	free(ccn);
}

/* ---- nats-server configuration ---- */

static void
nats_config_maps_client_certificates_with_escaped_permissions(void **state)
{
	vp_component_info info;
	char *out = NULL, *abs, expect[4096];
	size_t len;
	vp_error e;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "broker", 0, 0, "test", &info, &e),
	    VP_OK);
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "rec1", 0, 1, "test", &info, &e),
	    VP_OK);
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "web", 1, 0, "test", &info, &e),
	    VP_OK);
	write_conf("{\"components\": {\"rec1\": {\"publish\": [\"events.>\", \"we\\\"ird\\\\x\"], "
	    "\"subscribe\": [\"cmd.*.rec1\"]}, \"ghost\": {\"publish\": [\"x\"]}}}");
	assert_int_equal(vp_component_nats_config(F.sa, F.data, "broker", &out, &len, &e), VP_OK);
	assert_int_equal(strlen(out), len);
	abs = realpath(F.data, NULL);
	snprintf(expect, sizeof(expect),
	    "# written by vmspki component nats-config broker\n"
	    "tls {\n"
	    "  cert_file: \"%s/components/certificates/broker.server.cert.pem\"\n"
	    "  key_file: \"%s/components/certificates/broker.server.key.pem\"\n"
	    "  ca_file: \"%s/certs/ca.cert.pem\"\n"
	    "  verify_and_map: true\n"
	    "}\n"
	    "authorization {\n"
	    "  users = [\n"
	    "    { user: \"broker.component@natsbroker.localhost\", permissions: { publish: "
	    "{ deny: [\">\"] }, subscribe: { deny: [\">\"] } } }\n"
	    "    { user: \"rec1.component@natsbroker.localhost\", permissions: { publish: "
	    "{ allow: [\"events.>\", \"we\\\"ird\\\\x\"] }, subscribe: { allow: [\"cmd.*.rec1\"] } } }\n"
	    "  ]\n"
	    "}\n", abs, abs, abs);
	assert_string_equal(out, expect);
	free(out);
	free(abs);

	/* the broker needs a server certificate; an unknown one is not found */
	assert_int_equal(vp_component_nats_config(F.sa, F.data, "rec1", &out, &len, &e),
	    VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "no server certificate"));
	assert_int_equal(vp_component_nats_config(F.sa, F.data, "ghost", &out, &len, &e),
	    VP_ERR_NOTFOUND);

	/* removed: no longer mapped */
	assert_int_equal(vp_component_remove(F.sa, F.data, "rec1", "test", &e), VP_OK);
	assert_int_equal(vp_component_nats_config(F.sa, F.data, "broker", &out, &len, &e), VP_OK);
	assert_null(strstr(out, "rec1"));
	free(out);
}

static void
nats_config_escapes_the_data_directory_path(void **state)
{
	vp_component_info info;
	char *quoted, *out = NULL, *bad;
	size_t len;
	vp_error e;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "broker", 1, 0, "test", &info, &e),
	    VP_OK);
	quoted = vp_path_join(F.data, "we \"ird\\ dir");
	assert_int_equal(mkdir(quoted, 0700), 0);
	assert_int_equal(vp_component_nats_config(F.sa, quoted, "broker", &out, &len, &e), VP_OK);
	assert_non_null(strstr(out, "/we \\\"ird\\\\ dir/certs/ca.cert.pem\"\n"));
	free(out);
	bad = vp_path_join(F.data, "bad\001dir");
	assert_int_equal(mkdir(bad, 0700), 0);
	assert_int_equal(vp_component_nats_config(F.sa, bad, "broker", &out, &len, &e),
	    VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "control characters"));
	assert_null(out);
	free(bad);
	free(quoted);
}

/* ---- components.json ---- */

static void
subjects_are_checked(void **state)
{
	static const char *const good[] = { "a", "events.>", "cmd.*.x", "*", ">", "a.b-c_d",
	    "we\"ird\\x", "x.*" };
	static const char *const bad[] = { "", "a b", "a..b", ".a", "a.", ">.a", "a*", "a>",
	    "a.>b", "a\tb", "caf\xc3\xa9", "a\nb" };
	char long_one[300];
	size_t i;
	(void)state;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(vp_nats_subject_ok(good[i]));
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(vp_nats_subject_ok(bad[i]));
	memset(long_one, 'a', sizeof(long_one) - 1);
	long_one[sizeof(long_one) - 1] = '\0';
	assert_false(vp_nats_subject_ok(long_one));
}

static void
components_json_is_checked_and_unknown_keys_refused(void **state)
{
	static const struct { const char *json, *needle; } bad[] = {
		{ "{\"component\": {}}", "unknown key \"component\"" },
		{ "{\"components\": {\"a\": {\"publish\": [], \"subscribes\": []}}}",
		  "unknown key \"subscribes\" in component a" },
		{ "{\"components\": {\"A\": {}}}", "component id \"A\"" },
		{ "{\"components\": {\"../x\": {}}}", "component id" },
		{ "{\"components\": {\"a\": {\"publish\": \"x\"}}}", "must be a list" },
		{ "{\"components\": {\"a\": {\"publish\": [1]}}}", "entry 1 is not a string" },
		{ "{\"components\": {\"a\": {\"subscribe\": [\"a b\"]}}}", "\"a b\" is not a NATS" },
		{ "{\"components\": {\"a\": {\"reload\": 3}}}", "\"reload\" of component a" },
		{ "{\"components\": {\"a\": {\"reload\": \"\"}}}", "\"reload\" of component a" },
		{ "{\"components\": {\"a\": {}, \"a\": {}}}", "not valid JSON" },
		{ "{\"components\": [] }", "\"components\" must be an object" },
		{ "{\"components\": {\"a\": []}}", "component a must be an object" },
		{ "[]", "must hold a JSON object" },
		{ "{\"components\": {", "not valid JSON" },
		{ "{\"components\": {\"a\": {\"reload\": \"x\\u0000y\"}}}", "not valid JSON" },
	};
	vp_component_conf *c = NULL;
	const vp_component_conf_entry *ce;
	vp_component_outcome *oc = NULL;
	vp_component_info info;
	char serial[64], after[64];
	const char *ok = "{\"components\": {\"rec1\": {\"publish\": [\"a.>\", \"b\"], "
	    "\"subscribe\": [], \"reload\": \"true\"}, \"web\": {}}}";
	size_t i, n;
	vp_error e;
	(void)state;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vp_component_conf_parse(bad[i].json, strlen(bad[i].json), "test.json",
		    &c, &e), VP_ERR_INVALID);
		assert_null(c);
		if (strstr(e.msg, bad[i].needle) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, e.msg, bad[i].needle);
		assert_non_null(strstr(e.msg, "test.json"));
	}
	assert_int_equal(vp_component_conf_parse(ok, strlen(ok), "test.json", &c, &e), VP_OK);
	assert_int_equal(c->n, 2);
	assert_non_null(ce = vp_component_conf_find(c, "rec1"));
	assert_int_equal(ce->npublish, 2);
	assert_string_equal(ce->publish[1], "b");
	assert_int_equal(ce->nsubscribe, 0);
	assert_string_equal(ce->reload, "true");
	assert_non_null(ce = vp_component_conf_find(c, "web"));
	assert_null(ce->reload);
	assert_null(vp_component_conf_find(c, "ghost"));
	vp_component_conf_free(c);

	/* no file: an empty configuration */
	assert_int_equal(vp_component_conf_load(F.data, &c, &e), VP_OK);
	assert_int_equal(c->n, 0);
	vp_component_conf_free(c);

	/* a bad file stops renewal before anything changes */
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "rec1", 0, 1, "test", &info, &e),
	    VP_OK);
	serial_of("rec1", VP_COMPONENT_CLIENT, serial, sizeof(serial));
	write_conf("{\"components\": {\"rec1\": {\"relaod\": \"true\"}}}");
	assert_int_equal(vp_component_renew(F.sa, F.ca, F.data, NULL, 0, 1, "test", NULL, NULL,
	    &oc, &n, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "components.json"));
	assert_non_null(strstr(e.msg, "relaod"));
	serial_of("rec1", VP_COMPONENT_CLIENT, after, sizeof(after));
	assert_string_equal(serial, after);
}

/* ---- reload commands ---- */

typedef struct lines {
	char text[4096];
} lines;

static void
collect(void *arg, const char *line)
{
	lines *l = arg;

	strncat(l->text, line, sizeof(l->text) - strlen(l->text) - 2);
	strcat(l->text, "\n");
}

static void
reload_commands_run_without_secrets_and_report_their_status(void **state)
{
	lines l = { "" };
	char result[200];
	int status;
	(void)state;

	setenv("VMSPKI_PASSPHRASE", "sekrit-passphrase", 1);
	setenv("VMSPKI_P12_PASSPHRASE", "sekrit-p12", 1);
	vp_component_run_reload("rec1", "echo id=$VMSPKI_COMPONENT pass=${VMSPKI_PASSPHRASE-unset} "
	    "p12=${VMSPKI_P12_PASSPHRASE-unset}; echo to-stderr >&2; read x; echo stdin=$?; exit 7",
	    10, collect, &l, &status, result, sizeof(result));
	unsetenv("VMSPKI_PASSPHRASE");
	unsetenv("VMSPKI_P12_PASSPHRASE");
	assert_int_equal(status, 7);
	assert_string_equal(result, "exited with status 7");
	assert_non_null(strstr(l.text, "component rec1: reload: id=rec1 pass=unset p12=unset\n"));
	assert_non_null(strstr(l.text, "component rec1: reload: to-stderr\n"));
	assert_non_null(strstr(l.text, "stdin=1"));   /* /dev/null: end of file */
	assert_null(strstr(l.text, "sekrit"));

	/* no descriptor of ours reaches it */
	l.text[0] = '\0';
	vp_component_run_reload("rec1", "ls /proc/self/fd | wc -l", 10, collect, &l, &status,
	    result, sizeof(result));
	assert_int_equal(status, 0);
	assert_non_null(strstr(l.text, "reload: 4\n"));   /* 0, 1, 2 and ls's own */

	/* killed by a signal, and after its time */
	vp_component_run_reload("rec1", "kill -9 $$", 10, NULL, NULL, &status, result,
	    sizeof(result));
	assert_int_equal(status, -1);
	assert_string_equal(result, "was killed by signal 9");
	vp_component_run_reload("rec1", "sleep 30", 1, NULL, NULL, &status, result,
	    sizeof(result));
	assert_int_equal(status, -1);
	assert_string_equal(result, "did not finish within 1 s and was killed");
	vp_component_run_reload("rec1", "/nonexistent/command", 10, NULL, NULL, &status, result,
	    sizeof(result));
	assert_int_equal(status, 127);
}

static void
renewal_runs_the_reload_command_of_renewed_components_only(void **state)
{
	vp_component_outcome *oc;
	vp_component_info info;
	char *marker = vp_path_join(F.data, "reloaded"), conf[1024];
	size_t n, i;
	vp_error e;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "a1", 0, 1, "test", &info, &e), VP_OK);
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "b1", 0, 1, "test", &info, &e), VP_OK);
	snprintf(conf, sizeof(conf), "{\"components\": {"
	    "\"a1\": {\"reload\": \"echo a1 >> '%s'; exit 3\"},"
	    "\"b1\": {\"reload\": \"echo b1 >> '%s'\"}}}", marker, marker);
	write_conf(conf);
	/* nothing due: nothing run */
	oc = renew(F.sa, F.ca, NULL, 0, &n);
	assert_int_equal(n, 2);
	assert_false(oc[0].reload_ran || oc[1].reload_ran);
	free(oc);
	assert_false(exists(marker));
	/* a1 forced: only its command runs; its failure is reported, not fatal */
	oc = renew(F.sa, F.ca, "a1", 1, &n);
	assert_int_equal(n, 1);
	assert_true(oc[0].reload_ran);
	assert_int_equal(oc[0].reload_status, 3);
	free(oc);
	{
		char *t = read_text(marker);

		assert_string_equal(t, "a1\n");
		free(t);
	}
	/* both forced: both run, each once */
	oc = renew(F.sa, F.ca, NULL, 1, &n);
	for (i = 0; i < n; i++)
		assert_true(oc[i].reload_ran);
	assert_int_equal(oc[1].reload_status, 0);
	free(oc);
	{
		char *t = read_text(marker);

		assert_string_equal(t, "a1\na1\nb1\n");
		free(t);
	}
	free(marker);
}

/* ---- removal ---- */

static void
remove_deletes_files_and_row_but_keeps_the_records(void **state)
{
	vp_component_info info;
	vp_store_component row;
	vp_cert_filter f = { .owner_kind = "component", .owner_id = "nats" };
	int64_t count = 0, before = 0;
	vp_error e;
	int k, key;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "nats", 0, 0, "test", &info, &e),
	    VP_OK);
	assert_int_equal(vp_store_cert_count(F.sa, &f, &before, &e), VP_OK);
	assert_true(before >= 2);
	assert_int_equal(vp_component_remove(F.sa, F.data, "nats", "test", &e), VP_OK);
	for (k = 0; k < 2; k++)
		for (key = 0; key < 2; key++) {
			char *p = cfile("nats", (vp_component_kind)k, key);

			assert_false(exists(p));
			free(p);
		}
	assert_int_equal(vp_store_component_get(F.sa, "nats", &row, &e), VP_ERR_NOTFOUND);
	assert_int_equal(vp_store_cert_count(F.sa, &f, &count, &e), VP_OK);
	assert_int_equal(count, before);
	assert_int_equal(vp_component_remove(F.sa, F.data, "nats", "test", &e), VP_ERR_NOTFOUND);
	assert_non_null(strstr(e.msg, "no component called nats"));
	/* it can be added again */
	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "nats", 0, 1, "test", &info, &e),
	    VP_OK);
}

/* ---- JSON ---- */

static void
json_of_a_component_and_an_outcome(void **state)
{
	vp_component_outcome *oc;
	vp_component_info info;
	json_t *o, *c0;
	size_t n;
	vp_error e;
	(void)state;

	assert_int_equal(vp_component_add(F.sa, F.ca, F.data, "rec1", 0, 1, "test", &info, &e),
	    VP_OK);
	assert_non_null(o = vp_json_component(&info, F.data));
	assert_string_equal(json_string_value(json_object_get(o, "id")), "rec1");
	assert_int_equal(json_array_size(json_object_get(o, "kinds")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(o, "kinds"), 0)),
	    "client");
	c0 = json_array_get(json_object_get(o, "certificates"), 0);
	assert_string_equal(json_string_value(json_object_get(c0, "status")), "OK");
	assert_string_equal(json_string_value(json_object_get(c0, "serial")), info.cert[1].serial);
	assert_true(json_is_null(json_object_get(c0, "renewal_due")));
	assert_non_null(strstr(json_string_value(json_object_get(c0, "key_file")),
	    "/components/certificates/rec1.client.key.pem"));
	json_decref(o);

	oc = renew(F.sa, F.ca, "rec1", 1, &n);
	assert_non_null(o = vp_json_component_outcome(&oc[0]));
	c0 = json_array_get(json_object_get(o, "certificates"), 0);
	assert_true(json_is_true(json_object_get(c0, "renewed")));
	assert_string_equal(json_string_value(json_object_get(c0, "reason")), "forced");
	assert_true(json_is_null(json_object_get(o, "reload")));
	json_decref(o);
	free(oc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(component_ids_follow_the_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(add_writes_both_pairs_with_their_modes_and_records_them,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(add_refuses_what_exists_and_adds_a_missing_kind, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(certificates_carry_the_names_and_usages_of_their_kind,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(renewal_happens_only_when_due_or_forced, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(renewal_replaces_missing_and_mismatched_pairs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(renewal_window_follows_the_setting, setup, teardown),
		cmocka_unit_test_setup_teardown(status_tells_expired_expiring_and_renews_them, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(server_certificate_lacking_an_address_is_renewed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(certificates_of_another_ca_are_renewed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(recovery_finishes_or_undoes_every_half_replaced_pair,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    nats_config_maps_client_certificates_with_escaped_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(nats_config_escapes_the_data_directory_path, setup,
		    teardown),
		cmocka_unit_test(subjects_are_checked),
		cmocka_unit_test_setup_teardown(components_json_is_checked_and_unknown_keys_refused,
		    setup, teardown),
		cmocka_unit_test(reload_commands_run_without_secrets_and_report_their_status),
		cmocka_unit_test_setup_teardown(
		    renewal_runs_the_reload_command_of_renewed_components_only, setup, teardown),
		cmocka_unit_test_setup_teardown(remove_deletes_files_and_row_but_keeps_the_records,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(json_of_a_component_and_an_outcome, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
