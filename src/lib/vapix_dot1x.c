/* IEEE 802.1X (EAP-TLS) on Axis cameras: the ONVIF device service on /vapix/services, which
 * every supported firmware serves (5.70 to 10.x and AXIS OS 11/12 alike), so one set of SOAP
 * messages for both of the driver's APIs. Messages: docs/device-protocol.md section 8.
 * Pages: www.onvif.org/ver10/device/wsdl (GetDot1XConfigurations, CreateDot1XConfiguration,
 * SetDot1XConfiguration, DeleteDot1XConfiguration, GetNetworkInterfaces, SetNetworkInterfaces;
 * tt:Dot1XConfiguration with EAPMethod 13, Identity, CACertificateID and
 * EAPMethodConfiguration/TLSConfiguration/CertificateID). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/tree.h>

#include "vapix_internal.h"

#define NS_TDS   "http://www.onvif.org/ver10/device/wsdl"
#define NS_TT    "http://www.onvif.org/ver10/schema"
#define IFACE    "eth0"
#define EAP_TLS  "13"
#define SOAP_MAX (64u * 1024u)

/* A field of vp_dot1x_conf: 0..size-1 bytes of text without control characters. */
static int
field_ok(const char *s, size_t size, int may_be_empty)
{
	if (s[0] == '\0')
		return may_be_empty;
	return memchr(s, '\0', size) != NULL && vx_text_ok(s, size - 1);
}

vp_err
vx_dot1x_check(vx_op *op, const vp_dop_args *a, vp_error *e)
{
	const vp_dot1x_conf *c = a->dot1x;

	if (c == NULL) {
		if (op->kind == VP_DOP_DOT1X_GET)
			return VP_OK;
		return vp_error_set(e, VP_ERR_INVALID, "no 802.1X configuration was given");
	}
	if (!field_ok(c->token, sizeof(c->token), op->kind == VP_DOP_DOT1X_GET ||
	    (op->kind == VP_DOP_DOT1X_SET && c->identity[0] == '\0')) ||
	    strlen(c->token) > VX_ALIAS_SOAP)
		return vp_error_set(e, VP_ERR_INVALID, "the 802.1X configuration token must be 1 to "
		    "%d characters without control characters", VX_ALIAS_SOAP);
	if (op->kind == VP_DOP_DOT1X_SET && c->identity[0] != '\0' &&
	    (!field_ok(c->identity, sizeof(c->identity), 0) ||
	    !field_ok(c->cert_alias, sizeof(c->cert_alias), 0) ||
	    !field_ok(c->ca_alias, sizeof(c->ca_alias), 1)))
		return vp_error_set(e, VP_ERR_INVALID, "an 802.1X configuration needs an identity "
		    "and a client certificate alias (and may name a CA alias), each text without "
		    "control characters");
	op->d1x = *c;
	op->d1x_create = a->dot1x_create;
	return VP_OK;
}

/* The request of the operation's current sub-step. */
vp_err
vx_dot1x_build(vx_op *op, vp_error *e)
{
	const vp_dot1x_conf *c = &op->d1x;
	vp_buf b;
	vp_err rc;

	vp_buf_init(&b, "the 802.1X request", SOAP_MAX, 0);
	switch (op->kind) {
	case VP_DOP_DOT1X_GET:
		vp_buf_add_str(&b, op->d1x_sub == 0 ? "<tds:GetNetworkInterfaces/>" :
		    "<tds:GetDot1XConfigurations/>", NULL);
		break;
	case VP_DOP_DOT1X_SET:
		if (op->d1x_sub == 0 && c->identity[0] == '\0')
			op->d1x_sub = 1;          /* only the interface */
		if (op->d1x_sub == 0) {
			const char *w = op->d1x_create ? "tds:CreateDot1XConfiguration" :
			    "tds:SetDot1XConfiguration";

			vp_buf_printf(&b, NULL, "<%s><tds:Dot1XConfiguration>", w);
			vx_xml_put_el(&b, "tt:Dot1XConfigurationToken", c->token);
			vx_xml_put_el(&b, "tt:Identity", c->identity);
			vx_xml_put_el(&b, "tt:EAPMethod", EAP_TLS);
			if (c->ca_alias[0] != '\0')
				vx_xml_put_el(&b, "tt:CACertificateID", c->ca_alias);
			vp_buf_add_str(&b, "<tt:EAPMethodConfiguration><tt:TLSConfiguration>", NULL);
			vx_xml_put_el(&b, "tt:CertificateID", c->cert_alias);
			vp_buf_printf(&b, NULL, "</tt:TLSConfiguration></tt:EAPMethodConfiguration>"
			    "</tds:Dot1XConfiguration></%s>", w);
		} else {
			vp_buf_add_str(&b, "<tds:SetNetworkInterfaces><tds:InterfaceToken>" IFACE
			    "</tds:InterfaceToken><tds:NetworkInterface><tt:Extension><tt:Dot3>"
			    "<tt:Dot1X>", NULL);
			vx_xml_put_el(&b, "tt:Enabled", c->enabled ? "true" : "false");
			if (c->token[0] != '\0')
				vx_xml_put_el(&b, "tt:Dot1XConfigurationToken", c->token);
			vp_buf_add_str(&b, "</tt:Dot1X></tt:Dot3></tt:Extension></tds:NetworkInterface>"
			    "</tds:SetNetworkInterfaces>", NULL);
		}
		break;
	case VP_DOP_DOT1X_DELETE:
		vp_buf_add_str(&b, "<tds:DeleteDot1XConfiguration>", NULL);
		vx_xml_put_el(&b, "tds:Dot1XConfigurationToken", c->token);
		vp_buf_add_str(&b, "</tds:DeleteDot1XConfiguration>", NULL);
		break;
	default:
		vp_buf_free(&b);
		return vp_error_set(e, VP_ERR_INTERNAL, "not an 802.1X operation");
	}
	if (vp_buf_failed(&b) != VP_OK) {
		vp_buf_free(&b);
		return vp_error_set(e, VP_ERR_INVALID, "the 802.1X request is too long");
	}
	rc = vx_soap_send(op, &b, e);
	vp_buf_free(&b);
	return rc;
}

/* Copies a device word into dst (size bytes); 0 when it does not fit. */
static int
word_into(const xmlNode *n, char *dst, size_t size)
{
	char *w = vx_xml_word(n, size - 1);

	if (w == NULL)
		return 0;
	memcpy(dst, w, strlen(w) + 1);
	free(w);
	return 1;
}

/* GetNetworkInterfaces: eth0's tt:Extension/tt:Dot3/tt:Dot1X (absent: 802.1X off). */
static void
read_netif(vx_op *op, const xmlNode *resp)
{
	const xmlNode *ni = NULL, *x;
	char en[8];

	while ((ni = vx_xml_child(resp, NS_TDS, "NetworkInterfaces", ni)) != NULL) {
		xmlChar *tok = xmlGetProp(ni, BAD_CAST "token");
		int mine = tok != NULL && strcmp((const char *)tok, IFACE) == 0;

		xmlFree(tok);
		if (mine)
			break;
	}
	if (ni == NULL) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device lists no network interface "
		    IFACE, vx_op_name(op));
		return;
	}
	x = vx_xml_child(vx_xml_child(vx_xml_child(ni, NS_TT, "Extension", NULL), NS_TT, "Dot3",
	    NULL), NS_TT, "Dot1X", NULL);
	op->res.dot1x.enabled = 0;
	op->res.dot1x.token[0] = '\0';
	if (x == NULL)
		return;
	if (!word_into(vx_xml_child(x, NS_TT, "Enabled", NULL), en, sizeof(en)) ||
	    (strcmp(en, "true") != 0 && strcmp(en, "false") != 0)) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the interface's 802.1X Enabled is not true or "
		    "false", vx_op_name(op));
		return;
	}
	op->res.dot1x.enabled = strcmp(en, "true") == 0;
	if (vx_xml_child(x, NS_TT, "Dot1XConfigurationToken", NULL) != NULL &&
	    !word_into(vx_xml_child(x, NS_TT, "Dot1XConfigurationToken", NULL),
	    op->res.dot1x.token, VX_ALIAS_SOAP + 1)) {
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the interface's 802.1X configuration token is "
		    "not a valid token", vx_op_name(op));
		return;
	}
	if (op->res.dot1x.enabled && op->res.dot1x.token[0] == '\0')
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: 802.1X is on but names no configuration",
		    vx_op_name(op));
}

/* GetDot1XConfigurations: the interface's configuration and whether the asked one exists. */
static void
read_confs(vx_op *op, const xmlNode *resp)
{
	const xmlNode *c = NULL;
	size_t n = 0;

	while ((c = vx_xml_child(resp, NS_TDS, "Dot1XConfiguration", c)) != NULL) {
		char tok[VX_ALIAS_SOAP + 1];
		vp_dot1x_conf *d = &op->res.dot1x;

		if (++n > VX_MAX_LIST) {
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: the device lists more than %d "
			    "configurations", vx_op_name(op), VX_MAX_LIST);
			return;
		}
		if (!word_into(vx_xml_child(c, NS_TT, "Dot1XConfigurationToken", NULL), tok,
		    sizeof(tok))) {
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: configuration %zu has no valid token",
			    vx_op_name(op), n);
			return;
		}
		if (op->d1x.token[0] != '\0' && strcmp(tok, op->d1x.token) == 0)
			op->res.dot1x_asked_exists = 1;
		if (d->token[0] == '\0' || strcmp(tok, d->token) != 0)
			continue;
		/* The interface's: every field is needed to put it back. */
		if (!word_into(vx_xml_child(c, NS_TT, "Identity", NULL), d->identity,
		    sizeof(d->identity)) ||
		    !word_into(vx_xml_child(vx_xml_child(vx_xml_child(c, NS_TT,
		    "EAPMethodConfiguration", NULL), NS_TT, "TLSConfiguration", NULL), NS_TT,
		    "CertificateID", NULL), d->cert_alias, sizeof(d->cert_alias))) {
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: configuration %s has no valid Identity "
			    "or TLSConfiguration/CertificateID", vx_op_name(op), tok);
			return;
		}
		if (vx_xml_child(c, NS_TT, "CACertificateID", NULL) != NULL &&
		    !word_into(vx_xml_child(c, NS_TT, "CACertificateID", NULL), d->ca_alias,
		    sizeof(d->ca_alias))) {
			vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: configuration %s has an invalid "
			    "CACertificateID", vx_op_name(op), tok);
			return;
		}
		op->res.dot1x_found = 1;
	}
	if (op->res.dot1x.enabled && !op->res.dot1x_found)
		vx_fail(op, VP_DEVF_PROTOCOL, 0, "%s: 802.1X is on with configuration %s, which the "
		    "device does not list", vx_op_name(op), op->res.dot1x.token);
}

vp_err
vx_dot1x_handle(vx_op *op, const vp_http_resp *r, vp_error *e)
{
	const char *name = NULL;
	void *resp = NULL, *doc;

	(void)e;
	switch (op->kind) {
	case VP_DOP_DOT1X_GET:
		name = op->d1x_sub == 0 ? "GetNetworkInterfacesResponse" :
		    "GetDot1XConfigurationsResponse";
		break;
	case VP_DOP_DOT1X_SET:
		name = op->d1x_sub == 1 ? "SetNetworkInterfacesResponse" : op->d1x_create ?
		    "CreateDot1XConfigurationResponse" : "SetDot1XConfigurationResponse";
		break;
	default:
		name = "DeleteDot1XConfigurationResponse";
		break;
	}
	if ((doc = vx_soap_answer(op, r, NS_TDS, name, &resp)) == NULL)
		return VP_OK;
	if (op->kind == VP_DOP_DOT1X_GET && op->d1x_sub == 0)
		read_netif(op, resp);
	else if (op->kind == VP_DOP_DOT1X_GET)
		read_confs(op, resp);
	xmlFreeDoc(doc);
	if (op->done)
		return VP_OK;
	if (op->kind != VP_DOP_DOT1X_DELETE && op->d1x_sub == 0) {
		op->d1x_sub = 1;               /* the second request */
		return VP_OK;
	}
	vx_finish(op);
	return VP_OK;
}
