/* Helpers for the unit tests: temporary directories that are removed afterwards, a store in
 * one, test keys, certificates and CSRs. */
#ifndef VP_TESTUTIL_H
#define VP_TESTUTIL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "vmspki/store.h"

/* Makes a fresh empty directory under $VP_TEST_TMP (or /tmp) and returns its path (malloc,
 * freed by vp_test_rmdir). Aborts the test on failure. */
char *vp_test_mkdtemp(void);
/* Removes a directory tree made by vp_test_mkdtemp and frees its path. */
void vp_test_rmdir(char *dir);
/* Opens (and so creates) the store dir/vmspki.db. Aborts the test, with the store's
 * message, on failure. */
vp_store *vp_test_store_open(const char *dir);

/* The PostgreSQL store a test runs against instead of SQLite: VMSPKI_TEST_PG's URI (set by
 * tests/it/pg_store.sh, which starts the server), or NULL for SQLite. */
const char *vp_test_pg(void);
/* Empties that database (every vmspki table goes), so that a test starts from nothing as it
 * would with a new SQLite file. Aborts on failure; nothing without VMSPKI_TEST_PG. */
void vp_test_pg_reset(void);
/* Where a test's store is: the PostgreSQL URI, else dir/vmspki.db (malloc'd). */
char *vp_test_store_where(const char *dir);
/* A test written for SQLite's file alone (its modes, its raw SQL) skips itself on PostgreSQL. */
#define VP_TEST_SQLITE_ONLY() do { if (vp_test_pg() != NULL) skip(); } while (0)

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

#endif
