/* libFuzzer target: the PEM readers. vp_key_decrypt_pem (the encrypted PKCS#8 path the CA key
 * takes from the store, passphrase "fuzz") and vp_csr_parse on the same text (its PEM branch).
 * Seeds: corpus/fuzz_pem/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "vmspki/ca.h"
#include "vmspki/err.h"
#include "vmspki/issue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	EVP_PKEY *key = NULL;
	X509_REQ *req = NULL;
	vp_error e;
	char *copy;

	if (size > 64 * 1024)
		return 0;
	/* Exact-size heap copy, not NUL-terminated: the functions take a length, so ASan must
	 * see any read past it. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	if (size)
		memcpy(copy, data, size);

	vp_error_clear(&e);
	if (vp_key_decrypt_pem(copy, size, "fuzz", &key, &e) == VP_OK) {
		if (key == NULL)
			abort();
	} else if (e.msg[0] == '\0') {
		abort();  /* every refusal must say why */
	}
	EVP_PKEY_free(key);
	ERR_clear_error();

	vp_error_clear(&e);
	if (vp_csr_parse((const unsigned char *)copy, size, &req, &e) != VP_OK && e.msg[0] == '\0')
		abort();
	X509_REQ_free(req);
	ERR_clear_error();

	free(copy);
	return 0;
}
