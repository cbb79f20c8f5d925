/* VAPIX REST certificate API of firmware 11 and later (/config/rest/cert/v1, early releases
 * /config/rest/cert/v1beta with PUT for sets and actions). JSON with jansson. Messages:
 * docs/device-protocol.md sections 3, 4. Pages: developer.axis.com/vapix/device-configuration/
 * certificate-management and .../device-configuration-apis (operation mapping, errors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "vapix_internal.h"

#define JSON_CT "application/json"

static int
beta(const vx_op *op)
{
	return strcmp(op->api, VP_DEV_API_REST_BETA) == 0 ||
	    strcmp(op->api, VP_DEV_API_REST_BETA_POST) == 0;
}

/* The method of an action (create_certificate, get_csr: v1 POST) or a change (replace: v1
 * PATCH) under v1beta: PUT on AXIS OS 11.x (device-protocol.md); POST/PATCH like v1 on some
 * 12.x, as a public integration tested on 12.2 sends them (Keyfactor
 * axis-ipcamera-orchestrator, AxisHttpClient.cs: POST create_certificate and get_csr, PATCH
 * certificates/{alias}). Which one a device takes is learnt from a 405 or 501 to the other
 * (vx_rest_beta_method_refused) and remembered in its API value. */
static const char *
beta_method(const vx_op *op, const char *v1)
{
	return strcmp(op->api, VP_DEV_API_REST_BETA_POST) == 0 ? v1 : "PUT";
}

/* A v1beta device refused the method of a create, CSR or replace (405 Method Not Allowed or
 * 501 Not Implemented): once per operation, the request goes again with the other method and
 * the operation's API says which one worked (the engine and device add store it). 1 when
 * the request goes again. */
static int
beta_method_refused(vx_op *op, const vp_http_resp *r)
{
	if (!beta(op) || op->beta_switched || (r->status != 405 && r->status != 501) ||
	    (op->kind != VP_DOP_KEY_CREATE && op->kind != VP_DOP_CSR_GET &&
	    op->kind != VP_DOP_CERT_INSTALL))
		return 0;
	op->beta_switched = 1;
	snprintf(op->api, sizeof(op->api), "%s", strcmp(op->api, VP_DEV_API_REST_BETA) == 0 ?
	    VP_DEV_API_REST_BETA_POST : VP_DEV_API_REST_BETA);
	return 1;
}

static const char *
base(const vx_op *op)
{
	return beta(op) ? "/config/rest/cert/v1beta" : "/config/rest/cert/v1";
}

/* Sends json (taken over) as the request body. */
static vp_err
json_request(vx_op *op, const char *method, json_t *json, const char *path, vp_error *e)
{
	char *body;

	if (json == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	body = json_dumps(json, JSON_COMPACT);
	json_decref(json);
	if (body == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	return vx_request(op, method, JSON_CT, body, strlen(body), e, "%s", path);
}

static json_t *
key_create_json(const vx_op *op)
{
	json_t *data, *sans;
	size_t i;

	data = json_pack("{s:s, s:s, s:s}", "alias", op->alias, "key_type", op->key_type,
	    "subject", op->subject);
	if (data != NULL && op->keystore != NULL &&
	    json_object_set_new(data, "keystore", json_string(op->keystore)) != 0) {
		json_decref(data);
		return NULL;
	}
	if (data == NULL || op->nsans == 0)
		return data != NULL ? json_pack("{s:o}", "data", data) : NULL;
	if ((sans = json_array()) == NULL || json_object_set_new(data, "subject_alt_names", sans)) {
		json_decref(data);
		return NULL;
	}
	for (i = 0; i < op->nsans; i++)
		if (json_array_append_new(sans, json_string(op->sans[i])) != 0) {
			json_decref(data);
			return NULL;
		}
	return json_pack("{s:o}", "data", data);
}

vp_err
vx_rest_build(vx_op *op, vp_error *e)
{
	char path[512], enc[400] = "";

	switch (op->step) {
	case VX_REST_V1:
	case VX_BASE_CHECK:
		return vx_request(op, "GET", NULL, NULL, 0, e, "/config/rest/cert/v1");
	case VX_REST_BETA:
		return vx_request(op, "GET", NULL, NULL, 0, e, "/config/rest/cert/v1beta");
	default:
		break;
	}
	if (op->alias != NULL && !vx_pct_encode(enc, sizeof(enc), op->alias))
		return vp_error_set(e, VP_ERR_INVALID, "the alias is too long for a request path");
	switch (op->kind) {
	case VP_DOP_CA_LIST:
		return vx_request(op, "GET", NULL, NULL, 0, e, "%s/ca_certificates", base(op));
	case VP_DOP_CERT_LIST:
		return vx_request(op, "GET", NULL, NULL, 0, e, "%s/certificates", base(op));
	case VP_DOP_CA_DELETE:
		return vx_request(op, "DELETE", NULL, NULL, 0, e, "%s/ca_certificates/%s", base(op),
		    enc);
	case VP_DOP_CERT_DELETE:
		return vx_request(op, "DELETE", NULL, NULL, 0, e, "%s/certificates/%s", base(op), enc);
	case VP_DOP_CA_ADD:
		snprintf(path, sizeof(path), "%s/ca_certificates", base(op));
		return json_request(op, "POST", json_pack("{s:{s:s, s:s}}", "data", "alias",
		    op->alias, "certificate", op->leaf_pem), path, e);
	case VP_DOP_KEY_CREATE:
		snprintf(path, sizeof(path), "%s/create_certificate", base(op));
		return json_request(op, beta(op) ? beta_method(op, "POST") : "POST",
		    key_create_json(op), path, e);
	case VP_DOP_CSR_GET:
		snprintf(path, sizeof(path), "%s/certificates/%s/get_csr", base(op), enc);
		return json_request(op, beta(op) ? beta_method(op, "POST") : "POST",
		    json_pack("{s:{}}", "data"), path, e);
	case VP_DOP_CERT_INSTALL:
		snprintf(path, sizeof(path), "%s/certificates/%s", base(op), enc);
		return json_request(op, beta(op) ? beta_method(op, "PATCH") : "PATCH",
		    json_pack("{s:{s:s}}", "data",
		    "certificate", op->leaf_pem), path, e);
	default:
		break;
	}
	return vp_error_set(e, VP_ERR_INTERNAL, "no REST request for %s", vx_op_name(op));
}

int
vx_json_answer(vx_op *op, const vp_http_resp *r, void **rootp)
{
	int ok = r->status >= 200 && r->status <= 299;
	const char *ct = r->content_type, *status, *m;
	json_t *root = NULL, *err;
	json_error_t jerr;
	char q[420];

	*rootp = NULL;
	if (r->len == 0 || (ct != NULL && (strstr(ct, "xml") != NULL || strstr(ct, "html") != NULL))
	    || (root = json_loadb((const char *)r->body, r->len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL || !json_is_object(root)) {
		if (ok)
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's answer is not a JSON object",
			    vx_op_name(op));
		else
			vx_fail_status(op, r->status);
		json_decref(root);
		return 0;
	}
	status = json_string_value(json_object_get(root, "status"));
	err = json_object_get(root, "error");
	if (status != NULL && strcmp(status, "error") == 0 && json_is_object(err)) {
		m = json_string_value(json_object_get(err, "message"));
		vx_quote(q, sizeof(q), m != NULL ? m : "no message", m != NULL ? strlen(m) : 10);
		vx_fail(op, VP_DEVF_DEVICE, r->status >= 500,
		    "%s: the device refused: %s (code %lld, HTTP %ld)", vx_op_name(op), q,
		    (long long)json_integer_value(json_object_get(err, "code")), r->status);
	} else if (!ok) {
		vx_fail_status(op, r->status);
	} else if (status == NULL || strcmp(status, "success") != 0) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0,
		    "%s: the device's answer has neither status success nor error", vx_op_name(op));
	} else {
		*rootp = root;
		return 1;
	}
	json_decref(root);
	return 0;
}

/* data: [{alias, certificate, ...}] into op->res.certs. */
static vp_err
read_list(vx_op *op, json_t *data, vp_error *e)
{
	size_t i, n;
	json_t *it;
	const char *ks;

	if (!json_is_array(data)) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's answer has no data list",
		    vx_op_name(op));
		return VP_OK;
	}
	if ((n = json_array_size(data)) > VX_MAX_LIST) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device lists more than %d certificates",
		    vx_op_name(op), VX_MAX_LIST);
		return VP_OK;
	}
	if (n > 0 && (op->res.certs = calloc(n, sizeof(vp_dev_cert))) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	json_array_foreach(data, i, it) {
		vp_dev_cert *dc = &op->res.certs[i];
		const char *alias = json_string_value(json_object_get(it, "alias"));
		const char *pem = json_string_value(json_object_get(it, "certificate"));

		op->res.ncerts = i + 1;
		if (!vx_text_ok(alias, VX_ALIAS_REST) || pem == NULL ||
		    (dc->pem = vx_cert_pem(pem, strlen(pem), 0)) == NULL) {
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: entry %zu of the device's list has no "
			    "valid alias or certificate", vx_op_name(op), i + 1);
			return VP_OK;
		}
		memcpy(dc->alias, alias, strlen(alias) + 1);
		ks = json_string_value(json_object_get(it, "keystore"));
		if (ks != NULL && vx_text_ok(ks, sizeof(dc->keystore) - 1))
			memcpy(dc->keystore, ks, strlen(ks) + 1);
	}
	vx_finish(op);
	return VP_OK;
}

/* PROBE: which REST base answers. */
static void
handle_probe_step(vx_op *op, const vp_http_resp *r)
{
	void *root;

	if (r->status == 404) {
		if (op->step == VX_REST_V1) {
			op->step = VX_REST_BETA;
		} else {       /* 11.0 to 11.5: no REST certificate API, SOAP still answers */
			snprintf(op->api, sizeof(op->api), "%s", VP_DEV_API_SOAP);
			op->step = VX_TLS_GET;
		}
		return;
	}
	if (!vx_json_answer(op, r, &root))
		return;
	json_decref(root);
	snprintf(op->api, sizeof(op->api), "%s",
	    op->step == VX_REST_V1 ? VP_DEV_API_REST :
	    strcmp(op->probe_was, VP_DEV_API_REST_BETA_POST) == 0 ? VP_DEV_API_REST_BETA_POST :
	    VP_DEV_API_REST_BETA);
	op->step = VX_TLS_GET;
}

vp_err
vx_rest_handle(vx_op *op, const vp_http_resp *r, vp_error *e)
{
	void *rootp = NULL;
	json_t *root, *data;
	const char *s;
	vp_err rc = VP_OK;

	if (op->step == VX_REST_V1 || op->step == VX_REST_BETA) {
		handle_probe_step(op, r);
		return VP_OK;
	}
	if (op->step == VX_BASE_CHECK) {
		if (r->status == 404) {        /* no v1: an early release, ask v1beta */
			snprintf(op->api, sizeof(op->api), "%s", VP_DEV_API_REST_BETA);
			op->step = VX_MAIN;
		} else if (vx_json_answer(op, r, &rootp)) {
			json_decref(rootp);
			op->base_ok = 1;
			vx_fail(op, VP_DEVF_DEVICE, 0, "%s", op->pend_msg);
		}
		return VP_OK;
	}
	if (op->step == VX_MAIN && beta_method_refused(op, r))
		return VP_OK;
	if (!vx_json_answer(op, r, &rootp)) {
		/* A 404 under v1 may mean "no v1 here" rather than "no such alias": find out. */
		if (r->status == 404 && strcmp(op->api, VP_DEV_API_REST) == 0 && !op->base_ok &&
		    op->fail == VP_DEVF_DEVICE) {
			memcpy(op->pend_msg, op->msg, sizeof(op->pend_msg));
			op->done = 0;
			op->fail = VP_DEVF_NONE;
			op->msg[0] = '\0';
			op->step = VX_BASE_CHECK;
		}
		return VP_OK;
	}
	root = rootp;
	data = json_object_get(root, "data");
	switch (op->kind) {
	case VP_DOP_CA_LIST:
	case VP_DOP_CERT_LIST:
		rc = read_list(op, data, e);
		break;
	case VP_DOP_CSR_GET:
		s = json_string_value(data);
		if (s == NULL || (op->res.csr_pem = vx_csr_pem(s, strlen(s), 0)) == NULL)
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's CSR is not a PKCS#10 request",
			    vx_op_name(op));
		else
			vx_finish(op);
		break;
	default:
		vx_finish(op);
		break;
	}
	json_decref(root);
	return rc;
}
