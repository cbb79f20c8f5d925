/* VAPIX SOAP 1.2 on /vapix/services: the certificate operations of firmware 5.70 to 10.x (Axis
 * acertificates and the ONVIF device service's certificate calls, one certificate store) and
 * the web server's TLS configuration on every firmware. Answers are read with libxml2 without
 * network access, entity substitution or DTDs. Messages: docs/device-protocol.md sections 2, 4.
 * Pages: developer.axis.com/vapix/network-video/certificate-management-api (CreateCertificate2,
 * GetPkcs10Request2), www.onvif.org/ver10/device/wsdl (GetCertificates, GetCACertificates,
 * LoadCertificates, LoadCACertificates, DeleteCertificates), and the VAPIX HTTPS web server
 * configuration (aweb:GetWebServerTlsConfiguration / SetWebServerTlsConfiguration). */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libxml/parser.h>
#include <libxml/tree.h>

#include "vapix_internal.h"
#include "vmspki/buf.h"
#include "vmspki/util.h"

#define NS_SOAP  "http://www.w3.org/2003/05/soap-envelope"
#define NS_ACERTS "http://www.axis.com/vapix/ws/certificates"
#define NS_ACERT "http://www.axis.com/vapix/ws/cert"
#define NS_AWEB  "http://www.axis.com/vapix/ws/webserver"
#define NS_TDS   "http://www.onvif.org/ver10/device/wsdl"
#define NS_TT    "http://www.onvif.org/ver10/schema"

#define SOAP_CT  "application/soap+xml; charset=utf-8"
/* Our own requests: a few certificates and lists of at most VX_MAX_LIST names. */
#define VX_SOAP_MAX (16u * 1024u * 1024u)

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

static void
xml_init(void)
{
	xmlInitParser();
}

/* ---- writing ---- */

/* The message is written into a vp_buf; a refusal shows in vp_buf_failed, checked once at
 * the end (vx_soap_build). */
static void
put(vp_buf *b, const char *s)
{
	(void)vp_buf_add_str(b, s, NULL);
}

static void
put_esc(vp_buf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':  put(b, "&amp;"); break;
		case '<':  put(b, "&lt;"); break;
		case '>':  put(b, "&gt;"); break;
		case '"':  put(b, "&quot;"); break;
		case '\'': put(b, "&apos;"); break;
		default:   vp_buf_add(b, s, 1, NULL); break;
		}
	}
}

/* <tag>escaped text</tag> */
static void
put_el(vp_buf *b, const char *tag, const char *text)
{
	vp_buf_printf(b, NULL, "<%s>", tag);
	put_esc(b, text);
	vp_buf_printf(b, NULL, "</%s>", tag);
}

static void
put_ids(vp_buf *b, const char *tag, char *const *ids, size_t n)
{
	size_t i;

	vp_buf_printf(b, NULL, "<%s>", tag);
	for (i = 0; i < n; i++)
		put_el(b, "acert:Id", ids[i]);
	vp_buf_printf(b, NULL, "</%s>", tag);
}

/* The subject's attributes in the order CreateCertificate2 lists them; only these six. */
static vp_err
put_subject(vp_buf *b, const char *subject, vp_error *e)
{
	static const char *const order[] = { "C", "ST", "L", "O", "OU", "CN" };
	char *copy = vp_strdup(subject), *vals[6] = { 0 }, *tok, *save = NULL, *eq;
	size_t i;
	vp_err rc = VP_OK;

	if (copy == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if (strpbrk(copy, "\\+\"") != NULL) {
		rc = vp_error_set(e, VP_ERR_INVALID, "the subject \"%.100s\" uses escapes or "
		    "multi-valued names, which firmware before 11 cannot take", subject);
		goto out;
	}
	for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		if ((eq = strchr(tok, '=')) == NULL || eq[1] == '\0')
			goto bad;
		*eq = '\0';
		for (i = 0; i < 6; i++)
			if (strcmp(tok, order[i]) == 0)
				break;
		if (i == 6 || vals[i] != NULL)
			goto bad;
		vals[i] = eq + 1;
	}
	if (vals[5] == NULL)
		goto bad;
	if (b != NULL) {
		put(b, "<acertificates:Subject>");
		for (i = 0; i < 6; i++) {
			char tag[16];
			if (vals[i] == NULL)
				continue;
			snprintf(tag, sizeof(tag), "acert:%s", order[i]);
			put_el(b, tag, vals[i]);
		}
		put(b, "</acertificates:Subject>");
	}
	goto out;
bad:
	rc = vp_error_set(e, VP_ERR_INVALID, "the subject \"%.100s\" must be attributes C, ST, L, "
	    "O, OU and CN (CN required, each once) separated by commas", subject);
out:
	free(copy);
	return rc;
}

static void
put_time(vp_buf *b, const char *tag, time_t t)
{
	struct tm tm;
	char buf[32];

	gmtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	put_el(b, tag, buf);
}

static const char *
policy_word(vp_dev_policy p)
{
	switch (p) {
	case VP_POLICY_HTTP:  return "Http";
	case VP_POLICY_HTTPS: return "Https";
	case VP_POLICY_BOTH:  return "HttpAndHttps";
	default:              return NULL;
	}
}

static vp_dev_policy
policy_of(const char *w)
{
	if (strcmp(w, "Http") == 0)
		return VP_POLICY_HTTP;
	if (strcmp(w, "Https") == 0)
		return VP_POLICY_HTTPS;
	if (strcmp(w, "HttpAndHttps") == 0)
		return VP_POLICY_BOTH;
	return VP_POLICY_UNKNOWN;
}

static void
put_tls_set(vp_buf *b, vx_op *op)
{
	const vx_tls *t = &op->tls;
	const char *admin = policy_word(op->policy);
	const char *id = op->alias != NULL ? op->alias : t->cert_id;
	size_t i;

	if (admin == NULL)
		admin = t->admin[0] != '\0' ? t->admin : "HttpAndHttps";
	put(b, "<aweb:SetWebServerTlsConfiguration><aweb:Configuration><aweb:Tls>true</aweb:Tls>"
	    "<aweb:ConnectionPolicies>");
	put_el(b, "aweb:Admin", admin);
	put(b, "</aweb:ConnectionPolicies><aweb:Ciphers>");
	for (i = 0; i < t->nciphers; i++)
		put_el(b, "acert:Cipher", t->ciphers[i]);
	put(b, "</aweb:Ciphers><aweb:CertificateSet><acert:Certificates>");
	if (id[0] != '\0')
		put_el(b, "acert:Id", id);
	put(b, "</acert:Certificates>");
	if (op->has_ca_aliases)
		put_ids(b, "acert:CACertificates", op->ca_aliases, op->nca_aliases);
	else
		put_ids(b, "acert:CACertificates", t->cas, t->ncas);
	put_ids(b, "acert:TrustedCertificates", t->trusted, t->ntrusted);
	put(b, "</aweb:CertificateSet></aweb:Configuration></aweb:SetWebServerTlsConfiguration>");
}

/* <tt:CertificateID>alias</tt:CertificateID><tt:Certificate><tt:Data>B64</tt:Data></tt:Certificate> */
static void
put_onvif_cert(vp_buf *b, const char *wrapper, const vx_op *op)
{
	vp_buf_printf(b, NULL, "<%s>", wrapper);
	put_el(b, "tt:CertificateID", op->alias);
	put(b, "<tt:Certificate>");
	put_el(b, "tt:Data", op->leaf_b64);
	vp_buf_printf(b, NULL, "</tt:Certificate></%s>", wrapper);
}

static vp_err
put_operation(vp_buf *b, vx_op *op, vp_error *e)
{
	time_t now = time(NULL);
	vp_err rc;

	if (op->step == VX_TLS_GET) {
		put(b, "<aweb:GetWebServerTlsConfiguration></aweb:GetWebServerTlsConfiguration>");
		return VP_OK;
	}
	if (op->step == VX_TLS_SET) {
		put_tls_set(b, op);
		return VP_OK;
	}
	switch (op->kind) {
	case VP_DOP_CA_LIST:
		put(b, "<tds:GetCACertificates></tds:GetCACertificates>");
		break;
	case VP_DOP_CERT_LIST:
		put(b, "<tds:GetCertificates></tds:GetCertificates>");
		break;
	case VP_DOP_CA_ADD:
		put(b, "<tds:LoadCACertificates>");
		put_onvif_cert(b, "tds:CACertificate", op);
		put(b, "</tds:LoadCACertificates>");
		break;
	case VP_DOP_CERT_INSTALL:
		put(b, "<tds:LoadCertificates>");
		put_onvif_cert(b, "tds:NVTCertificate", op);
		put(b, "</tds:LoadCertificates>");
		break;
	case VP_DOP_CA_DELETE:
	case VP_DOP_CERT_DELETE:
		put(b, "<tds:DeleteCertificates>");
		put_el(b, "tds:CertificateID", op->alias);
		put(b, "</tds:DeleteCertificates>");
		break;
	case VP_DOP_KEY_CREATE:
		put(b, "<acertificates:CreateCertificate2>");
		put_el(b, "acertificates:Id", op->alias);
		if ((rc = put_subject(b, op->subject, e)) != VP_OK)
			return rc;
		put_time(b, "acertificates:ValidNotBefore", now - 3600);
		put_time(b, "acertificates:ValidNotAfter", now + 365 * 86400);
		put(b, "</acertificates:CreateCertificate2>");
		break;
	case VP_DOP_CSR_GET:
		put(b, "<acertificates:GetPkcs10Request2>");
		put_el(b, "acertificates:Id", op->alias);
		put(b, "</acertificates:GetPkcs10Request2>");
		break;
	default:
		return vp_error_set(e, VP_ERR_INTERNAL, "no SOAP message for %s", vx_op_name(op));
	}
	return VP_OK;
}

vp_err
vx_soap_subject_check(const char *subject, vp_error *e)
{
	return put_subject(NULL, subject, e);
}

vp_err
vx_soap_build(vx_op *op, vp_error *e)
{
	char *body = NULL;
	size_t len = 0;
	vp_buf b;
	vp_err rc;

	vp_buf_init(&b, "the SOAP request", VX_SOAP_MAX, 0);
	put(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\""
	    NS_SOAP "\" xmlns:acertificates=\"" NS_ACERTS "\" xmlns:acert=\"" NS_ACERT
	    "\" xmlns:aweb=\"" NS_AWEB "\" xmlns:tds=\"" NS_TDS "\" xmlns:tt=\"" NS_TT
	    "\"><SOAP-ENV:Body>");
	rc = put_operation(&b, op, e);
	put(&b, "</SOAP-ENV:Body></SOAP-ENV:Envelope>");
	if (rc == VP_OK && vp_buf_failed(&b) == VP_ERR_INVALID)
		rc = vp_error_set(e, VP_ERR_INVALID, "the SOAP request is over %u MiB",
		    VX_SOAP_MAX / (1024u * 1024u));
	else if (rc == VP_OK && vp_buf_failed(&b) != VP_OK)
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	if (rc == VP_OK)
		rc = vp_buf_take(&b, &body, &len, e);
	vp_buf_free(&b);
	if (rc != VP_OK)
		return rc;
	return vx_request(op, "POST", SOAP_CT, body, len, e, "/vapix/services");
}

/* ---- reading ---- */

static int
is_el(const xmlNode *n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	    strcmp((const char *)n->ns->href, ns) == 0 &&
	    strcmp((const char *)n->name, name) == 0;
}

/* The first element child of p (after "after", when given) named ns:name. */
static xmlNode *
child(const xmlNode *p, const char *ns, const char *name, const xmlNode *after)
{
	xmlNode *c;

	if (p == NULL)
		return NULL;
	for (c = after != NULL ? after->next : p->children; c != NULL; c = c->next)
		if (is_el(c, ns, name))
			return c;
	return NULL;
}

/* The text of a leaf element into a new string (at most max bytes); NULL when it holds
 * anything but text (elements, entity references) or is too long. */
static char *
leaf_text(const xmlNode *n, size_t max)
{
	const xmlNode *c;
	size_t len = 0, l;
	char *s;

	if (n == NULL)
		return NULL;
	for (c = n->children; c != NULL; c = c->next) {
		if (c->type == XML_COMMENT_NODE)
			continue;
		if ((c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE) ||
		    c->content == NULL)
			return NULL;
		if ((len += strlen((const char *)c->content)) > max)
			return NULL;
	}
	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	len = 0;
	for (c = n->children; c != NULL; c = c->next) {
		if (c->type == XML_COMMENT_NODE)
			continue;
		l = strlen((const char *)c->content);
		memcpy(s + len, c->content, l);
		len += l;
	}
	s[len] = '\0';
	return s;
}

/* Leaf text trimmed of surrounding white space, which must then be vx_text_ok(max). */
static char *
leaf_word(const xmlNode *n, size_t max)
{
	char *s = leaf_text(n, max + 64), *b, *end;

	if (s == NULL)
		return NULL;
	for (b = s; *b == ' ' || *b == '\t' || *b == '\r' || *b == '\n'; b++)
		;
	end = b + strlen(b);
	while (end > b && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	memmove(s, b, (size_t)(end - b) + 1);
	if (!vx_text_ok(s, max)) {
		free(s);
		return NULL;
	}
	return s;
}

static void
fault_fail(vx_op *op, const xmlNode *fault)
{
	const xmlNode *reason = child(child(fault, NS_SOAP, "Reason", NULL), NS_SOAP, "Text",
	    NULL);
	const xmlNode *code = child(fault, NS_SOAP, "Code", NULL), *sub;
	char *text = leaf_text(reason, 4096), *value = NULL, q[420], qv[130];

	/* the innermost Subcode's Value names the fault best */
	for (sub = code; sub != NULL; sub = child(sub, NS_SOAP, "Subcode", NULL)) {
		char *v = leaf_text(child(sub, NS_SOAP, "Value", NULL), 256);
		if (v != NULL) {
			free(value);
			value = v;
		}
	}
	vx_quote(q, sizeof(q), text != NULL ? text : "no reason given",
	    text != NULL ? strlen(text) : strlen("no reason given"));
	vx_quote(qv, sizeof(qv), value != NULL ? value : "", value != NULL ? strlen(value) : 0);
	vx_fail(op, VP_DEVF_DEVICE, 0, "%s: the device refused: %s%s%s%s", vx_op_name(op), q,
	    qv[0] != '\0' ? " (" : "", qv, qv[0] != '\0' ? ")" : "");
	free(text);
	free(value);
}

/* Whether the len bytes at p contain the string needle. */
static int
has_bytes(const unsigned char *p, size_t len, const char *needle)
{
	size_t n = strlen(needle), i;

	for (i = 0; len >= n && i <= len - n; i++)
		if (p[i] == (unsigned char)needle[0] && memcmp(p + i, needle, n) == 0)
			return 1;
	return 0;
}

/* Reads a SOAP answer: its document and the Body's ns:name element, or NULL with op failed. */
static xmlDoc *
soap_answer(vx_op *op, const vp_http_resp *r, const char *ns, const char *name,
    xmlNode **out)
{
	int ok = r->status >= 200 && r->status <= 299;
	xmlDoc *doc = NULL;
	xmlNode *root, *body, *fault;
	const char *ct = r->content_type;

	*out = NULL;
	pthread_once(&xml_once, xml_init);
	if (r->len == 0 || r->len > INT_MAX ||
	    (ct != NULL && (strstr(ct, "json") != NULL || strstr(ct, "html") != NULL))) {
		if (ok)
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's answer is not SOAP",
			    vx_op_name(op));
		else
			vx_fail_status(op, r->status);
		return NULL;
	}
	/* No DTD at all: nothing for entity expansion ("billion laughs") to work with. */
	if (has_bytes(r->body, r->len, "<!DOCTYPE") || has_bytes(r->body, r->len, "<!ENTITY")) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0,
		    "%s: the device's answer has a document type declaration (refused)",
		    vx_op_name(op));
		return NULL;
	}
	doc = xmlReadMemory((const char *)r->body, (int)r->len, NULL, NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL || doc->intSubset != NULL) {
		if (ok || doc != NULL)
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's answer is not XML",
			    vx_op_name(op));
		else
			vx_fail_status(op, r->status);
		xmlFreeDoc(doc);
		return NULL;
	}
	root = xmlDocGetRootElement(doc);
	body = is_el(root, NS_SOAP, "Envelope") ? child(root, NS_SOAP, "Body", NULL) : NULL;
	if ((fault = child(body, NS_SOAP, "Fault", NULL)) != NULL) {
		fault_fail(op, fault);
	} else if (!ok) {
		vx_fail_status(op, r->status);
	} else if (body == NULL) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's answer is not a SOAP 1.2 envelope",
		    vx_op_name(op));
	} else if ((*out = child(body, ns, name, NULL)) == NULL) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's answer has no %s",
		    vx_op_name(op), name);
	}
	if (*out == NULL) {
		xmlFreeDoc(doc);
		return NULL;
	}
	return doc;
}

static int
strv_push(char ***v, size_t *n, char *s)
{
	char **nv;
	size_t size;

	if (*n >= VX_MAX_LIST || !vp_size_mul(*n + 1, sizeof(char *), &size) ||
	    (nv = realloc(*v, size)) == NULL)
		return 0;
	nv[(*n)++] = s;
	*v = nv;
	return 1;
}

/* All acert:Id under set's child ns:name into v; 0 on a bad entry. */
static int
read_ids(const xmlNode *set, const char *name, char ***v, size_t *n)
{
	const xmlNode *list = child(set, NS_ACERT, name, NULL), *id = NULL;
	char *s;

	while ((id = child(list, NS_ACERT, "Id", id)) != NULL) {
		if ((s = leaf_word(id, VX_ALIAS_REST)) == NULL)
			return 0;
		if (!strv_push(v, n, s)) {
			free(s);
			return 0;
		}
	}
	return 1;
}

void
vx_tls_clear(vx_tls *t)
{
	size_t i;

	for (i = 0; i < t->nciphers; i++)
		free(t->ciphers[i]);
	for (i = 0; i < t->ncas; i++)
		free(t->cas[i]);
	for (i = 0; i < t->ntrusted; i++)
		free(t->trusted[i]);
	free(t->ciphers);
	free(t->cas);
	free(t->trusted);
	memset(t, 0, sizeof(*t));
}

/* GetWebServerTlsConfigurationResponse/Configuration into op->tls; 0 if malformed. */
static int
read_tls(vx_op *op, const xmlNode *resp)
{
	const xmlNode *conf = child(resp, NS_AWEB, "Configuration", NULL);
	const xmlNode *set = child(conf, NS_AWEB, "CertificateSet", NULL), *c = NULL, *n;
	vx_tls *t = &op->tls;
	char *s = NULL, **ids = NULL;
	size_t nids = 0, i;
	int ok = 0;

	vx_tls_clear(t);
	if (conf == NULL || (s = leaf_word(child(conf, NS_AWEB, "Tls", NULL), 8)) == NULL)
		goto out;
	t->tls = strcmp(s, "true") == 0 || strcmp(s, "1") == 0;
	if (!t->tls && strcmp(s, "false") != 0 && strcmp(s, "0") != 0)
		goto out;
	free(s);
	s = NULL;
	n = child(child(conf, NS_AWEB, "ConnectionPolicies", NULL), NS_AWEB, "Admin", NULL);
	if (n != NULL) {
		if ((s = leaf_word(n, sizeof(t->admin) - 1)) == NULL ||
		    policy_of(s) == VP_POLICY_UNKNOWN)
			goto out;
		memcpy(t->admin, s, strlen(s) + 1);
	}
	while ((c = child(child(conf, NS_AWEB, "Ciphers", NULL), NS_ACERT, "Cipher", c)) != NULL) {
		char *w = leaf_word(c, 128);
		if (w == NULL || !strv_push(&t->ciphers, &t->nciphers, w)) {
			free(w);
			goto out;
		}
	}
	if (!read_ids(set, "Certificates", &ids, &nids) ||
	    !read_ids(set, "CACertificates", &t->cas, &t->ncas) ||
	    !read_ids(set, "TrustedCertificates", &t->trusted, &t->ntrusted))
		goto out;
	if (nids > 0)
		memcpy(t->cert_id, ids[0], strlen(ids[0]) + 1);
	ok = 1;
out:
	for (i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	free(s);
	return ok;
}

static vp_err
handle_tls(vx_op *op, const vp_http_resp *r)
{
	xmlNode *resp;
	xmlDoc *doc;

	if (op->step == VX_TLS_SET) {
		if ((doc = soap_answer(op, r, NS_AWEB, "SetWebServerTlsConfigurationResponse",
		    &resp)) == NULL)
			return VP_OK;
		xmlFreeDoc(doc);
		op->res.policy = op->policy != VP_POLICY_UNKNOWN ? op->policy :
		    policy_of(op->tls.admin[0] != '\0' ? op->tls.admin : "HttpAndHttps");
		snprintf(op->res.bound_alias, sizeof(op->res.bound_alias), "%s",
		    op->alias != NULL ? op->alias : op->tls.cert_id);
		vx_finish(op);
		return VP_OK;
	}
	doc = soap_answer(op, r, NS_AWEB, "GetWebServerTlsConfigurationResponse", &resp);
	if (doc == NULL) {
		/* Firmware without the web server service: the probe still identified it. */
		if (op->kind == VP_DOP_PROBE && op->fail == VP_DEVF_DEVICE) {
			snprintf(op->res.api, sizeof(op->res.api), "%s", op->api);
			vx_finish(op);
		}
		return VP_OK;
	}
	if (!read_tls(op, resp)) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the web server settings in the device's answer "
		    "are malformed (Tls, ConnectionPolicies, Ciphers or CertificateSet)",
		    vx_op_name(op));
	} else {
		op->res.policy = policy_of(op->tls.admin);
		snprintf(op->res.bound_alias, sizeof(op->res.bound_alias), "%s",
		    op->tls.tls ? op->tls.cert_id : "");
		if (op->kind == VP_DOP_TLS_SET) {
			op->step = VX_TLS_SET;
		} else {
			snprintf(op->res.api, sizeof(op->res.api), "%s", op->api);
			vx_finish(op);
		}
	}
	xmlFreeDoc(doc);
	return VP_OK;
}

/* tds:CACertificate / tds:NvtCertificate entries into op->res.certs. */
static vp_err
read_cert_list(vx_op *op, const xmlNode *resp, const char *entry, vp_error *e)
{
	const xmlNode *c = NULL;
	size_t n = 0;
	vp_dev_cert *certs;

	while ((c = child(resp, NS_TDS, entry, c)) != NULL)
		if (++n > VX_MAX_LIST) {
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device lists more than %d certificates",
			    vx_op_name(op), VX_MAX_LIST);
			return VP_OK;
		}
	if (n == 0) {
		vx_finish(op);
		return VP_OK;
	}
	if ((certs = calloc(n, sizeof(*certs))) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	op->res.certs = certs;
	for (c = NULL; (c = child(resp, NS_TDS, entry, c)) != NULL; op->res.ncerts++) {
		vp_dev_cert *dc = &certs[op->res.ncerts];
		char *id = leaf_word(child(c, NS_TT, "CertificateID", NULL), VX_ALIAS_REST);
		char *data = leaf_text(child(child(c, NS_TT, "Certificate", NULL), NS_TT, "Data",
		    NULL), VX_MAX_PEM);

		if (id != NULL)
			memcpy(dc->alias, id, strlen(id) + 1);
		if (data != NULL)
			dc->pem = vx_cert_pem(data, strlen(data), 1);
		free(data);
		if (id == NULL || dc->pem == NULL) {
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: entry %zu of the device's list has no "
			    "valid CertificateID or certificate", vx_op_name(op), op->res.ncerts + 1);
			free(id);
			op->res.ncerts++;
			return VP_OK;
		}
		free(id);
	}
	vx_finish(op);
	return VP_OK;
}

vp_err
vx_soap_handle(vx_op *op, const vp_http_resp *r, vp_error *e)
{
	static const struct { vp_dop_kind kind; const char *ns, *name; } answers[] = {
		{ VP_DOP_CA_LIST, NS_TDS, "GetCACertificatesResponse" },
		{ VP_DOP_CERT_LIST, NS_TDS, "GetCertificatesResponse" },
		{ VP_DOP_CA_ADD, NS_TDS, "LoadCACertificatesResponse" },
		{ VP_DOP_CERT_INSTALL, NS_TDS, "LoadCertificatesResponse" },
		{ VP_DOP_CA_DELETE, NS_TDS, "DeleteCertificatesResponse" },
		{ VP_DOP_CERT_DELETE, NS_TDS, "DeleteCertificatesResponse" },
		{ VP_DOP_KEY_CREATE, NS_ACERTS, "CreateCertificate2Response" },
		{ VP_DOP_CSR_GET, NS_ACERTS, "GetPkcs10Request2Response" },
	};
	xmlNode *resp = NULL;
	xmlDoc *doc = NULL;
	char *s = NULL;
	size_t i;
	vp_err rc = VP_OK;

	if (op->step == VX_TLS_GET || op->step == VX_TLS_SET)
		return handle_tls(op, r);
	for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++)
		if (answers[i].kind == op->kind)
			break;
	if (i == sizeof(answers) / sizeof(answers[0]))
		return vp_error_set(e, VP_ERR_INTERNAL, "no SOAP answer for %s", vx_op_name(op));
	if ((doc = soap_answer(op, r, answers[i].ns, answers[i].name, &resp)) == NULL)
		return VP_OK;
	switch (op->kind) {
	case VP_DOP_CA_LIST:
		rc = read_cert_list(op, resp, "CACertificate", e);
		break;
	case VP_DOP_CERT_LIST:
		rc = read_cert_list(op, resp, "NvtCertificate", e);
		break;
	case VP_DOP_KEY_CREATE:
		s = leaf_word(child(resp, NS_ACERTS, "Id", NULL), VX_ALIAS_REST);
		if (s == NULL || strcmp(s, op->alias) != 0) {
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device answered for another "
			    "certificate id than %s", vx_op_name(op), op->alias);
			break;
		}
		free(s);
		s = NULL;
		if (child(resp, NS_ACERTS, "Certificate", NULL) != NULL) {
			char *pem;
			s = leaf_text(child(resp, NS_ACERTS, "Certificate", NULL), VX_MAX_PEM);
			pem = s != NULL ? vx_cert_pem(s, strlen(s), 1) : NULL;
			if (pem == NULL) {
				vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's new certificate is "
				    "not a valid X.509 certificate", vx_op_name(op));
				break;
			}
			free(pem);
		}
		vx_finish(op);
		break;
	case VP_DOP_CSR_GET:
		s = leaf_text(child(resp, NS_ACERTS, "Pkcs10Request", NULL), VX_MAX_PEM);
		if (s == NULL || (op->res.csr_pem = vx_csr_pem(s, strlen(s), 1)) == NULL) {
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device's CSR is not a PKCS#10 request",
			    vx_op_name(op));
			break;
		}
		vx_finish(op);
		break;
	default:
		vx_finish(op);
		break;
	}
	free(s);
	xmlFreeDoc(doc);
	return rc;
}

/* ---- for vapix_dot1x.c (vapix_internal.h) ---- */

vp_err
vx_soap_send(vx_op *op, vp_buf *inner, vp_error *e)
{
	char *body = NULL, *in = NULL;
	size_t len = 0, inlen = 0;
	vp_buf b;
	vp_err rc;

	if ((rc = vp_buf_take(inner, &in, &inlen, e)) != VP_OK)
		return rc;
	vp_buf_init(&b, "the SOAP request", VX_SOAP_MAX, 0);
	put(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope xmlns:SOAP-ENV=\""
	    NS_SOAP "\" xmlns:tds=\"" NS_TDS "\" xmlns:tt=\"" NS_TT "\"><SOAP-ENV:Body>");
	vp_buf_add(&b, in, inlen, NULL);
	put(&b, "</SOAP-ENV:Body></SOAP-ENV:Envelope>");
	free(in);
	if (vp_buf_failed(&b) != VP_OK)
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
	else
		rc = vp_buf_take(&b, &body, &len, e);
	vp_buf_free(&b);
	if (rc != VP_OK)
		return rc;
	return vx_request(op, "POST", SOAP_CT, body, len, e, "/vapix/services");
}

void *
vx_soap_answer(vx_op *op, const vp_http_resp *r, const char *ns, const char *name, void **out)
{
	xmlNode *n = NULL;
	xmlDoc *doc = soap_answer(op, r, ns, name, &n);

	*out = n;
	return doc;
}

void *
vx_xml_child(const void *p, const char *ns, const char *name, const void *after)
{
	return child(p, ns, name, after);
}

char *
vx_xml_word(const void *n, size_t max)
{
	return leaf_word(n, max);
}

void
vx_xml_put_el(vp_buf *b, const char *tag, const char *text)
{
	put_el(b, tag, text);
}
