/* libFuzzer target: the CSV reader of `vmspki device import` (vp_csv_read_lines over libcsv):
 * every line gives either fields (at most VP_CSV_FIELDS_MAX, each NUL-terminated and at most
 * VP_CSV_FIELD_MAX bytes) or an error sentence, with line numbers that only grow. No device is
 * contacted: the import's per-line checks run in the unit tests. Seeds: corpus/fuzz_device_csv/. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "device_internal.h"
#include "vmspki/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
check_line(int line, char *const *fields, size_t n, const char *error, void *arg)
{
	int *last = arg;

	if (line <= *last)
		abort();
	*last = line;
	if ((error == NULL) == (fields == NULL) || n > VP_CSV_FIELDS_MAX)
		abort();
	if (error != NULL)
		return error[0] == '\0' ? (abort(), 0) : 0;
	for (size_t i = 0; i < n; i++)
		if (fields[i] == NULL || strlen(fields[i]) > VP_CSV_FIELD_MAX)
			abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vp_error e;
	char *copy;
	int last = 0;

	if (size > 256 * 1024)
		return 0;
	/* Exact-size heap copy, not NUL-terminated: the reader takes a length. */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	if (size)
		memcpy(copy, data, size);
	vp_error_clear(&e);
	if (vp_csv_read_lines(copy, size, check_line, &last, &e) != VP_OK && e.msg[0] == '\0')
		abort();
	free(copy);
	return 0;
}
