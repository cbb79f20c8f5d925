/* IEEE 802.1X on a simulated camera: the ONVIF device service's Dot1X configurations and the
 * wired interface's 802.1X switch, on /vapix/services for both firmware generations.
 * Sources: https://www.onvif.org/ver10/device/wsdl/devicemgmt.wsdl (GetDot1XConfigurations,
 * CreateDot1XConfiguration, SetDot1XConfiguration, DeleteDot1XConfiguration, GetNetworkInterfaces,
 * SetNetworkInterfaces; tt:Dot1XConfiguration) and https://developer.axis.com/vapix/network-video/
 * network-settings-api (802.1X on AXIS OS 11/12). Every AXIS OS keeps the ONVIF device service
 * on /vapix/services, so SOAP and REST cameras answer the same; docs/device-protocol.md section 8
 * pins the shapes, including where eth0's switch sits (tt:Extension/tt:Dot3/tt:Dot1X, vendor
 * content of the open tt:Dot3Configuration). Only EAP-TLS (EAP method 13) is offered. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>

#include "camsim.h"

#define NS_SOAP  "http://www.w3.org/2003/05/soap-envelope"
#define NS_TDS   "http://www.onvif.org/ver10/device/wsdl"
#define NS_TT    "http://www.onvif.org/ver10/schema"
#define NS_TER   "http://www.onvif.org/ver10/error"
#define IFACE    "eth0"
#define EAP_TLS  13

static const struct {
	const char *name;
	cs_op op;
} dot1x_ops[] = {
	{ "GetDot1XConfigurations", CS_OP_SOAP_DOT1X_GET },
	{ "GetDot1XConfiguration", CS_OP_SOAP_DOT1X_GET },
	{ "CreateDot1XConfiguration", CS_OP_SOAP_DOT1X_CREATE },
	{ "SetDot1XConfiguration", CS_OP_SOAP_DOT1X_SET },
	{ "DeleteDot1XConfiguration", CS_OP_SOAP_DOT1X_DELETE },
	{ "GetNetworkInterfaces", CS_OP_SOAP_NETIF_GET },
	{ "SetNetworkInterfaces", CS_OP_SOAP_NETIF_SET },
};

static int
is_el(const xmlNode *n, const char *ns, const char *name)
{
	return n != NULL && n->type == XML_ELEMENT_NODE && n->ns != NULL &&
	    strcmp((const char *)n->ns->href, ns) == 0 && strcmp((const char *)n->name, name) == 0;
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

/* The trimmed text of n into dst; 0 when n is missing or the text does not fit in n bytes or
 * holds control characters. */
static int
text_into(xmlNode *n, char *dst, size_t size)
{
	xmlChar *c;
	const char *b, *e;
	int ok = 0;

	if (n == NULL || (c = xmlNodeGetContent(n)) == NULL)
		return 0;
	for (b = (const char *)c; *b == ' ' || *b == '\t' || *b == '\n' || *b == '\r'; b++)
		;
	e = b + strlen(b);
	while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	if ((size_t)(e - b) < size) {
		ok = 1;
		for (const char *p = b; p < e; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				ok = 0;
		memcpy(dst, b, (size_t)(e - b));
		dst[e - b] = '\0';
	}
	xmlFree(c);
	return ok;
}

int
cs_dot1x_classify(const void *opel, cs_op *op)
{
	const xmlNode *n = opel;

	for (size_t i = 0; i < sizeof(dot1x_ops) / sizeof(dot1x_ops[0]); i++)
		if (is_el(n, NS_TDS, dot1x_ops[i].name)) {
			*op = dot1x_ops[i].op;
			return 1;
		}
	return 0;
}

static cs_dot1x_conf *
conf_find(cs_device *d, const char *token)
{
	for (size_t i = 0; i < d->dot1x.nconf; i++)
		if (strcmp(d->dot1x.conf[i].token, token) == 0)
			return &d->dot1x.conf[i];
	return NULL;
}

int
cs_dot1x_uses(const cs_device *d, const char *alias)
{
	for (size_t i = 0; i < d->dot1x.nconf; i++)
		if (strcmp(d->dot1x.conf[i].cert_id, alias) == 0 ||
		    strcmp(d->dot1x.conf[i].ca_id, alias) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------------ state */

/* The file camsim keeps alias's private key in (state.c's naming), for tests that
 * authenticate as the camera (eapol_test). */
static void
key_file(const cs_device *d, const char *alias, char *out, size_t n)
{
	unsigned char md[32];
	static const char hex[] = "0123456789abcdef";
	char h[33];

	EVP_Digest(alias, strlen(alias), md, NULL, EVP_sha256(), NULL);
	for (int i = 0; i < 16; i++) {
		h[2 * i] = hex[md[i] >> 4];
		h[2 * i + 1] = hex[md[i] & 15];
	}
	h[32] = '\0';
	snprintf(out, n, "%s/%s/keys/%s.pem", d->cs->state_dir, d->address, h);
}

json_t *
cs_dot1x_to_json(const cs_device *d)
{
	json_t *o = json_object(), *arr = json_array();
	char path[4096];

	if (o == NULL || arr == NULL) {
		json_decref(o);
		json_decref(arr);
		return NULL;
	}
	for (size_t i = 0; i < d->dot1x.nconf; i++) {
		const cs_dot1x_conf *c = &d->dot1x.conf[i];

		key_file(d, c->cert_id, path, sizeof(path));
		json_array_append_new(arr, json_pack("{s:s,s:s,s:i,s:s,s:s,s:s}", "token", c->token,
		    "identity", c->identity, "eap_method", c->eap_method, "ca_certificate_id",
		    c->ca_id, "certificate_id", c->cert_id, "key_file", path));
	}
	json_object_set_new(o, "enabled", json_boolean(d->dot1x.enabled));
	json_object_set_new(o, "token", json_string(d->dot1x.token));
	json_object_set_new(o, "configurations", arr);
	return o;
}

static int
str_into(json_t *o, const char *key, char *dst, size_t size, int required)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (s == NULL)
		return !required && (dst[0] = '\0', 1);
	if (strlen(s) >= size)
		return 0;
	memcpy(dst, s, strlen(s) + 1);
	return 1;
}

int
cs_dot1x_from_json(cs_device *d, json_t *o)
{
	json_t *arr, *v;
	size_t i;

	memset(&d->dot1x, 0, sizeof(d->dot1x));
	if (o == NULL)
		return 0;                  /* a state from before 802.1X */
	arr = json_object_get(o, "configurations");
	if (!json_is_object(o) || !json_is_array(arr) || json_array_size(arr) > CS_DOT1X_MAX ||
	    !str_into(o, "token", d->dot1x.token, sizeof(d->dot1x.token), 1))
		return -1;
	d->dot1x.enabled = json_is_true(json_object_get(o, "enabled"));
	json_array_foreach(arr, i, v) {
		cs_dot1x_conf *c = &d->dot1x.conf[i];

		if (!str_into(v, "token", c->token, sizeof(c->token), 1) ||
		    !str_into(v, "identity", c->identity, sizeof(c->identity), 1) ||
		    !str_into(v, "ca_certificate_id", c->ca_id, sizeof(c->ca_id), 0) ||
		    !str_into(v, "certificate_id", c->cert_id, sizeof(c->cert_id), 1))
			return -1;
		c->eap_method = (int)json_integer_value(json_object_get(v, "eap_method"));
		d->dot1x.nconf++;
	}
	if (d->dot1x.enabled && conf_find(d, d->dot1x.token) == NULL)
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ answers */

static void
send_doc(cs_req *r, xmlDoc *doc)
{
	xmlChar *buf = NULL;
	int len = 0;
	struct evbuffer *out = evbuffer_new();

	r->style = CS_STYLE_SOAP;
	xmlDocDumpMemoryEnc(doc, &buf, &len, "UTF-8");
	xmlFreeDoc(doc);
	if (buf == NULL || out == NULL) {
		xmlFree(buf);
		if (out != NULL)
			evbuffer_free(out);
		cs_reply_str(r, 500, "");
		return;
	}
	evbuffer_add(out, buf, (size_t)len);
	xmlFree(buf);
	cs_reply(r, 200, NULL, out);
}

/* A new answer with the operation element name (in tds); *tt is the schema namespace. */
static xmlNode *
answer(xmlDoc **doc, const char *name, xmlNs **tt)
{
	xmlNode *env, *body;
	xmlNs *soap, *tds;

	if ((*doc = xmlNewDoc(BAD_CAST "1.0")) == NULL ||
	    (env = xmlNewNode(NULL, BAD_CAST "Envelope")) == NULL)
		return NULL;
	xmlDocSetRootElement(*doc, env);
	soap = xmlNewNs(env, BAD_CAST NS_SOAP, BAD_CAST "SOAP-ENV");
	xmlSetNs(env, soap);
	*tt = xmlNewNs(env, BAD_CAST NS_TT, BAD_CAST "tt");
	tds = xmlNewNs(env, BAD_CAST NS_TDS, BAD_CAST "tds");
	body = xmlNewChild(env, soap, BAD_CAST "Body", NULL);
	return body != NULL ? xmlNewChild(body, tds, BAD_CAST name, NULL) : NULL;
}

static void
conf_el(xmlNode *parent, xmlNs *ns, const char *el, xmlNs *tt, const cs_dot1x_conf *c)
{
	xmlNode *e = xmlNewChild(parent, ns, BAD_CAST el, NULL), *m, *t;
	char num[16];

	snprintf(num, sizeof(num), "%d", c->eap_method);
	xmlNewTextChild(e, tt, BAD_CAST "Dot1XConfigurationToken", BAD_CAST c->token);
	xmlNewTextChild(e, tt, BAD_CAST "Identity", BAD_CAST c->identity);
	xmlNewTextChild(e, tt, BAD_CAST "EAPMethod", BAD_CAST num);
	if (c->ca_id[0] != '\0')
		xmlNewTextChild(e, tt, BAD_CAST "CACertificateID", BAD_CAST c->ca_id);
	m = xmlNewChild(e, tt, BAD_CAST "EAPMethodConfiguration", NULL);
	t = xmlNewChild(m, tt, BAD_CAST "TLSConfiguration", NULL);
	xmlNewTextChild(t, tt, BAD_CAST "CertificateID", BAD_CAST c->cert_id);
}

static void
ok_empty(cs_req *r, const char *name)
{
	xmlDoc *doc = NULL;
	xmlNs *tt;

	if (answer(&doc, name, &tt) == NULL) {
		xmlFreeDoc(doc);
		cs_reply_str(r, 500, "");
		return;
	}
	send_doc(r, doc);
}

static void
fault(cs_req *r, const char *code, const char *sub1, const char *sub2, const char *reason)
{
	cs_soap_fault(r, 500, code, sub1, sub2, reason);
}

/* ------------------------------------------------------------------ operations */

static void
op_get(cs_req *r, xmlNode *op)
{
	cs_device *d = r->dev;
	xmlDoc *doc = NULL;
	xmlNs *tt;
	xmlNode *resp;
	int one = is_el(op, NS_TDS, "GetDot1XConfiguration");
	char token[CS_SOAP_ID_MAX + 1];
	const cs_dot1x_conf *c = NULL;

	if (one) {
		if (!text_into(child(op, NS_TDS, "Dot1XConfigurationToken"), token, sizeof(token)) ||
		    (c = conf_find(d, token)) == NULL) {
			fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:InvalidDot1X",
			    "No 802.1X configuration with that token");
			return;
		}
	}
	if ((resp = answer(&doc, one ? "GetDot1XConfigurationResponse" :
	    "GetDot1XConfigurationsResponse", &tt)) == NULL) {
		xmlFreeDoc(doc);
		cs_reply_str(r, 500, "");
		return;
	}
	if (one)
		conf_el(resp, resp->ns, "Dot1XConfiguration", tt, c);
	else
		for (size_t i = 0; i < d->dot1x.nconf; i++)
			conf_el(resp, resp->ns, "Dot1XConfiguration", tt, &d->dot1x.conf[i]);
	send_doc(r, doc);
}

/* Reads a tt:Dot1XConfiguration into c; answers the fault and returns 0 when it is not one this
 * camera takes. */
static int
conf_read(cs_req *r, xmlNode *el, cs_dot1x_conf *c)
{
	cs_device *d = r->dev;
	char num[16];
	xmlNode *m;

	memset(c, 0, sizeof(*c));
	if (el == NULL || !text_into(child(el, NS_TT, "Dot1XConfigurationToken"), c->token,
	    sizeof(c->token)) || c->token[0] == '\0' ||
	    !text_into(child(el, NS_TT, "Identity"), c->identity, sizeof(c->identity)) ||
	    !text_into(child(el, NS_TT, "EAPMethod"), num, sizeof(num))) {
		fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:InvalidDot1X",
		    "The 802.1X configuration is incomplete or malformed");
		return 0;
	}
	c->eap_method = atoi(num);
	if (c->eap_method != EAP_TLS) {
		fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:EAPMethodNotSupported",
		    "EAP method not supported (only 13, EAP-TLS)");
		return 0;
	}
	if (c->identity[0] == '\0') {
		fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:InvalidDot1X",
		    "The 802.1X identity is empty");
		return 0;
	}
	if (child(el, NS_TT, "CACertificateID") != NULL &&
	    (!text_into(child(el, NS_TT, "CACertificateID"), c->ca_id, sizeof(c->ca_id)) ||
	    (c->ca_id[0] != '\0' && cs_dev_ca(d, c->ca_id) == NULL))) {
		fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:CertificateID",
		    "CA certificate not found");
		return 0;
	}
	m = child(child(child(el, NS_TT, "EAPMethodConfiguration"), NS_TT, "TLSConfiguration"),
	    NS_TT, "CertificateID");
	if (!text_into(m, c->cert_id, sizeof(c->cert_id)) || cs_dev_cert(d, c->cert_id) == NULL) {
		fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:CertificateID",
		    "Certificate not found");
		return 0;
	}
	return 1;
}

static void
op_create_set(cs_req *r, xmlNode *op, int create)
{
	cs_device *d = r->dev;
	cs_dot1x_conf c, *old;

	if (!conf_read(r, child(op, NS_TDS, "Dot1XConfiguration"), &c))
		return;
	old = conf_find(d, c.token);
	if (create && old != NULL) {
		fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:ReferenceToken",
		    "An 802.1X configuration with that token exists");
		return;
	}
	if (!create && old == NULL) {
		fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:InvalidDot1X",
		    "No 802.1X configuration with that token");
		return;
	}
	if (create && d->dot1x.nconf == CS_DOT1X_MAX) {
		fault(r, "SOAP-ENV:Receiver", "ter:Action", "ter:MaxDot1X",
		    "Maximum number of 802.1X configurations reached");
		return;
	}
	if (create)
		old = &d->dot1x.conf[d->dot1x.nconf++];
	*old = c;
	cs_state_save(d);
	ok_empty(r, create ? "CreateDot1XConfigurationResponse" : "SetDot1XConfigurationResponse");
}

static void
op_delete(cs_req *r, xmlNode *op)
{
	cs_device *d = r->dev;
	char token[CS_SOAP_ID_MAX + 1];
	cs_dot1x_conf *c;
	int n = 0;

	/* All named first, then removed: a bad token changes nothing. */
	for (xmlNode *t = op->children; t != NULL; t = t->next) {
		if (!is_el(t, NS_TDS, "Dot1XConfigurationToken"))
			continue;
		n++;
		if (!text_into(t, token, sizeof(token)) || conf_find(d, token) == NULL) {
			fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:InvalidDot1X",
			    "No 802.1X configuration with that token");
			return;
		}
		if (d->dot1x.enabled && strcmp(d->dot1x.token, token) == 0) {
			fault(r, "SOAP-ENV:Receiver", "ter:Action", "ter:Dot1XInUse",
			    "The 802.1X configuration is in use by a network interface");
			return;
		}
	}
	if (n == 0) {
		fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:InvalidDot1X",
		    "No 802.1X configuration token given");
		return;
	}
	for (xmlNode *t = op->children; t != NULL; t = t->next) {
		if (!is_el(t, NS_TDS, "Dot1XConfigurationToken") ||
		    !text_into(t, token, sizeof(token)) || (c = conf_find(d, token)) == NULL)
			continue;
		memmove(c, c + 1, (size_t)(&d->dot1x.conf[d->dot1x.nconf] - (c + 1)) * sizeof(*c));
		d->dot1x.nconf--;
		if (strcmp(d->dot1x.token, token) == 0)
			d->dot1x.token[0] = '\0';
	}
	cs_state_save(d);
	ok_empty(r, "DeleteDot1XConfigurationResponse");
}

static void
op_netif_get(cs_req *r)
{
	cs_device *d = r->dev;
	xmlDoc *doc = NULL;
	xmlNs *tt;
	xmlNode *resp, *ni, *info, *ext, *dot3, *x;
	char mac[18];

	if ((resp = answer(&doc, "GetNetworkInterfacesResponse", &tt)) == NULL) {
		xmlFreeDoc(doc);
		cs_reply_str(r, 500, "");
		return;
	}
	snprintf(mac, sizeof(mac), "%.2s:%.2s:%.2s:%.2s:%.2s:%.2s", d->serial, d->serial + 2,
	    d->serial + 4, d->serial + 6, d->serial + 8, d->serial + 10);
	ni = xmlNewChild(resp, resp->ns, BAD_CAST "NetworkInterfaces", NULL);
	xmlNewProp(ni, BAD_CAST "token", BAD_CAST IFACE);
	xmlNewTextChild(ni, tt, BAD_CAST "Enabled", BAD_CAST "true");
	info = xmlNewChild(ni, tt, BAD_CAST "Info", NULL);
	xmlNewTextChild(info, tt, BAD_CAST "Name", BAD_CAST IFACE);
	xmlNewTextChild(info, tt, BAD_CAST "HwAddress", BAD_CAST mac);
	xmlNewTextChild(info, tt, BAD_CAST "MTU", BAD_CAST "1500");
	ext = xmlNewChild(ni, tt, BAD_CAST "Extension", NULL);
	xmlNewTextChild(ext, tt, BAD_CAST "InterfaceType", BAD_CAST "6");
	dot3 = xmlNewChild(ext, tt, BAD_CAST "Dot3", NULL);
	x = xmlNewChild(dot3, tt, BAD_CAST "Dot1X", NULL);
	xmlNewTextChild(x, tt, BAD_CAST "Enabled", BAD_CAST(d->dot1x.enabled ? "true" : "false"));
	if (d->dot1x.token[0] != '\0')
		xmlNewTextChild(x, tt, BAD_CAST "Dot1XConfigurationToken", BAD_CAST d->dot1x.token);
	send_doc(r, doc);
}

static void
op_netif_set(cs_req *r, xmlNode *op)
{
	cs_device *d = r->dev;
	char iface[32], en[8], token[CS_SOAP_ID_MAX + 1];
	xmlNode *ni = child(op, NS_TDS, "NetworkInterface"), *x, *tok;
	xmlDoc *doc = NULL;
	xmlNs *tt;
	xmlNode *resp;
	int enabled;

	if (!text_into(child(op, NS_TDS, "InterfaceToken"), iface, sizeof(iface)) ||
	    strcmp(iface, IFACE) != 0) {
		fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:InvalidNetworkInterface",
		    "No network interface with that token");
		return;
	}
	if (ni == NULL) {
		cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:TagMismatch", NULL, "Tag mismatch");
		return;
	}
	x = child(child(child(ni, NS_TT, "Extension"), NS_TT, "Dot3"), NS_TT, "Dot1X");
	if (x == NULL) {
		ok_empty(r, "SetNetworkInterfacesResponse");  /* nothing about 802.1X: unchanged */
		return;
	}
	if (!text_into(child(x, NS_TT, "Enabled"), en, sizeof(en)) ||
	    (strcmp(en, "true") != 0 && strcmp(en, "false") != 0)) {
		fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", NULL, "Invalid argument value");
		return;
	}
	enabled = strcmp(en, "true") == 0;
	token[0] = '\0';
	tok = child(x, NS_TT, "Dot1XConfigurationToken");
	if ((tok != NULL && !text_into(tok, token, sizeof(token))) ||
	    (enabled && conf_find(d, token[0] != '\0' ? token : d->dot1x.token) == NULL)) {
		fault(r, "SOAP-ENV:Sender", "ter:InvalidArgVal", "ter:InvalidDot1X",
		    "No 802.1X configuration with that token");
		return;
	}
	d->dot1x.enabled = enabled;
	if (tok != NULL)
		cs_strlcpy(d->dot1x.token, token, sizeof(d->dot1x.token));
	cs_state_save(d);
	if ((resp = answer(&doc, "SetNetworkInterfacesResponse", &tt)) == NULL) {
		xmlFreeDoc(doc);
		cs_reply_str(r, 500, "");
		return;
	}
	xmlNewTextChild(resp, resp->ns, BAD_CAST "RebootNeeded", BAD_CAST "false");
	send_doc(r, doc);
}

void
cs_dot1x_handle(cs_req *r, void *opel)
{
	xmlNode *op = opel;

	switch (r->op) {
	case CS_OP_SOAP_DOT1X_GET:
		op_get(r, op);
		break;
	case CS_OP_SOAP_DOT1X_CREATE:
		op_create_set(r, op, 1);
		break;
	case CS_OP_SOAP_DOT1X_SET:
		op_create_set(r, op, 0);
		break;
	case CS_OP_SOAP_DOT1X_DELETE:
		op_delete(r, op);
		break;
	case CS_OP_SOAP_NETIF_GET:
		op_netif_get(r);
		break;
	case CS_OP_SOAP_NETIF_SET:
		op_netif_set(r, op);
		break;
	default:
		cs_soap_fault(r, 500, "SOAP-ENV:Sender", "ter:ActionNotSupported", NULL,
		    "Action not supported");
		break;
	}
}
