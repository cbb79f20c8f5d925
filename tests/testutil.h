/* Helpers for the unit tests: temporary directories that are removed afterwards. */
#ifndef VP_TESTUTIL_H
#define VP_TESTUTIL_H

/* Makes a fresh empty directory under $VP_TEST_TMP (or /tmp) and returns its path (static
 * storage, one per call until vp_test_rmdir). Aborts the test on failure. */
char *vp_test_mkdtemp(void);
/* Removes a directory tree made by vp_test_mkdtemp. */
void vp_test_rmdir(char *dir);

#endif
