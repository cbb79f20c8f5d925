/* A device's persistent state in DIR/<address>/: state.json (certificates, CA certificates,
 * the web server's binding and policy; public data, 0644) and keys/<sha256(alias)>.pem (each
 * private key, 0600). Every file is replaced atomically; a key file is written before the
 * state that names it and removed after, so a crash never leaves a certificate without key. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>

#include "camsim.h"

static char *
dev_path(const cs_device *d, const char *name)
{
	size_t l = strlen(d->cs->state_dir) + strlen(d->address) + strlen(name) + 3;
	char *p = malloc(l);

	if (p != NULL)
		snprintf(p, l, "%s/%s/%s", d->cs->state_dir, d->address, name);
	return p;
}

static void
key_name(const char *alias, char out[80])
{
	unsigned char md[32];
	static const char hex[] = "0123456789abcdef";
	char *p = out;

	EVP_Digest(alias, strlen(alias), md, NULL, EVP_sha256(), NULL);
	p += snprintf(p, 8, "keys/");
	for (int i = 0; i < 16; i++) {
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 15];
	}
	snprintf(p, 8, ".pem");
}

static int
mkdirs(const cs_device *d)
{
	char *dir = dev_path(d, "keys");
	char *slash;
	int rc = 0;

	if (dir == NULL)
		return -1;
	slash = strrchr(dir, '/');
	*slash = '\0';
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		rc = -1;
	*slash = '/';
	if (rc == 0 && mkdir(dir, 0700) != 0 && errno != EEXIST)
		rc = -1;
	if (rc != 0)
		cs_logf("camsim: cannot make %s: %s", dir, strerror(errno));
	free(dir);
	return rc;
}

/* Writes the private key of alias (0600). */
int
cs_state_save_key(cs_device *d, const char *alias, EVP_PKEY *key)
{
	char name[80], *path = NULL, *data;
	BIO *b = NULL;
	long n;
	int rc = -1;

	key_name(alias, name);
	if (mkdirs(d) != 0 || (path = dev_path(d, name)) == NULL ||
	    (b = BIO_new(BIO_s_secmem())) == NULL ||
	    PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) != 1 ||
	    (n = BIO_get_mem_data(b, &data)) <= 0)
		goto out;
	rc = cs_write_atomic(path, data, (size_t)n, 0600);
out:
	ERR_clear_error();
	BIO_free(b);
	free(path);
	return rc;
}

void
cs_state_remove_key(cs_device *d, const char *alias)
{
	char name[80], *path;

	key_name(alias, name);
	if ((path = dev_path(d, name)) != NULL && unlink(path) != 0 && errno != ENOENT)
		cs_logf("camsim: cannot remove %s: %s", path, strerror(errno));
	free(path);
}

static char *
chain_pem(STACK_OF(X509) *chain)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (b == NULL)
		return NULL;
	for (int i = 0; i < sk_X509_num(chain); i++)
		if (PEM_write_bio_X509(b, sk_X509_value(chain, i)) != 1)
			goto out;
	if ((n = BIO_get_mem_data(b, &data)) >= 0 && (out = malloc((size_t)n + 1)) != NULL) {
		memcpy(out, data, (size_t)n);
		out[n] = '\0';
	}
out:
	BIO_free(b);
	return out;
}

int
cs_state_save(cs_device *d)
{
	json_t *st = json_object(), *certs = json_array(), *cas = json_array(), *bcas = json_array();
	char *text = NULL, *path = NULL;
	int rc = -1;

	if (st == NULL || certs == NULL || cas == NULL || bcas == NULL)
		goto out;
	for (size_t i = 0; i < d->ncerts; i++) {
		char *pem = cs_pki_cert_pem(d->certs[i].cert), *ch = NULL;
		json_t *o;

		if (pem == NULL)
			goto out;
		if (d->certs[i].chain != NULL && sk_X509_num(d->certs[i].chain) > 0 &&
		    (ch = chain_pem(d->certs[i].chain)) == NULL) {
			free(pem);
			goto out;
		}
		o = json_pack("{s:s,s:s,s:s,s:s}", "alias", d->certs[i].alias, "keystore",
		    d->certs[i].keystore, "key_type", d->certs[i].key_type, "certificate", pem);
		if (o != NULL && ch != NULL)
			json_object_set_new(o, "chain", json_string(ch));
		free(pem);
		free(ch);
		if (o == NULL || json_array_append_new(certs, o) != 0)
			goto out;
	}
	for (size_t i = 0; i < d->ncas; i++) {
		char *pem = cs_pki_cert_pem(d->cas[i].cert);

		if (pem == NULL || json_array_append_new(cas, json_pack("{s:s,s:s}", "alias",
		    d->cas[i].alias, "certificate", pem)) != 0) {
			free(pem);
			goto out;
		}
		free(pem);
	}
	for (size_t i = 0; i < d->nbound_cas; i++)
		json_array_append_new(bcas, json_string(d->bound_cas[i]));
	json_object_set_new(st, "version", json_integer(1));
	json_object_set_new(st, "serial", json_string(d->serial));
	json_object_set_new(st, "tls", json_boolean(d->tls));
	json_object_set_new(st, "policy", json_string(cs_policy_soap(d->policy)));
	json_object_set_new(st, "bound", json_string(d->bound));
	json_object_set(st, "bound_ca_certificates", bcas);
	json_object_set(st, "certificates", certs);
	json_object_set(st, "ca_certificates", cas);
	json_object_set_new(st, "dot1x", cs_dot1x_to_json(d));
	if ((text = json_dumps(st, JSON_INDENT(1) | JSON_SORT_KEYS)) == NULL ||
	    mkdirs(d) != 0 || (path = dev_path(d, "state.json")) == NULL)
		goto out;
	rc = cs_write_atomic(path, text, strlen(text), 0644);
out:
	if (rc != 0)
		cs_logf("camsim: %s: cannot save the state", d->address);
	free(text);
	free(path);
	json_decref(st);
	json_decref(certs);
	json_decref(cas);
	json_decref(bcas);
	return rc;
}

static EVP_PKEY *
load_key(cs_device *d, const char *alias)
{
	char name[80], *path;
	FILE *f;
	EVP_PKEY *k = NULL;

	key_name(alias, name);
	if ((path = dev_path(d, name)) == NULL)
		return NULL;
	if ((f = fopen(path, "r")) != NULL) {
		k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
		fclose(f);
	}
	ERR_clear_error();
	free(path);
	return k;
}

static int
alias_ok(const char *a)
{
	size_t l = a != NULL ? strlen(a) : 0;

	if (l == 0 || l > CS_ALIAS_MAX)
		return 0;
	for (; *a; a++)
		if ((unsigned char)*a < 0x20 || *a == 0x7f)
			return 0;
	return 1;
}

int
cs_state_load(cs_device *d, char *err, size_t errlen)
{
	char *path = dev_path(d, "state.json");
	json_t *st = NULL, *arr, *v;
	json_error_t je;
	size_t i;
	int rc = -1;
	const char *s;

	if (path == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (access(path, F_OK) != 0) {
		/* First start: the factory state of the fleet entry. */
		free(path);
		if (d->tls && cs_store_factory(d) != 0) {
			snprintf(err, errlen, "%s: cannot make the factory certificate", d->address);
			return -1;
		}
		return cs_state_save(d) == 0 ? 0 : (snprintf(err, errlen, "%s: cannot write "
		    "its state in %s", d->address, d->cs->state_dir), -1);
	}
	if ((st = json_load_file(path, JSON_REJECT_DUPLICATES, &je)) == NULL ||
	    !json_is_object(st)) {
		snprintf(err, errlen, "%s is not a camsim state file (line %d: %s): remove it to "
		    "start that device afresh", path, je.line, je.text);
		goto out;
	}
	d->tls = json_is_true(json_object_get(st, "tls"));
	if ((s = json_string_value(json_object_get(st, "policy"))) == NULL ||
	    cs_policy_parse(s, &d->policy) != 0)
		goto bad;
	if ((s = json_string_value(json_object_get(st, "bound"))) == NULL ||
	    strlen(s) > CS_ALIAS_MAX)
		goto bad;
	cs_strlcpy(d->bound, s, sizeof(d->bound));
	arr = json_object_get(st, "certificates");
	if (!json_is_array(arr))
		goto bad;
	d->certs = calloc(json_array_size(arr) + 1, sizeof(cs_cert));
	json_array_foreach(arr, i, v) {
		cs_cert *c = &d->certs[d->ncerts];
		const char *pem = json_string_value(json_object_get(v, "certificate"));
		const char *ch = json_string_value(json_object_get(v, "chain"));
		STACK_OF(X509) *sk;

		s = json_string_value(json_object_get(v, "alias"));
		if (d->certs == NULL || !alias_ok(s) || pem == NULL)
			goto bad;
		cs_strlcpy(c->alias, s, sizeof(c->alias));
		cs_strlcpy(c->keystore, (s = json_string_value(json_object_get(v, "keystore"))) ?
		    s : "SE0", sizeof(c->keystore));
		if ((sk = cs_pki_pem_certs(pem, strlen(pem), 1)) == NULL)
			goto bad;
		c->cert = sk_X509_shift(sk);
		sk_X509_free(sk);
		if (ch != NULL && (c->chain = cs_pki_pem_certs(ch, strlen(ch), 16)) == NULL)
			goto bad;
		if ((c->key = load_key(d, c->alias)) == NULL ||
		    X509_check_private_key(c->cert, c->key) != 1) {
			ERR_clear_error();
			snprintf(err, errlen, "%s: the key of certificate '%s' is missing or does not "
			    "match (under %s/%s/keys)", d->address, c->alias, d->cs->state_dir,
			    d->address);
			X509_free(c->cert);
			sk_X509_pop_free(c->chain, X509_free);
			EVP_PKEY_free(c->key);
			memset(c, 0, sizeof(*c));
			goto out;
		}
		cs_strlcpy(c->key_type, cs_pki_key_type(c->key), sizeof(c->key_type));
		d->ncerts++;
	}
	arr = json_object_get(st, "ca_certificates");
	if (!json_is_array(arr))
		goto bad;
	d->cas = calloc(json_array_size(arr) + 1, sizeof(cs_cacert));
	json_array_foreach(arr, i, v) {
		cs_cacert *c = &d->cas[d->ncas];
		const char *pem = json_string_value(json_object_get(v, "certificate"));
		STACK_OF(X509) *sk;

		s = json_string_value(json_object_get(v, "alias"));
		if (d->cas == NULL || !alias_ok(s) || pem == NULL ||
		    (sk = cs_pki_pem_certs(pem, strlen(pem), 1)) == NULL)
			goto bad;
		cs_strlcpy(c->alias, s, sizeof(c->alias));
		c->cert = sk_X509_shift(sk);
		sk_X509_free(sk);
		d->ncas++;
	}
	arr = json_object_get(st, "bound_ca_certificates");
	if (json_is_array(arr) && json_array_size(arr) > 0) {
		if ((d->bound_cas = calloc(json_array_size(arr), sizeof(char *))) == NULL)
			goto bad;
		json_array_foreach(arr, i, v) {
			if (!alias_ok(json_string_value(v)))
				goto bad;
			d->bound_cas[d->nbound_cas++] = cs_strdup(json_string_value(v));
		}
	}
	if (d->bound[0] != '\0' && cs_dev_cert(d, d->bound) == NULL)
		goto bad;
	if (cs_dot1x_from_json(d, json_object_get(st, "dot1x")) != 0)
		goto bad;
	rc = 0;
	goto out;
bad:
	snprintf(err, errlen, "%s holds a state camsim cannot read: remove %s/%s to start that "
	    "device afresh", path, d->cs->state_dir, d->address);
out:
	json_decref(st);
	free(path);
	return rc;
}
