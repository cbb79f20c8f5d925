/* HTTP Digest authentication as Axis firmware does it (RFC 7616: MD5 and SHA-256, qop=auth,
 * realm "AXIS_<serial>"), with nonces that expire (stale=true) and a per-nonce nc replay window;
 * Basic only over HTTPS and only where the fleet entry allows it.
 * A nonce is hex(time ‖ id ‖ HMAC-SHA256(device key, time ‖ id)[0..16)): the device checks it
 * without a table, and keeps a small table only for the nc values seen. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "camsim.h"

#define NONCE_HEX 64
#define PARAM_MAX 512

struct dparams {
	char username[PARAM_MAX], realm[PARAM_MAX], nonce[PARAM_MAX], uri[PARAM_MAX * 4];
	char response[PARAM_MAX], algorithm[PARAM_MAX], cnonce[PARAM_MAX], qop[PARAM_MAX];
	char nc[PARAM_MAX], userhash[PARAM_MAX];
};

static void
hex(const unsigned char *in, size_t n, char *out)
{
	static const char h[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = h[in[i] >> 4];
		out[2 * i + 1] = h[in[i] & 15];
	}
	out[2 * n] = '\0';
}

static int
unhex(const char *s, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;

		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + (size_t)k];

			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else
				return -1;
		}
		out[i] = (unsigned char)v;
	}
	return 0;
}

static void
nonce_mac(const cs_device *d, const unsigned char in[16], unsigned char out[16])
{
	unsigned char md[32];
	size_t n = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, d->nonce_key, sizeof(d->nonce_key), in,
	    16, md, sizeof(md), &n) == NULL || n != 32) {
		ERR_clear_error();
		memset(out, 0, 16);
		return;
	}
	memcpy(out, md, 16);
}

static void
nonce_new(cs_device *d, char out[NONCE_HEX + 1])
{
	unsigned char raw[32];
	uint64_t t = (uint64_t)time(NULL), id = 0;
	struct cs_nonce *slot = &d->nonces[0];

	if (RAND_bytes((unsigned char *)&id, sizeof(id)) != 1)
		id = (uint64_t)rand() << 32 | (uint64_t)rand();
	for (int i = 0; i < 8; i++) {
		raw[i] = (unsigned char)(t >> (56 - 8 * i));
		raw[8 + i] = (unsigned char)(id >> (56 - 8 * i));
	}
	nonce_mac(d, raw, raw + 16);
	hex(raw, 32, out);
	for (size_t i = 1; i < CS_NONCES; i++)        /* the least recently used slot */
		if (d->nonces[i].used < slot->used)
			slot = &d->nonces[i];
	slot->id = id;
	slot->max_nc = 0;
	slot->seen = 0;
	slot->used = (time_t)t;
}

void
cs_auth_expire_nonces(cs_device *d)
{
	memset(d->nonces, 0, sizeof(d->nonces));
}

void
cs_auth_challenge(cs_device *d, struct evhttp_request *req, int tls, int stale)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char nonce[NONCE_HEX + 1], v[512];

	nonce_new(d, nonce);
	/* Most preferred first (RFC 7616 3.7). */
	if (d->digest_sha256) {
		snprintf(v, sizeof(v), "Digest realm=\"AXIS_%s\", nonce=\"%s\", algorithm=SHA-256, "
		    "qop=\"auth\"%s", d->serial, nonce, stale ? ", stale=true" : "");
		evhttp_add_header(h, "WWW-Authenticate", v);
	}
	if (d->digest_md5) {
		snprintf(v, sizeof(v), "Digest realm=\"AXIS_%s\", nonce=\"%s\", algorithm=MD5, "
		    "qop=\"auth\"%s", d->serial, nonce, stale ? ", stale=true" : "");
		evhttp_add_header(h, "WWW-Authenticate", v);
	}
	if (tls && d->allow_basic) {
		snprintf(v, sizeof(v), "Basic realm=\"AXIS_%s\"", d->serial);
		evhttp_add_header(h, "WWW-Authenticate", v);
	}
}

/* RFC 7235 auth-param list: name=token or name="quoted string", separated by commas. */
static int
parse_params(const char *s, struct dparams *p)
{
	memset(p, 0, sizeof(*p));
	for (;;) {
		char name[32], *dst = NULL;
		size_t nl = 0, vl = 0, cap = 0;

		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (*s == '\0')
			return 0;
		while (*s != '\0' && *s != '=' && *s != ' ' && *s != '\t') {
			if (nl + 1 >= sizeof(name))
				return -1;
			name[nl++] = (char)tolower((unsigned char)*s++);
		}
		name[nl] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s++ != '=' || nl == 0)
			return -1;
		while (*s == ' ' || *s == '\t')
			s++;
#define P(field) else if (strcmp(name, #field) == 0) { dst = p->field; cap = sizeof(p->field); }
		if (0) {
		}
		P(username) P(realm) P(nonce) P(uri) P(response) P(algorithm) P(cnonce) P(qop) P(nc)
		P(userhash)
#undef P
		if (dst != NULL && dst[0] != '\0')
			return -1;      /* a parameter twice */
		if (*s == '"') {
			s++;
			while (*s != '"') {
				if (*s == '\0')
					return -1;
				if (*s == '\\' && s[1] != '\0')
					s++;
				if (dst != NULL) {
					if (vl + 1 >= cap)
						return -1;
					dst[vl++] = *s;
				}
				s++;
			}
			s++;
		} else {
			while (*s != '\0' && *s != ',' && *s != ' ' && *s != '\t') {
				if (dst != NULL) {
					if (vl + 1 >= cap)
						return -1;
					dst[vl++] = *s;
				}
				s++;
			}
		}
		if (dst != NULL)
			dst[vl] = '\0';
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != '\0' && *s != ',')
			return -1;
	}
}

static int
hash_hex(const char *alg, const char *a, const char *b, const char *c, char *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	int ok;

	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_get_digestbyname(alg), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, a, strlen(a)) == 1 && EVP_DigestUpdate(ctx, ":", 1) == 1 &&
	    EVP_DigestUpdate(ctx, b, strlen(b)) == 1 &&
	    (c == NULL || (EVP_DigestUpdate(ctx, ":", 1) == 1 &&
	    EVP_DigestUpdate(ctx, c, strlen(c)) == 1)) &&
	    EVP_DigestFinal_ex(ctx, md, &n) == 1;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		ERR_clear_error();
		return -1;
	}
	hex(md, n, out);
	return 0;
}

static cs_auth
check_basic(cs_device *d, const char *b64)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	unsigned char buf[400];
	int outl = 0, fin = 0;
	size_t len = strlen(b64), ul = strlen(d->user), pl = strlen(d->password);
	cs_auth rc = CS_AUTH_BAD;

	if (ctx == NULL || len == 0 || len > 500)
		goto out;
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, buf, &outl, (const unsigned char *)b64, (int)len) < 0 ||
	    EVP_DecodeFinal(ctx, buf + outl, &fin) != 1)
		goto out;
	outl += fin;
	if ((size_t)outl == ul + 1 + pl && memcmp(buf, d->user, ul) == 0 && buf[ul] == ':' &&
	    CRYPTO_memcmp(buf + ul + 1, d->password, pl) == 0)
		rc = CS_AUTH_OK;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	EVP_ENCODE_CTX_free(ctx);
	ERR_clear_error();
	return rc;
}

cs_auth
cs_auth_check(cs_device *d, struct evhttp_request *req, int tls)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	struct dparams *p = NULL;
	unsigned char raw[32], mac[16];
	char ha1[EVP_MAX_MD_SIZE * 2 + 1], ha2[EVP_MAX_MD_SIZE * 2 + 1];
	char want[EVP_MAX_MD_SIZE * 2 + 1], realm[32], *tail = NULL;
	const char *alg;
	uint64_t t = 0, id = 0, nc;
	struct cs_nonce *slot = NULL;
	cs_auth rc = CS_AUTH_BAD;
	size_t tl;

	if (h == NULL)
		return CS_AUTH_MISSING;
	if (strncasecmp(h, "Basic ", 6) == 0)
		return tls && d->allow_basic ? check_basic(d, h + 6) : CS_AUTH_MISSING;
	if (strncasecmp(h, "Digest ", 7) != 0)
		return CS_AUTH_MISSING;
	if (strlen(h) > 4096 || (p = malloc(sizeof(*p))) == NULL || parse_params(h + 7, p) != 0)
		goto out;
	snprintf(realm, sizeof(realm), "AXIS_%s", d->serial);
	if (p->username[0] == '\0' || strcmp(p->realm, realm) != 0 || p->response[0] == '\0' ||
	    strcmp(p->qop, "auth") != 0 || p->cnonce[0] == '\0' || strlen(p->nc) != 8 ||
	    (p->userhash[0] != '\0' && strcasecmp(p->userhash, "false") != 0))
		goto out;
	/* The uri must be the request's own (RFC 7616 3.4.6). */
	if (strcmp(p->uri, evhttp_request_get_uri(req)) != 0)
		goto out;
	if (p->algorithm[0] == '\0' || strcasecmp(p->algorithm, "MD5") == 0) {
		if (!d->digest_md5)
			goto out;
		alg = "MD5";
	} else if (strcasecmp(p->algorithm, "SHA-256") == 0) {
		if (!d->digest_sha256)
			goto out;
		alg = "SHA256";
	} else {
		goto out;
	}
	nc = strtoull(p->nc, &tail, 16);
	if (tail == NULL || *tail != '\0' || nc == 0 || !isxdigit((unsigned char)p->nc[0]))
		goto out;
	/* The nonce: ours, and still fresh? */
	if (strlen(p->nonce) != NONCE_HEX || unhex(p->nonce, raw, 32) != 0)
		goto out;
	nonce_mac(d, raw, mac);
	if (CRYPTO_memcmp(mac, raw + 16, 16) != 0)
		goto out;
	for (int i = 0; i < 8; i++) {
		t = t << 8 | raw[i];
		id = id << 8 | raw[8 + i];
	}
	for (size_t i = 0; i < CS_NONCES; i++)
		if (d->nonces[i].id == id && d->nonces[i].used != 0)
			slot = &d->nonces[i];
	/* The response. */
	if (hash_hex(alg, p->username, p->realm, d->password, ha1) != 0 ||
	    hash_hex(alg, evhttp_request_get_command(req) == EVHTTP_REQ_GET ? "GET" :
	    evhttp_request_get_command(req) == EVHTTP_REQ_POST ? "POST" :
	    evhttp_request_get_command(req) == EVHTTP_REQ_PUT ? "PUT" :
	    evhttp_request_get_command(req) == EVHTTP_REQ_PATCH ? "PATCH" :
	    evhttp_request_get_command(req) == EVHTTP_REQ_DELETE ? "DELETE" :
	    evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ? "HEAD" : "OTHER",
	    p->uri, NULL, ha2) != 0)
		goto out;
	{
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned n = 0;
		int ok = ctx != NULL &&
		    EVP_DigestInit_ex(ctx, EVP_get_digestbyname(alg), NULL) == 1 &&
		    EVP_DigestUpdate(ctx, ha1, strlen(ha1)) == 1 &&
		    EVP_DigestUpdate(ctx, ":", 1) == 1 &&
		    EVP_DigestUpdate(ctx, p->nonce, strlen(p->nonce)) == 1 &&
		    EVP_DigestUpdate(ctx, ":", 1) == 1 &&
		    EVP_DigestUpdate(ctx, p->nc, strlen(p->nc)) == 1 &&
		    EVP_DigestUpdate(ctx, ":", 1) == 1 &&
		    EVP_DigestUpdate(ctx, p->cnonce, strlen(p->cnonce)) == 1 &&
		    EVP_DigestUpdate(ctx, ":auth:", 6) == 1 &&
		    EVP_DigestUpdate(ctx, ha2, strlen(ha2)) == 1 &&
		    EVP_DigestFinal_ex(ctx, md, &n) == 1;

		EVP_MD_CTX_free(ctx);
		if (!ok) {
			ERR_clear_error();
			goto out;
		}
		hex(md, n, want);
	}
	tl = strlen(want);
	for (char *c = p->response; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	if (strlen(p->response) != tl || CRYPTO_memcmp(p->response, want, tl) != 0 ||
	    strcmp(p->username, d->user) != 0)
		goto out;
	/* Right credentials: now the freshness. An old nonce, one we no longer remember, or an
	 * nc already used asks the client to answer a new challenge (stale=true) rather than
	 * telling it its password is wrong. */
	if ((time_t)t + d->cs->nonce_lifetime_s < time(NULL) || slot == NULL) {
		rc = CS_AUTH_STALE;
		goto out;
	}
	if (nc > slot->max_nc) {
		uint64_t shift = nc - slot->max_nc;

		slot->seen = shift >= 64 ? 0 : (slot->seen << shift);
		if (slot->max_nc != 0 && shift <= 64)
			slot->seen |= (uint64_t)1 << (shift - 1);
		slot->max_nc = nc;
	} else {
		uint64_t back = slot->max_nc - nc;

		if (back == 0 || back > 64 || (slot->seen & ((uint64_t)1 << (back - 1))) != 0) {
			rc = CS_AUTH_STALE;
			goto out;
		}
		slot->seen |= (uint64_t)1 << (back - 1);
	}
	slot->used = time(NULL);
	rc = CS_AUTH_OK;
out:
	if (p != NULL) {
		OPENSSL_cleanse(p, sizeof(*p));
		free(p);
	}
	OPENSSL_cleanse(ha1, sizeof(ha1));
	return rc;
}
