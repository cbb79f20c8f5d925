/* The control endpoint (plain HTTP on --control ADDR:PORT, never on a device address): what a
 * test asks camsim, not what a camera offers. Device state, request counters, faults on
 * demand, reboots, nonce expiry. JSON in and out (jansson).
 *   GET    /control/healthz
 *   GET    /control/devices                     every device, short
 *   GET    /control/devices/ADDR                one device in full
 *   POST   /control/devices/ADDR/faults         a fault object, a list of them, or {"faults":[...]}
 *   DELETE /control/devices/ADDR/faults         clears them
 *   POST   /control/devices/ADDR/reboot         {"seconds":N} (default 5)
 *   POST   /control/devices/ADDR/expire-nonces  every Digest nonce becomes stale
 * ADDR "all" stands for every device (faults, expire-nonces). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/x509v3.h>

#include "camsim.h"

static const char *
api_name(const cs_device *d)
{
	if (!cs_dev_https_capable(d))
		return "unsupported";
	switch (d->rest) {
	case CS_REST_V1: return "rest";
	case CS_REST_BETA: return "rest-beta";
	default: return "soap";
	}
}

static json_t *
x509_json(const char *alias, X509 *x)
{
	char fp[65], subj[256], iss[256];

	cs_pki_fingerprint(x, fp);
	X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof(subj));
	X509_NAME_oneline(X509_get_issuer_name(x), iss, sizeof(iss));
	return json_pack("{s:s,s:s,s:s,s:s,s:b}", "alias", alias, "fingerprint", fp, "subject",
	    subj, "issuer", iss, "self_signed", X509_check_issued(x, x) == X509_V_OK);
}

json_t *
cs_dev_state_json(cs_device *d)
{
	json_t *o = json_object(), *certs = json_array(), *cas = json_array(), *reqs = json_object();
	json_t *faults = json_array(), *bcas = json_array();
	cs_cert *b = d->bound[0] != '\0' ? cs_dev_cert(d, d->bound) : NULL;
	char fp[65];
	size_t npending = 0;

	if (o == NULL || certs == NULL || cas == NULL || reqs == NULL || faults == NULL ||
	    bcas == NULL) {
		json_decref(o);
		json_decref(certs);
		json_decref(cas);
		json_decref(reqs);
		json_decref(faults);
		json_decref(bcas);
		return NULL;
	}
	for (size_t i = 0; i < d->ncerts; i++) {
		json_t *c = x509_json(d->certs[i].alias, d->certs[i].cert);

		if (c != NULL) {
			json_object_set_new(c, "key_type", json_string(d->certs[i].key_type));
			json_object_set_new(c, "keystore", json_string(d->certs[i].keystore));
			json_object_set_new(c, "chain_length", json_integer(d->certs[i].chain != NULL ?
			    sk_X509_num(d->certs[i].chain) : 0));
		}
		json_array_append_new(certs, c);
	}
	for (size_t i = 0; i < d->ncas; i++)
		json_array_append_new(cas, x509_json(d->cas[i].alias, d->cas[i].cert));
	for (size_t i = 0; i < d->nbound_cas; i++)
		json_array_append_new(bcas, json_string(d->bound_cas[i]));
	for (int op = 0; op < CS_OP_COUNT; op++)
		if (d->counters[op] > 0)
			json_object_set_new(reqs, cs_op_name((cs_op)op),
			    json_integer((json_int_t)d->counters[op]));
	for (size_t i = 0; i < d->nfaults; i++)
		json_array_append_new(faults, cs_fault_to_json(&d->faults[i]));
	for (cs_req *r = d->pending; r != NULL; r = r->next)
		npending++;
	if (b != NULL)
		cs_pki_fingerprint(b->cert, fp);
	json_object_set_new(o, "address", json_string(d->address));
	json_object_set_new(o, "http_port", json_integer(d->http_port));
	json_object_set_new(o, "https_port", json_integer(d->https_port));
	json_object_set_new(o, "serial", json_string(d->serial));
	json_object_set_new(o, "model", json_string(d->model));
	json_object_set_new(o, "firmware", json_string(d->firmware));
	json_object_set_new(o, "api", json_string(api_name(d)));
	json_object_set_new(o, "name", json_string(d->name));
	json_object_set_new(o, "tls", json_boolean(d->tls));
	json_object_set_new(o, "policy", json_string(cs_policy_soap(d->policy)));
	json_object_set_new(o, "bound", json_string(d->bound));
	json_object_set_new(o, "bound_fingerprint", b != NULL ? json_string(fp) : json_null());
	json_object_set(o, "bound_ca_certificates", bcas);
	json_object_set_new(o, "keys", json_integer((json_int_t)d->ncerts));
	json_object_set_new(o, "keys_in_progress", json_integer(d->reserved_slots));
	json_object_set_new(o, "store_slots", json_integer(d->store_slots));
	json_object_set_new(o, "slots_used", json_integer((json_int_t)cs_dev_slots_used(d)));
	json_object_set(o, "certificates", certs);
	json_object_set(o, "ca_certificates", cas);
	json_object_set_new(o, "dot1x", cs_dot1x_to_json(d));
	json_object_set_new(o, "listening", json_pack("{s:b,s:b}", "http", d->http != NULL,
	    "https", d->https != NULL));
	json_object_set_new(o, "down", json_boolean(d->down));
	json_object_set(o, "requests", reqs);
	json_object_set_new(o, "unauthorized", json_integer((json_int_t)d->unauthorized));
	json_object_set(o, "faults", faults);
	json_object_set_new(o, "pending_requests", json_integer((json_int_t)npending));
	json_decref(certs);
	json_decref(cas);
	json_decref(reqs);
	json_decref(faults);
	json_decref(bcas);
	return o;
}

static void
reply(struct evhttp_request *req, int status, json_t *o)
{
	struct evbuffer *b = evbuffer_new();
	char *s = o != NULL ? json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;

	json_decref(o);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "application/json");
	if (b != NULL && s != NULL) {
		evbuffer_add(b, s, strlen(s));
		evbuffer_add(b, "\n", 1);
	}
	evhttp_send_reply(req, s != NULL ? status : 500, NULL, b);
	if (b != NULL)
		evbuffer_free(b);
	free(s);
}

static void
reply_error(struct evhttp_request *req, int status, const char *msg)
{
	reply(req, status, json_pack("{s:s}", "error", msg));
}

static json_t *
body_json(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *buf;
	json_t *j;
	json_error_t je;

	if (len == 0 || len > 65536 || (buf = malloc(len)) == NULL)
		return NULL;
	evbuffer_copyout(in, buf, len);
	j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	return j;
}

static int
add_faults(cs_device *d, json_t *body, char *err, size_t errlen)
{
	json_t *list = body, *one = NULL;
	cs_fault f[CS_MAX_FAULTS];
	size_t n;

	if (json_is_object(body) && json_object_get(body, "faults") != NULL)
		list = json_object_get(body, "faults");
	if (json_is_object(list)) {
		one = json_array();
		json_array_append(one, list);
		list = one;
	}
	if (!json_is_array(list) || (n = json_array_size(list)) == 0 || n > CS_MAX_FAULTS) {
		json_decref(one);
		snprintf(err, errlen, "give a fault object, a list of them, or {\"faults\":[...]}");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		char ferr[256];

		if (cs_fault_from_json(json_array_get(list, i), &f[i], ferr, sizeof(ferr)) != 0) {
			json_decref(one);
			snprintf(err, errlen, "fault %zu: %s", i + 1, ferr);
			return -1;
		}
	}
	json_decref(one);
	if (d != NULL && d->nfaults + n > CS_MAX_FAULTS) {
		snprintf(err, errlen, "%s already has %zu faults (at most %d): clear them first",
		    d->address, d->nfaults, CS_MAX_FAULTS);
		return -1;
	}
	if (d != NULL) {
		memcpy(&d->faults[d->nfaults], f, n * sizeof(cs_fault));
		d->nfaults += n;
		for (size_t i = 0; i < n; i++)
			cs_logf("camsim: %s: fault %s on %s (count %d) added", d->address,
			    cs_fault_kind_name(f[i].kind), f[i].op[0] != '\0' ? f[i].op : "*",
			    f[i].count);
	}
	return 0;
}

static void
on_control(struct evhttp_request *req, void *arg)
{
	camsim *cs = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	enum evhttp_cmd_type m = evhttp_request_get_command(req);
	char addr[64], action[32], err[300];
	cs_device *d = NULL;
	int all;

	if (path == NULL) {
		reply_error(req, 400, "no path");
		return;
	}
	if (strcmp(path, "/control/healthz") == 0) {
		reply(req, 200, json_pack("{s:s,s:I}", "status", "ok", "devices",
		    (json_int_t)cs->ndevs));
		return;
	}
	if (strcmp(path, "/control/devices") == 0 && m == EVHTTP_REQ_GET) {
		json_t *a = json_array();

		for (size_t i = 0; i < cs->ndevs; i++) {
			cs_device *x = &cs->devs[i];
			cs_cert *b = x->bound[0] != '\0' ? cs_dev_cert(x, x->bound) : NULL;
			char fp[65] = "";

			if (b != NULL)
				cs_pki_fingerprint(b->cert, fp);
			json_array_append_new(a, json_pack("{s:s,s:i,s:i,s:s,s:s,s:s,s:s,s:s}",
			    "address", x->address, "http_port", x->http_port, "https_port",
			    x->https_port, "serial", x->serial, "firmware", x->firmware, "api",
			    api_name(x), "policy", cs_policy_soap(x->policy), "bound_fingerprint", fp));
		}
		reply(req, 200, a);
		return;
	}
	if (strncmp(path, "/control/devices/", 17) != 0 ||
	    sscanf(path + 17, "%63[^/]", addr) != 1) {
		reply_error(req, 404, "unknown path: see tools/camsim/README.md");
		return;
	}
	action[0] = '\0';
	{
		const char *slash = strchr(path + 17, '/');

		if (slash != NULL && (strlen(slash + 1) >= sizeof(action) ||
		    sscanf(slash + 1, "%31[^/]", action) != 1)) {
			reply_error(req, 404, "unknown path: see tools/camsim/README.md");
			return;
		}
		if (slash != NULL && strchr(slash + 1, '/') != NULL) {
			reply_error(req, 404, "unknown path: see tools/camsim/README.md");
			return;
		}
	}
	all = strcmp(addr, "all") == 0;
	for (size_t i = 0; !all && i < cs->ndevs; i++)
		if (strcmp(cs->devs[i].address, addr) == 0)
			d = &cs->devs[i];
	if (!all && d == NULL) {
		reply_error(req, 404, "no device with that address");
		return;
	}
	if (action[0] == '\0') {
		if (m != EVHTTP_REQ_GET || all) {
			reply_error(req, 405, "GET /control/devices/ADDR");
			return;
		}
		reply(req, 200, cs_dev_state_json(d));
		return;
	}
	if (strcmp(action, "faults") == 0 && m == EVHTTP_REQ_POST) {
		json_t *body = body_json(req);
		int rc = 0;

		if (body == NULL) {
			reply_error(req, 400, "the body is not JSON: give a fault object such as "
			    "{\"kind\":\"reset\",\"op\":\"cert_install\",\"count\":1}");
			return;
		}
		if (add_faults(NULL, body, err, sizeof(err)) != 0)
			rc = -1;
		for (size_t i = 0; rc == 0 && i < cs->ndevs; i++)
			if (all || &cs->devs[i] == d)
				rc = add_faults(&cs->devs[i], body, err, sizeof(err));
		json_decref(body);
		if (rc != 0) {
			reply_error(req, 400, err);
			return;
		}
		reply(req, 200, all ? json_pack("{s:s}", "status", "ok") : cs_dev_state_json(d));
		return;
	}
	if (strcmp(action, "faults") == 0 && m == EVHTTP_REQ_DELETE) {
		for (size_t i = 0; i < cs->ndevs; i++)
			if (all || &cs->devs[i] == d) {
				cs->devs[i].nfaults = 0;
				cs_logf("camsim: %s: faults cleared", cs->devs[i].address);
			}
		reply(req, 200, all ? json_pack("{s:s}", "status", "ok") : cs_dev_state_json(d));
		return;
	}
	if (strcmp(action, "expire-nonces") == 0 && m == EVHTTP_REQ_POST) {
		for (size_t i = 0; i < cs->ndevs; i++)
			if (all || &cs->devs[i] == d)
				cs_auth_expire_nonces(&cs->devs[i]);
		reply(req, 200, json_pack("{s:s}", "status", "ok"));
		return;
	}
	if (strcmp(action, "reboot") == 0 && m == EVHTTP_REQ_POST && !all) {
		json_t *body = body_json(req), *s = json_object_get(body, "seconds");
		json_int_t secs = 5;

		if (s != NULL && (!json_is_integer(s) || json_integer_value(s) < 1 ||
		    json_integer_value(s) > 3600)) {
			json_decref(body);
			reply_error(req, 400, "\"seconds\" must be 1 to 3600");
			return;
		}
		if (s != NULL)
			secs = json_integer_value(s);
		json_decref(body);
		if (d->down) {
			reply_error(req, 409, "the device is rebooting already");
			return;
		}
		cs_dev_reboot(d, (int)secs);
		reply(req, 200, json_pack("{s:s,s:I}", "status", "rebooting", "seconds", secs));
		return;
	}
	reply_error(req, 404, "unknown action: faults (POST, DELETE), reboot (POST), "
	    "expire-nonces (POST)");
}

int
cs_control_start(camsim *cs, const char *addrport, char *err, size_t errlen)
{
	char host[64];
	const char *colon = strrchr(addrport, ':');
	long port;
	char *end;
	size_t hl;

	if (colon == NULL || (hl = (size_t)(colon - addrport)) == 0 || hl >= sizeof(host)) {
		snprintf(err, errlen, "--control %s: give ADDR:PORT, such as 127.0.0.1:8999",
		    addrport);
		return -1;
	}
	memcpy(host, addrport, hl);
	host[hl] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535) {
		snprintf(err, errlen, "--control %s: the port must be 1 to 65535", addrport);
		return -1;
	}
	if ((cs->control = evhttp_new(cs->base)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	evhttp_set_allowed_methods(cs->control, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_DELETE);
	evhttp_set_max_body_size(cs->control, 65536);
	evhttp_set_gencb(cs->control, on_control, cs);
	if (evhttp_bind_socket_with_handle(cs->control, host, (ev_uint16_t)port) == NULL) {
		snprintf(err, errlen, "cannot listen on %s for the control endpoint", addrport);
		return -1;
	}
	return 0;
}
