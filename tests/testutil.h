/* Helpers for the unit tests: temporary directories that are removed afterwards. */
#ifndef VP_TESTUTIL_H
#define VP_TESTUTIL_H

/* Makes a fresh empty directory under $VP_TEST_TMP (or /tmp) and returns its path (static
 * storage, one per call until vp_test_rmdir). Aborts the test on failure. */
char *vp_test_mkdtemp(void);
/* Removes a directory tree made by vp_test_mkdtemp. */
void vp_test_rmdir(char *dir);

#endif

#include <openssl/evp.h>
#include <openssl/x509.h>

/* A test certificate for key, signed by issuer/issuer_key (itself when NULL). ca: add
 * basicConstraints CA:TRUE; ku: keyUsage value (NULL: none); valid from now+nb_days to
 * now+na_days. Aborts on failure. */
X509 *vp_test_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, int ca,
    const char *ku, int nb_days, int na_days);
/* A CSR for key with CN cn and, if san is not NULL, a subjectAltName request ("DNS:a,IP:1.2.3.4")
 * and, if extra is not NULL, a basicConstraints request of that value. Returns PEM (malloc). */
char *vp_test_csr_pem(EVP_PKEY *key, const char *cn, const char *san, const char *extra);
/* A key: "rsa1024", "rsa2048", "ec-p256", ... Aborts on failure. Keys are cached per type
 * (the caller must EVP_PKEY_free its reference). */
EVP_PKEY *vp_test_key(const char *type);
