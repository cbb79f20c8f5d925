/* Helpers for the unit tests: temporary directories that are removed afterwards. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testutil.h"

char *
vp_test_mkdtemp(void)
{
	const char *base = getenv("VP_TEST_TMP");
	char *dir;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	mkdir(base, 0700);
	if ((dir = malloc(strlen(base) + 32)) == NULL)
		abort();
	sprintf(dir, "%s/vptest.XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	return dir;
}

void
vp_test_rmdir(char *dir)
{
	char cmd[4200];

	if (dir == NULL)
		return;
	if (strlen(dir) < 4000 && strstr(dir, "vptest.") != NULL) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
	free(dir);
}
