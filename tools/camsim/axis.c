/* The JSON and text side of a camera: basicdeviceinfo.cgi (firmware 8.40 and later),
 * param.cgi, and the REST certificate API (/config/rest/cert/v1, or v1beta with PUT on AXIS OS
 * 11.6 to 11.10), exactly as docs/device-protocol.md sections 3 and 4 pin them.
 * Sources: https://developer.axis.com/vapix/network-video/basic-device-information
 *          https://developer.axis.com/vapix/network-video/parameter-management
 *          https://developer.axis.com/vapix/device-configuration/certificate-management
 *          https://developer.axis.com/vapix/device-configuration/device-configuration-apis */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/err.h>

#include "camsim.h"

#define REST_V1   "/config/rest/cert/v1"
#define REST_BETA "/config/rest/cert/v1beta"

/* Which REST base the path is under: 1 v1, 2 v1beta, 0 neither; *rest points after it. */
static int
rest_base(const char *path, const char **rest)
{
	size_t l1 = strlen(REST_V1), lb = strlen(REST_BETA);

	if (strncmp(path, REST_BETA, lb) == 0 && (path[lb] == '\0' || path[lb] == '/')) {
		*rest = path + lb;
		return 2;
	}
	if (strncmp(path, REST_V1, l1) == 0 && (path[l1] == '\0' || path[l1] == '/')) {
		*rest = path + l1;
		return 1;
	}
	return 0;
}

/* "/certificates/abc/get_csr" -> seg0 "certificates", seg1 "abc", seg2 "get_csr". */
static int
segments(const char *rest, char seg[3][CS_ALIAS_MAX * 3 + 1])
{
	int n = 0;

	seg[0][0] = seg[1][0] = seg[2][0] = '\0';
	if (*rest == '\0')
		return 0;
	if (*rest != '/')
		return -1;
	rest++;
	while (*rest != '\0') {
		const char *e = strchr(rest, '/');
		size_t l = e != NULL ? (size_t)(e - rest) : strlen(rest);

		if (n == 3 || l == 0 || l > CS_ALIAS_MAX * 3)
			return -1;
		memcpy(seg[n], rest, l);
		seg[n][l] = '\0';
		n++;
		rest += l;
		if (*rest == '/')
			rest++;
		if (*rest == '\0' && e != NULL)
			return -1;      /* trailing slash */
	}
	return n;
}

cs_op
cs_axis_classify(cs_device *d, enum evhttp_cmd_type m, const char *path, cs_style *style)
{
	const char *rest = "";
	char seg[3][CS_ALIAS_MAX * 3 + 1];
	int n;

	(void)d;
	*style = CS_STYLE_HTML;
	if (strcmp(path, "/axis-cgi/basicdeviceinfo.cgi") == 0) {
		*style = CS_STYLE_JSON;
		return CS_OP_BDI;
	}
	if (strcmp(path, "/axis-cgi/param.cgi") == 0) {
		*style = CS_STYLE_TEXT;
		return CS_OP_PARAM;
	}
	if (rest_base(path, &rest) == 0)
		return CS_OP_UNKNOWN;
	*style = CS_STYLE_JSON;
	if ((n = segments(rest, seg)) < 0)
		return CS_OP_UNKNOWN;
	if (n == 0)
		return CS_OP_REST_API;
	if (strcmp(seg[0], "create_certificate") == 0 && n == 1)
		return CS_OP_REST_CREATE;
	if (strcmp(seg[0], "certificates") == 0) {
		if (n == 1)
			return CS_OP_REST_LIST_CERTS;
		if (n == 3 && strcmp(seg[2], "get_csr") == 0)
			return CS_OP_REST_CSR;
		if (n == 2)
			return m == EVHTTP_REQ_DELETE ? CS_OP_REST_DELETE_CERT :
			    m == EVHTTP_REQ_GET ? CS_OP_REST_GET_CERT : CS_OP_REST_REPLACE;
	}
	if (strcmp(seg[0], "ca_certificates") == 0) {
		if (n == 1)
			return m == EVHTTP_REQ_POST ? CS_OP_REST_ADD_CA : CS_OP_REST_LIST_CA;
		if (n == 2)
			return m == EVHTTP_REQ_DELETE ? CS_OP_REST_DELETE_CA : CS_OP_REST_GET_CA;
	}
	if ((strcmp(seg[0], "settings") == 0 && n <= 2) ||
	    (strcmp(seg[0], "keystores") == 0 && n == 1))
		return CS_OP_REST_SETTINGS;
	return CS_OP_UNKNOWN;
}

static void
not_found_html(cs_req *r)
{
	r->style = CS_STYLE_HTML;
	cs_reply_str(r, 404, "<html><head><title>404 Not Found</title></head><body>"
	    "<h1>404 Not Found</h1></body></html>\n");
}

/* ------------------------------------------------------------------ basicdeviceinfo */

static json_t *
bdi_properties(cs_device *d)
{
	char short_name[80];

	snprintf(short_name, sizeof(short_name), "AXIS %s", d->model);
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}",
	    "Architecture", "armv7hf", "Brand", "AXIS", "BuildDate", "Nov 07 2023 11:23",
	    "HardwareID", "764", "ProdFullName", d->prod_name, "ProdNbr", d->model,
	    "ProdShortName", short_name, "ProdType", d->prod_type, "ProdVariant", "",
	    "SerialNumber", d->serial, "Soc", "Axis Artpec-7",
	    "SocSerialNumber", "00000000-00000000-44123C08-C840037D", "Version", d->firmware,
	    "WebURL", "http://www.axis.com");
}

static void
bdi_error(cs_req *r, const char *api, json_t *ctx, int code, const char *msg)
{
	json_t *o = json_pack("{s:s,s:{s:i,s:s}}", "apiVersion", api, "error", "code", code,
	    "message", msg);

	if (o != NULL && ctx != NULL)
		json_object_set(o, "context", ctx);
	cs_reply_json(r, 200, o);
}

static void
handle_bdi(cs_req *r)
{
	cs_device *d = r->dev;
	json_t *in, *ctx, *o, *props;
	json_error_t je;
	const char *method, *api;

	/* The API exists from AXIS OS 8.40 (BDI "Identification"). */
	if (!cs_fw_at_least(d, 8, 40)) {
		not_found_html(r);
		return;
	}
	if (r->method != EVHTTP_REQ_POST) {
		r->style = CS_STYLE_HTML;
		cs_reply_str(r, 405, "<html><body><h1>405 Method Not Allowed</h1></body></html>\n");
		return;
	}
	if ((in = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, &je)) ==
	    NULL || !json_is_object(in)) {
		json_decref(in);
		bdi_error(r, "1.0", NULL, 4002, "Invalid JSON");
		return;
	}
	ctx = json_object_get(in, "context");
	method = json_string_value(json_object_get(in, "method"));
	api = json_string_value(json_object_get(in, "apiVersion"));
	if (api == NULL || api[0] != '1' || (api[1] != '\0' && api[1] != '.')) {
		bdi_error(r, "1.0", ctx, 4002, "Unsupported API version");
		json_decref(in);
		return;
	}
	if (method == NULL) {
		bdi_error(r, api, ctx, 4002, "Missing method");
		json_decref(in);
		return;
	}
	if (strcmp(method, "getSupportedVersions") == 0) {
		o = json_pack("{s:s,s:s,s:{s:[s]}}", "apiVersion", api, "method", method, "data",
		    "apiVersions", "1.3");
	} else if (strcmp(method, "getAllProperties") == 0 ||
	    strcmp(method, "getAllUnrestrictedProperties") == 0) {
		props = bdi_properties(d);
		/* The unrestricted ones leave out what only a user may read. */
		if (props != NULL && strcmp(method, "getAllUnrestrictedProperties") == 0) {
			json_object_del(props, "Architecture");
			json_object_del(props, "Soc");
			json_object_del(props, "SocSerialNumber");
		}
		o = json_pack("{s:s,s:s,s:{s:o}}", "apiVersion", api, "method", method, "data",
		    "propertyList", props);
	} else if (strcmp(method, "getProperties") == 0) {
		json_t *want = json_object_get(json_object_get(in, "params"), "propertyList"), *v;
		json_t *sel = json_object();
		size_t i;

		props = bdi_properties(d);
		if (!json_is_array(want)) {
			json_decref(props);
			json_decref(sel);
			bdi_error(r, api, ctx, 4002, "Invalid parameter: params.propertyList");
			json_decref(in);
			return;
		}
		json_array_foreach(want, i, v) {
			json_t *p = json_is_string(v) ? json_object_get(props, json_string_value(v)) :
			    NULL;

			if (p != NULL)
				json_object_set(sel, json_string_value(v), p);
		}
		json_decref(props);
		o = json_pack("{s:s,s:s,s:{s:o}}", "apiVersion", api, "method", method, "data",
		    "propertyList", sel);
	} else {
		bdi_error(r, api, ctx, 4002, "Method not supported");
		json_decref(in);
		return;
	}
	if (o != NULL && ctx != NULL)
		json_object_set(o, "context", ctx);
	json_decref(in);
	cs_reply_json(r, 200, o);
}

/* ------------------------------------------------------------------ param.cgi */

static void
handle_param(cs_req *r)
{
	cs_device *d = r->dev;
	struct evkeyvalq q;
	struct evbuffer *out = evbuffer_new();
	const char *action, *group;
	char https_port[8], short_name[80];
	const struct {
		const char *k, *v;
	} params[] = {
		{ "root.Brand.Brand", "AXIS" },
		{ "root.Brand.ProdFullName", d->prod_name },
		{ "root.Brand.ProdNbr", d->model },
		{ "root.Brand.ProdShortName", short_name },
		{ "root.Brand.ProdType", d->prod_type },
		{ "root.Brand.WebURL", "http://www.axis.com" },
		{ "root.HTTPS.Enabled", d->tls && d->policy != CS_POLICY_HTTP ? "yes" : "no" },
		{ "root.HTTPS.Port", https_port },
		{ "root.Properties.API.HTTP.Version", "3" },
		{ "root.Properties.Firmware.BuildDate", "Nov 07 2023 11:23" },
		{ "root.Properties.Firmware.Version", d->firmware },
		{ "root.Properties.HTTPS.HTTPS", cs_dev_https_capable(d) ? "yes" : "no" },
		{ "root.Properties.System.Architecture", "armv7hf" },
		{ "root.Properties.System.SerialNumber", d->serial },
	};

	snprintf(https_port, sizeof(https_port), "%d", d->https_port);
	snprintf(short_name, sizeof(short_name), "AXIS %s", d->model);
	memset(&q, 0, sizeof(q));   /* an empty TAILQ: first NULL, last &first */
	q.tqh_last = &q.tqh_first;
	if (out == NULL || r->query == NULL || evhttp_parse_query_str(r->query, &q) != 0) {
		evhttp_clear_headers(&q);
		if (out != NULL)
			evbuffer_add_printf(out, "# Error: No action specified\n");
		cs_reply(r, 200, NULL, out);
		return;
	}
	action = evhttp_find_header(&q, "action");
	group = evhttp_find_header(&q, "group");
	if (action == NULL || strcmp(action, "list") != 0) {
		evbuffer_add_printf(out, "# Error: Action '%s' is not supported\n",
		    action != NULL ? action : "");
	} else if (group == NULL || group[0] == '\0') {
		for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++)
			evbuffer_add_printf(out, "%s=%s\n", params[i].k, params[i].v);
	} else {
		char *groups = cs_strdup(group), *save = NULL;

		for (char *g = groups != NULL ? strtok_r(groups, ",", &save) : NULL; g != NULL;
		    g = strtok_r(NULL, ",", &save)) {
			char full[256];
			size_t fl;
			int found = 0;

			snprintf(full, sizeof(full), "%s%s", strncmp(g, "root.", 5) == 0 ? "" : "root.",
			    g);
			fl = strlen(full);
			for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
				if (strncmp(params[i].k, full, fl) == 0 &&
				    (params[i].k[fl] == '.' || params[i].k[fl] == '\0')) {
					evbuffer_add_printf(out, "%s=%s\n", params[i].k, params[i].v);
					found = 1;
				}
			}
			if (!found)
				evbuffer_add_printf(out, "# Error: Error -1 getting param in group "
				    "'%.100s'\n", g);
		}
		free(groups);
	}
	evhttp_clear_headers(&q);
	cs_reply(r, 200, NULL, out);
}

/* ------------------------------------------------------------------ REST */

static json_t *
cert_json(cs_cert *c)
{
	char *pem = cs_pki_cert_pem(c->cert);
	json_t *o = pem != NULL ? json_pack("{s:s,s:s,s:s}", "alias", c->alias, "certificate", pem,
	    "keystore", c->keystore) : NULL;

	free(pem);
	return o;
}

static json_t *
ca_json(cs_cacert *c)
{
	char *pem = cs_pki_cert_pem(c->cert);
	json_t *o = pem != NULL ? json_pack("{s:s,s:s}", "alias", c->alias, "certificate", pem) :
	    NULL;

	free(pem);
	return o;
}

static json_t *
certs_json(cs_device *d)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < d->ncerts; i++)
		json_array_append_new(a, cert_json(&d->certs[i]));
	return a;
}

static json_t *
cas_json(cs_device *d)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < d->ncas; i++)
		json_array_append_new(a, ca_json(&d->cas[i]));
	return a;
}

static void
rest_ok(cs_req *r, int status, json_t *data)
{
	json_t *o = json_pack("{s:s}", "status", "success");

	if (o != NULL && data != NULL)
		json_object_set_new(o, "data", data);
	else
		json_decref(data);
	cs_reply_json(r, status, o);
}

static void
rest_store_error(cs_req *r, cs_sterr e, const char *msg)
{
	switch (e) {
	case CS_ST_NOTFOUND:
		cs_reply_rest_error(r, 404, 1, "Resource not found: %s", r->path);
		break;
	case CS_ST_INTERNAL:
		cs_reply_rest_error(r, 500, 2, "Internal error: %s", msg);
		break;
	default:
		cs_reply_rest_error(r, 400, 5, "Validation error: %s", msg);
		break;
	}
}

static int
alias_ok(const char *a, size_t max)
{
	size_t l = a != NULL ? strlen(a) : 0;

	if (l == 0 || l > max)
		return 0;
	for (; *a; a++)
		if ((unsigned char)*a < 0x20 || *a == 0x7f)
			return 0;
	return 1;
}

/* The alias in the path, percent-decoded (RFC 3986). */
static int
path_alias(const char *seg, char out[CS_ALIAS_MAX + 1])
{
	size_t len = 0;
	char *dec = evhttp_uridecode(seg, 0, &len);
	int ok = dec != NULL && len == strlen(dec) && alias_ok(dec, CS_ALIAS_MAX);

	if (ok)
		cs_strlcpy(out, dec, CS_ALIAS_MAX + 1);
	free(dec);
	return ok;
}

/* {"data": {...}} with only the given keys allowed. NULL after an answer was sent. */
static json_t *
rest_body(cs_req *r, json_t **root, const char *const *allowed)
{
	json_error_t je;
	json_t *data;
	const char *k;
	json_t *v;

	*root = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, &je);
	if (*root == NULL || !json_is_object(*root)) {
		cs_reply_rest_error(r, 400, 5, "Validation error: the request body is not a JSON "
		    "object");
		return NULL;
	}
	data = json_object_get(*root, "data");
	if (!json_is_object(data) || json_object_size(*root) != 1) {
		cs_reply_rest_error(r, 400, 5, "Validation error: the request body must be "
		    "{\"data\": {...}}");
		return NULL;
	}
	json_object_foreach(data, k, v) {
		int ok = 0;

		for (const char *const *a = allowed; *a != NULL; a++)
			ok |= strcmp(*a, k) == 0;
		if (!ok) {
			cs_reply_rest_error(r, 400, 5, "Validation error: unknown field '%.64s'", k);
			return NULL;
		}
	}
	return data;
}

static void
create_done(cs_req *r)
{
	char err[256];
	cs_sterr e = cs_store_create_finish(r, err, sizeof(err));

	if (e != CS_ST_OK)
		rest_store_error(r, e, err);
	else
		rest_ok(r, 200, NULL);
}

static void
rest_create(cs_req *r)
{
	static const char *const allowed[] = { "alias", "key_type", "subject", "subject_alt_names",
		"keystore", "valid_from", "valid_to", NULL };
	json_t *root = NULL, *data, *sans, *v;
	const char *alias, *kt, *subj, *ks;
	char err[256];
	cs_sterr e;
	size_t i;

	if ((data = rest_body(r, &root, allowed)) == NULL)
		goto out;
	alias = json_string_value(json_object_get(data, "alias"));
	kt = json_string_value(json_object_get(data, "key_type"));
	subj = json_string_value(json_object_get(data, "subject"));
	ks = json_string_value(json_object_get(data, "keystore"));
	sans = json_object_get(data, "subject_alt_names");
	if (!alias_ok(alias, CS_ALIAS_MAX)) {
		cs_reply_rest_error(r, 400, 5, "Validation error: alias must be 1 to %d characters",
		    CS_ALIAS_MAX);
		goto out;
	}
	if (json_object_get(data, "key_type") != NULL && !json_is_null(json_object_get(data,
	    "key_type")) && kt == NULL) {
		cs_reply_rest_error(r, 400, 5, "Validation error: key_type must be a string");
		goto out;
	}
	if (kt != NULL && !cs_key_type_ok(kt)) {
		cs_reply_rest_error(r, 400, 5, "Validation error: Failed to generate key pair: key "
		    "type %.32s is not supported", kt);
		goto out;
	}
	if (ks != NULL && strcmp(ks, "SE0") != 0 && strcmp(ks, "TEE0") != 0) {
		cs_reply_rest_error(r, 400, 5, "Validation error: unknown keystore %.32s", ks);
		goto out;
	}
	if (subj == NULL) {
		cs_reply_rest_error(r, 400, 5, "Validation error: subject is required");
		goto out;
	}
	if ((r->subject = cs_pki_name_parse(subj, err, sizeof(err))) == NULL) {
		cs_reply_rest_error(r, 400, 5, "Validation error: %s", err);
		goto out;
	}
	if (sans != NULL && !json_is_null(sans)) {
		if (!json_is_array(sans) || json_array_size(sans) > 32 ||
		    (r->sans = calloc(json_array_size(sans) + 1, sizeof(char *))) == NULL) {
			cs_reply_rest_error(r, 400, 5, "Validation error: subject_alt_names must be a "
			    "list of at most 32 names");
			goto out;
		}
		json_array_foreach(sans, i, v) {
			const char *s = json_string_value(v);

			if (s == NULL || !cs_pki_san_ok(s)) {
				cs_reply_rest_error(r, 400, 5, "Validation error: subject alternative name "
				    "'%.80s' is not DNS:name or IP:address", s != NULL ? s : "");
				goto out;
			}
			r->sans[r->nsans++] = cs_strdup(s);
		}
	}
	for (int k = 0; k < 2; k++) {
		json_t *t = json_object_get(data, k == 0 ? "valid_from" : "valid_to");

		if (t == NULL || json_is_null(t))
			continue;
		if (!json_is_integer(t) || json_integer_value(t) < 0) {
			cs_reply_rest_error(r, 400, 5, "Validation error: %s must be an integer",
			    k == 0 ? "valid_from" : "valid_to");
			goto out;
		}
		if (k == 0)
			r->not_before = (time_t)json_integer_value(t);
		else
			r->not_after = (time_t)json_integer_value(t);
	}
	if (r->not_before != 0 && r->not_after != 0 && r->not_after <= r->not_before) {
		cs_reply_rest_error(r, 400, 5, "Validation error: valid_to is before valid_from");
		goto out;
	}
	cs_strlcpy(r->alias, alias, sizeof(r->alias));
	cs_strlcpy(r->key_type, kt != NULL ? kt : "RSA-2048", sizeof(r->key_type));
	cs_strlcpy(r->keystore, ks != NULL ? ks : "", sizeof(r->keystore));
	if ((e = cs_store_create_start(r, create_done, err, sizeof(err))) != CS_ST_OK)
		rest_store_error(r, e, err);
out:
	json_decref(root);
}

static void
rest_csr(cs_req *r, const char *alias)
{
	static const char *const allowed[] = { NULL };
	json_t *root = NULL;
	X509_REQ *csr = NULL;
	char err[256], *pem;
	cs_sterr e;

	/* The driver sends {"data":{}}; an empty body is taken too. */
	if (r->body_len > 0 && rest_body(r, &root, allowed) == NULL) {
		json_decref(root);
		return;
	}
	json_decref(root);
	e = cs_store_csr(r->dev, alias, NULL, r->fault == CS_F_WRONG_CSR, &csr, err, sizeof(err));
	if (e != CS_ST_OK) {
		rest_store_error(r, e, err);
		return;
	}
	pem = cs_pki_req_pem(csr);
	X509_REQ_free(csr);
	if (pem == NULL) {
		rest_store_error(r, CS_ST_INTERNAL, "PKCS#10 generation failed");
		return;
	}
	rest_ok(r, 200, json_string(pem));
	free(pem);
}

static void
rest_replace(cs_req *r, const char *alias)
{
	static const char *const allowed[] = { "certificate", NULL };
	json_t *root = NULL, *data;
	const char *pem;
	STACK_OF(X509) *sk;
	char err[256];
	cs_sterr e;

	if ((data = rest_body(r, &root, allowed)) == NULL)
		goto out;
	if (cs_dev_cert(r->dev, alias) == NULL) {
		rest_store_error(r, CS_ST_NOTFOUND, "");
		goto out;
	}
	pem = json_string_value(json_object_get(data, "certificate"));
	if (pem == NULL || (sk = cs_pki_pem_certs(pem, strlen(pem), 16)) == NULL) {
		cs_reply_rest_error(r, 400, 5, "Validation error: Invalid certificate");
		goto out;
	}
	if ((e = cs_store_install(r->dev, alias, sk, err, sizeof(err))) != CS_ST_OK) {
		sk_X509_pop_free(sk, X509_free);
		rest_store_error(r, e, err);
		goto out;
	}
	rest_ok(r, 200, NULL);
out:
	json_decref(root);
}

static void
rest_add_ca(cs_req *r)
{
	static const char *const allowed[] = { "alias", "certificate", NULL };
	json_t *root = NULL, *data;
	const char *alias, *pem;
	STACK_OF(X509) *sk = NULL;
	X509 *x;
	char err[256];
	cs_sterr e;

	if ((data = rest_body(r, &root, allowed)) == NULL)
		goto out;
	alias = json_string_value(json_object_get(data, "alias"));
	pem = json_string_value(json_object_get(data, "certificate"));
	if (!alias_ok(alias, CS_ALIAS_MAX)) {
		cs_reply_rest_error(r, 400, 5, "Validation error: alias must be 1 to %d characters",
		    CS_ALIAS_MAX);
		goto out;
	}
	if (pem == NULL || (sk = cs_pki_pem_certs(pem, strlen(pem), 1)) == NULL) {
		cs_reply_rest_error(r, 400, 5, "Validation error: Invalid certificate");
		goto out;
	}
	x = sk_X509_shift(sk);
	if ((e = cs_store_add_ca(r->dev, alias, x, err, sizeof(err))) != CS_ST_OK) {
		X509_free(x);
		rest_store_error(r, e, err);
		goto out;
	}
	rest_ok(r, 201, NULL);
out:
	sk_X509_pop_free(sk, X509_free);
	json_decref(root);
}

static void
handle_rest(cs_req *r)
{
	cs_device *d = r->dev;
	const char *rest = "";
	char seg[3][CS_ALIAS_MAX * 3 + 1], alias[CS_ALIAS_MAX + 1], err[256];
	int base = rest_base(r->path, &rest), beta = base == 2;
	enum evhttp_cmd_type m = r->method;
	/* v1beta (AXIS OS 11.10 and before) takes PUT where v1 takes POST or PATCH [DCA]. */
	enum evhttp_cmd_type action = beta && !d->beta_post ? EVHTTP_REQ_PUT : EVHTTP_REQ_POST;
	enum evhttp_cmd_type set = beta && !d->beta_post ? EVHTTP_REQ_PUT : EVHTTP_REQ_PATCH;
	cs_sterr e;
	int n;

	if (d->rest == CS_REST_NONE || (beta && d->rest != CS_REST_BETA) ||
	    (!beta && d->rest != CS_REST_V1)) {
		/* No such API on this firmware: AXIS OS 11 has the REST framework and answers in
		 * its JSON; older firmware's web server sends its own page. */
		if (d->fw_major >= 11)
			cs_reply_rest_error(r, 404, 1, "Resource not found: %s", r->path);
		else
			not_found_html(r);
		return;
	}
	n = segments(rest, seg);
	switch (r->op) {
	case CS_OP_REST_API:
		if (m != EVHTTP_REQ_GET)
			goto method;
		rest_ok(r, 200, json_pack("{s:o,s:o,s:[s],s:{s:s}}", "ca_certificates",
		    cas_json(d), "certificates", certs_json(d), "keystores", "SE0", "settings",
		    "keystore", "SE0"));
		return;
	case CS_OP_REST_LIST_CERTS:
		if (m != EVHTTP_REQ_GET)
			goto method;
		rest_ok(r, 200, certs_json(d));
		return;
	case CS_OP_REST_LIST_CA:
		if (m != EVHTTP_REQ_GET)
			goto method;
		rest_ok(r, 200, cas_json(d));
		return;
	case CS_OP_REST_SETTINGS:
		if (m != EVHTTP_REQ_GET)
			goto method;
		if (strcmp(seg[0], "keystores") == 0)
			rest_ok(r, 200, json_pack("[s]", "SE0"));
		else if (n == 2 && strcmp(seg[1], "keystore") == 0)
			rest_ok(r, 200, json_string("SE0"));
		else if (n == 1)
			rest_ok(r, 200, json_pack("{s:s}", "keystore", "SE0"));
		else
			cs_reply_rest_error(r, 404, 1, "Resource not found: %s", r->path);
		return;
	case CS_OP_REST_CREATE:
		if (m != action)
			goto method;
		rest_create(r);
		return;
	case CS_OP_REST_ADD_CA:
		rest_add_ca(r);
		return;
	default:
		break;
	}
	if (n < 2 || !path_alias(seg[1], alias)) {
		cs_reply_rest_error(r, 404, 1, "Resource not found: %s", r->path);
		return;
	}
	switch (r->op) {
	case CS_OP_REST_GET_CERT: {
		cs_cert *c = cs_dev_cert(d, alias);

		if (c == NULL)
			cs_reply_rest_error(r, 404, 1, "Resource not found: %s", r->path);
		else
			rest_ok(r, 200, cert_json(c));
		return;
	}
	case CS_OP_REST_GET_CA: {
		cs_cacert *c = cs_dev_ca(d, alias);

		if (m != EVHTTP_REQ_GET)
			goto method;
		if (c == NULL)
			cs_reply_rest_error(r, 404, 1, "Resource not found: %s", r->path);
		else
			rest_ok(r, 200, ca_json(c));
		return;
	}
	case CS_OP_REST_CSR:
		if (m != action)
			goto method;
		rest_csr(r, alias);
		return;
	case CS_OP_REST_REPLACE:
		if (m != set)
			goto method;
		rest_replace(r, alias);
		return;
	case CS_OP_REST_DELETE_CERT:
	case CS_OP_REST_DELETE_CA:
		e = cs_store_delete(d, alias, r->op == CS_OP_REST_DELETE_CERT,
		    r->op == CS_OP_REST_DELETE_CA, err, sizeof(err));
		if (e != CS_ST_OK)
			rest_store_error(r, e, err);
		else
			rest_ok(r, 200, NULL);
		return;
	default:
		cs_reply_rest_error(r, 404, 1, "Resource not found: %s", r->path);
		return;
	}
method:
	cs_reply_rest_error(r, 405, 4, "Method not allowed: %s", r->path);
}

void
cs_axis_handle(cs_req *r)
{
	switch (r->op) {
	case CS_OP_BDI:
		handle_bdi(r);
		return;
	case CS_OP_PARAM:
		if (r->method != EVHTTP_REQ_GET && r->method != EVHTTP_REQ_POST) {
			not_found_html(r);
			return;
		}
		if (r->method == EVHTTP_REQ_POST && r->query == NULL && r->body_len > 0)
			r->query = cs_strdup((const char *)r->body);   /* form-encoded body */
		handle_param(r);
		return;
	case CS_OP_UNKNOWN:
		if (r->style == CS_STYLE_JSON && r->dev->fw_major >= 11) {
			cs_reply_rest_error(r, 404, 1, "Resource not found: %s", r->path);
			return;
		}
		not_found_html(r);
		return;
	default:
		handle_rest(r);
		return;
	}
}
