/* The Axis VAPIX device driver: each operation is a short conversation of HTTP requests (sans
 * I/O, see driver.h). This file holds the conversation, the probe (identity and which API the
 * firmware speaks) and the checks every answer goes through; the messages themselves are in
 * vapix_soap.c and vapix_rest.c and are pinned in docs/device-protocol.md. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "vapix_internal.h"
#include "vmspki/util.h"

static const char *const key_types[] = {
	"RSA-2048", "RSA-3072", "RSA-4096", "EC-P256", "EC-P384", "EC-P521", NULL
};

const char *
vx_op_name(const vx_op *op)
{
	switch (op->kind) {
	case VP_DOP_PROBE:        return "identify the device";
	case VP_DOP_CA_LIST:      return "list CA certificates";
	case VP_DOP_CA_ADD:       return "add CA certificate";
	case VP_DOP_CA_DELETE:    return "remove CA certificate";
	case VP_DOP_CERT_LIST:    return "list certificates";
	case VP_DOP_KEY_CREATE:   return "create key pair";
	case VP_DOP_CSR_GET:      return "get certificate request";
	case VP_DOP_CERT_INSTALL: return "install certificate";
	case VP_DOP_CERT_DELETE:  return "remove certificate";
	case VP_DOP_TLS_GET:      return "read web server settings";
	case VP_DOP_TLS_SET:      return "set web server certificate";
	case VP_DOP_IDENTIFY:     return "identify the device without credentials";
	case VP_DOP_DOT1X_GET:    return "read 802.1X settings";
	case VP_DOP_DOT1X_SET:    return "configure 802.1X";
	case VP_DOP_DOT1X_DELETE: return "remove 802.1X configuration";
	}
	return "device operation";
}

void
vx_fail(vx_op *op, vp_dev_fail f, int retryable, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(op->msg, sizeof(op->msg), fmt, ap);
	va_end(ap);
	op->fail = f;
	op->retryable = retryable;
	op->done = 1;
}

void
vx_finish(vx_op *op)
{
	op->fail = VP_DEVF_NONE;
	op->msg[0] = '\0';
	op->done = 1;
}

void
vx_quote(char *dst, size_t n, const char *src, size_t len)
{
	size_t i, o = 0;

	if (n == 0)
		return;
	for (i = 0; i < len && o + 1 < n && o < 400; i++) {
		unsigned char c = (unsigned char)src[i];
		dst[o++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
	}
	dst[o] = '\0';
}

void
vx_fail_status(vx_op *op, long status)
{
	vx_fail(op, VP_DEVF_DEVICE, status >= 500, "%s: the device answered HTTP %ld",
	    vx_op_name(op), status);
}

int
vx_text_ok(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || (n = strlen(s)) == 0 || n > max)
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

int
vx_pct_encode(char *dst, size_t n, const char *alias)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = strlen(dst);

	for (; *alias != '\0'; alias++) {
		unsigned char c = (unsigned char)*alias;
		if (isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
			if (o + 1 >= n)
				return 0;
			dst[o++] = (char)c;
		} else {
			if (o + 3 >= n)
				return 0;
			dst[o++] = '%';
			dst[o++] = hex[c >> 4];
			dst[o++] = hex[c & 15];
		}
	}
	dst[o] = '\0';
	return 1;
}

vp_err
vx_request(vx_op *op, const char *method, const char *content_type, char *body,
    size_t body_len, vp_error *e, const char *path_fmt, ...)
{
	va_list ap;
	int n;

	free(op->req.body);
	op->req.method = method;
	op->req.content_type = content_type;
	op->req.body = body;
	op->req.body_len = body_len;
	va_start(ap, path_fmt);
	n = vsnprintf(op->req.path, sizeof(op->req.path), path_fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(op->req.path))
		return vp_error_set(e, VP_ERR_INTERNAL, "device request path too long");
	return VP_OK;
}

/* ---- arguments ---- */

static void
strv_free(char **v, size_t n)
{
	size_t i;

	if (v == NULL)
		return;
	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static vp_err
strv_copy(const char *const *in, size_t max_len, const char *what, char ***out, size_t *n,
    vp_error *e)
{
	size_t i, cnt = 0;

	*out = NULL;
	*n = 0;
	if (in == NULL)
		return VP_OK;
	while (in[cnt] != NULL)
		if (++cnt > VX_MAX_LIST)
			return vp_error_set(e, VP_ERR_INVALID, "too many %s (at most %d)", what,
			    VX_MAX_LIST);
	if ((*out = calloc(cnt + 1, sizeof(char *))) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	for (i = 0; i < cnt; i++) {
		if (!vx_text_ok(in[i], max_len)) {
			strv_free(*out, i);
			*out = NULL;
			return vp_error_set(e, VP_ERR_INVALID,
			    "%s entry %zu is empty, longer than %zu bytes or has control characters",
			    what, i + 1, max_len);
		}
		if (((*out)[i] = vp_strdup(in[i])) == NULL) {
			strv_free(*out, i);
			*out = NULL;
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		}
	}
	*n = cnt;
	return VP_OK;
}

static vp_err
check_args(vp_dop_kind kind, const vp_dop_args *a, int soap, vp_error *e)
{
	size_t amax = soap ? VX_ALIAS_SOAP : VX_ALIAS_REST;
	size_t i;
	vp_err rc;
	int needs_alias = kind == VP_DOP_CA_ADD || kind == VP_DOP_CA_DELETE ||
	    kind == VP_DOP_KEY_CREATE || kind == VP_DOP_CSR_GET ||
	    kind == VP_DOP_CERT_INSTALL || kind == VP_DOP_CERT_DELETE;

	if (kind == VP_DOP_TLS_SET)
		amax = VX_ALIAS_REST;
	if ((needs_alias || (kind == VP_DOP_TLS_SET && a->alias != NULL)) &&
	    !vx_text_ok(a->alias, amax))
		return vp_error_set(e, VP_ERR_INVALID,
		    "the certificate alias must be 1 to %zu characters without control characters",
		    amax);
	if ((kind == VP_DOP_CA_ADD || kind == VP_DOP_CERT_INSTALL) && a->pem == NULL)
		return vp_error_set(e, VP_ERR_INVALID, "no certificate was given to send");
	if (kind == VP_DOP_KEY_CREATE) {
		if (!vx_text_ok(a->subject, 1024) || strchr(a->subject, '=') == NULL)
			return vp_error_set(e, VP_ERR_INVALID,
			    "the subject must be a distinguished name such as CN=10.0.0.5");
		if (soap && (rc = vx_soap_subject_check(a->subject, e)) != VP_OK)
			return rc;
		if (a->key_type != NULL) {
			for (i = 0; key_types[i] != NULL; i++)
				if (strcmp(a->key_type, key_types[i]) == 0)
					break;
			if (key_types[i] == NULL)
				return vp_error_set(e, VP_ERR_INVALID,
				    "unknown key type: use RSA-2048, RSA-3072, RSA-4096, EC-P256, "
				    "EC-P384 or EC-P521");
			if (soap && strcmp(a->key_type, "RSA-2048") != 0)
				return vp_error_set(e, VP_ERR_INVALID,
				    "firmware before 11 makes RSA-2048 keys only (asked: %s)",
				    a->key_type);
		}
		for (i = 0; a->sans != NULL && a->sans[i] != NULL; i++)
			if (strncmp(a->sans[i], "DNS:", 4) != 0 && strncmp(a->sans[i], "IP:", 3) != 0)
				return vp_error_set(e, VP_ERR_INVALID,
				    "subject alternative name \"%.64s\" must start with DNS: or IP:",
				    a->sans[i]);
	}
	if (kind == VP_DOP_KEY_CREATE && a->keystore != NULL) {
		size_t n = strlen(a->keystore);

		if (n == 0 || n > 15 || strspn(a->keystore, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "abcdefghijklmnopqrstuvwxyz0123456789") != n)
			return vp_error_set(e, VP_ERR_INVALID, "a key store is named by 1 to 15 "
			    "letters and digits (TEE0, SE0)");
		if (soap)
			return vp_error_set(e, VP_ERR_INVALID, "key store %s was asked for, but "
			    "firmware before AXIS OS 11 cannot choose where it makes a key: set "
			    "device.keystore to auto or upgrade the firmware", a->keystore);
	}
	if (kind == VP_DOP_TLS_SET && a->policy != VP_POLICY_UNKNOWN &&
	    a->policy != VP_POLICY_HTTP && a->policy != VP_POLICY_HTTPS &&
	    a->policy != VP_POLICY_BOTH)
		return vp_error_set(e, VP_ERR_INVALID, "unknown connection policy");
	return VP_OK;
}

static vp_err
copy_args(vx_op *op, const vp_dop_args *a, vp_error *e)
{
	vp_err rc;

	if ((a->alias != NULL && (op->alias = vp_strdup(a->alias)) == NULL) ||
	    (a->subject != NULL && (op->subject = vp_strdup(a->subject)) == NULL) ||
	    (op->key_type = vp_strdup(a->key_type != NULL ? a->key_type : "RSA-2048")) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if (op->kind == VP_DOP_CA_ADD || op->kind == VP_DOP_CERT_INSTALL) {
		if ((rc = vx_pem_first_cert(a->pem, &op->leaf_pem, &op->leaf_b64, e)) != VP_OK)
			return rc;
	}
	if ((rc = strv_copy(a->sans, 253 + 4, "subject alternative names", &op->sans, &op->nsans,
	    e)) != VP_OK)
		return rc;
	if ((rc = strv_copy(a->ca_aliases, VX_ALIAS_REST, "CA aliases", &op->ca_aliases,
	    &op->nca_aliases, e)) != VP_OK)
		return rc;
	op->has_ca_aliases = a->ca_aliases != NULL;
	if (a->keystore != NULL && (op->keystore = vp_strdup(a->keystore)) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	op->policy = a->policy;
	return VP_OK;
}

static void vapix_free(vp_dop *d);

/* The VAPIX operation behind the generic head (the head is its first member). */
static vx_op *
vx(vp_dop *d)
{
	return (vx_op *)d;
}

static const vx_op *
vx_const(const vp_dop *d)
{
	return (const vx_op *)d;
}

static int
vapix_owns_api(const char *api)
{
	return strcmp(api, VP_DEV_API_SOAP) == 0 || strcmp(api, VP_DEV_API_REST) == 0 ||
	    strcmp(api, VP_DEV_API_REST_BETA) == 0 || strcmp(api, VP_DEV_API_REST_BETA_POST) == 0;
}

/* Every supported firmware makes its own keys and takes a web server certificate; the REST
 * certificate API (AXIS OS 11+) also chooses among key stores; 802.1X (EAP-TLS) exists on
 * both (device-api.md). */
static unsigned
vapix_caps(const char *api, const char *firmware)
{
	(void)firmware;
	if (!vapix_owns_api(api))
		return 0;
	if (strcmp(api, VP_DEV_API_SOAP) == 0)
		return VP_DCAP_HTTPS | VP_DCAP_KEYGEN | VP_DCAP_8021X;
	return VP_DCAP_HTTPS | VP_DCAP_KEYGEN | VP_DCAP_8021X | VP_DCAP_KEYSTORES;
}

static vp_err
vapix_start(vp_dop_kind kind, const vp_dop_args *args, const char *api, vp_dop **out,
    vp_error *e)
{
	static const vp_dop_args none;
	vx_op *op = NULL;
	vp_err rc;
	int cert_op = kind != VP_DOP_PROBE && kind != VP_DOP_TLS_GET && kind != VP_DOP_TLS_SET &&
	    kind != VP_DOP_IDENTIFY;
	int soap;

	*out = NULL;
	if (args == NULL)
		args = &none;
	if (api == NULL)
		api = "";
	if (kind < VP_DOP_PROBE || kind > VP_DOP_DOT1X_DELETE)
		return vp_error_set(e, VP_ERR_INVALID, "unknown device operation %d", (int)kind);
	if (strcmp(api, "") != 0 && strcmp(api, VP_DEV_API_SOAP) != 0 &&
	    strcmp(api, VP_DEV_API_REST) != 0 && strcmp(api, VP_DEV_API_REST_BETA) != 0 &&
	    strcmp(api, VP_DEV_API_REST_BETA_POST) != 0 && strcmp(api, VP_DEV_API_UNSUPPORTED) != 0)
		return vp_error_set(e, VP_ERR_INVALID, "unknown device API \"%.32s\"", api);
	if (cert_op && api[0] == '\0')
		return vp_error_set(e, VP_ERR_INVALID,
		    "the device has not been identified yet: probe it first");
	soap = strcmp(api, VP_DEV_API_SOAP) == 0;
	if (kind < VP_DOP_DOT1X_GET && (rc = check_args(kind, args, soap, e)) != VP_OK)
		return rc;
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	op->kind = kind;
	snprintf(op->api, sizeof(op->api), "%s", kind == VP_DOP_PROBE ||
	    kind == VP_DOP_IDENTIFY ? "" : api);
	snprintf(op->probe_was, sizeof(op->probe_was), "%s", api);
	op->res.policy = VP_POLICY_UNKNOWN;
	if ((rc = kind >= VP_DOP_DOT1X_GET ? vx_dot1x_check(op, args, e) :
	    copy_args(op, args, e)) != VP_OK) {
		vapix_free(&op->base);
		return rc;
	}
	if (kind >= VP_DOP_DOT1X_GET)
		op->step = VX_DOT1X;
	else if (kind == VP_DOP_PROBE || kind == VP_DOP_IDENTIFY)
		op->step = VX_BDI;
	else if (kind == VP_DOP_TLS_GET || kind == VP_DOP_TLS_SET)
		op->step = VX_TLS_GET;
	else
		op->step = VX_MAIN;
	if (kind != VP_DOP_PROBE && kind != VP_DOP_IDENTIFY &&
	    strcmp(api, VP_DEV_API_UNSUPPORTED) == 0)
		vx_fail(op, VP_DEVF_UNSUPPORTED, 0,
		    "%s: the device cannot have its HTTPS certificate managed (its product or "
		    "firmware, as identify found): identify it again after a firmware upgrade",
		    vx_op_name(op));
	*out = &op->base;
	return VP_OK;
}

/* ---- probe: identity and firmware ---- */

/* "10.12.114" into 10 and 12; 0 if it does not start with two numbers. */
static int
parse_version(const char *v, long *major, long *minor)
{
	char *end;

	if (!isdigit((unsigned char)v[0]))
		return 0;
	*major = strtol(v, &end, 10);
	if (*end != '.' || !isdigit((unsigned char)end[1]) || *major > 1000)
		return 0;
	*minor = strtol(end + 1, &end, 10);
	return *minor <= 1000;
}

static int
serial_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= sizeof(((vp_dop_result *)0)->serial))
		return 0;
	for (; *s != '\0'; s++)
		if (!isxdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* Stores one identity field: 1, or 0 with op failed (too long, control characters). */
static int
set_field(vx_op *op, char *dst, size_t n, const char *val, const char *what)
{
	if (!vx_text_ok(val, n - 1)) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0,
		    "identify the device: its %s is empty, longer than %zu bytes or not text",
		    what, n - 1);
		return 0;
	}
	memcpy(dst, val, strlen(val) + 1);
	return 1;
}

/* Identity read: decide what the firmware can do. */
static void
decide(vx_op *op)
{
	long major, minor;

	if (!serial_ok(op->res.serial)) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0,
		    "identify the device: its serial number is not a MAC address");
		return;
	}
	if (!parse_version(op->res.firmware, &major, &minor)) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0,
		    "identify the device: its firmware version \"%s\" is not a version number",
		    op->res.firmware);
		return;
	}
	if (!vx_product_allows(op, major, minor))
		return;
	if (major < 11) {
		snprintf(op->api, sizeof(op->api), "%s", VP_DEV_API_SOAP);
		op->step = VX_TLS_GET;
	} else {
		op->step = VX_REST_V1;
	}
}

/* ProdType and ProdNbr for the product rules: optional, kept only when they are short text. */
static void
product_fields(vx_op *op, const char *type, const char *nbr)
{
	if (vx_text_ok(type, sizeof(op->prod_type) - 1))
		memcpy(op->prod_type, type, strlen(type) + 1);
	if (vx_text_ok(nbr, sizeof(op->prod_nbr) - 1))
		memcpy(op->prod_nbr, nbr, strlen(nbr) + 1);
}

/* basicdeviceinfo getAllProperties (developer.axis.com/vapix/network-video/basic-device-information) */
static vp_err
handle_bdi(vx_op *op, const vp_http_resp *r)
{
	json_t *root = NULL, *pl, *err;
	json_error_t jerr;
	const char *serial, *model, *fw, *brand;
	char q[420];

	if (r->status == 404 && op->kind == VP_DOP_IDENTIFY) {
		vx_fail(op, VP_DEVF_UNSUPPORTED, 0, "identify the device without credentials: it "
		    "has no basicdeviceinfo.cgi (not an Axis device, or firmware before 8.40)");
		return VP_OK;
	}
	if (r->status == 404) {           /* firmware before 8.40: parameters instead */
		op->step = VX_PARAM;
		return VP_OK;
	}
	if (r->status < 200 || r->status > 299) {
		vx_fail_status(op, r->status);
		return VP_OK;
	}
	if (r->len == 0 || r->len > VX_MAX_ANSWER ||
	    (root = json_loadb((const char *)r->body, r->len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL || !json_is_object(root)) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0,
		    "identify the device: the basicdeviceinfo answer is not a JSON object");
		goto out;
	}
	if ((err = json_object_get(root, "error")) != NULL) {
		const char *m = json_string_value(json_object_get(err, "message"));
		vx_quote(q, sizeof(q), m != NULL ? m : "", m != NULL ? strlen(m) : 0);
		vx_fail(op, VP_DEVF_DEVICE, 0, "identify the device: the device refused: %s (code %lld)",
		    q, (long long)json_integer_value(json_object_get(err, "code")));
		goto out;
	}
	pl = json_object_get(json_object_get(root, "data"), "propertyList");
	serial = json_string_value(json_object_get(pl, "SerialNumber"));
	fw = json_string_value(json_object_get(pl, "Version"));
	brand = json_string_value(json_object_get(pl, "Brand"));
	if ((model = json_string_value(json_object_get(pl, "ProdShortName"))) == NULL &&
	    (model = json_string_value(json_object_get(pl, "ProdFullName"))) == NULL)
		model = json_string_value(json_object_get(pl, "ProdNbr"));
	if (!json_is_object(pl) || serial == NULL || fw == NULL || model == NULL) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "identify the device: the basicdeviceinfo answer "
		    "has no data.propertyList with SerialNumber, Version and a product name");
		goto out;
	}
	product_fields(op, json_string_value(json_object_get(pl, "ProdType")),
	    json_string_value(json_object_get(pl, "ProdNbr")));
	if (!set_field(op, op->res.serial, sizeof(op->res.serial), serial, "serial number") ||
	    !set_field(op, op->res.model, sizeof(op->res.model), model, "product name") ||
	    !set_field(op, op->res.firmware, sizeof(op->res.firmware), fw, "firmware version") ||
	    (brand != NULL && brand[0] != '\0' &&
	    !set_field(op, op->res.brand, sizeof(op->res.brand), brand, "brand")))
		goto out;
	/* Discovery asks who the device is, nothing more: the API is found when it is added. */
	if (op->kind == VP_DOP_IDENTIFY && serial_ok(op->res.serial))
		vx_finish(op);
	else if (op->kind == VP_DOP_IDENTIFY)
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "identify the device without credentials: its "
		    "serial number is not a MAC address");
	else
		decide(op);
out:
	json_decref(root);
	return VP_OK;
}

/* Value of "key=value" in param.cgi's answer, copied into dst; 0 if absent or bad. */
static int
param_value(const vp_http_resp *r, const char *key, char *dst, size_t n)
{
	const char *p = (const char *)r->body, *end = p + r->len, *nl, *v;
	size_t klen = strlen(key), vlen;

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if ((size_t)(nl - p) > klen && memcmp(p, key, klen) == 0 && p[klen] == '=') {
			v = p + klen + 1;
			vlen = (size_t)(nl - v);
			if (vlen > 0 && v[vlen - 1] == '\r')
				vlen--;
			if (vlen == 0 || vlen >= n || memchr(v, '\0', vlen) != NULL)
				return 0;
			memcpy(dst, v, vlen);
			dst[vlen] = '\0';
			return vx_text_ok(dst, n - 1);
		}
		if (nl == end)
			break;
	}
	return 0;
}

/* param.cgi?action=list (developer.axis.com/vapix/network-video/parameter-management) */
static vp_err
handle_param(vx_op *op, const vp_http_resp *r)
{
	vp_dop_result *res = &op->res;

	if (r->status == 404) {
		vx_fail(op, VP_DEVF_UNSUPPORTED, 0,
		    "identify the device: it has neither basicdeviceinfo.cgi nor param.cgi");
		return VP_OK;
	}
	if (r->status < 200 || r->status > 299) {
		vx_fail_status(op, r->status);
		return VP_OK;
	}
	if (r->len == 0 || r->len > VX_MAX_ANSWER ||
	    !param_value(r, "root.Properties.System.SerialNumber", res->serial,
	    sizeof(res->serial)) ||
	    !param_value(r, "root.Properties.Firmware.Version", res->firmware,
	    sizeof(res->firmware)) ||
	    (!param_value(r, "root.Brand.ProdShortName", res->model, sizeof(res->model)) &&
	    !param_value(r, "root.Brand.ProdFullName", res->model, sizeof(res->model)) &&
	    !param_value(r, "root.Brand.ProdNbr", res->model, sizeof(res->model)))) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "identify the device: param.cgi did not give "
		    "Properties.System.SerialNumber, Properties.Firmware.Version and a product name");
		return VP_OK;
	}
	if (!param_value(r, "root.Brand.Brand", res->brand, sizeof(res->brand)))
		res->brand[0] = '\0';
	if (!param_value(r, "root.Brand.ProdType", op->prod_type, sizeof(op->prod_type)))
		op->prod_type[0] = '\0';
	if (!param_value(r, "root.Brand.ProdNbr", op->prod_nbr, sizeof(op->prod_nbr)))
		op->prod_nbr[0] = '\0';
	decide(op);
	return VP_OK;
}

/* ---- the conversation ---- */

static vp_err
build(vx_op *op, vp_error *e)
{
	static const char bdi[] =
	    "{\"apiVersion\":\"1.0\",\"context\":\"vmspki\",\"method\":\"getAllProperties\"}";
	/* The properties a device gives without credentials (anonymous access to them is on
	 * by default: developer.axis.com/vapix/network-video/basic-device-information and
	 * .../device-configuration/basic-device-info-api, allowAnonymous). */
	static const char bdi_anon[] = "{\"apiVersion\":\"1.0\",\"context\":\"vmspki\","
	    "\"method\":\"getAllUnrestrictedProperties\"}";
	char *body;

	switch (op->step) {
	case VX_BDI:
		if ((body = vp_strdup(op->kind == VP_DOP_IDENTIFY ? bdi_anon : bdi)) == NULL)
			return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		return vx_request(op, "POST", "application/json", body, strlen(body), e,
		    "/axis-cgi/basicdeviceinfo.cgi");
	case VX_PARAM:
		return vx_request(op, "GET", NULL, NULL, 0, e,
		    "/axis-cgi/param.cgi?action=list&group=root.Brand,root.Properties");
	case VX_TLS_GET:
	case VX_TLS_SET:
		return vx_soap_build(op, e);
	case VX_REST_V1:
	case VX_REST_BETA:
	case VX_BASE_CHECK:
		return vx_rest_build(op, e);
	case VX_MAIN:
		return strcmp(op->api, VP_DEV_API_SOAP) == 0 ? vx_soap_build(op, e) :
		    vx_rest_build(op, e);
	case VX_DOT1X:
		return vx_dot1x_build(op, e);
	}
	return vp_error_set(e, VP_ERR_INTERNAL, "device operation in an unknown step");
}

static vp_err
vapix_next(vp_dop *d, const vp_http_req **req, vp_error *e)
{
	vx_op *op = vx(d);
	vp_err rc;

	*req = NULL;
	if (op->done)
		return VP_OK;
	if (!op->built) {
		if ((rc = build(op, e)) != VP_OK)
			return rc;
		op->built = 1;
	}
	*req = &op->req;
	return VP_OK;
}

/* What went wrong below HTTP. */
static void
transport_fail(vx_op *op, const vp_http_resp *r)
{
	char q[420];
	const char *m = r->transport_msg != NULL ? r->transport_msg : "";

	vx_quote(q, sizeof(q), m, strlen(m));
	switch (r->transport) {
	case VP_TRANSPORT_TIMEOUT:
		vx_fail(op, VP_DEVF_UNREACHABLE, 1, "%s: the device did not answer in time (%s)",
		    vx_op_name(op), q);
		break;
	case VP_TRANSPORT_REFUSED:
	case VP_TRANSPORT_RESET:
		vx_fail(op, VP_DEVF_UNREACHABLE, 1, "%s: the device cannot be reached (%s)",
		    vx_op_name(op), q);
		break;
	case VP_TRANSPORT_TLS:
		vx_fail(op, VP_DEVF_TLS, 0, "%s: TLS with the device failed (%s)",
		    vx_op_name(op), q);
		break;
	case VP_TRANSPORT_TOO_BIG:
		vx_fail(op, VP_DEVF_PROTOCOL, 0,
		    "%s: the device's answer is larger than %u bytes", vx_op_name(op),
		    VX_MAX_ANSWER);
		break;
	default:
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's answer could not be read (%s)",
		    vx_op_name(op), q);
		break;
	}
}

static vp_err
vapix_feed(vp_dop *d, const vp_http_resp *r, vp_error *e)
{
	vx_op *op = vx(d);

	if (op->done || !op->built)
		return vp_error_set(e, VP_ERR_INTERNAL, "an answer was fed with no request pending");
	op->built = 0;
	free(op->req.body);
	op->req.body = NULL;
	op->req.body_len = 0;
	if (r->transport != VP_TRANSPORT_OK) {
		transport_fail(op, r);
		return VP_OK;
	}
	if (r->len > VX_MAX_ANSWER || (r->len > 0 && r->body == NULL)) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's answer is larger than %u bytes",
		    vx_op_name(op), VX_MAX_ANSWER);
		return VP_OK;
	}
	if (r->status == 401 || r->status == 403) {
		vx_fail(op, VP_DEVF_AUTH, 0, "%s: the device refused the user name or password "
		    "(HTTP %ld)%s", vx_op_name(op), r->status,
		    r->status == 403 ? ": the account needs administrator rights" : "");
		return VP_OK;
	}
	if (r->status >= 300 && r->status <= 399) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device redirected the request (HTTP %ld)",
		    vx_op_name(op), r->status);
		return VP_OK;
	}
	if (r->status < 100 || r->status > 599) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's answer has no valid HTTP status",
		    vx_op_name(op));
		return VP_OK;
	}
	switch (op->step) {
	case VX_BDI:
		return handle_bdi(op, r);
	case VX_PARAM:
		return handle_param(op, r);
	case VX_TLS_GET:
	case VX_TLS_SET:
		return vx_soap_handle(op, r, e);
	case VX_REST_V1:
	case VX_REST_BETA:
	case VX_BASE_CHECK:
		return vx_rest_handle(op, r, e);
	case VX_MAIN:
		return strcmp(op->api, VP_DEV_API_SOAP) == 0 ? vx_soap_handle(op, r, e) :
		    vx_rest_handle(op, r, e);
	case VX_DOT1X:
		return vx_dot1x_handle(op, r, e);
	}
	return vp_error_set(e, VP_ERR_INTERNAL, "device operation in an unknown step");
}

static vp_dev_fail
vapix_failed(const vp_dop *d, const char **msg, int *retryable)
{
	const vx_op *op = vx_const(d);

	if (msg != NULL)
		*msg = op->msg;
	if (retryable != NULL)
		*retryable = op->retryable;
	if (!op->done)
		return VP_DEVF_PROTOCOL;        /* asked too early: never report success */
	return op->fail;
}

static const vp_dop_result *
vapix_result(const vp_dop *d)
{
	return &vx_const(d)->res;
}

static const char *
vapix_api(const vp_dop *d)
{
	return vx_const(d)->api;
}

static void
vapix_free(vp_dop *d)
{
	vx_op *op = vx(d);
	size_t i;

	if (op == NULL)
		return;
	free(op->alias);
	free(op->leaf_pem);
	free(op->leaf_b64);
	free(op->key_type);
	free(op->subject);
	free(op->keystore);
	strv_free(op->sans, op->nsans);
	strv_free(op->ca_aliases, op->nca_aliases);
	free(op->req.body);
	for (i = 0; i < op->res.ncerts; i++)
		free(op->res.certs[i].pem);
	free(op->res.certs);
	free(op->res.csr_pem);
	vx_tls_clear(&op->tls);
	free(op);
}

const vp_driver vp_driver_vapix = {
	.name = "vapix",
	.owns_api = vapix_owns_api,
	.start = vapix_start,
	.next = vapix_next,
	.feed = vapix_feed,
	.failed = vapix_failed,
	.result = vapix_result,
	.api = vapix_api,
	.free = vapix_free,
	.caps = vapix_caps,
};
