/* libFuzzer target: vp_p12_parse on arbitrary bytes, the path of `ca import` and
 * `server-cert import`. Each input is opened with the seeds' password ("fuzz") and again with
 * an empty one; then, if it is DER PKCS#12 at all, its MAC is recomputed with "fuzz" and it is
 * opened once more, so that mutations of the bags (PBE parameters, keys, certificates) get past
 * the integrity check and reach the code behind it. Seeds: corpus/fuzz_p12/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

#include "vmspki/ca.h"
#include "vmspki/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
try_parse(const unsigned char *der, size_t len, const char *pass)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	STACK_OF(X509) *chain = NULL;
	vp_error e;

	vp_error_clear(&e);
	if (vp_p12_parse(der, len, pass, &key, &cert, &chain, &e) != VP_OK && e.msg[0] == '\0')
		abort();  /* every refusal must say why */

	EVP_PKEY_free(key);
	X509_free(cert);
	sk_X509_pop_free(chain, X509_free);
	ERR_clear_error();
}

/* Re-encodes der with a valid MAC for "fuzz" (1 iteration: cheap). NULL if it is not PKCS#12. */
static unsigned char *
remac(const unsigned char *der, size_t len, size_t *outlen)
{
	const unsigned char *p = der;
	PKCS12 *p12;
	unsigned char *out = NULL;
	int n;

	if ((p12 = d2i_PKCS12(NULL, &p, (long)len)) == NULL)
		goto done;
	if (!PKCS12_set_mac(p12, "fuzz", -1, NULL, 0, 1, EVP_sha256()))
		goto done;
	if ((n = i2d_PKCS12(p12, &out)) <= 0) {
		out = NULL;
		goto done;
	}
	*outlen = (size_t)n;
done:
	PKCS12_free(p12);
	ERR_clear_error();
	return out;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy, *macd;
	size_t macd_len = 0;

	/* Inputs larger than any real PKCS#12 only slow the search down. */
	if (size > 64 * 1024)
		return 0;
	/* Exact-size heap copy so that ASan sees any read past len. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	if (size)
		memcpy(copy, data, size);

	try_parse(copy, size, "fuzz");
	try_parse(copy, size, "");
	if ((macd = remac(copy, size, &macd_len)) != NULL) {
		try_parse(macd, macd_len, "fuzz");
		OPENSSL_free(macd);
	}

	free(copy);
	return 0;
}
