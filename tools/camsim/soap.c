/* POST /vapix/services: the SOAP 1.2 side of a camera (firmware 5.70 and later). The
 * certificate operations of the Axis certificate API (acertificates: CreateCertificate2,
 * GetPkcs10Request2) and of the ONVIF device service that Axis firmware serves on the same
 * endpoint and store (tds: GetCertificates, GetCACertificates, LoadCertificates,
 * LoadCACertificates, DeleteCertificates), and the web server's TLS configuration (aweb).
 * Parsed with libxml2 (no network, no entities, no DTD), by namespace URI, never by prefix;
 * answers built with libxml2's tree. docs/device-protocol.md sections 2 and 4 pin the shapes.
 * Sources: https://developer.axis.com/vapix/network-video/certificate-management-api
 *          https://www.onvif.org/ver10/device/wsdl/devicemgmt.wsdl */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "camsim.h"

#define NS_SOAP  "http://www.w3.org/2003/05/soap-envelope"
#define NS_ACS   "http://www.axis.com/vapix/ws/certificates"
#define NS_ACERT "http://www.axis.com/vapix/ws/cert"
#define NS_AWEB  "http://www.axis.com/vapix/ws/webserver"
#define NS_TDS   "http://www.onvif.org/ver10/device/wsdl"
#define NS_TT    "http://www.onvif.org/ver10/schema"
#define NS_TER   "http://www.onvif.org/ver10/error"

#define ID_MAX_CERTS 64     /* ids per request */

static const char *const tls_ciphers[] = {
	"ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256",
	"ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384",
	"ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
};

static const struct soapop {
	const char *ns, *name;
	cs_op op;
} soap_ops[] = {
	{ NS_TDS, "GetCertificates", CS_OP_SOAP_GET_CERTS },
	{ NS_TDS, "GetCACertificates", CS_OP_SOAP_GET_CA },
	{ NS_TDS, "LoadCACertificates", CS_OP_SOAP_LOAD_CA },
	{ NS_TDS, "DeleteCertificates", CS_OP_SOAP_DELETE },
	{ NS_TDS, "LoadCertificates", CS_OP_SOAP_LOAD_CERTS },
	{ NS_ACS, "CreateCertificate2", CS_OP_SOAP_CREATE },
	{ NS_ACS, "GetPkcs10Request2", CS_OP_SOAP_CSR },
	{ NS_AWEB, "GetWebServerTlsConfiguration", CS_OP_SOAP_TLS_GET },
	{ NS_AWEB, "SetWebServerTlsConfiguration", CS_OP_SOAP_TLS_SET },
};

static int
is_el(const xmlNode *n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	    strcmp((const char *)n->ns->href, ns) == 0 && strcmp((const char *)n->name, name) == 0;
}

static xmlNode *
first_el(xmlNode *n)
{
	for (; n != NULL; n = n->next)
		if (n->type == XML_ELEMENT_NODE)
			return n;
	return NULL;
}

static xmlNode *
child(xmlNode *parent, const char *ns, const char *name)
{
	if (parent == NULL)
		return NULL;
	for (xmlNode *n = parent->children; n != NULL; n = n->next)
		if (is_el(n, ns, name))
			return n;
	return NULL;
}

/* The text of an element, trimmed, at most max bytes (else NULL); malloc'd. */
static char *
text_of(xmlNode *n, size_t max)
{
	xmlChar *c;
	char *s, *b, *e, *out;

	if (n == NULL || (c = xmlNodeGetContent(n)) == NULL)
		return NULL;
	s = (char *)c;
	for (b = s; *b == ' ' || *b == '\t' || *b == '\n' || *b == '\r'; b++)
		;
	e = b + strlen(b);
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	out = (size_t)(e - b) <= max ? malloc((size_t)(e - b) + 1) : NULL;
	if (out != NULL) {
		memcpy(out, b, (size_t)(e - b));
		out[e - b] = '\0';
	}
	xmlFree(c);
	return out;
}

/* Parses the body: the operation element, or NULL (*why says which fault). */
static xmlDoc *
parse(const unsigned char *body, size_t len, xmlNode **opel)
{
	xmlDoc *doc;
	xmlNode *env, *b;

	*opel = NULL;
	if (len == 0 || len > CS_BODY_MAX)
		return NULL;
	doc = xmlReadMemory((const char *)body, (int)len, "request.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		return NULL;
	if (doc->intSubset != NULL || doc->extSubset != NULL) {   /* no DTD at all */
		xmlFreeDoc(doc);
		return NULL;
	}
	env = xmlDocGetRootElement(doc);
	if (!is_el(env, NS_SOAP, "Envelope") || (b = child(env, NS_SOAP, "Body")) == NULL)
		return doc;
	*opel = first_el(b->children);
	return doc;
}

cs_op
cs_soap_classify(cs_device *d, const unsigned char *body, size_t len)
{
	xmlNode *op;
	xmlDoc *doc = parse(body, len, &op);
	cs_op res = CS_OP_SOAP_OTHER;

	(void)d;
	for (size_t i = 0; op != NULL && i < sizeof(soap_ops) / sizeof(soap_ops[0]); i++)
		if (is_el(op, soap_ops[i].ns, soap_ops[i].name))
			res = soap_ops[i].op;
	if (op != NULL)
		cs_dot1x_classify(op, &res);
	xmlFreeDoc(doc);
	return res;
}

/* ------------------------------------------------------------------ answers */

struct answer {
	xmlDoc *doc;
	xmlNode *body;
	xmlNs *soap, *tt, *acert;
};

static int
answer_new(struct answer *a)
{
	xmlNode *env;

	memset(a, 0, sizeof(*a));
	if ((a->doc = xmlNewDoc(BAD_CAST "1.0")) == NULL ||
	    (env = xmlNewNode(NULL, BAD_CAST "Envelope")) == NULL)
		return -1;
	xmlDocSetRootElement(a->doc, env);
	a->soap = xmlNewNs(env, BAD_CAST NS_SOAP, BAD_CAST "SOAP-ENV");
	xmlSetNs(env, a->soap);
	a->tt = xmlNewNs(env, BAD_CAST NS_TT, BAD_CAST "tt");
	a->acert = xmlNewNs(env, BAD_CAST NS_ACERT, BAD_CAST "acert");
	a->body = xmlNewChild(env, a->soap, BAD_CAST "Body", NULL);
	return a->body != NULL && a->soap != NULL ? 0 : -1;
}

static xmlNode *
answer_op(struct answer *a, const char *ns, const char *prefix, const char *name)
{
	xmlNs *n = xmlNewNs(xmlDocGetRootElement(a->doc), BAD_CAST ns, BAD_CAST prefix);

	return xmlNewChild(a->body, n, BAD_CAST name, NULL);
}

static void
answer_send(cs_req *r, struct answer *a, int status)
{
	xmlChar *buf = NULL;
	int len = 0;
	struct evbuffer *out = evbuffer_new();

	r->style = CS_STYLE_SOAP;
	xmlDocDumpMemoryEnc(a->doc, &buf, &len, "UTF-8");
	xmlFreeDoc(a->doc);
	a->doc = NULL;
	if (buf == NULL || out == NULL) {
		xmlFree(buf);
		if (out != NULL)
			evbuffer_free(out);
		cs_reply_str(r, 500, "");
		return;
	}
	evbuffer_add(out, buf, (size_t)len);
	xmlFree(buf);
	cs_reply(r, status, NULL, out);
}

void
cs_soap_fault(cs_req *r, int http_status, const char *code, const char *sub1,
    const char *sub2, const char *reason)
{
	struct answer a = { 0 };
	xmlNode *env, *f, *c, *s, *rs, *t;

	if (answer_new(&a) != 0) {
		xmlFreeDoc(a.doc);
		cs_reply_str(r, 500, "");
		return;
	}
	env = xmlDocGetRootElement(a.doc);
	xmlNewNs(env, BAD_CAST NS_TER, BAD_CAST "ter");
	xmlNewNs(env, BAD_CAST NS_ACS, BAD_CAST "acertificates");
	f = xmlNewChild(a.body, a.soap, BAD_CAST "Fault", NULL);
	c = xmlNewChild(f, a.soap, BAD_CAST "Code", NULL);
	xmlNewTextChild(c, a.soap, BAD_CAST "Value", BAD_CAST code);
	if (sub1 != NULL) {
		s = xmlNewChild(c, a.soap, BAD_CAST "Subcode", NULL);
		xmlNewTextChild(s, a.soap, BAD_CAST "Value", BAD_CAST sub1);
		if (sub2 != NULL) {
			s = xmlNewChild(s, a.soap, BAD_CAST "Subcode", NULL);
			xmlNewTextChild(s, a.soap, BAD_CAST "Value", BAD_CAST sub2);
		}
	}
	rs = xmlNewChild(f, a.soap, BAD_CAST "Reason", NULL);
	t = xmlNewTextChild(rs, a.soap, BAD_CAST "Text", BAD_CAST reason);
	if (t != NULL)
		xmlNodeSetLang(t, BAD_CAST "en");
	answer_send(r, &a, http_status);
}

static void
fault_store(cs_req *r, cs_sterr e, const char *msg)
{
	switch (e) {
	case CS_ST_NOTFOUND:
		cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:CertificateID",
		    "Certificate not found");
		break;
	case CS_ST_EXISTS:
		cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:InvalidArgVal",
		    "acertificates:CertificateIdInUseFault", "A certificate with that ID already exists");
		break;
	case CS_ST_FULL:
		cs_soap_fault(r, 500, "SOAP-ENV:Receiver", "ter:Action",
		    "acertificates:MaxNumberOfCertificatesFault", "Maximum number of certificates reached");
		break;
	case CS_ST_INVALID:
	case CS_ST_MISMATCH:
		cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:InvalidCertificate",
		    "Invalid certificate");
		break;
	case CS_ST_INUSE:
		cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:CertificateInUse",
		    "Certificate is in use");
		break;
	default:
		cs_soap_fault(r, 500, "SOAP-ENV:Receiver", "ter:Action", NULL,
		    msg != NULL && msg[0] != '\0' ? msg : "Internal error");
		break;
	}
}

static void
fault_tag(cs_req *r)
{
	cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:TagMismatch", NULL, "Tag mismatch");
}

static void
add_cert_el(struct answer *a, xmlNode *parent, xmlNs *ns, const char *el, const char *alias,
    X509 *x)
{
	char *b64 = cs_pki_b64_der_cert(x);
	xmlNode *e = xmlNewChild(parent, ns, BAD_CAST el, NULL), *c;

	xmlNewTextChild(e, a->tt, BAD_CAST "CertificateID", BAD_CAST alias);
	c = xmlNewChild(e, a->tt, BAD_CAST "Certificate", NULL);
	xmlNewTextChild(c, a->tt, BAD_CAST "Data", BAD_CAST(b64 != NULL ? b64 : ""));
	free(b64);
}

/* ------------------------------------------------------------------ operations */

static void
op_get_certs(cs_req *r, int cas)
{
	struct answer a = { 0 };
	xmlNode *resp;
	cs_device *d = r->dev;

	if (answer_new(&a) != 0 || (resp = answer_op(&a, NS_TDS, "tds", cas ?
	    "GetCACertificatesResponse" : "GetCertificatesResponse")) == NULL) {
		xmlFreeDoc(a.doc);
		fault_store(r, CS_ST_INTERNAL, NULL);
		return;
	}
	if (cas)
		for (size_t i = 0; i < d->ncas; i++)
			add_cert_el(&a, resp, resp->ns, "CACertificate", d->cas[i].alias,
			    d->cas[i].cert);
	else
		for (size_t i = 0; i < d->ncerts; i++)
			add_cert_el(&a, resp, resp->ns, "NvtCertificate", d->certs[i].alias,
			    d->certs[i].cert);
	answer_send(r, &a, 200);
}

static int
id_ok(const char *s)
{
	size_t l = s != NULL ? strlen(s) : 0;

	if (l == 0 || l > CS_SOAP_ID_MAX)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* tds:LoadCACertificates / tds:LoadCertificates: CertificateID + Certificate/Data pairs. */
static void
op_load(cs_req *r, xmlNode *op, int cas)
{
	const char *el = cas ? "CACertificate" : "NVTCertificate";
	char *ids[ID_MAX_CERTS];
	X509 *xs[ID_MAX_CERTS];
	size_t n = 0;
	char err[256];
	cs_sterr e = CS_ST_OK;
	struct answer a = { 0 };

	for (xmlNode *c = op->children; c != NULL; c = c->next) {
		char *data;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!is_el(c, NS_TDS, el) || n == ID_MAX_CERTS)
			goto tag;
		ids[n] = text_of(child(c, NS_TT, "CertificateID"), CS_SOAP_ID_MAX);
		data = text_of(child(child(c, NS_TT, "Certificate"), NS_TT, "Data"),
		    CS_CERT_PEM_MAX);
		xs[n] = data != NULL ? cs_pki_b64_cert(data) : NULL;
		free(data);
		n++;
		if (!id_ok(ids[n - 1])) {
			e = CS_ST_INVALID;
			goto done;
		}
		if (xs[n - 1] == NULL) {
			e = CS_ST_INVALID;
			goto done;
		}
	}
	if (n == 0)
		goto tag;
	/* All or nothing: check every entry before the store changes. */
	for (size_t i = 0; i < n && e == CS_ST_OK; i++) {
		if (cas) {
			if (cs_dev_alias_taken(r->dev, ids[i]))
				e = CS_ST_EXISTS;
			for (size_t k = 0; k < i; k++)
				if (strcmp(ids[k], ids[i]) == 0)
					e = CS_ST_EXISTS;
		} else {
			cs_cert *c = cs_dev_cert(r->dev, ids[i]);

			if (c == NULL)
				e = CS_ST_NOTFOUND;
			else if (EVP_PKEY_eq(X509_get0_pubkey(xs[i]), c->key) != 1)
				e = CS_ST_MISMATCH;
		}
	}
	if (e == CS_ST_OK && cas && cs_dev_slots_used(r->dev) + n > (size_t)r->dev->store_slots)
		e = CS_ST_FULL;
	for (size_t i = 0; i < n && e == CS_ST_OK; i++) {
		if (cas) {
			e = cs_store_add_ca(r->dev, ids[i], xs[i], err, sizeof(err));
		} else {
			STACK_OF(X509) *sk = sk_X509_new_null();

			if (sk == NULL || sk_X509_push(sk, xs[i]) == 0) {
				sk_X509_free(sk);
				e = CS_ST_INTERNAL;
				break;
			}
			if ((e = cs_store_install(r->dev, ids[i], sk, err, sizeof(err))) != CS_ST_OK)
				sk_X509_free(sk);
		}
		if (e == CS_ST_OK)
			xs[i] = NULL;       /* the store owns it */
	}
done:
	for (size_t i = 0; i < n; i++) {
		free(ids[i]);
		X509_free(xs[i]);
	}
	if (e != CS_ST_OK) {
		fault_store(r, e, NULL);
		return;
	}
	if (answer_new(&a) != 0 || answer_op(&a, NS_TDS, "tds", cas ? "LoadCACertificatesResponse" :
	    "LoadCertificatesResponse") == NULL) {
		xmlFreeDoc(a.doc);
		fault_store(r, CS_ST_INTERNAL, NULL);
		return;
	}
	answer_send(r, &a, 200);
	return;
tag:
	for (size_t i = 0; i < n; i++) {
		free(ids[i]);
		X509_free(xs[i]);
	}
	fault_tag(r);
}

static void
op_delete(cs_req *r, xmlNode *op)
{
	char *ids[ID_MAX_CERTS], err[256];
	size_t n = 0;
	cs_sterr e = CS_ST_OK;
	struct answer a = { 0 };

	for (xmlNode *c = op->children; c != NULL; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (!is_el(c, NS_TDS, "CertificateID") || n == ID_MAX_CERTS) {
			for (size_t i = 0; i < n; i++)
				free(ids[i]);
			fault_tag(r);
			return;
		}
		ids[n++] = text_of(c, CS_ALIAS_MAX);
		if (ids[n - 1] == NULL || ids[n - 1][0] == '\0')
			e = CS_ST_NOTFOUND;
	}
	for (size_t i = 0; i < n && e == CS_ST_OK; i++) {
		if (cs_dev_cert(r->dev, ids[i]) == NULL && cs_dev_ca(r->dev, ids[i]) == NULL)
			e = CS_ST_NOTFOUND;
		else if (strcmp(r->dev->bound, ids[i]) == 0)
			e = CS_ST_INUSE;
	}
	for (size_t i = 0; i < n && e == CS_ST_OK; i++)
		e = cs_store_delete(r->dev, ids[i], 1, 1, err, sizeof(err));
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	if (n == 0) {
		fault_tag(r);
		return;
	}
	if (e != CS_ST_OK) {
		fault_store(r, e, NULL);
		return;
	}
	if (answer_new(&a) != 0 ||
	    answer_op(&a, NS_TDS, "tds", "DeleteCertificatesResponse") == NULL) {
		xmlFreeDoc(a.doc);
		fault_store(r, CS_ST_INTERNAL, NULL);
		return;
	}
	answer_send(r, &a, 200);
}

/* acert:C, ST, L, O, OU, CN children, in document order. NULL (and *bad) when malformed. */
static X509_NAME *
subject_of(xmlNode *subj, int *bad)
{
	static const char *const attrs[] = { "C", "ST", "L", "O", "OU", "CN" };
	X509_NAME *name = X509_NAME_new();

	*bad = 0;
	if (name == NULL) {
		*bad = 1;
		return NULL;
	}
	for (xmlNode *c = subj->children; c != NULL; c = c->next) {
		int ok = 0;
		char *v;

		if (c->type != XML_ELEMENT_NODE)
			continue;
		for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++)
			ok |= is_el(c, NS_ACERT, attrs[i]);
		if (!ok || (v = text_of(c, 256)) == NULL || v[0] == '\0' ||
		    X509_NAME_add_entry_by_txt(name, (const char *)c->name, MBSTRING_UTF8,
		    (unsigned char *)v, -1, -1, 0) != 1) {
			if (ok)
				free(v);
			X509_NAME_free(name);
			*bad = 1;
			return NULL;
		}
		free(v);
	}
	if (X509_NAME_entry_count(name) == 0) {
		X509_NAME_free(name);
		*bad = 1;
		return NULL;
	}
	return name;
}

/* xs:dateTime as the Axis example writes it: YYYY-MM-DDThh:mm:ss, optionally Z. */
static int
datetime(xmlNode *n, time_t *out)
{
	char *s = text_of(n, 40), z = 0;
	struct tm tm;
	int len = 0, rc = -1;

	*out = 0;
	if (n == NULL)
		return 0;
	if (s == NULL)
		return -1;
	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n%c", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
	    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &len, &z) >= 6 && (size_t)len >= 19 &&
	    (s[len] == '\0' || (s[len] == 'Z' && s[len + 1] == '\0')) && tm.tm_year >= 1970 &&
	    tm.tm_year <= 9999 && tm.tm_mon >= 1 && tm.tm_mon <= 12 && tm.tm_mday >= 1 &&
	    tm.tm_mday <= 31 && tm.tm_hour <= 23 && tm.tm_min <= 59 && tm.tm_sec <= 60) {
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		*out = timegm(&tm);
		rc = 0;
	}
	free(s);
	return rc;
}

static void
create_done(cs_req *r)
{
	char err[256];
	cs_sterr e = cs_store_create_finish(r, err, sizeof(err));
	struct answer a = { 0 };
	xmlNode *resp;
	cs_cert *c;
	char *b64;

	if (e == CS_ST_INTERNAL) {
		cs_soap_fault(r, 500, "SOAP-ENV:Receiver", "ter:Action",
		    "acertificates:KeyPairGenerationFault", "Key pair generation failed");
		return;
	}
	if (e != CS_ST_OK) {
		fault_store(r, e, err);
		return;
	}
	c = cs_dev_cert(r->dev, r->alias);
	if (c == NULL || answer_new(&a) != 0 ||
	    (resp = answer_op(&a, NS_ACS, "acertificates", "CreateCertificate2Response")) == NULL) {
		xmlFreeDoc(a.doc);
		fault_store(r, CS_ST_INTERNAL, NULL);
		return;
	}
	b64 = cs_pki_b64_der_cert(c->cert);
	xmlNewTextChild(resp, resp->ns, BAD_CAST "Id", BAD_CAST r->alias);
	xmlNewTextChild(resp, resp->ns, BAD_CAST "Certificate", BAD_CAST(b64 != NULL ? b64 : ""));
	free(b64);
	answer_send(r, &a, 200);
}

static void
op_create(cs_req *r, xmlNode *op)
{
	char *id = text_of(child(op, NS_ACS, "Id"), CS_SOAP_ID_MAX), err[256];
	xmlNode *subj = child(op, NS_ACS, "Subject");
	int bad = 0;
	cs_sterr e;

	if (!id_ok(id) || subj == NULL) {
		free(id);
		fault_tag(r);
		return;
	}
	if ((r->subject = subject_of(subj, &bad)) == NULL ||
	    datetime(child(op, NS_ACS, "ValidNotBefore"), &r->not_before) != 0 ||
	    datetime(child(op, NS_ACS, "ValidNotAfter"), &r->not_after) != 0 ||
	    (r->not_before != 0 && r->not_after != 0 && r->not_after <= r->not_before)) {
		free(id);
		cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:InvalidArgVal", NULL,
		    "Invalid argument value");
		return;
	}
	cs_strlcpy(r->alias, id, sizeof(r->alias));
	free(id);
	/* The SOAP API takes no key type: firmware 5.70 to 10.x makes RSA-2048. */
	cs_strlcpy(r->key_type, "RSA-2048", sizeof(r->key_type));
	if ((e = cs_store_create_start(r, create_done, err, sizeof(err))) != CS_ST_OK)
		fault_store(r, e, err);
}

static void
op_csr(cs_req *r, xmlNode *op)
{
	char *id = text_of(child(op, NS_ACS, "Id"), CS_SOAP_ID_MAX), err[256], *b64;
	xmlNode *subj = child(op, NS_ACS, "Subject"), *resp;
	X509_NAME *name = NULL;
	X509_REQ *csr = NULL;
	struct answer a = { 0 };
	int bad = 0;
	cs_sterr e;

	if (!id_ok(id)) {
		free(id);
		fault_tag(r);
		return;
	}
	if (subj != NULL && (name = subject_of(subj, &bad)) == NULL) {
		free(id);
		cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:InvalidArgVal", NULL,
		    "Invalid argument value");
		return;
	}
	e = cs_store_csr(r->dev, id, name, r->fault == CS_F_WRONG_CSR, &csr, err, sizeof(err));
	free(id);
	X509_NAME_free(name);
	if (e == CS_ST_INTERNAL) {
		cs_soap_fault(r, 500, "SOAP-ENV:Receiver", "ter:Action",
		    "acertificates:Pkcs10GenerationFault", "PKCS#10 generation failed");
		return;
	}
	if (e != CS_ST_OK) {
		fault_store(r, e, err);
		return;
	}
	b64 = cs_pki_b64_der_req(csr);
	X509_REQ_free(csr);
	if (b64 == NULL || answer_new(&a) != 0 ||
	    (resp = answer_op(&a, NS_ACS, "acertificates", "GetPkcs10Request2Response")) == NULL) {
		free(b64);
		xmlFreeDoc(a.doc);
		fault_store(r, CS_ST_INTERNAL, NULL);
		return;
	}
	xmlNewTextChild(resp, resp->ns, BAD_CAST "Pkcs10Request", BAD_CAST b64);
	free(b64);
	answer_send(r, &a, 200);
}

static void
op_tls_get(cs_req *r)
{
	cs_device *d = r->dev;
	struct answer a = { 0 };
	xmlNode *resp, *conf, *pol, *ci, *set, *certs, *cas;

	if (answer_new(&a) != 0 ||
	    (resp = answer_op(&a, NS_AWEB, "aweb", "GetWebServerTlsConfigurationResponse")) ==
	    NULL) {
		xmlFreeDoc(a.doc);
		fault_store(r, CS_ST_INTERNAL, NULL);
		return;
	}
	conf = xmlNewChild(resp, resp->ns, BAD_CAST "Configuration", NULL);
	xmlNewTextChild(conf, resp->ns, BAD_CAST "Tls", BAD_CAST(d->tls ? "true" : "false"));
	pol = xmlNewChild(conf, resp->ns, BAD_CAST "ConnectionPolicies", NULL);
	xmlNewTextChild(pol, resp->ns, BAD_CAST "Admin", BAD_CAST cs_policy_soap(d->policy));
	/* Firmware before 7.10 also listed the other user classes (ignored since). */
	if (!cs_fw_at_least(d, 7, 10)) {
		xmlNewTextChild(pol, resp->ns, BAD_CAST "Operator", BAD_CAST cs_policy_soap(d->policy));
		xmlNewTextChild(pol, resp->ns, BAD_CAST "Viewer", BAD_CAST cs_policy_soap(d->policy));
	}
	ci = xmlNewChild(conf, resp->ns, BAD_CAST "Ciphers", NULL);
	for (size_t i = 0; i < sizeof(tls_ciphers) / sizeof(tls_ciphers[0]); i++)
		xmlNewTextChild(ci, a.acert, BAD_CAST "Cipher", BAD_CAST tls_ciphers[i]);
	set = xmlNewChild(conf, resp->ns, BAD_CAST "CertificateSet", NULL);
	certs = xmlNewChild(set, a.acert, BAD_CAST "Certificates", NULL);
	if (d->bound[0] != '\0')
		xmlNewTextChild(certs, a.acert, BAD_CAST "Id", BAD_CAST d->bound);
	cas = xmlNewChild(set, a.acert, BAD_CAST "CACertificates", NULL);
	for (size_t i = 0; i < d->nbound_cas; i++)
		xmlNewTextChild(cas, a.acert, BAD_CAST "Id", BAD_CAST d->bound_cas[i]);
	xmlNewChild(set, a.acert, BAD_CAST "TrustedCertificates", NULL);
	answer_send(r, &a, 200);
}

static void
op_tls_set(cs_req *r, xmlNode *op)
{
	cs_device *d = r->dev;
	xmlNode *conf = child(op, NS_AWEB, "Configuration"), *pol, *set, *certs, *cas;
	char *tls = NULL, *admin = NULL, *id = NULL, *ca_ids[ID_MAX_CERTS], err[256];
	size_t ncas = 0;
	int tls_on = d->tls, have_cas = 0;
	cs_policy policy = d->policy;
	cs_sterr e;
	struct answer a = { 0 };

	if (conf == NULL) {
		fault_tag(r);
		return;
	}
	if (child(conf, NS_AWEB, "Tls") != NULL) {
		tls = text_of(child(conf, NS_AWEB, "Tls"), 8);
		if (tls != NULL && (strcmp(tls, "true") == 0 || strcmp(tls, "1") == 0))
			tls_on = 1;
		else if (tls != NULL && (strcmp(tls, "false") == 0 || strcmp(tls, "0") == 0))
			tls_on = 0;
		else
			goto badarg;
	}
	if ((pol = child(conf, NS_AWEB, "ConnectionPolicies")) != NULL &&
	    child(pol, NS_AWEB, "Admin") != NULL) {
		admin = text_of(child(pol, NS_AWEB, "Admin"), 16);
		if (admin == NULL || (strcmp(admin, "Http") != 0 && strcmp(admin, "Https") != 0 &&
		    strcmp(admin, "HttpAndHttps") != 0) || cs_policy_parse(admin, &policy) != 0)
			goto badarg;
	}
	if ((set = child(conf, NS_AWEB, "CertificateSet")) != NULL) {
		if ((certs = child(set, NS_ACERT, "Certificates")) != NULL) {
			xmlNode *idn = child(certs, NS_ACERT, "Id");

			if (idn != NULL && (id = text_of(idn, CS_ALIAS_MAX)) == NULL)
				goto badarg;
			if (idn == NULL)
				id = cs_strdup("");
		}
		if ((cas = child(set, NS_ACERT, "CACertificates")) != NULL) {
			have_cas = 1;
			for (xmlNode *c = cas->children; c != NULL; c = c->next) {
				if (c->type != XML_ELEMENT_NODE)
					continue;
				if (!is_el(c, NS_ACERT, "Id") || ncas == ID_MAX_CERTS ||
				    (ca_ids[ncas] = text_of(c, CS_ALIAS_MAX)) == NULL)
					goto badarg;
				ncas++;
			}
		}
	}
	if (tls_on && id != NULL && id[0] == '\0') {
		cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:CertificateID",
		    "Certificate not found");
		goto out;
	}
	e = cs_store_bind(d, tls_on, id, have_cas ? ca_ids : NULL, ncas, policy, err, sizeof(err));
	if (e == CS_ST_INVALID) {
		cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:InvalidArgVal", NULL, err);
		goto out;
	}
	if (e != CS_ST_OK) {
		fault_store(r, e, err);
		goto out;
	}
	if (answer_new(&a) != 0 ||
	    answer_op(&a, NS_AWEB, "aweb", "SetWebServerTlsConfigurationResponse") == NULL) {
		xmlFreeDoc(a.doc);
		fault_store(r, CS_ST_INTERNAL, NULL);
		goto out;
	}
	answer_send(r, &a, 200);
	goto out;
badarg:
	cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:InvalidArgVal", NULL, "Invalid argument value");
out:
	free(tls);
	free(admin);
	free(id);
	for (size_t i = 0; i < ncas; i++)
		free(ca_ids[i]);
}

void
cs_soap_handle(cs_req *r)
{
	xmlNode *op;
	xmlDoc *doc;

	r->style = CS_STYLE_SOAP;
	if (!cs_dev_https_capable(r->dev) || r->method != EVHTTP_REQ_POST) {
		r->style = CS_STYLE_HTML;
		cs_reply_str(r, 404, "<html><head><title>404 Not Found</title></head><body>"
		    "<h1>404 Not Found</h1></body></html>\n");
		return;
	}
	doc = parse(r->body, r->body_len, &op);
	if (doc == NULL || op == NULL) {
		xmlFreeDoc(doc);
		fault_tag(r);
		return;
	}
	switch (r->op) {
	case CS_OP_SOAP_GET_CERTS:
		op_get_certs(r, 0);
		break;
	case CS_OP_SOAP_GET_CA:
		op_get_certs(r, 1);
		break;
	case CS_OP_SOAP_LOAD_CA:
		op_load(r, op, 1);
		break;
	case CS_OP_SOAP_LOAD_CERTS:
		op_load(r, op, 0);
		break;
	case CS_OP_SOAP_DELETE:
		op_delete(r, op);
		break;
	case CS_OP_SOAP_CREATE:
		op_create(r, op);
		break;
	case CS_OP_SOAP_CSR:
		op_csr(r, op);
		break;
	case CS_OP_SOAP_TLS_GET:
		op_tls_get(r);
		break;
	case CS_OP_SOAP_TLS_SET:
		op_tls_set(r, op);
		break;
	case CS_OP_SOAP_DOT1X_GET:
	case CS_OP_SOAP_DOT1X_CREATE:
	case CS_OP_SOAP_DOT1X_SET:
	case CS_OP_SOAP_DOT1X_DELETE:
	case CS_OP_SOAP_NETIF_GET:
	case CS_OP_SOAP_NETIF_SET:
		cs_dot1x_handle(r, op);
		break;
	default:
		cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:ActionNotSupported", NULL,
		    "Action not supported");
		break;
	}
	xmlFreeDoc(doc);
}
