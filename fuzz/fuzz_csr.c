/* libFuzzer target: vp_csr_parse on arbitrary bytes (PEM or DER PKCS#10), the path every CSR
 * from a camera or an operator takes. Seeds: corpus/fuzz_csr/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "vmspki/err.h"
#include "vmspki/issue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	X509_REQ *req = NULL;
	vp_error e;
	unsigned char *copy;

	/* An exact-size heap copy: ASan then catches any read past len, which the fuzzer's own
	 * buffer might hide. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	if (size)
		memcpy(copy, data, size);

	vp_error_clear(&e);
	if (vp_csr_parse(copy, size, &req, &e) == VP_OK) {
		if (req == NULL)
			abort();  /* success must hand back a request */
	} else if (e.msg[0] == '\0') {
		abort();  /* every refusal must say why */
	}

	X509_REQ_free(req);
	free(copy);
	ERR_clear_error();
	return 0;
}
