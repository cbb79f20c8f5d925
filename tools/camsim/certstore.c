/* A device's certificate store, as both certificate APIs (REST and SOAP) see it: keys made on
 * the device (slowly, off the event loop), self-signed until a certificate for that key is
 * installed, CA certificates, a limited number of slots, and the web server's binding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "camsim.h"

#define FACTORY_ALIAS "Default HTTPS"

size_t
cs_dev_slots_used(const cs_device *d)
{
	return d->ncerts + d->ncas + (size_t)d->reserved_slots;
}

cs_cert *
cs_dev_cert(cs_device *d, const char *alias)
{
	for (size_t i = 0; i < d->ncerts; i++)
		if (strcmp(d->certs[i].alias, alias) == 0)
			return &d->certs[i];
	return NULL;
}

cs_cacert *
cs_dev_ca(cs_device *d, const char *alias)
{
	for (size_t i = 0; i < d->ncas; i++)
		if (strcmp(d->cas[i].alias, alias) == 0)
			return &d->cas[i];
	return NULL;
}

int
cs_dev_alias_taken(cs_device *d, const char *alias)
{
	if (cs_dev_cert(d, alias) != NULL || cs_dev_ca(d, alias) != NULL)
		return 1;
	for (cs_req *r = d->pending; r != NULL; r = r->next)
		if (r->creating && strcmp(r->alias, alias) == 0)
			return 1;
	return 0;
}

static int
certs_grow(cs_device *d)
{
	cs_cert *n = realloc(d->certs, (d->ncerts + 1) * sizeof(cs_cert));

	if (n == NULL)
		return -1;
	d->certs = n;
	memset(&d->certs[d->ncerts], 0, sizeof(cs_cert));
	return 0;
}

/* Firmware 7.20 and later leave the factory with a self-signed certificate bound to HTTPS.
 * Its key is EC P-256 so that a fleet of a thousand starts in a second. */
int
cs_store_factory(cs_device *d)
{
	X509_NAME *name = X509_NAME_new();
	char cn[64], san_dns[80], san_ip[24];
	char *sans[2] = { san_dns, san_ip };
	time_t now = time(NULL);
	cs_cert *c;

	snprintf(cn, sizeof(cn), "axis-%s", d->serial);
	for (char *p = cn; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	snprintf(san_dns, sizeof(san_dns), "DNS:%s", cn);
	snprintf(san_ip, sizeof(san_ip), "IP:%s", d->address);
	if (name == NULL || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (unsigned char *)cn, -1, -1, 0) != 1 || certs_grow(d) != 0)
		goto fail;
	c = &d->certs[d->ncerts];
	cs_strlcpy(c->alias, FACTORY_ALIAS, sizeof(c->alias));
	cs_strlcpy(c->keystore, "SE0", sizeof(c->keystore));
	if ((c->key = cs_pki_keygen("EC-P256")) == NULL ||
	    (c->cert = cs_pki_selfsigned(c->key, name, sans, 2, now - 86400,
	    now + 10L * 365 * 86400)) == NULL ||
	    cs_state_save_key(d, c->alias, c->key) != 0) {
		EVP_PKEY_free(c->key);
		X509_free(c->cert);
		memset(c, 0, sizeof(*c));
		goto fail;
	}
	cs_strlcpy(c->key_type, "EC-P256", sizeof(c->key_type));
	d->ncerts++;
	cs_strlcpy(d->bound, FACTORY_ALIAS, sizeof(d->bound));
	d->tls = 1;
	X509_NAME_free(name);
	return 0;
fail:
	ERR_clear_error();
	X509_NAME_free(name);
	return -1;
}

/* ------------------------------------------------------------------ key creation */

static void
create_step(cs_req *r)
{
	if (r->key_done && r->delay_done && r->done != NULL) {
		void (*done)(cs_req *) = r->done;

		r->done = NULL;
		done(r);
	}
}

static void
key_ready(cs_req *r)
{
	r->in_keygen = 0;
	r->key_done = 1;
	create_step(r);
}

static void
delay_over(evutil_socket_t fd, short what, void *arg)
{
	cs_req *r = arg;

	(void)fd;
	(void)what;
	r->delay_done = 1;
	create_step(r);
}

cs_sterr
cs_store_create_start(cs_req *r, void (*done)(cs_req *r), char *err, size_t errlen)
{
	cs_device *d = r->dev;
	struct timeval tv;
	long ms = d->cs->keygen_delay_ms;

	if (cs_dev_alias_taken(d, r->alias)) {
		snprintf(err, errlen, "A certificate with alias '%s' already exists", r->alias);
		return CS_ST_EXISTS;
	}
	if (cs_dev_slots_used(d) >= (size_t)d->store_slots) {
		snprintf(err, errlen, "Maximum number of certificates reached (%d)", d->store_slots);
		return CS_ST_FULL;
	}
	if (!cs_key_type_ok(r->key_type)) {
		snprintf(err, errlen, "Key type %s is not supported", r->key_type);
		return CS_ST_INVALID;
	}
	r->done = done;
	r->creating = 1;
	r->boot_id = d->boot_id;
	d->reserved_slots++;
	cs_req_hold(r);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	if ((r->timer = evtimer_new(d->cs->base, delay_over, r)) == NULL ||
	    evtimer_add(r->timer, &tv) != 0)
		r->delay_done = 1;
	r->in_keygen = 1;
	if (cs_keygen_submit(r, key_ready) != 0) {
		r->in_keygen = 0;
		r->key_failed = 1;
		r->key_done = 1;
		create_step(r);
	}
	return CS_ST_OK;
}

cs_sterr
cs_store_create_finish(cs_req *r, char *err, size_t errlen)
{
	cs_device *d = r->dev;
	cs_cert *c;
	time_t now = time(NULL);
	time_t nb = r->not_before != 0 ? r->not_before : now - 60;
	time_t na = r->not_after != 0 ? r->not_after : now + 365L * 86400;

	d->reserved_slots--;
	r->creating = 0;
	if (r->boot_id != d->boot_id) {
		/* The device restarted while it made the key: the key is gone with its RAM. */
		snprintf(err, errlen, "Key pair generation failed (the device restarted)");
		return CS_ST_INTERNAL;
	}
	if (r->key_failed || r->new_key == NULL) {
		snprintf(err, errlen, "Key pair generation failed");
		return CS_ST_INTERNAL;
	}
	if (certs_grow(d) != 0)
		goto internal;
	c = &d->certs[d->ncerts];
	if ((c->cert = cs_pki_selfsigned(r->new_key, r->subject, r->sans, r->nsans, nb, na)) == NULL)
		goto internal;
	if (cs_state_save_key(d, r->alias, r->new_key) != 0) {
		X509_free(c->cert);
		c->cert = NULL;
		goto internal;
	}
	cs_strlcpy(c->alias, r->alias, sizeof(c->alias));
	cs_strlcpy(c->keystore, r->keystore[0] != '\0' ? r->keystore : "SE0", sizeof(c->keystore));
	cs_strlcpy(c->key_type, r->key_type, sizeof(c->key_type));
	c->key = r->new_key;
	r->new_key = NULL;
	d->ncerts++;
	cs_state_save(d);
	return CS_ST_OK;
internal:
	snprintf(err, errlen, "Internal error");
	return CS_ST_INTERNAL;
}

/* ------------------------------------------------------------------ CSR, install */

cs_sterr
cs_store_csr(cs_device *d, const char *alias, const X509_NAME *subject, int wrong_key,
    X509_REQ **out, char *err, size_t errlen)
{
	cs_cert *c = cs_dev_cert(d, alias);
	EVP_PKEY *other = NULL;

	*out = NULL;
	if (c == NULL) {
		snprintf(err, errlen, "Certificate not found: %s", alias);
		return CS_ST_NOTFOUND;
	}
	/* The wrong_csr fault: a CSR that verifies, but for a key the device does not hold. */
	if (wrong_key && (other = cs_pki_keygen("EC-P256")) == NULL)
		goto fail;
	*out = cs_pki_csr(other != NULL ? other : c->key, subject, c->cert);
	EVP_PKEY_free(other);
	if (*out != NULL)
		return CS_ST_OK;
fail:
	ERR_clear_error();
	snprintf(err, errlen, "PKCS#10 generation failed");
	return CS_ST_INTERNAL;
}

/* certs: the certificate first, then its chain (taken over on success). */
cs_sterr
cs_store_install(cs_device *d, const char *alias, STACK_OF(X509) *certs, char *err,
    size_t errlen)
{
	cs_cert *c = cs_dev_cert(d, alias);
	X509 *leaf;

	if (c == NULL) {
		snprintf(err, errlen, "Certificate not found: %s", alias);
		return CS_ST_NOTFOUND;
	}
	if (certs == NULL || sk_X509_num(certs) == 0) {
		snprintf(err, errlen, "Invalid certificate");
		return CS_ST_INVALID;
	}
	leaf = sk_X509_value(certs, 0);
	if (EVP_PKEY_eq(X509_get0_pubkey(leaf), c->key) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "The certificate does not match the private key");
		return CS_ST_MISMATCH;
	}
	X509_free(c->cert);
	sk_X509_pop_free(c->chain, X509_free);
	c->cert = sk_X509_shift(certs);
	if (sk_X509_num(certs) > 0) {
		c->chain = certs;
	} else {
		c->chain = NULL;
		sk_X509_free(certs);
	}
	cs_state_save(d);
	return CS_ST_OK;
}

cs_sterr
cs_store_add_ca(cs_device *d, const char *alias, X509 *cert, char *err, size_t errlen)
{
	cs_cacert *n;

	if (cs_dev_alias_taken(d, alias)) {
		snprintf(err, errlen, "A certificate with alias '%s' already exists", alias);
		return CS_ST_EXISTS;
	}
	if (cs_dev_slots_used(d) >= (size_t)d->store_slots) {
		snprintf(err, errlen, "Maximum number of certificates reached (%d)", d->store_slots);
		return CS_ST_FULL;
	}
	if ((n = realloc(d->cas, (d->ncas + 1) * sizeof(cs_cacert))) == NULL) {
		snprintf(err, errlen, "Internal error");
		return CS_ST_INTERNAL;
	}
	d->cas = n;
	cs_strlcpy(d->cas[d->ncas].alias, alias, sizeof(d->cas[d->ncas].alias));
	d->cas[d->ncas].cert = cert;
	d->ncas++;
	cs_state_save(d);
	return CS_ST_OK;
}

cs_sterr
cs_store_delete(cs_device *d, const char *alias, int certs, int cas, char *err, size_t errlen)
{
	cs_cert *c = certs ? cs_dev_cert(d, alias) : NULL;
	cs_cacert *a = cas && c == NULL ? cs_dev_ca(d, alias) : NULL;

	if (c == NULL && a == NULL) {
		snprintf(err, errlen, "Certificate not found: %s", alias);
		return CS_ST_NOTFOUND;
	}
	if (cs_dot1x_uses(d, alias)) {
		snprintf(err, errlen, "Certificate is in use by an 802.1X configuration");
		return CS_ST_INUSE;
	}
	if (c != NULL) {
		size_t i = (size_t)(c - d->certs);

		if (strcmp(d->bound, alias) == 0) {
			snprintf(err, errlen, "Certificate is in use");
			return CS_ST_INUSE;
		}
		EVP_PKEY_free(c->key);
		X509_free(c->cert);
		sk_X509_pop_free(c->chain, X509_free);
		memmove(&d->certs[i], &d->certs[i + 1], (d->ncerts - i - 1) * sizeof(cs_cert));
		d->ncerts--;
		cs_state_save(d);
		cs_state_remove_key(d, alias);
		return CS_ST_OK;
	}
	{
		size_t i = (size_t)(a - d->cas);

		X509_free(a->cert);
		memmove(&d->cas[i], &d->cas[i + 1], (d->ncas - i - 1) * sizeof(cs_cacert));
		d->ncas--;
		/* No longer sent in the web server's chain either. */
		for (size_t k = 0; k < d->nbound_cas; k++) {
			if (strcmp(d->bound_cas[k], alias) != 0)
				continue;
			free(d->bound_cas[k]);
			memmove(&d->bound_cas[k], &d->bound_cas[k + 1],
			    (d->nbound_cas - k - 1) * sizeof(char *));
			d->nbound_cas--;
			break;
		}
		cs_state_save(d);
	}
	return CS_ST_OK;
}

cs_sterr
cs_store_bind(cs_device *d, int tls, const char *alias, char **ca_aliases, size_t ncas,
    cs_policy policy, char *err, size_t errlen)
{
	char **copy = NULL;

	if (alias != NULL && alias[0] != '\0' && cs_dev_cert(d, alias) == NULL) {
		snprintf(err, errlen, "Certificate not found: %s", alias);
		return CS_ST_NOTFOUND;
	}
	if (alias == NULL)
		alias = d->bound;
	if (tls && alias[0] == '\0') {
		snprintf(err, errlen, "No certificate for the web server");
		return CS_ST_INVALID;
	}
	for (size_t i = 0; i < ncas; i++) {
		if (cs_dev_ca(d, ca_aliases[i]) == NULL) {
			snprintf(err, errlen, "Certificate not found: %s", ca_aliases[i]);
			return CS_ST_NOTFOUND;
		}
	}
	/* HTTPS only without a certificate would lock everyone out: the firmware refuses it. */
	if (policy == CS_POLICY_HTTPS && !tls) {
		snprintf(err, errlen, "HTTPS connection policy needs TLS enabled");
		return CS_ST_INVALID;
	}
	if (ca_aliases != NULL) {
		if (ncas > 0 && (copy = calloc(ncas, sizeof(char *))) == NULL) {
			snprintf(err, errlen, "Internal error");
			return CS_ST_INTERNAL;
		}
		for (size_t i = 0; i < ncas; i++)
			copy[i] = cs_strdup(ca_aliases[i]);
		for (size_t i = 0; i < d->nbound_cas; i++)
			free(d->bound_cas[i]);
		free(d->bound_cas);
		d->bound_cas = copy;
		d->nbound_cas = ncas;
	}
	if (alias != d->bound)
		cs_strlcpy(d->bound, alias, sizeof(d->bound));
	d->tls = tls;
	d->policy = policy;
	cs_state_save(d);
	d->apply_wanted = 1;        /* once the answer is out (cs_reply) */
	return CS_ST_OK;
}
