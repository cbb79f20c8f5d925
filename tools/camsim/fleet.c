/* The fleet: devices from a JSON or CSV file, or generated (--count), checked into cs_device
 * structures; and --csv-out, the same fleet in the CSV that `vmspki device import` reads. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <csv.h>
#include <openssl/rand.h>

#include "camsim.h"

/* Models a generated fleet cycles through: ProdNbr, ProdFullName, ProdType. */
static const struct cs_model models[] = {
	{ "P1367", "AXIS P1367 Network Camera", "Network Camera" },
	{ "Q6114-E", "AXIS Q6114-E PTZ Dome Network Camera", "PTZ Dome Network Camera" },
	{ "M3106-L Mk II", "AXIS M3106-L Mk II Network Camera", "Network Camera" },
	{ "P3245-LVE", "AXIS P3245-LVE Network Camera", "Network Camera" },
	{ "Q1615 Mk III", "AXIS Q1615 Mk III Network Camera", "Network Camera" },
	{ "P1224-E", "AXIS P1224-E Network Camera", "Network Camera" },
	{ "Q3709-PVE", "AXIS Q3709-PVE Network Camera", "Panoramic Camera" },
};

static void
seterr(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int
cs_fw_parse(const char *v, int *major, int *minor)
{
	char *end;
	long a, b;

	if (v == NULL || v[0] < '0' || v[0] > '9')
		return -1;
	a = strtol(v, &end, 10);
	if (*end != '.' || end[1] < '0' || end[1] > '9' || a > 999)
		return -1;
	b = strtol(end + 1, &end, 10);
	if (b > 999)
		return -1;
	while (*end == '.' && end[1] >= '0' && end[1] <= '9') {
		strtol(end + 1, &end, 10);
	}
	if (*end != '\0')
		return -1;
	*major = (int)a;
	*minor = (int)b;
	return 0;
}

int
cs_fw_at_least(const cs_device *d, int major, int minor)
{
	return d->fw_major > major || (d->fw_major == major && d->fw_minor >= minor);
}

static const char *
jstr(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* A port: a JSON integer, or a string of digits (from CSV). -1 when absent, -2 when bad. */
static int
jport(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	long p;
	char *end;

	if (v == NULL || json_is_null(v))
		return -1;
	if (json_is_integer(v))
		p = (long)json_integer_value(v);
	else if (json_is_string(v) && json_string_value(v)[0] != '\0') {
		errno = 0;
		p = strtol(json_string_value(v), &end, 10);
		if (*end != '\0' || errno != 0)
			return -2;
	} else
		return -2;
	return p >= 1 && p <= 65535 ? (int)p : -2;
}

/* A boolean: JSON true/false, or "true"/"false"/"yes"/"no"/"1"/"0". -1 absent, -2 bad. */
static int
jbool(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	const char *s;

	if (v == NULL || json_is_null(v))
		return -1;
	if (json_is_boolean(v))
		return json_is_true(v);
	if (!json_is_string(v))
		return -2;
	s = json_string_value(v);
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "1") == 0)
		return 1;
	if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "0") == 0)
		return 0;
	if (s[0] == '\0')
		return -1;
	return -2;
}

static const struct cs_model *
model_find(const char *nbr)
{
	for (size_t i = 0; i < sizeof(models) / sizeof(models[0]); i++)
		if (strcmp(models[i].nbr, nbr) == 0)
			return &models[i];
	return cs_product_model(nbr);
}

static int
printable(const char *s, size_t max)
{
	size_t l = strlen(s);

	if (l == 0 || l > max)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* One device from a JSON object (a fleet file entry, a CSV row, or generated). */
static int
dev_from_json(camsim *cs, cs_device *d, json_t *o, const cs_opts *opt, size_t n, char *err,
    size_t errlen)
{
	const char *s;
	struct in_addr a;
	int v, fc;
	json_t *faults, *dg;
	const struct cs_model *m;
	unsigned char *oct;

	memset(d, 0, sizeof(*d));
	d->cs = cs;
	d->index = n;
	if ((s = jstr(o, "address")) == NULL || inet_pton(AF_INET, s, &a) != 1) {
		seterr(err, errlen, "device %zu: \"address\" must be an IPv4 address such as "
		    "127.20.0.1", n + 1);
		return -1;
	}
	inet_ntop(AF_INET, &a, d->address, sizeof(d->address));
	oct = (unsigned char *)&a.s_addr;
	d->http_port = (v = jport(o, "http_port")) == -1 ? opt->http_port : v;
	d->https_port = (v = jport(o, "https_port")) == -1 ? opt->https_port : v;
	if (d->http_port < 0 || d->https_port < 0 || d->http_port == d->https_port) {
		seterr(err, errlen, "device %s: http_port and https_port must be two different ports "
		    "1 to 65535", d->address);
		return -1;
	}
	if ((s = jstr(o, "serial")) == NULL)
		s = jstr(o, "mac");
	if (s != NULL) {
		size_t l = strlen(s);

		if (l != 12 || strspn(s, "0123456789ABCDEFabcdef") != 12) {
			seterr(err, errlen, "device %s: \"serial\" must be a MAC of 12 hex digits "
			    "(e.g. ACCC8E26DA33)", d->address);
			return -1;
		}
		for (size_t i = 0; i < 12; i++)
			d->serial[i] = (char)(s[i] >= 'a' ? s[i] - 32 : s[i]);
	} else {
		/* Axis's prefix and the address's last three octets: unique and stable. */
		snprintf(d->serial, sizeof(d->serial), "ACCC8E%02X%02X%02X", oct[1], oct[2], oct[3]);
	}
	s = jstr(o, "model");
	if (s == NULL || s[0] == '\0')
		s = models[n % (sizeof(models) / sizeof(models[0]))].nbr;
	if (!printable(s, sizeof(d->model) - 1)) {
		seterr(err, errlen, "device %s: \"model\" must be 1 to %zu printable characters",
		    d->address, sizeof(d->model) - 1);
		return -1;
	}
	cs_strlcpy(d->model, s, sizeof(d->model));
	if ((m = model_find(d->model)) != NULL) {
		cs_strlcpy(d->prod_name, m->full, sizeof(d->prod_name));
		cs_strlcpy(d->prod_type, m->type, sizeof(d->prod_type));
	} else {
		snprintf(d->prod_name, sizeof(d->prod_name), "AXIS %s Network Camera", d->model);
		cs_strlcpy(d->prod_type, "Network Camera", sizeof(d->prod_type));
	}
	s = jstr(o, "firmware");
	if (s == NULL || s[0] == '\0')
		s = opt->firmware != NULL ? opt->firmware : "11.11.0";
	if (strlen(s) >= sizeof(d->firmware) || cs_fw_parse(s, &d->fw_major, &d->fw_minor) != 0) {
		seterr(err, errlen, "device %s: firmware '%.40s' is not a version such as 11.11.0 or "
		    "5.50.9.2", d->address, s);
		return -1;
	}
	cs_strlcpy(d->firmware, s, sizeof(d->firmware));
	s = jstr(o, "user");
	if (s == NULL || s[0] == '\0')
		s = opt->user;
	if (!printable(s, sizeof(d->user) - 1) || strchr(s, ':') != NULL || strchr(s, '"')) {
		seterr(err, errlen, "device %s: \"user\" must be 1 to %zu printable characters "
		    "without ':' or '\"'", d->address, sizeof(d->user) - 1);
		return -1;
	}
	cs_strlcpy(d->user, s, sizeof(d->user));
	s = jstr(o, "password");
	if (s == NULL || s[0] == '\0')
		s = opt->password;
	if (!printable(s, sizeof(d->password) - 1)) {
		seterr(err, errlen, "device %s: \"password\" must be 1 to %zu printable characters",
		    d->address, sizeof(d->password) - 1);
		return -1;
	}
	cs_strlcpy(d->password, s, sizeof(d->password));
	s = jstr(o, "name");
	if (s != NULL && s[0] != '\0') {
		if (!printable(s, sizeof(d->name) - 1) || strchr(s, ',') != NULL) {
			seterr(err, errlen, "device %s: \"name\" must be a host name", d->address);
			return -1;
		}
		cs_strlcpy(d->name, s, sizeof(d->name));
	} else {
		snprintf(d->name, sizeof(d->name), "cam-%02x-%02x-%02x.camsim.test", oct[1], oct[2],
		    oct[3]);
	}
	if ((v = jbool(o, "basic_auth")) == -2) {
		seterr(err, errlen, "device %s: \"basic_auth\" must be true or false", d->address);
		return -1;
	}
	d->allow_basic = v == 1;
	if ((v = jbool(o, "bdi_anonymous")) == -2) {
		seterr(err, errlen, "device %s: \"bdi_anonymous\" must be true or false",
		    d->address);
		return -1;
	}
	d->bdi_anonymous = v != 0;
	/* Digest algorithms offered: MD5 on every firmware, SHA-256 too from AXIS OS 11
	 * (assumed); a fleet entry can name them ("digest": ["SHA-256"]). */
	d->digest_md5 = 1;
	d->digest_sha256 = d->fw_major >= 11;
	if ((dg = json_object_get(o, "digest")) != NULL && !json_is_null(dg)) {
		size_t i;
		json_t *x;

		if (!json_is_array(dg) || json_array_size(dg) == 0)
			goto bad_digest;
		d->digest_md5 = d->digest_sha256 = 0;
		json_array_foreach(dg, i, x) {
			if (json_is_string(x) && strcmp(json_string_value(x), "MD5") == 0)
				d->digest_md5 = 1;
			else if (json_is_string(x) && strcmp(json_string_value(x), "SHA-256") == 0)
				d->digest_sha256 = 1;
			else
				goto bad_digest;
		}
	}
	/* Which REST certificate API (device-protocol.md 3 and 4.1): none before 11.6, only
	 * v1beta from 11.6 to 11.10, v1 from 11.11. */
	if (!cs_fw_at_least(d, 11, 6))
		d->rest = CS_REST_NONE;
	else if (!cs_fw_at_least(d, 11, 11))
		d->rest = CS_REST_BETA;
	else
		d->rest = CS_REST_V1;
	if ((s = jstr(o, "rest_api")) != NULL && s[0] != '\0') {
		if (strcmp(s, "v1") == 0)
			d->rest = CS_REST_V1;
		else if (strcmp(s, "v1beta") == 0)
			d->rest = CS_REST_BETA;
		else if (strcmp(s, "v1beta-post") == 0) {
			d->rest = CS_REST_BETA;
			d->beta_post = 1;
		}
		else if (strcmp(s, "none") == 0)
			d->rest = CS_REST_NONE;
		else {
			seterr(err, errlen, "device %s: \"rest_api\" must be v1, v1beta, "
			    "v1beta-post or none",
			    d->address);
			return -1;
		}
		/* v1beta on AXIS OS 12 takes POST and PATCH (a public integration tested on
		 * 12.2: Keyfactor axis-ipcamera-orchestrator, AxisHttpClient.cs). */
		if (d->rest == CS_REST_BETA && d->fw_major >= 12)
			d->beta_post = 1;
		if (d->rest != CS_REST_NONE && d->fw_major < 11) {
			seterr(err, errlen, "device %s: a REST certificate API needs firmware 11 or "
			    "later", d->address);
			return -1;
		}
	}
	d->store_slots = 16;
	if ((v = jport(o, "store_slots")) == -2 || (v != -1 && v > 1024)) {
		seterr(err, errlen, "device %s: \"store_slots\" must be 1 to 1024", d->address);
		return -1;
	} else if (v > 0) {
		d->store_slots = v;
	}
	/* Starting state, used when the state directory has none for this device. */
	fc = jbool(o, "factory_cert");
	if (fc == -2) {
		seterr(err, errlen, "device %s: \"factory_cert\" must be true or false", d->address);
		return -1;
	}
	if (fc == -1)
		fc = cs_fw_at_least(d, 7, 20) && cs_dev_https_capable(d);
	if (fc && !cs_dev_https_capable(d)) {
		seterr(err, errlen, "device %s: %s with firmware %s cannot have a certificate",
		    d->address, d->model, d->firmware);
		return -1;
	}
	d->policy = fc ? CS_POLICY_BOTH : CS_POLICY_HTTP;
	if ((s = jstr(o, "policy")) != NULL && s[0] != '\0' && cs_policy_parse(s, &d->policy) != 0) {
		seterr(err, errlen, "device %s: \"policy\" must be http, https or both", d->address);
		return -1;
	}
	if (d->policy != CS_POLICY_HTTP && !fc) {
		seterr(err, errlen, "device %s: policy %s needs a certificate: set \"factory_cert\": "
		    "true (firmware 7.20 or later has one by default)", d->address, s);
		return -1;
	}
	d->tls = fc;    /* cs_store_factory makes the certificate when fc */
	faults = json_object_get(o, "faults");
	if (faults != NULL && !json_is_null(faults)) {
		json_t *one = faults, *arr = NULL;
		size_t i;

		if (json_is_object(faults)) {
			arr = json_array();
			json_array_append(arr, faults);
			one = arr;
		}
		if (!json_is_array(one) || json_array_size(one) > CS_MAX_FAULTS) {
			json_decref(arr);
			seterr(err, errlen, "device %s: \"faults\" must be a fault object or a list of "
			    "at most %d", d->address, CS_MAX_FAULTS);
			return -1;
		}
		for (i = 0; i < json_array_size(one); i++) {
			char ferr[200];

			if (cs_fault_from_json(json_array_get(one, i), &d->faults[d->nfaults],
			    ferr, sizeof(ferr)) != 0) {
				json_decref(arr);
				seterr(err, errlen, "device %s: fault %zu: %s", d->address, i + 1, ferr);
				return -1;
			}
			d->nfaults++;
		}
		json_decref(arr);
	}
	if (RAND_bytes(d->nonce_key, sizeof(d->nonce_key)) != 1) {
		seterr(err, errlen, "no random bytes for the nonce key");
		return -1;
	}
	return 0;
bad_digest:
	seterr(err, errlen, "device %s: \"digest\" must be a list of \"MD5\" and/or \"SHA-256\"",
	    d->address);
	return -1;
}

/* ------------------------------------------------------------------ CSV (libcsv) */

struct csvrows {
	json_t *rows;       /* array of arrays of strings */
	json_t *cur;
	int failed;
};

static void
csv_field(void *s, size_t len, void *data)
{
	struct csvrows *c = data;
	json_t *v;

	if (c->cur == NULL && (c->cur = json_array()) == NULL) {
		c->failed = 1;
		return;
	}
	if ((v = json_stringn_nocheck(s != NULL ? s : "", s != NULL ? len : 0)) == NULL ||
	    json_array_append_new(c->cur, v) != 0)
		c->failed = 1;
}

static void
csv_row(int term, void *data)
{
	struct csvrows *c = data;

	(void)term;
	if (c->cur == NULL)
		return;
	if (json_array_append_new(c->rows, c->cur) != 0)
		c->failed = 1;
	c->cur = NULL;
}

/* CSV to the JSON form: a header line names the columns (any fleet field); without one the
 * columns are those of `vmspki device import`: address,http_port,https_port,user,password,name. */
static json_t *
csv_to_json(const char *text, size_t len, char *err, size_t errlen)
{
	static const char *const import_cols[] = { "address", "http_port", "https_port", "user",
		"password", "name" };
	struct csv_parser p;
	struct csvrows c = { json_array(), NULL, 0 };
	json_t *out = json_array(), *hdr = NULL;
	size_t i, first = 0;

	if (c.rows == NULL || out == NULL || csv_init(&p, CSV_APPEND_NULL | CSV_EMPTY_IS_NULL) != 0)
		goto nomem;
	if (csv_parse(&p, text, len, csv_field, csv_row, &c) != len ||
	    csv_fini(&p, csv_field, csv_row, &c) != 0) {
		seterr(err, errlen, "the CSV fleet is malformed: %s", csv_strerror(csv_error(&p)));
		csv_free(&p);
		goto fail;
	}
	csv_free(&p);
	if (c.failed)
		goto nomem;
	if (json_array_size(c.rows) > 0) {
		json_t *r0 = json_array_get(c.rows, 0);
		const char *f0 = json_string_value(json_array_get(r0, 0));

		if (f0 != NULL && strcmp(f0, "address") == 0) {
			hdr = r0;
			first = 1;
		}
	}
	for (i = first; i < json_array_size(c.rows); i++) {
		json_t *row = json_array_get(c.rows, i), *o = json_object();
		size_t ncols = hdr != NULL ? json_array_size(hdr) : 6;

		if (o == NULL)
			goto nomem;
		if (json_array_size(row) == 1 && json_string_length(json_array_get(row, 0)) == 0) {
			json_decref(o);         /* blank line */
			continue;
		}
		if (json_array_size(row) > ncols) {
			json_decref(o);
			seterr(err, errlen, "CSV line %zu has %zu fields, more than the %zu columns",
			    i + 1, json_array_size(row), ncols);
			goto fail;
		}
		for (size_t k = 0; k < json_array_size(row); k++) {
			const char *col = hdr != NULL ? json_string_value(json_array_get(hdr, k)) :
			    import_cols[k];

			if (col != NULL && json_string_length(json_array_get(row, k)) > 0)
				json_object_set(o, col, json_array_get(row, k));
		}
		json_array_append_new(out, o);
	}
	json_decref(c.rows);
	json_decref(c.cur);
	return out;
nomem:
	seterr(err, errlen, "out of memory");
fail:
	json_decref(c.rows);
	json_decref(c.cur);
	json_decref(out);
	return NULL;
}

static json_t *
fleet_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	json_t *j = NULL;
	json_error_t je;

	if (f == NULL) {
		seterr(err, errlen, "cannot open the fleet file %s: %s", path, strerror(errno));
		return NULL;
	}
	for (;;) {
		if (len + 65536 + 1 > cap) {
			char *nb;

			cap = cap == 0 ? 65536 * 2 : cap * 2;
			if (cap > 64u * 1024 * 1024 || (nb = realloc(buf, cap)) == NULL) {
				seterr(err, errlen, "the fleet file %s is too large", path);
				goto out;
			}
			buf = nb;
		}
		if ((n = fread(buf + len, 1, 65536, f)) == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		seterr(err, errlen, "cannot read the fleet file %s", path);
		goto out;
	}
	buf[len] = '\0';
	{
		size_t i = 0;

		while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
			i++;
		if (i < len && buf[i] == '[') {
			j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
			if (j == NULL)
				seterr(err, errlen, "the fleet file %s is not valid JSON (line %d: %s)",
				    path, je.line, je.text);
			else if (!json_is_array(j)) {
				seterr(err, errlen, "the fleet file %s must hold a JSON array", path);
				json_decref(j);
				j = NULL;
			}
		} else {
			j = csv_to_json(buf, len, err, errlen);
		}
	}
out:
	fclose(f);
	free(buf);
	return j;
}

static json_t *
fleet_generate(const cs_opts *o, char *err, size_t errlen)
{
	struct in_addr a;
	uint32_t ip;
	json_t *arr = json_array();

	if (o->count < 1 || o->count > 100000) {
		seterr(err, errlen, "--count must be 1 to 100000");
		goto fail;
	}
	if (inet_pton(AF_INET, o->first != NULL ? o->first : "127.20.0.1", &a) != 1 ||
	    (ntohl(a.s_addr) >> 24) != 127) {
		seterr(err, errlen, "--first must be an address in 127.0.0.0/8, such as 127.20.0.1");
		goto fail;
	}
	ip = ntohl(a.s_addr);
	for (long i = 0; i < o->count; i++) {
		char s[16];
		struct in_addr x;

		/* Skip .0 and .255 in the last octet: they look odd in lists. */
		while ((ip & 0xff) == 0 || (ip & 0xff) == 255)
			ip++;
		if ((ip >> 24) != 127) {
			seterr(err, errlen, "--count %ld from --first runs past 127.255.255.254",
			    o->count);
			goto fail;
		}
		x.s_addr = htonl(ip);
		inet_ntop(AF_INET, &x, s, sizeof(s));
		json_array_append_new(arr, json_pack("{s:s}", "address", s));
		ip++;
	}
	return arr;
fail:
	json_decref(arr);
	return NULL;
}

int
cs_fleet_build(camsim *cs, const cs_opts *o, char *err, size_t errlen)
{
	json_t *arr = o->fleet != NULL ? fleet_file(o->fleet, err, errlen) :
	    fleet_generate(o, err, errlen);
	size_t n;

	if (arr == NULL)
		return -1;
	n = json_array_size(arr);
	if (n == 0) {
		seterr(err, errlen, "the fleet has no device");
		json_decref(arr);
		return -1;
	}
	if ((cs->devs = calloc(n, sizeof(cs_device))) == NULL) {
		seterr(err, errlen, "out of memory");
		json_decref(arr);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(arr, i);

		if (!json_is_object(e)) {
			seterr(err, errlen, "fleet entry %zu is not an object", i + 1);
			goto fail;
		}
		if (dev_from_json(cs, &cs->devs[i], e, o, i, err, errlen) != 0)
			goto fail;
		cs->ndevs = i + 1;
		for (size_t k = 0; k < i; k++) {
			cs_device *a = &cs->devs[k], *b = &cs->devs[i];

			if (strcmp(a->address, b->address) == 0) {
				seterr(err, errlen, "address %s is in the fleet twice", a->address);
				goto fail;
			}
			if (strcmp(a->serial, b->serial) == 0) {
				seterr(err, errlen, "serial %s is in the fleet twice (%s and %s)",
				    a->serial, a->address, b->address);
				goto fail;
			}
		}
	}
	json_decref(arr);
	return 0;
fail:
	json_decref(arr);
	return -1;
}

static void
csv_put(FILE *f, const char *s, int last)
{
	if (strpbrk(s, ",\"\r\n") != NULL)
		csv_fwrite(f, s, strlen(s));
	else
		fputs(s, f);
	fputc(last ? '\n' : ',', f);
}

int
cs_fleet_csv_out(camsim *cs, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int rc;

	if (f == NULL) {
		seterr(err, errlen, "out of memory");
		return -1;
	}
	fputs("address,http_port,https_port,user,password,name\n", f);
	for (size_t i = 0; i < cs->ndevs; i++) {
		cs_device *d = &cs->devs[i];
		char hp[8], sp[8];

		snprintf(hp, sizeof(hp), "%d", d->http_port);
		snprintf(sp, sizeof(sp), "%d", d->https_port);
		csv_put(f, d->address, 0);
		csv_put(f, hp, 0);
		csv_put(f, sp, 0);
		csv_put(f, d->user, 0);
		csv_put(f, d->password, 0);
		csv_put(f, d->name, 1);
	}
	if (fclose(f) != 0) {
		free(buf);
		seterr(err, errlen, "out of memory");
		return -1;
	}
	/* It holds the passwords: readable by its owner only. */
	rc = cs_write_atomic(path, buf, len, 0600);
	explicit_bzero(buf, len);
	free(buf);
	if (rc != 0)
		seterr(err, errlen, "cannot write %s", path);
	return rc;
}
