/* The REST API: routes, authentication (bearer token or an admin client certificate of the
 * CA, failures rate-limited per address), and one handler per endpoint. Handlers parse and
 * check the request, call the library, render JSON; docs/api.md describes each one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "daemon.h"
#include "vmspki/ca.h"
#include "vmspki/component.h"
#include "vmspki/issue.h"
#include "vmspki/passphrase.h"
#include "vmspki/profile.h"
#include "vmspki/render_json.h"
#include "vmspki/servercert.h"
#include "vmspki/token.h"
#include "vmspki/util.h"
#include "vmspki/x509info.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 1000
/* The /metrics text; it holds a few hundred lines. */
#define METRICS_MAX (1024u * 1024u)

/* ---- errors from the library ---- */

/* The status and code for a library error (logged when it is the server's fault). */
static int
vp_error_status(const vp_error *e, const char **code)
{
	switch (e->code) {
	case VP_ERR_INVALID:
		*code = "rejected";
		return 422;
	case VP_ERR_PASSPHRASE:
		*code = "wrong_password";
		return 422;
	case VP_ERR_NOTFOUND:
		*code = "not_found";
		return 404;
	case VP_ERR_EXISTS:
		*code = "exists";
		return 409;
	case VP_ERR_STORE:
		vpd_log("store error: %s", e->msg);
		*code = "store_unavailable";
		return 503;
	default:
		vpd_log("internal error: %s", e->msg);
		*code = "internal";
		return 500;
	}
}

void
vpd_reply_vp_error(vpd_ctx *c, const vp_error *e)
{
	const char *code;
	int status = vp_error_status(e, &code);

	vpd_reply_error(c, status, code, "%s", e->msg[0] ? e->msg : vp_err_str(e->code));
}

void
vpd_job_vp_error(vpd_job *j, const vp_error *e)
{
	const char *code;
	int status = vp_error_status(e, &code);

	vpd_job_error(j, status, code, "%s", e->msg[0] ? e->msg : vp_err_str(e->code));
}

void
vpd_reply_oom(vpd_ctx *c)
{
	vpd_reply_error(c, 500, "internal", "out of memory");
}

void
vpd_reply_not_allowed(vpd_ctx *c, const char *path, const char *allow)
{
	char msg[300];

	snprintf(msg, sizeof(msg), "%.200s takes %s", path, allow);
	vpd_reply_error_hdr(c, 405, "method_not_allowed", "Allow", allow, msg);
}

void
vpd_item_job(vpd_ctx *c, const char *arg, size_t idlen, int show, const char *what,
    void (*run)(vpd_job *, vp_store *))
{
	char num[24];
	int64_t id;

	if (show != (c->method == EVHTTP_REQ_GET || c->method == EVHTTP_REQ_HEAD)) {
		vpd_reply_not_allowed(c, c->path, show ? "GET, HEAD" : "POST");
		return;
	}
	if (vpd_path_id(arg, idlen, INT32_MAX, num, sizeof(num), &id) != 0) {
		vpd_reply_error(c, 404, "not_found", "\"%.40s\" is not %s id (a positive integer)",
		    num, what);
		return;
	}
	vpd_job_start(c, 0, json_pack("{s:I}", "id", (json_int_t)id), run);
}

void
vpd_job_list(vpd_job *j, vp_store *s, const char *key, vpd_list_fetch fetch)
{
	vp_error e = { 0 };
	json_t *a = json_array(), *o;
	vp_err r;

	if (a == NULL) {
		vpd_job_error(j, 500, "internal", "out of memory");
		return;
	}
	if ((r = fetch(s, j, a, &e)) != VP_OK) {
		json_decref(a);
		if (r == VP_ERR_NOMEM)
			vpd_job_error(j, 500, "internal", "out of memory");
		else
			vpd_job_vp_error(j, &e);
		return;
	}
	if ((o = json_pack("{s:o}", key, a)) == NULL)
		vpd_job_error(j, 500, "internal", "out of memory");
	else
		vpd_job_json(j, 200, o, 0);
}

/* ---- query strings ---- */

/* Parses c->query and refuses names not in allowed (NULL-terminated). 0 ok, -1 replied. */
int
vpd_query_parse(vpd_ctx *c, vpd_query *q, const char *const *allowed)
{
	struct evkeyval *kv;

	memset(q, 0, sizeof(*q));
	TAILQ_INIT(&q->kv);
	if (c->query == NULL || c->query[0] == '\0')
		return 0;
	if (evhttp_parse_query_str(c->query, &q->kv) != 0) {
		evhttp_clear_headers(&q->kv);
		vpd_reply_error(c, 400, "bad_query", "the query string does not parse");
		return -1;
	}
	q->parsed = 1;
	TAILQ_FOREACH(kv, &q->kv, next) {
		const char *const *a;

		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, kv->key) == 0)
				break;
		if (*a == NULL) {
			char names[200] = "";

			for (a = allowed; *a != NULL; a++) {
				strncat(names, names[0] ? ", " : "", sizeof(names) - strlen(names) - 1);
				strncat(names, *a, sizeof(names) - strlen(names) - 1);
			}
			vpd_reply_error(c, 400, "unknown_parameter", "unknown query parameter \"%.64s\": "
			    "this request takes %s", kv->key, names[0] ? names : "none");
			evhttp_clear_headers(&q->kv);
			q->parsed = 0;
			return -1;
		}
	}
	return 0;
}

const char *
vpd_query_get(vpd_query *q, const char *name)
{
	return q->parsed ? evhttp_find_header(&q->kv, name) : NULL;
}

void
vpd_query_free(vpd_query *q)
{
	if (q->parsed)
		evhttp_clear_headers(&q->kv);
	q->parsed = 0;
}

/* The body as a checked JSON object; NULL when replied. An empty body counts as {} when
 * empty_ok. */
json_t *
vpd_body_json(vpd_ctx *c, const vpd_field *fields, int empty_ok, char **raw, size_t *rawlen)
{
	vpd_reqerr re;
	json_t *o;
	size_t len = 0;
	char *body = vpd_body(c, &len);

	*raw = NULL;
	*rawlen = 0;
	if (body == NULL)
		return NULL;
	if (len == 0 && empty_ok) {
		free(body);
		return json_object();
	}
	memset(&re, 0, sizeof(re));
	if ((o = vpd_json_parse(body, len, &re)) == NULL ||
	    vpd_json_check(o, fields, &re) != 0) {
		json_decref(o);
		vp_secret_free(body, len);
		vpd_reply_reqerr(c, &re);
		return NULL;
	}
	*raw = body;
	*rawlen = len;
	return o;
}

/* ---- authentication ---- */

static void
auth_failed(vpd_ctx *c, const char *code, const char *why)
{
	char key[80];
	int wait;

	vpd_peer_key(c->peer, key, sizeof(key));
	wait = vpd_rl_fail(c->d->rl, key, vpd_now_us() / 1000);

	atomic_fetch_add(&c->d->metrics.auth_failures, 1);
	vpd_log("authentication failed from %s for %.100s: %s%s", c->peer, c->path, why,
	    wait > 0 ? "; this address is locked out for a while" : "");
	vpd_reply_error_hdr(c, 401, code,
	    "WWW-Authenticate", "Bearer realm=\"vmspki\", error=\"invalid_token\"", why);
}

/* Is the client certificate an admin certificate of our CA? 1 yes (actor filled), 0 no. */
static int
cert_is_admin(vpd_ctx *c, X509 *x, char *actor, size_t n, char *why, size_t whylen)
{
	vp_cert_rec rec;
	vp_error e = { 0 };
	char serial[64], fp[65];
	vpd_ca_ref *ca;
	int ok = 0;

	memset(&rec, 0, sizeof(rec));
	if (!vpd_conn_cert_verified(c)) {
		snprintf(why, whylen, "the client certificate was not issued by this CA");
		return 0;
	}
	if (vp_x509_serial_hex(x, serial, sizeof(serial), &e) != VP_OK ||
	    vp_x509_fingerprint(x, "SHA256", fp, sizeof(fp), &e) != VP_OK ||
	    vp_store_cert_get(c->store, serial, &rec, &e) != VP_OK) {
		snprintf(why, whylen, "the client certificate is not one this CA recorded");
		goto out;
	}
	ca = vpd_ca_get(c->d);
	if (strcmp(rec.fingerprint, fp) != 0 || strcmp(rec.issuer_fp, vp_ca_fingerprint(ca->ca)) != 0)
		snprintf(why, whylen, "the client certificate is not one this CA recorded");
	else if (strcmp(rec.profile, "client") != 0 || rec.owner_kind == NULL ||
	    strcmp(rec.owner_kind, "admin") != 0)
		snprintf(why, whylen, "the client certificate is not an admin certificate (issue one "
		    "with --profile client --owner admin:NAME)");
	else if (strcmp(rec.status, "valid") != 0)
		snprintf(why, whylen, "the client certificate is revoked");
	else if (rec.not_after <= (int64_t)time(NULL))
		snprintf(why, whylen, "the client certificate has expired");
	else {
		snprintf(actor, n, "cert:%.100s", rec.owner_id != NULL ? rec.owner_id : "");
		ok = 1;
	}
	vpd_ca_put(ca);
out:
	vp_cert_rec_clear(&rec);
	return ok;
}

int
vpd_auth(vpd_ctx *c)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(c->req);
	const char *authz = evhttp_find_header(h, "Authorization"), *tok;
	char name[VP_TOKEN_NAME_MAX + 1], role[32], why[200], wait_s[16], key[80];
	vp_error e = { 0 };
	X509 *x;
	int wait;
	vp_err r;

	vpd_peer_key(c->peer, key, sizeof(key));
	if ((wait = vpd_rl_blocked(c->d->rl, key, vpd_now_us() / 1000)) > 0) {
		snprintf(wait_s, sizeof(wait_s), "%d", wait);
		vpd_reply_error_hdr(c, 429, "too_many_attempts", "Retry-After", wait_s,
		    "too many failed authentications from this address: try again later");
		return 0;
	}
	if (authz != NULL) {
		if ((tok = vpd_bearer(authz)) == NULL) {
			vpd_reply_error_hdr(c, 401, "bad_authorization", "WWW-Authenticate",
			    "Bearer realm=\"vmspki\"",
			    "the Authorization header must be \"Bearer TOKEN\"");
			return 0;
		}
		r = vp_token_check(c->store, tok, name, sizeof(name), role, sizeof(role), &e);
		if (r == VP_OK) {
			snprintf(c->actor, sizeof(c->actor), "token:%s", name);
			return 1;
		}
		if (r == VP_ERR_NOTFOUND) {
			auth_failed(c, "invalid_token", "the bearer token is not valid");
			return 0;
		}
		vpd_reply_vp_error(c, &e);
		return 0;
	}
	if (c->ssl != NULL && (x = SSL_get0_peer_certificate(c->ssl)) != NULL) {
		int st = vpd_conn_cert_state(c, c->actor, sizeof(c->actor), 0, NULL);

		if (st == 0) {
			char actor[128] = "";

			why[0] = '\0';
			st = cert_is_admin(c, x, actor, sizeof(actor), why, sizeof(why)) ? 1 : -1;
			vpd_conn_cert_state(c, c->actor, sizeof(c->actor), st, actor);
			if (st < 0) {
				auth_failed(c, "certificate_not_admin", why);
				return 0;
			}
		}
		if (st == 1)
			return 1;
		auth_failed(c, "certificate_not_admin",
		    "the client certificate does not give access to the API");
		return 0;
	}
	vpd_reply_error_hdr(c, 401, "missing_credentials", "WWW-Authenticate",
	    "Bearer realm=\"vmspki\"", "this request needs \"Authorization: Bearer TOKEN\" (make "
	    "one with `vmspki token create NAME`) or an admin client certificate");
	return 0;
}

/* ---- handlers ---- */

static void
h_healthz(vpd_ctx *c)
{
	vpd_reply_json(c, 200, json_pack("{s:s}", "status", "ok"));
}

static void
h_metrics(vpd_ctx *c)
{
	vp_cert_filter f;
	vp_error e = { 0 };
	int64_t soon = 0, gone = 0, now = (int64_t)time(NULL), not_after;
	vp_buf text;

	memset(&f, 0, sizeof(f));
	f.not_after_before = now + 30 * 86400;
	if (vp_store_cert_count(c->store, &f, &soon, &e) == VP_OK) {
		f.not_after_before = now;
		if (vp_store_cert_count(c->store, &f, &gone, &e) != VP_OK)
			gone = soon = 0;
	}
	pthread_mutex_lock(&c->d->tls_mu);
	not_after = c->d->tls_info.not_after;
	pthread_mutex_unlock(&c->d->tls_mu);
	vp_buf_init(&text, "the metrics", METRICS_MAX, 0);
	if (vpd_metrics_render(&c->d->metrics, soon - gone, not_after, &text) != 0) {
		vp_buf_free(&text);
		vpd_reply_oom(c);
		return;
	}
	vpd_alarm_metrics(c->store, &text);   /* without them when they cannot be read */
	vpd_reply_raw(c, 200, "text/plain; version=0.0.4; charset=utf-8", vp_buf_str(&text),
	    vp_buf_len(&text), NULL);
	vp_buf_free(&text);
}

static void
h_ca_show(vpd_ctx *c)
{
	vpd_ca_ref *ca = vpd_ca_get(c->d);
	json_t *o = json_object();
	vp_cert_filter f;
	vp_error e = { 0 };
	char *pem = NULL, *chain = NULL;
	size_t len = 0;
	int64_t issued = 0;
	int bad = o == NULL;

	memset(&f, 0, sizeof(f));
	f.issuer_fp = vp_ca_fingerprint(ca->ca);
	if (bad || vp_store_cert_count(c->store, &f, &issued, &e) != VP_OK ||
	    vp_json_ca(ca->ca, issued, o, &e) != VP_OK ||
	    vp_x509_to_pem(vp_ca_cert(ca->ca), &pem, &len, &e) != VP_OK ||
	    vp_x509_chain_to_pem(vp_ca_chain(ca->ca), &chain, &len, &e) != VP_OK) {
		json_decref(o);
		vpd_reply_vp_error(c, &e);
		goto out;
	}
	bad |= json_object_set_new(o, "certificate", json_string(pem));
	bad |= json_object_set_new(o, "chain", json_string(chain));
	/* During a replacement: the CA being replaced (still trusted) and the task. */
	{
		vp_ca_transition tr;

		if (vp_ca_transition_get(c->store, &tr, &e) != VP_OK) {
			json_decref(o);
			vpd_reply_vp_error(c, &e);
			goto out;
		}
		if (tr.task != 0)
			bad |= json_object_set_new(o, "replace_task", json_integer(tr.task)) ||
			    json_object_set_new(o, "previous", json_pack("{s:s,s:s}", "subject",
			    tr.subject, "fingerprint", tr.fingerprint));
	}
	if (bad) {
		json_decref(o);
		vpd_reply_oom(c);
		goto out;
	}
	vpd_reply_json(c, 200, o);
out:
	free(pem);
	free(chain);
	vpd_ca_put(ca);
}

static void
h_ca_certificate(vpd_ctx *c)
{
	static const char *const params[] = { "format", NULL };
	const char *fmt, *ctype, *disp;
	vp_export_fmt ef;
	vpd_ca_ref *ca;
	vp_error e = { 0 };
	unsigned char *out = NULL;
	size_t len = 0;
	vpd_query q;

	if (vpd_query_parse(c, &q, params) != 0)
		return;
	fmt = vpd_query_get(&q, "format");
	if (fmt == NULL || strcmp(fmt, "pem") == 0) {
		ef = VP_EXPORT_PEM;
		ctype = "application/x-pem-file";
		disp = "attachment; filename=\"ca.cert.pem\"";
	} else if (strcmp(fmt, "der") == 0) {
		ef = VP_EXPORT_DER;
		ctype = "application/pkix-cert";
		disp = "attachment; filename=\"ca.cert.der\"";
	} else if (strcmp(fmt, "p7b") == 0) {
		ef = VP_EXPORT_P7B;
		ctype = "application/pkcs7-mime";
		disp = "attachment; filename=\"ca.p7b\"";
	} else {
		vpd_reply_error(c, 400, "bad_parameter", "format must be pem, der or p7b");
		vpd_query_free(&q);
		return;
	}
	vpd_query_free(&q);
	ca = vpd_ca_get(c->d);
	if (vp_ca_export(ca->ca, ef, &out, &len, &e) != VP_OK)
		vpd_reply_vp_error(c, &e);
	else
		vpd_reply_raw(c, 200, ctype, out, len, disp);
	free(out);
	vpd_ca_put(ca);
}

/* Pool stage of POST /api/v1/ca/export: PKCS#12 with a slow KDF, audit row. */
static void
run_ca_export(vpd_job *j, vp_store *s)
{
	vp_error e = { 0 };
	unsigned char *p12 = NULL;
	size_t p12len = 0;
	char *b64 = NULL;

	if (vp_ca_export_p12(j->ca->ca, vpd_json_str(j->in, "p12_password"), &p12, &p12len,
	    &e) != VP_OK ||
	    vp_store_audit_append(s, j->actor, "ca.export", NULL, "with key (PKCS#12)", &e) !=
	    VP_OK) {
		vpd_job_vp_error(j, &e);
		goto out;
	}
	if ((b64 = vpd_base64_encode(p12, p12len)) == NULL) {
		vpd_job_error(j, 500, "internal", "out of memory");
		goto out;
	}
	vpd_log("the CA with its key was exported (PKCS#12) by %s from %s", j->actor, j->peer);
	vpd_job_json(j, 200, json_pack("{s:s}", "pkcs12", b64), 1);
out:
	if (b64 != NULL)
		vp_secret_free_str(b64);
	if (p12 != NULL)
		vp_secret_free(p12, p12len);
}

static void
h_ca_export(vpd_ctx *c)
{
	static const vpd_field fields[] = {
		{ "p12_password", VPD_STRING, 1, VP_PASSPHRASE_MAX, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 }
	};
	vp_error e = { 0 };
	vpd_job *j;
	size_t rawlen;
	char *raw;
	json_t *o;

	if ((o = vpd_body_json(c, fields, 0, &raw, &rawlen)) == NULL)
		return;
	if (vp_p12_pass_check(vpd_json_str(o, "p12_password"), "the CA key", &e) != VP_OK) {
		vpd_reply_error(c, 422, "weak_password", "%s", e.msg);
	} else if ((j = vpd_job_new(c)) == NULL) {
		vpd_reply_oom(c);
	} else {
		j->in = json_incref(o);
		j->ca = vpd_ca_get(c->d);
		j->run = run_ca_export;
		vpd_defer(c, j);
	}
	json_decref(o);
	vp_secret_free(raw, rawlen);
}

/* After a CA appeared through the API: use it, and get a server certificate from it. */
static int
adopt_new_ca(vpd_ctx *c, vp_error *e)
{
	vp_ca *ca = NULL;

	if (vp_ca_load(c->store, c->d->passphrase, &ca, e) != VP_OK)
		return -1;
	vpd_ca_set(c->d, ca);
	pthread_mutex_lock(&c->d->watch_mu);
	c->d->watch_now = 1;
	pthread_cond_signal(&c->d->watch_cv);
	pthread_mutex_unlock(&c->d->watch_mu);
	return 0;
}

static int
ca_exists(vpd_ctx *c)
{
	vpd_ca_ref *ca = vpd_ca_get(c->d);
	int yes = ca != NULL && ca->ca != NULL;

	if (yes) {
		vp_x509_info i;
		vp_error e = { 0 };

		if (vp_x509_info_get(vp_ca_cert(ca->ca), &i, &e) == VP_OK) {
			vpd_reply_error(c, 409, "ca_exists", "this vmspki already has a CA (%s): it is "
			    "never replaced through the API", i.subject);
			vp_x509_info_clear(&i);
		} else {
			vpd_reply_error(c, 409, "ca_exists", "this vmspki already has a CA: it is never "
			    "replaced through the API");
		}
	}
	vpd_ca_put(ca);
	return yes;
}

/* 201 with the facts of the CA just made or imported (the first fields of GET /api/v1/ca). */
static void
reply_new_ca(vpd_ctx *c)
{
	vpd_ca_ref *ca = vpd_ca_get(c->d);
	vp_error e = { 0 };
	json_t *o = json_object();

	if (o == NULL) {
		vpd_reply_oom(c);
	} else if (vp_json_x509(vp_ca_cert(ca->ca), o, &e) != VP_OK) {
		json_decref(o);
		vpd_reply_vp_error(c, &e);
	} else {
		vpd_reply_json(c, 201, o);
	}
	vpd_ca_put(ca);
}

static void
h_ca_generate(vpd_ctx *c)
{
	static const vpd_field fields[] = {
		{ "cn", VPD_STRING, 0, 64, 0, 0 },
		{ "key", VPD_STRING, 0, 16, 0, 0 },
		{ "days", VPD_INT, 0, 0, 1, 36525 },
		{ NULL, 0, 0, 0, 0, 0 }
	};
	vp_ca_init_opts o = { 0 };
	vp_error e = { 0 };
	size_t rawlen;
	char *raw;
	json_t *b;

	if ((b = vpd_body_json(c, fields, 1, &raw, &rawlen)) == NULL)
		return;
	o.key = VP_KEY_RSA4096;
	if (vpd_json_str(b, "key") != NULL && vp_keytype_parse(vpd_json_str(b, "key"), &o.key,
	    &e) != VP_OK) {
		vpd_reply_error(c, 422, "bad_key_type", "%s", e.msg);
		goto out;
	}
	if (ca_exists(c))
		goto out;
	o.cn = vpd_json_str(b, "cn");
	o.days = (int)vpd_json_int(b, "days", 0);
	o.actor = c->actor;
	if (vp_ca_init(c->store, c->d->datadir, &o, c->d->passphrase, &e) != VP_OK ||
	    adopt_new_ca(c, &e) != 0) {
		vpd_reply_vp_error(c, &e);
		goto out;
	}
	vpd_log("a new CA was generated by %s", c->actor);
	reply_new_ca(c);
out:
	json_decref(b);
	free(raw);
}

static void
h_ca_import(vpd_ctx *c)
{
	static const vpd_field fields[] = {
		{ "pkcs12", VPD_STRING, 1, VPD_BODY_MAX, 0, 0 },
		{ "password", VPD_STRING, 1, VP_PASSPHRASE_MAX, 0, 0 },
		{ "chain", VPD_STRING, 0, VPD_BODY_MAX, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 }
	};
	vp_error e = { 0 };
	unsigned char *p12 = NULL;
	size_t p12len = 0, rawlen;
	const char *chain;
	char *raw;
	json_t *b;

	if ((b = vpd_body_json(c, fields, 0, &raw, &rawlen)) == NULL)
		return;
	if (vpd_base64_decode(vpd_json_str(b, "pkcs12"), &p12, &p12len) != 0) {
		vpd_reply_error(c, 400, "bad_field", "field \"pkcs12\" must be the PKCS#12 file in "
		    "base64");
		goto out;
	}
	if (ca_exists(c))
		goto out;
	chain = vpd_json_str(b, "chain");
	if (vp_ca_import(c->store, c->d->datadir, p12, p12len, vpd_json_str(b, "password"),
	    (const unsigned char *)chain, chain != NULL ? strlen(chain) : 0, c->d->passphrase, 0,
	    c->actor, &e) != VP_OK || adopt_new_ca(c, &e) != 0) {
		vpd_reply_vp_error(c, &e);
		goto out;
	}
	vpd_log("a CA was imported by %s", c->actor);
	reply_new_ca(c);
out:
	if (p12 != NULL)
		vp_secret_free(p12, p12len);
	json_decref(b);
	vp_secret_free(raw, rawlen);
}

/* PEM of the CA and the issuers above it: what a client needs after its certificate. */
static char *
ca_chain_pem(const vp_ca *ca, vp_error *e)
{
	char *a = NULL, *b = NULL, *all;
	size_t alen = 0, blen = 0;

	if (vp_x509_to_pem(vp_ca_cert(ca), &a, &alen, e) != VP_OK ||
	    vp_x509_chain_to_pem(vp_ca_chain(ca), &b, &blen, e) != VP_OK) {
		free(a);
		return NULL;
	}
	if ((all = malloc(alen + blen + 1)) == NULL) {
		vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	} else {
		memcpy(all, a, alen);
		memcpy(all + alen, b, blen);
		all[alen + blen] = '\0';
	}
	free(a);
	free(b);
	return all;
}

/* The chain of r's CA in PEM, made on first use and kept with r (read-only from then on). */
static const char *
ca_chain_cached(vpd_ca_ref *r, vp_error *e)
{
	char *p = atomic_load(&r->chain_pem), *none = NULL;

	if (p != NULL)
		return p;
	if ((p = ca_chain_pem(r->ca, e)) == NULL)
		return NULL;
	if (!atomic_compare_exchange_strong(&r->chain_pem, &none, p)) {
		free(p);   /* another thread made it first */
		p = none;
	}
	return p;
}

/* Signs the certificate j->in asks for (checked by h_issue) and prepares the 201 body; on
 * a refusal the job's reply is the error. In the pool. */
static void
issue_build(vpd_job *j)
{
	json_t *b = j->in, *r = NULL;
	const char *pass = vpd_json_str(b, "p12_password"), *owner = vpd_json_str(b, "owner");
	const char **dns = NULL, **ip = NULL, **email = NULL;
	const vp_profile *prof;
	vp_issue_req req;
	vp_issued *is = NULL;
	vp_error e = { 0 };
	const vp_ca *ca = j->ca->ca;
	const char *chain;
	char owner_kind[32], *b64 = NULL;
	unsigned char *p12 = NULL;
	size_t p12len = 0;
	int genkey = vpd_json_bool(b, "generate_key"), bad;

	memset(&req, 0, sizeof(req));
	if ((prof = vp_profile_find(vpd_json_str(b, "profile"), &e)) == NULL ||
	    (owner != NULL && vpd_owner_parse(owner, 0, owner_kind, sizeof(owner_kind),
	    &req.owner_id) != 0)) {
		vpd_job_error(j, 500, "internal", "the request changed after it was checked");
		goto out;
	}
	if (vpd_json_strs(b, "dns", &dns, &req.ndns) != 0 ||
	    vpd_json_strs(b, "ip", &ip, &req.nip) != 0 ||
	    vpd_json_strs(b, "email", &email, &req.nemail) != 0) {
		vpd_job_error(j, 500, "internal", "out of memory");
		goto out;
	}
	req.profile = prof->name;
	req.csr = j->csr;
	req.generate_key = genkey;
	req.cn = vpd_json_str(b, "cn");
	req.dns = dns;
	req.ip = ip;
	req.email = email;
	req.days = (int)vpd_json_int(b, "days", 0);
	req.owner_kind = owner != NULL ? owner_kind : NULL;
	if (vp_issue_sign(ca, &req, &is, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		goto out;
	}
	/* Everything the reply says is prepared before the commit: once the certificate is
	 * recorded, only sending is left. The certificate's PEM is the one its record holds. */
	if ((chain = ca_chain_cached(j->ca, &e)) == NULL) {
		vpd_job_vp_error(j, &e);
		goto out;
	}
	if (genkey) {
		if (vp_issued_p12(is, ca, pass, &p12, &p12len, &e) != VP_OK) {
			vpd_job_vp_error(j, &e);
			goto out;
		}
		if ((b64 = vpd_base64_encode(p12, p12len)) == NULL) {
			vpd_job_error(j, 500, "internal", "out of memory");
			goto out;
		}
	}
	r = vp_json_issued(is, prof->name);
	bad = r == NULL;
	bad |= json_object_set_new(r, "certificate", json_string(is->rec.pem));
	bad |= json_object_set_new(r, "chain", json_string(chain));
	if (b64 != NULL)
		bad |= json_object_set_new(r, "pkcs12", json_string(b64));
	if (bad) {
		vpd_job_error(j, 500, "internal", "out of memory");
		goto out;
	}
	vpd_job_json(j, 0, r, b64 != NULL);
	r = NULL;
	if (j->status != 0)   /* could not render */
		goto out;
	snprintf(j->profile, sizeof(j->profile), "%s", prof->name);
	j->is = is;
	is = NULL;
out:
	json_decref(r);
	if (b64 != NULL)
		vp_secret_free_str(b64);
	if (p12 != NULL)
		vp_secret_free(p12, p12len);
	vp_issued_free(is);
	free(dns);
	free(ip);
	free(email);
}

static void
run_issue(vpd_job *j, vp_store *s)
{
	(void)s;
	issue_build(j);
}

static void
h_issue(vpd_ctx *c)
{
	static const vpd_field fields[] = {
		{ "profile", VPD_STRING, 1, 32, 0, 0 },
		{ "csr", VPD_STRING, 0, VPD_BODY_MAX, 0, 0 },
		{ "generate_key", VPD_BOOL, 0, 0, 0, 0 },
		{ "p12_password", VPD_STRING, 0, VP_PASSPHRASE_MAX, 0, 0 },
		{ "cn", VPD_STRING, 0, 64, 0, 0 },
		{ "dns", VPD_STRINGS, 0, 253, 0, 100 },
		{ "ip", VPD_STRINGS, 0, 64, 0, 100 },
		{ "email", VPD_STRINGS, 0, 254, 0, 100 },
		{ "days", VPD_INT, 0, 0, 1, 36525 },
		{ "owner", VPD_STRING, 0, 300, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 }
	};
	vp_error e = { 0 };
	vpd_job *job = NULL;
	X509_REQ *csr = NULL;
	json_t *b;
	const char *csrpem, *pass, *owner, *idp;
	char owner_kind[32], *raw;
	size_t rawlen;
	int genkey;

	if ((b = vpd_body_json(c, fields, 0, &raw, &rawlen)) == NULL)
		return;
	csrpem = vpd_json_str(b, "csr");
	genkey = vpd_json_bool(b, "generate_key");
	pass = vpd_json_str(b, "p12_password");
	owner = vpd_json_str(b, "owner");
	if ((csrpem != NULL) == (genkey != 0)) {
		vpd_reply_error(c, 400, "bad_request", "give either \"csr\" (PEM) or "
		    "\"generate_key\": true with \"p12_password\"");
		goto out;
	}
	if (genkey && pass == NULL) {
		vpd_reply_error(c, 400, "missing_field", "\"generate_key\" needs \"p12_password\": the "
		    "key made here is returned in a PKCS#12 protected by it");
		goto out;
	}
	if (!genkey && pass != NULL) {
		vpd_reply_error(c, 400, "bad_request", "\"p12_password\" goes with \"generate_key\": "
		    "true");
		goto out;
	}
	if (genkey && vp_p12_pass_check(pass, "the key", &e) != VP_OK) {
		vpd_reply_error(c, 422, "weak_password", "%s", e.msg);
		goto out;
	}
	if (owner != NULL && vpd_owner_parse(owner, 0, owner_kind, sizeof(owner_kind), &idp) != 0) {
		vpd_reply_error(c, 400, "bad_field", "\"owner\" must be \"KIND:ID\": KIND a lowercase "
		    "word such as device, component or admin, ID printable text of at most 255 "
		    "characters");
		goto out;
	}
	if (vp_profile_find(vpd_json_str(b, "profile"), &e) == NULL) {
		vpd_reply_error(c, 422, "unknown_profile", "%s", e.msg);
		goto out;
	}
	if (csrpem != NULL && vp_csr_parse((const unsigned char *)csrpem, strlen(csrpem), &csr,
	    &e) != VP_OK) {
		vpd_reply_error(c, 400, "bad_csr", "%s", e.msg);
		goto out;
	}
	if ((job = vpd_job_new(c)) == NULL) {
		vpd_reply_oom(c);
		goto out;
	}
	job->in = json_incref(b);
	job->csr = csr;
	csr = NULL;
	job->ca = vpd_ca_get(c->d);
	/* Signed in the pool, which every loop shares: the loops' connections come unevenly (by
	 * a hash), the signatures are spread evenly; the committer sees what is yet to come. */
	job->run = run_issue;
	vpd_defer(c, job);
out:
	X509_REQ_free(csr);
	json_decref(b);
	vp_secret_free(raw, rawlen);
}

static void
h_cert_list(vpd_ctx *c)
{
	static const char *const params[] = {
		"expiring_within_days", "profile", "owner", "limit", "offset", NULL
	};
	int64_t now = (int64_t)time(NULL);
	vp_cert_filter f;
	vp_error e = { 0 };
	char owner_kind[32];
	const char *v, *owner_id = NULL;
	int64_t days = -1, limit = LIST_LIMIT_DEFAULT, offset = 0, total = 0;
	json_t *a = NULL, *o;
	vpd_query q;

	memset(&f, 0, sizeof(f));
	if (vpd_query_parse(c, &q, params) != 0)
		return;
	if ((v = vpd_query_get(&q, "expiring_within_days")) != NULL &&
	    vpd_parse_int(v, 0, 36525, &days) != 0) {
		vpd_reply_error(c, 400, "bad_parameter", "expiring_within_days must be a whole number "
		    "of days from 0 to 36525");
		goto out;
	}
	if ((v = vpd_query_get(&q, "limit")) != NULL &&
	    vpd_parse_int(v, 1, LIST_LIMIT_MAX, &limit) != 0) {
		vpd_reply_error(c, 400, "bad_parameter", "limit must be from 1 to %d",
		    LIST_LIMIT_MAX);
		goto out;
	}
	if ((v = vpd_query_get(&q, "offset")) != NULL &&
	    vpd_parse_int(v, 0, INT64_MAX / 2, &offset) != 0) {
		vpd_reply_error(c, 400, "bad_parameter", "offset must be a whole number from 0");
		goto out;
	}
	if ((v = vpd_query_get(&q, "profile")) != NULL) {
		if (vp_profile_find(v, &e) == NULL) {
			vpd_reply_error(c, 400, "bad_parameter", "%s", e.msg);
			goto out;
		}
		f.profile = v;
	}
	if ((v = vpd_query_get(&q, "owner")) != NULL) {
		if (vpd_owner_parse(v, 1, owner_kind, sizeof(owner_kind), &owner_id) != 0) {
			vpd_reply_error(c, 400, "bad_parameter", "owner must be KIND or KIND:ID, such as "
			    "device or device:cam-12");
			goto out;
		}
		f.owner_kind = owner_kind;
		f.owner_id = owner_id;
	}
	if (days >= 0)
		f.not_after_before = now + days * 86400;
	if (vp_store_cert_count(c->store, &f, &total, &e) != VP_OK) {
		vpd_reply_vp_error(c, &e);
		goto out;
	}
	f.limit = limit;
	f.offset = offset;
	if (vp_json_cert_list(c->store, &f, now, &a, &e) != VP_OK) {
		vpd_reply_vp_error(c, &e);
		goto out;
	}
	o = json_pack("{s:I,s:I,s:I,s:O}", "total", (json_int_t)total, "limit", (json_int_t)limit,
	    "offset", (json_int_t)offset, "certificates", a);
	if (o == NULL) {
		vpd_reply_oom(c);
		goto out;
	}
	vpd_reply_json(c, 200, o);
out:
	json_decref(a);
	vpd_query_free(&q);
}

static void
h_cert_show(vpd_ctx *c, const char *serial_in)
{
	vp_cert_rec r;
	vp_error e = { 0 };
	char serial[64];
	json_t *o;
	vp_err rc;

	memset(&r, 0, sizeof(r));
	if (vpd_serial_normalize(serial_in, serial, sizeof(serial)) != 0) {
		vpd_reply_error(c, 404, "not_found", "no certificate with serial %.80s: a serial is "
		    "hex digits", serial_in);
		return;
	}
	if ((rc = vp_store_cert_get(c->store, serial, &r, &e)) != VP_OK) {
		if (rc == VP_ERR_NOTFOUND)
			vpd_reply_error(c, 404, "not_found", "no certificate with serial %s", serial);
		else
			vpd_reply_vp_error(c, &e);
		goto out;
	}
	if ((o = vp_json_cert_rec(&r, (int64_t)time(NULL))) == NULL ||
	    json_object_set_new(o, "certificate", vp_json_str(r.pem)) != 0) {
		json_decref(o);
		vpd_reply_oom(c);
		goto out;
	}
	vpd_reply_json(c, 200, o);
out:
	vp_cert_rec_clear(&r);
}

static json_t *
servercert_json(vpd *d, const vp_servercert_status *st)
{
	vpd_tls_info in_use;
	json_t *o;

	pthread_mutex_lock(&d->tls_mu);
	in_use = d->tls_info;
	pthread_mutex_unlock(&d->tls_mu);
	if ((o = vp_json_servercert(st)) == NULL ||
	    json_object_set_new(o, "in_use_serial", vp_json_str_or_null(in_use.serial)) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void
h_servercert_show(vpd_ctx *c)
{
	vp_servercert_status st;
	vp_error e = { 0 };
	vpd_ca_ref *ca = vpd_ca_get(c->d);
	json_t *o;

	if (vp_servercert_status_get(ca->ca, c->d->datadir, &st, &e) != VP_OK)
		vpd_reply_vp_error(c, &e);
	else if ((o = servercert_json(c->d, &st)) == NULL)
		vpd_reply_oom(c);
	else
		vpd_reply_json(c, 200, o);
	vpd_ca_put(ca);
}

/* Pool stage of POST /api/v1/server-certificate/renew: a new key and certificate, then the
 * new TLS context, before the reply. */
static void
run_renew(vpd_job *j, vp_store *s)
{
	vp_servercert_status st;
	vp_error e = { 0 };
	json_t *o;
	int renewed = 0;

	if (vp_servercert_ensure(s, j->ca->ca, j->d->datadir, 1, j->actor, &renewed, &st,
	    &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	vpd_log("the server certificate was renewed on demand by %s: serial %s", j->actor,
	    st.serial);
	/* New connections get it from now on, before the client hears of it. */
	vpd_tls_reload(j->d, 1);
	if ((o = servercert_json(j->d, &st)) == NULL ||
	    json_object_set_new(o, "renewed", json_boolean(renewed)) != 0) {
		json_decref(o);
		vpd_job_error(j, 500, "internal", "out of memory");
		return;
	}
	vpd_job_json(j, 200, o, 0);
}

static void
h_servercert_renew(vpd_ctx *c)
{
	static const vpd_field fields[] = { { NULL, 0, 0, 0, 0, 0 } };
	vpd_job *j;
	size_t rawlen;
	char *raw;
	json_t *b;

	if ((b = vpd_body_json(c, fields, 1, &raw, &rawlen)) == NULL)
		return;
	json_decref(b);
	free(raw);
	if ((j = vpd_job_new(c)) == NULL) {
		vpd_reply_oom(c);
		return;
	}
	j->ca = vpd_ca_get(c->d);
	j->run = run_renew;
	vpd_defer(c, j);
}

/* ---- components (NATS broker and clients) ---- */

static void
component_log(void *arg, const char *line)
{
	(void)arg;
	vpd_log("%s", line);
}

/* Pool stages: the work takes the components' file lock and may generate keys. */
static void
run_component_show(vpd_job *j, vp_store *s)
{
	const char *id = vpd_json_str(j->in, "id");
	vp_component_info one, *all = NULL;
	vp_error e = { 0 };
	json_t *o = NULL, *a = NULL;
	size_t n = 0;

	if (id != NULL) {
		if (vp_component_get(s, j->ca->ca, j->d->datadir, id, &one, &e) != VP_OK) {
			vpd_job_vp_error(j, &e);
			return;
		}
		o = vp_json_component(&one, j->d->datadir);
	} else {
		if (vp_component_list(s, j->ca->ca, j->d->datadir, &all, &n, &e) != VP_OK) {
			vpd_job_vp_error(j, &e);
			return;
		}
		a = vp_json_components(all, n, j->d->datadir);
		free(all);
		o = a != NULL ? json_pack("{s:o}", "components", a) : NULL;
	}
	if (o == NULL)
		vpd_job_error(j, 500, "internal", "out of memory");
	else
		vpd_job_json(j, 200, o, 0);
}

static void
run_component_add(vpd_job *j, vp_store *s)
{
	const char *id = vpd_json_str(j->in, "id");
	vp_component_info info;
	vp_error e = { 0 };
	json_t *o;

	if (vp_component_add(s, j->ca->ca, j->d->datadir, id, vpd_json_bool(j->in, "server"),
	    vpd_json_bool(j->in, "client"), j->actor, &info, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	vpd_log("component %s added by %s", id, j->actor);
	if ((o = vp_json_component(&info, j->d->datadir)) == NULL)
		vpd_job_error(j, 500, "internal", "out of memory");
	else
		vpd_job_json(j, 201, o, 0);
}

static void
run_component_renew(vpd_job *j, vp_store *s)
{
	const char *id = vpd_json_str(j->in, "id");
	vp_component_outcome *oc = NULL;
	vp_error e = { 0 };
	size_t n = 0;
	json_t *o;

	if (vp_component_renew(s, j->ca->ca, j->d->datadir, &id, 1, vpd_json_bool(j->in, "force"),
	    j->actor, component_log, NULL, &oc, &n, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	if (n != 1 || (o = vp_json_component_outcome(&oc[0])) == NULL)
		vpd_job_error(j, 500, "internal", "out of memory");
	else
		vpd_job_json(j, 200, o, 0);
	free(oc);
}

static void
run_component_remove(vpd_job *j, vp_store *s)
{
	const char *id = vpd_json_str(j->in, "id");
	vp_error e = { 0 };
	json_t *o;

	if (vp_component_remove(s, j->d->datadir, id, j->actor, &e) != VP_OK) {
		vpd_job_vp_error(j, &e);
		return;
	}
	vpd_log("component %s removed by %s", id, j->actor);
	if ((o = json_pack("{s:s,s:b}", "id", id, "removed", 1)) == NULL)
		vpd_job_error(j, 500, "internal", "out of memory");
	else
		vpd_job_json(j, 200, o, 0);
}

/* Hands a component request to the pool with in (stolen) as its input and the CA. */
static void
component_job(vpd_ctx *c, json_t *in, void (*run)(vpd_job *, vp_store *))
{
	vpd_job_start(c, 1, in, run);
}

/* GET /api/v1/components (list), POST /api/v1/components (add). */
static void
h_components(vpd_ctx *c)
{
	static const vpd_field fields[] = {
		{ "id", VPD_STRING, 1, 1024, 0, 0 },
		{ "server", VPD_BOOL, 0, 0, 0, 0 },
		{ "client", VPD_BOOL, 0, 0, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 }
	};
	vp_error e = { 0 };
	size_t rawlen;
	char *raw;
	json_t *b;

	if (c->method != EVHTTP_REQ_POST) {
		component_job(c, json_object(), run_component_show);
		return;
	}
	if ((b = vpd_body_json(c, fields, 0, &raw, &rawlen)) == NULL)
		return;
	free(raw);
	if (vp_component_id_check(vpd_json_str(b, "id"), &e) != VP_OK) {
		json_decref(b);
		vpd_reply_vp_error(c, &e);
		return;
	}
	component_job(c, b, run_component_add);
}

/* /api/v1/components/{id}: GET (one), DELETE (remove); /api/v1/components/{id}/renew: POST. */
static void
h_component_item(vpd_ctx *c, const char *arg)
{
	static const vpd_field renew_fields[] = {
		{ "force", VPD_BOOL, 0, 0, 0, 0 },
		{ NULL, 0, 0, 0, 0, 0 }
	};
	const char *slash = strchr(arg, '/');
	char id[VP_COMPONENT_ID_MAX + 2];
	vp_error e = { 0 };
	size_t idlen = slash != NULL ? (size_t)(slash - arg) : strlen(arg), rawlen;
	int renew = slash != NULL && strcmp(slash, "/renew") == 0;
	char *raw;
	json_t *b, *in;

	if (slash != NULL && !renew) {
		vpd_reply_error(c, 404, "not_found", "there is no %.200s here: a component has "
		    "/api/v1/components/ID and /api/v1/components/ID/renew", c->path);
		return;
	}
	if (renew ? c->method != EVHTTP_REQ_POST :
	    c->method != EVHTTP_REQ_DELETE && c->method != EVHTTP_REQ_GET &&
	    c->method != EVHTTP_REQ_HEAD) {
		vpd_reply_not_allowed(c, c->path, renew ? "POST" : "GET, HEAD, DELETE");
		return;
	}
	/* Longer than an id can be: refused by the id rule without copying it all. */
	snprintf(id, sizeof(id), "%.*s", (int)(idlen < sizeof(id) - 1 ? idlen : sizeof(id) - 1),
	    arg);
	if (idlen > VP_COMPONENT_ID_MAX)
		id[VP_COMPONENT_ID_MAX] = 'x';
	if (vp_component_id_check(id, &e) != VP_OK) {
		vpd_reply_vp_error(c, &e);
		return;
	}
	if (!renew) {
		component_job(c, json_pack("{s:s}", "id", id), c->method == EVHTTP_REQ_DELETE ?
		    run_component_remove : run_component_show);
		return;
	}
	if ((b = vpd_body_json(c, renew_fields, 1, &raw, &rawlen)) == NULL)
		return;
	free(raw);
	in = json_pack("{s:s,s:b}", "id", id, "force", vpd_json_bool(b, "force"));
	json_decref(b);
	component_job(c, in, run_component_renew);
}

/* ---- routing ---- */

enum { M_GET = 1, M_POST = 2, M_DELETE = 4 };

typedef struct route {
	const char *path;
	int prefix;          /* path ends with "/": the rest is an argument (2: it may hold '/') */
	int methods;
	int open;            /* no authentication */
	void (*h)(vpd_ctx *c);
	void (*harg)(vpd_ctx *c, const char *arg);
} route;

static void h_ca_get_or_post(vpd_ctx *c);

static const route routes[] = {
	{ "/healthz", 0, M_GET, 1, h_healthz, NULL },
	{ "/metrics", 0, M_GET, 1, h_metrics, NULL },
	{ "/api/v1/ca", 0, M_GET | M_POST, 1, h_ca_get_or_post, NULL },
	{ "/api/v1/ca/certificate", 0, M_GET, 1, h_ca_certificate, NULL },
	{ "/api/v1/ca/export", 0, M_POST, 0, h_ca_export, NULL },
	{ "/api/v1/ca/import", 0, M_POST, 0, h_ca_import, NULL },
	{ "/api/v1/issue", 0, M_POST, 0, h_issue, NULL },
	{ "/api/v1/certificates", 0, M_GET, 0, h_cert_list, NULL },
	{ "/api/v1/certificates/", 1, M_GET, 0, NULL, h_cert_show },
	{ "/api/v1/server-certificate", 0, M_GET, 0, h_servercert_show, NULL },
	{ "/api/v1/server-certificate/renew", 0, M_POST, 0, h_servercert_renew, NULL },
	{ "/api/v1/components", 0, M_GET | M_POST, 0, h_components, NULL },
	{ "/api/v1/components/", 2, M_GET | M_POST | M_DELETE, 0, NULL, h_component_item },
	{ "/api/v1/devices", 0, M_GET | M_POST, 0, vpd_h_devices, NULL },
	{ "/api/v1/devices/", 2, M_GET | M_POST | M_DELETE, 0, NULL, vpd_h_device_item },
	{ "/api/v1/tasks", 0, M_GET | M_POST, 0, vpd_h_tasks, NULL },
	{ "/api/v1/tasks/", 2, M_GET | M_POST | M_DELETE, 0, NULL, vpd_h_task_item },
	{ "/api/v1/endpoints", 0, M_GET | M_POST, 0, vpd_h_endpoints, NULL },
	{ "/api/v1/endpoints/", 2, M_GET | M_POST | M_DELETE, 0, NULL, vpd_h_endpoint_item },
	{ "/api/v1/alarms", 0, M_GET, 0, vpd_h_alarms, NULL },
	{ "/api/v1/alarms/", 2, M_GET | M_POST, 0, NULL, vpd_h_alarm_item },
	{ "/api/v1/settings", 0, M_GET, 0, vpd_h_settings, NULL },
	{ "/api/v1/settings/", 1, M_GET | M_POST, 0, NULL, vpd_h_setting_item },
	{ "/api/v1/dot1x", 0, M_GET, 0, vpd_h_dot1x, NULL },
	{ "/api/v1/dot1x/", 1, M_POST, 0, NULL, vpd_h_dot1x_item },
};

/* GET /api/v1/ca is open; POST /api/v1/ca (generate) needs authentication. */
static void
h_ca_get_or_post(vpd_ctx *c)
{
	if (c->method == EVHTTP_REQ_POST) {
		if (vpd_auth(c))
			h_ca_generate(c);
		return;
	}
	h_ca_show(c);
}

void
vpd_api_dispatch(vpd_ctx *c)
{
	int m = c->method == EVHTTP_REQ_GET || c->method == EVHTTP_REQ_HEAD ? M_GET :
	    c->method == EVHTTP_REQ_POST ? M_POST : c->method == EVHTTP_REQ_DELETE ? M_DELETE : 0;

	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		const route *r = &routes[i];
		const char *arg = NULL;

		if (r->prefix) {
			size_t n = strlen(r->path);

			if (strncmp(c->path, r->path, n) != 0 || c->path[n] == '\0' ||
			    (r->prefix == 1 && strchr(c->path + n, '/') != NULL))
				continue;
			arg = c->path + n;
		} else if (strcmp(c->path, r->path) != 0) {
			continue;
		}
		if ((r->methods & m) == 0) {
			const char *allow = r->methods == M_GET ? "GET, HEAD" :
			    r->methods == M_POST ? "POST" : r->methods == (M_GET | M_POST) ?
			    "GET, HEAD, POST" : "GET, HEAD, POST, DELETE";

			vpd_reply_not_allowed(c, r->path, allow);
			return;
		}
		if (!r->open && !vpd_auth(c))
			return;
		if (r->harg != NULL)
			r->harg(c, arg);
		else
			r->h(c);
		return;
	}
	if (vpd_web_serve(c))
		return;
	vpd_reply_error(c, 404, "not_found", "there is no %.200s here: the API is under /api/v1 "
	    "(see docs/api.md)", c->path);
}
