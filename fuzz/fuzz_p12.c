/* libFuzzer target: vp_p12_parse on arbitrary bytes, the path of `ca import` and
 * `server-cert import`. Each input is opened with the seeds' password ("fuzz") and again with
 * an empty one. Seeds: corpus/fuzz_p12/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *copy;

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

	free(copy);
	return 0;
}
