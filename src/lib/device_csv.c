/* `device import`: a CSV list of cameras (address,http_port,https_port,user,password,name),
 * read with libcsv in strict RFC 4180 mode one physical line at a time, so that a malformed
 * line is reported with its number and the lines after it are still read. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <csv.h>
#include <openssl/crypto.h>

#include "device_internal.h"
#include "vmspki/util.h"

/* libcsv's field buffer holds passwords: it is allocated through these, which wipe what they
 * give back (the size lives in a header before the block). */
typedef union wipe_hdr {
	size_t n;
	max_align_t align;
} wipe_hdr;

static void *
wipe_realloc(void *p, size_t n)
{
	wipe_hdr *h = p != NULL ? (wipe_hdr *)p - 1 : NULL, *nh;

	if (n > SIZE_MAX - sizeof(wipe_hdr) || (nh = malloc(sizeof(wipe_hdr) + n)) == NULL)
		return NULL;
	nh->n = n;
	if (h != NULL) {
		memcpy(nh + 1, p, h->n < n ? h->n : n);
		OPENSSL_cleanse(p, h->n);
		free(h);
	}
	return nh + 1;
}

static void
wipe_free(void *p)
{
	wipe_hdr *h;

	if (p == NULL)
		return;
	h = (wipe_hdr *)p - 1;
	OPENSSL_cleanse(p, h->n);
	free(h);
}

/* One line being read. */
typedef struct line_state {
	char *fields[VP_CSV_FIELDS_MAX];
	size_t lens[VP_CSV_FIELDS_MAX];
	size_t nfields;          /* fields seen (may pass VP_CSV_FIELDS_MAX: then an error) */
	int records;
	int nomem;
	size_t too_long;         /* 1-based number of the first field over VP_CSV_FIELD_MAX */
} line_state;

static void
on_field(void *data, size_t len, void *arg)
{
	line_state *ls = arg;
	size_t i = ls->nfields++;

	if (i >= VP_CSV_FIELDS_MAX || ls->nomem)
		return;
	if (len > VP_CSV_FIELD_MAX) {
		if (ls->too_long == 0)
			ls->too_long = i + 1;
		len = 0;
	}
	if ((ls->fields[i] = malloc(len + 1)) == NULL) {
		ls->nomem = 1;
		return;
	}
	if (len > 0)
		memcpy(ls->fields[i], data, len);
	ls->fields[i][len] = '\0';
	ls->lens[i] = len;
}

static void
on_record(int c, void *arg)
{
	line_state *ls = arg;

	(void)c;
	ls->records++;
}

static void
line_clear(line_state *ls)
{
	for (size_t i = 0; i < VP_CSV_FIELDS_MAX; i++)
		if (ls->fields[i] != NULL)
			vp_secret_free(ls->fields[i], ls->lens[i] + 1);
	memset(ls, 0, sizeof(*ls));
}

/* Parses one line (without its line end) into ls; *err gets a sentence when it is malformed. */
static vp_err
parse_line(const char *s, size_t len, line_state *ls, char *err, size_t errlen, vp_error *e)
{
	struct csv_parser p;
	size_t done;
	int fini;

	err[0] = '\0';
	if (memchr(s, '\0', len) != NULL) {
		snprintf(err, errlen, "the line holds a NUL byte: not a text line");
		return VP_OK;
	}
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory for the CSV reader");
	csv_set_realloc_func(&p, wipe_realloc);
	csv_set_free_func(&p, wipe_free);
	done = csv_parse(&p, s, len, on_field, on_record, ls);
	fini = done == len ? csv_fini(&p, on_field, on_record, ls) : 0;
	if (done != len || fini != 0) {
		int ce = csv_error(&p);

		if (ce == CSV_ENOMEM || ce == CSV_ETOOBIG)
			ls->nomem = 1;
		else if (done != len)
			snprintf(err, errlen, "malformed quoting at column %zu (a field with a comma or "
			    "a quote is written in double quotes, and a quote inside it is doubled: "
			    "\"pa\"\"ss,word\")", done + 1);
		else
			snprintf(err, errlen, "a quoted field is not closed on this line (a field "
			    "cannot hold a line break)");
	}
	csv_free(&p);
	if (ls->nomem)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory reading the CSV list");
	if (err[0] != '\0')
		return VP_OK;
	if (ls->records > 1)
		snprintf(err, errlen, "a carriage return in the middle of the line ends a record "
		    "there: remove it or put the field in double quotes");
	else if (ls->too_long > 0)
		snprintf(err, errlen, "field %zu is longer than %d bytes", ls->too_long,
		    VP_CSV_FIELD_MAX);
	return VP_OK;
}

static int
blank_or_comment(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i == len || s[i] == '#';
}

vp_err
vp_csv_read_lines(const char *csv, size_t len, vp_csv_line_cb cb, void *arg, vp_error *e)
{
	const char *p = csv, *end = csv + len;
	line_state ls;
	char err[300];
	int line = 0;
	vp_err rc = VP_OK;

	memset(&ls, 0, sizeof(ls));
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;   /* a UTF-8 byte order mark, as spreadsheets write it */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
		int r;

		line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (line == INT32_MAX) {
			rc = vp_error_set(e, VP_ERR_INVALID, "the CSV list has too many lines");
			break;
		}
		if (!blank_or_comment(p, n)) {
			if ((rc = parse_line(p, n, &ls, err, sizeof(err), e)) != VP_OK)
				break;
			if (err[0] != '\0')
				r = cb(line, NULL, 0, err, arg);
			else if (ls.nfields > VP_CSV_FIELDS_MAX) {
				snprintf(err, sizeof(err), "%zu fields: a line has at most %d "
				    "(address,http_port,https_port,user,password,name)", ls.nfields,
				    VP_CSV_FIELDS_MAX);
				r = cb(line, NULL, 0, err, arg);
			} else {
				r = cb(line, ls.fields, ls.nfields, NULL, arg);
			}
			line_clear(&ls);
			if (r != 0) {
				rc = (vp_err)r;
				break;
			}
		}
		p = nl != NULL ? nl + 1 : end;
	}
	line_clear(&ls);
	return rc;
}

/* ---- import ---- */

typedef struct import_state {
	vp_store *s;
	const vp_sitekey *k;
	const char *ca_file;
	const char *actor;
	vp_device_report_cb cb;
	void *arg;
	size_t added, failed;
	int seen_data;
} import_state;

static int
parse_port(const char *s, int *out)
{
	long v;
	char *end;

	if (s[0] == '\0') {
		*out = 0;   /* the default */
		return 0;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < 1 || v > 65535)
		return -1;
	*out = (int)v;
	return 0;
}

static void
report(import_state *st, int line, int64_t id, const vp_error *err)
{
	if (err == NULL)
		st->added++;
	else
		st->failed++;
	if (st->cb != NULL)
		st->cb(line, id, err, st->arg);
}

static int
import_line(int line, char *const *f, size_t n, const char *error, void *arg)
{
	import_state *st = arg;
	vp_device_new nd;
	vp_device d;
	vp_error e = { 0 };
	vp_err rc;

	if (error != NULL) {
		vp_error_set(&e, VP_ERR_INVALID, "%s", error);
		report(st, line, 0, &e);
		st->seen_data = 1;
		return 0;
	}
	/* A header line, first of the file. */
	if (!st->seen_data && n >= 1 && strcasecmp(f[0], "address") == 0) {
		st->seen_data = 1;
		return 0;
	}
	st->seen_data = 1;
	if (n < 5) {
		vp_error_set(&e, VP_ERR_INVALID, "%zu field%s: a line is address,http_port,"
		    "https_port,user,password[,name]", n, n == 1 ? "" : "s");
		report(st, line, 0, &e);
		return 0;
	}
	memset(&nd, 0, sizeof(nd));
	nd.address = f[0];
	nd.username = f[3];
	nd.password = f[4];
	nd.name = n > 5 ? f[5] : NULL;
	if (parse_port(f[1], &nd.http_port) != 0 || parse_port(f[2], &nd.https_port) != 0) {
		vp_error_set(&e, VP_ERR_INVALID, "the ports must be numbers from 1 to 65535 (empty: "
		    "80 and 443), not \"%.16s\" and \"%.16s\"", f[1], f[2]);
		report(st, line, 0, &e);
		return 0;
	}
	rc = vp_device_add(st->s, st->k, st->ca_file, &nd, 0, st->actor, &d, &e);
	if (rc == VP_ERR_NOMEM || rc == VP_ERR_STORE) {
		report(st, line, 0, &e);
		return (int)rc;   /* the next lines would fail alike */
	}
	report(st, line, rc == VP_OK ? d.id : 0, rc == VP_OK ? NULL : &e);
	return 0;
}

vp_err
vp_device_import_csv(vp_store *s, const vp_sitekey *k, const char *ca_file,
    const char *csv, size_t len, const char *actor, vp_device_report_cb cb, void *arg,
    size_t *added, size_t *failed, vp_error *e)
{
	import_state st;
	vp_err rc;

	memset(&st, 0, sizeof(st));
	st.s = s;
	st.k = k;
	st.ca_file = ca_file;
	st.actor = actor;
	st.cb = cb;
	st.arg = arg;
	if (added != NULL)
		*added = 0;
	if (failed != NULL)
		*failed = 0;
	if (k == NULL)
		return vp_error_set(e, VP_ERR_PASSPHRASE, "the site data key is not open: device "
		    "passwords cannot be stored");
	rc = vp_csv_read_lines(csv, len, import_line, &st, e);
	if (rc == VP_ERR_NOMEM || rc == VP_ERR_STORE)
		vp_error_set(e, rc, "the import stopped after %zu device%s: %s", st.added,
		    st.added == 1 ? "" : "s", rc == VP_ERR_NOMEM ? "out of memory" :
		    "the store failed (see the line reported last)");
	if (added != NULL)
		*added = st.added;
	if (failed != NULL)
		*failed = st.failed;
	return rc;
}
