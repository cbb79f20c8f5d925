#define _GNU_SOURCE
/* Unit tests for the VAPIX driver's IEEE 802.1X operations (src/lib/vapix_dot1x.c): the
 * requests as docs/device-protocol.md section 8 pins them, on SOAP and REST firmware alike, and
 * hostile answers (faults, garbage, wrong shapes, HTTP errors, lost connections). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "driver_impl.h"
#include "vapix.h"
#include "vmspki/driver.h"

static vp_dop *
start(vp_dop_kind k, const vp_dop_args *a, const char *api)
{
	vp_dop *op = NULL;
	vp_error e;

	if (vp_dop_start(&vp_driver_vapix, k, a, api, &op, &e) != VP_OK)
		fail_msg("start failed: %s", e.msg);
	return op;
}

/* The next request must be a SOAP POST to /vapix/services whose body holds want. */
static const vp_http_req *
expect_soap(vp_dop *op, const char *want)
{
	const vp_http_req *r = NULL;
	vp_error e;

	assert_int_equal(vp_dop_next(op, &r, &e), VP_OK);
	if (r == NULL)
		fail_msg("no request, expected one with %s", want);
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, "/vapix/services");
	assert_non_null(r->body);
	if (strstr(r->body, want) == NULL)
		fail_msg("request lacks %s: %.*s", want, (int)r->body_len, r->body);
	return r;
}

static void
answer(vp_dop *op, long status, const char *ct, const char *body)
{
	vp_http_resp r = { .transport = VP_TRANSPORT_OK, .status = status, .content_type = ct,
	    .body = (const unsigned char *)body, .len = strlen(body) };
	vp_error e;

	assert_int_equal(vp_dop_feed(op, &r, &e), VP_OK);
}

static void
soap(vp_dop *op, long status, const char *inner)
{
	char *s = NULL;

	assert_true(asprintf(&s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope "
	    "xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" "
	    "xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\" "
	    "xmlns:tt=\"http://www.onvif.org/ver10/schema\" "
	    "xmlns:ter=\"http://www.onvif.org/ver10/error\">"
	    "<SOAP-ENV:Body>%s</SOAP-ENV:Body></SOAP-ENV:Envelope>", inner) > 0);
	answer(op, status, "application/soap+xml; charset=utf-8", s);
	free(s);
}

static void
transport(vp_dop *op, vp_transport t, const char *msg)
{
	vp_http_resp r = { .transport = t, .transport_msg = msg };
	vp_error e;

	assert_int_equal(vp_dop_feed(op, &r, &e), VP_OK);
}

static void
assert_done(vp_dop *op)
{
	const vp_http_req *r = NULL;
	const char *msg = NULL;
	vp_error e;

	assert_int_equal(vp_dop_next(op, &r, &e), VP_OK);
	assert_null(r);
	if (vp_dop_failed(op, &msg, NULL) != VP_DEVF_NONE)
		fail_msg("operation failed: %s", msg);
}

static void
assert_fail(vp_dop *op, vp_dev_fail f, int retry, const char *want)
{
	const vp_http_req *r = NULL;
	const char *msg = NULL;
	int retryable = -1;
	vp_error e;

	assert_int_equal(vp_dop_next(op, &r, &e), VP_OK);
	assert_null(r);
	assert_int_equal(vp_dop_failed(op, &msg, &retryable), f);
	assert_int_equal(retryable, retry);
	if (strstr(msg, want) == NULL)
		fail_msg("message \"%s\" lacks \"%s\"", msg, want);
}

static const char netif_on[] =
    "<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token=\"eth0\">"
    "<tt:Enabled>true</tt:Enabled><tt:Extension><tt:InterfaceType>6</tt:InterfaceType>"
    "<tt:Dot3><tt:Dot1X><tt:Enabled>true</tt:Enabled>"
    "<tt:Dot1XConfigurationToken>factory</tt:Dot1XConfigurationToken></tt:Dot1X></tt:Dot3>"
    "</tt:Extension></tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>";

static const char confs[] =
    "<tds:GetDot1XConfigurationsResponse>"
    "<tds:Dot1XConfiguration><tt:Dot1XConfigurationToken>factory</tt:Dot1XConfigurationToken>"
    "<tt:Identity>old-id</tt:Identity><tt:EAPMethod>13</tt:EAPMethod>"
    "<tt:CACertificateID>oldca</tt:CACertificateID><tt:EAPMethodConfiguration>"
    "<tt:TLSConfiguration><tt:CertificateID>oldcert</tt:CertificateID></tt:TLSConfiguration>"
    "</tt:EAPMethodConfiguration></tds:Dot1XConfiguration>"
    "<tds:Dot1XConfiguration><tt:Dot1XConfigurationToken>vmspki-8021x</tt:Dot1XConfigurationToken>"
    "<tt:Identity>x</tt:Identity><tt:EAPMethod>13</tt:EAPMethod><tt:EAPMethodConfiguration>"
    "<tt:TLSConfiguration><tt:CertificateID>c</tt:CertificateID></tt:TLSConfiguration>"
    "</tt:EAPMethodConfiguration></tds:Dot1XConfiguration>"
    "</tds:GetDot1XConfigurationsResponse>";

static const char fault_invalid[] =
    "<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>"
    "<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:InvalidArgVal</SOAP-ENV:Value><SOAP-ENV:Subcode>"
    "<SOAP-ENV:Value>ter:CertificateID</SOAP-ENV:Value></SOAP-ENV:Subcode></SOAP-ENV:Subcode>"
    "</SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang=\"en\">Certificate not found"
    "</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>";

/* GET on both generations: eth0's switch, then the configurations; the interface's and
 * whether ours exists. */
static void
test_get(void **state)
{
	static const char *const apis[] = { VP_DEV_API_SOAP, VP_DEV_API_REST, VP_DEV_API_REST_BETA };
	vp_dot1x_conf ask = { .token = "vmspki-8021x" };
	vp_dop_args a = { .dot1x = &ask };
	(void)state;

	for (size_t i = 0; i < 3; i++) {
		vp_dop *op = start(VP_DOP_DOT1X_GET, &a, apis[i]);
		const vp_dop_result *r;

		expect_soap(op, "<tds:GetNetworkInterfaces/>");
		soap(op, 200, netif_on);
		expect_soap(op, "<tds:GetDot1XConfigurations/>");
		soap(op, 200, confs);
		assert_done(op);
		r = vp_dop_get_result(op);
		assert_int_equal(r->dot1x.enabled, 1);
		assert_string_equal(r->dot1x.token, "factory");
		assert_string_equal(r->dot1x.identity, "old-id");
		assert_string_equal(r->dot1x.ca_alias, "oldca");
		assert_string_equal(r->dot1x.cert_alias, "oldcert");
		assert_int_equal(r->dot1x_found, 1);
		assert_int_equal(r->dot1x_asked_exists, 1);
		vp_dop_free(op);
	}
}

/* No Dot1X element: off, nothing found. */
static void
test_get_off(void **state)
{
	vp_dop *op = start(VP_DOP_DOT1X_GET, NULL, VP_DEV_API_REST);
	const vp_dop_result *r;
	(void)state;

	expect_soap(op, "GetNetworkInterfaces");
	soap(op, 200, "<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces token=\"eth0\">"
	    "<tt:Enabled>true</tt:Enabled></tds:NetworkInterfaces></tds:GetNetworkInterfacesResponse>");
	expect_soap(op, "GetDot1XConfigurations");
	soap(op, 200, "<tds:GetDot1XConfigurationsResponse/>");
	assert_done(op);
	r = vp_dop_get_result(op);
	assert_int_equal(r->dot1x.enabled, 0);
	assert_int_equal(r->dot1x_found, 0);
	assert_int_equal(r->dot1x_asked_exists, 0);
	vp_dop_free(op);
}

/* Hostile GET answers: each a failure with the reason, never a success. */
static void
test_get_hostile(void **state)
{
	static const struct {
		int at;                    /* 0: the interface answer, 1: the configurations */
		long status;
		const char *ct, *body;
		vp_dev_fail f;
		int retry;
		const char *want;
	} cases[] = {
		{ 0, 200, "application/soap+xml", "not xml at all", VP_DEVF_PROTOCOL, 0, "not XML" },
		{ 0, 200, "application/json", "{}", VP_DEVF_PROTOCOL, 0, "not SOAP" },
		{ 0, 500, "text/html", "<html>oops</html>", VP_DEVF_DEVICE, 1, "HTTP 500" },
		{ 0, 200, NULL, "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"b\">]><x>&a;</x>",
		    VP_DEVF_PROTOCOL, 0, "document type" },
		{ 0, 200, NULL, "SOAP:<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces "
		    "token=\"wlan0\"/></tds:GetNetworkInterfacesResponse>", VP_DEVF_PROTOCOL, 0,
		    "no network interface eth0" },
		{ 0, 200, NULL, "SOAP:<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces "
		    "token=\"eth0\"><tt:Extension><tt:Dot3><tt:Dot1X><tt:Enabled>maybe</tt:Enabled>"
		    "</tt:Dot1X></tt:Dot3></tt:Extension></tds:NetworkInterfaces>"
		    "</tds:GetNetworkInterfacesResponse>", VP_DEVF_PROTOCOL, 0, "not true or false" },
		{ 0, 200, NULL, "SOAP:<tds:GetNetworkInterfacesResponse><tds:NetworkInterfaces "
		    "token=\"eth0\"><tt:Extension><tt:Dot3><tt:Dot1X><tt:Enabled>true</tt:Enabled>"
		    "</tt:Dot1X></tt:Dot3></tt:Extension></tds:NetworkInterfaces>"
		    "</tds:GetNetworkInterfacesResponse>", VP_DEVF_PROTOCOL, 0, "names no" },
		{ 0, 500, NULL, "SOAP:<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Receiver"
		    "</SOAP-ENV:Value></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text>Busy\nnow"
		    "</SOAP-ENV:Text></SOAP-ENV:Reason></SOAP-ENV:Fault>", VP_DEVF_DEVICE, 0,
		    "refused: Busy now" },
		{ 1, 200, NULL, "SOAP:<tds:GetDot1XConfigurationsResponse><tds:Dot1XConfiguration>"
		    "<tt:Identity>x</tt:Identity></tds:Dot1XConfiguration>"
		    "</tds:GetDot1XConfigurationsResponse>", VP_DEVF_PROTOCOL, 0, "no valid token" },
		{ 1, 200, NULL, "SOAP:<tds:GetDot1XConfigurationsResponse/>", VP_DEVF_PROTOCOL, 0,
		    "does not list" },
		{ 1, 200, NULL, "SOAP:<tds:GetDot1XConfigurationsResponse><tds:Dot1XConfiguration>"
		    "<tt:Dot1XConfigurationToken>factory</tt:Dot1XConfigurationToken>"
		    "<tt:Identity>x</tt:Identity></tds:Dot1XConfiguration>"
		    "</tds:GetDot1XConfigurationsResponse>", VP_DEVF_PROTOCOL, 0,
		    "TLSConfiguration/CertificateID" },
		{ 1, 200, NULL, "SOAP:<tds:GetCertificatesResponse/>", VP_DEVF_PROTOCOL, 0,
		    "has no GetDot1XConfigurationsResponse" },
	};
	(void)state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		vp_dop *op = start(VP_DOP_DOT1X_GET, NULL, VP_DEV_API_SOAP);

		expect_soap(op, "GetNetworkInterfaces");
		if (cases[i].at == 1) {
			soap(op, 200, netif_on);
			expect_soap(op, "GetDot1XConfigurations");
		}
		if (strncmp(cases[i].body, "SOAP:", 5) == 0)
			soap(op, cases[i].status, cases[i].body + 5);
		else
			answer(op, cases[i].status, cases[i].ct, cases[i].body);
		print_message("case %zu\n", i);
		assert_fail(op, cases[i].f, cases[i].retry, cases[i].want);
		vp_dop_free(op);
	}
}

/* SET: the configuration (created or changed, EAP method 13, identity, CA, certificate), then
 * the interface; a fault on either is the device's words; a lost answer is retryable. */
static void
test_set(void **state)
{
	vp_dot1x_conf c = { .token = "vmspki-8021x", .identity = "ac:cc:8e:68:d4:d2",
	    .ca_alias = "vmspki-ca-1", .cert_alias = "vmspki-8021x-t1", .enabled = 1 };
	vp_dop_args a = { .dot1x = &c, .dot1x_create = 1 };
	const vp_http_req *r;
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_DOT1X_SET, &a, VP_DEV_API_REST);
	r = expect_soap(op, "<tds:CreateDot1XConfiguration><tds:Dot1XConfiguration>"
	    "<tt:Dot1XConfigurationToken>vmspki-8021x</tt:Dot1XConfigurationToken>"
	    "<tt:Identity>ac:cc:8e:68:d4:d2</tt:Identity><tt:EAPMethod>13</tt:EAPMethod>"
	    "<tt:CACertificateID>vmspki-ca-1</tt:CACertificateID><tt:EAPMethodConfiguration>"
	    "<tt:TLSConfiguration><tt:CertificateID>vmspki-8021x-t1</tt:CertificateID>");
	assert_non_null(strstr(r->content_type, "application/soap+xml"));
	soap(op, 200, "<tds:CreateDot1XConfigurationResponse/>");
	expect_soap(op, "<tds:SetNetworkInterfaces><tds:InterfaceToken>eth0</tds:InterfaceToken>"
	    "<tds:NetworkInterface><tt:Extension><tt:Dot3><tt:Dot1X><tt:Enabled>true</tt:Enabled>"
	    "<tt:Dot1XConfigurationToken>vmspki-8021x</tt:Dot1XConfigurationToken>");
	soap(op, 200, "<tds:SetNetworkInterfacesResponse><tds:RebootNeeded>false</tds:RebootNeeded>"
	    "</tds:SetNetworkInterfacesResponse>");
	assert_done(op);
	vp_dop_free(op);

	/* change, and the configuration refused: no interface request follows */
	a.dot1x_create = 0;
	op = start(VP_DOP_DOT1X_SET, &a, VP_DEV_API_SOAP);
	expect_soap(op, "<tds:SetDot1XConfiguration>");
	soap(op, 500, fault_invalid);
	assert_fail(op, VP_DEVF_DEVICE, 0, "configure 802.1X: the device refused: Certificate not "
	    "found (ter:CertificateID)");
	vp_dop_free(op);

	/* the interface's answer lost: retryable, unreachable */
	op = start(VP_DOP_DOT1X_SET, &a, VP_DEV_API_SOAP);
	expect_soap(op, "<tds:SetDot1XConfiguration>");
	soap(op, 200, "<tds:SetDot1XConfigurationResponse/>");
	expect_soap(op, "SetNetworkInterfaces");
	transport(op, VP_TRANSPORT_RESET, "Connection reset by peer");
	assert_fail(op, VP_DEVF_UNREACHABLE, 1, "cannot be reached");
	vp_dop_free(op);

	/* a wrong answer element for the configuration */
	op = start(VP_DOP_DOT1X_SET, &a, VP_DEV_API_SOAP);
	expect_soap(op, "<tds:SetDot1XConfiguration>");
	soap(op, 200, "<tds:CreateDot1XConfigurationResponse/>");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "has no SetDot1XConfigurationResponse");
	vp_dop_free(op);
}

/* The interface alone (a roll-back to "off"): no configuration request, no token sent. */
static void
test_set_interface_only(void **state)
{
	vp_dot1x_conf c = { .enabled = 0 };
	vp_dop_args a = { .dot1x = &c };
	const vp_http_req *r;
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_DOT1X_SET, &a, VP_DEV_API_REST);
	r = expect_soap(op, "<tt:Dot1X><tt:Enabled>false</tt:Enabled></tt:Dot1X>");
	assert_null(strstr(r->body, "Dot1XConfigurationToken"));
	soap(op, 200, "<tds:SetNetworkInterfacesResponse/>");
	assert_done(op);
	vp_dop_free(op);
}

static void
test_delete(void **state)
{
	vp_dot1x_conf c = { .token = "vmspki-8021x" };
	vp_dop_args a = { .dot1x = &c };
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_DOT1X_DELETE, &a, VP_DEV_API_REST_BETA);
	expect_soap(op, "<tds:DeleteDot1XConfiguration><tds:Dot1XConfigurationToken>vmspki-8021x"
	    "</tds:Dot1XConfigurationToken></tds:DeleteDot1XConfiguration>");
	soap(op, 200, "<tds:DeleteDot1XConfigurationResponse/>");
	assert_done(op);
	vp_dop_free(op);

	op = start(VP_DOP_DOT1X_DELETE, &a, VP_DEV_API_SOAP);
	expect_soap(op, "DeleteDot1XConfiguration");
	transport(op, VP_TRANSPORT_TIMEOUT, "Operation timed out");
	assert_fail(op, VP_DEVF_UNREACHABLE, 1, "did not answer in time");
	vp_dop_free(op);
}

/* Bad arguments: refused at start, nothing allocated; text is escaped in the request. */
static void
test_args(void **state)
{
	vp_dot1x_conf c = { .token = "vmspki-8021x", .identity = "a<b&c", .cert_alias = "k",
	    .enabled = 1 };
	vp_dop_args a = { .dot1x = &c };
	vp_dop *op = NULL;
	vp_error e;
	(void)state;

	assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_DOT1X_SET, NULL, VP_DEV_API_SOAP,
	    &op, &e), VP_ERR_INVALID);
	assert_null(op);
	op = start(VP_DOP_DOT1X_SET, &a, VP_DEV_API_SOAP);
	expect_soap(op, "<tt:Identity>a&lt;b&amp;c</tt:Identity>");
	vp_dop_free(op);
	c.cert_alias[0] = '\0';
	op = NULL;
	assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_DOT1X_SET, &a, VP_DEV_API_SOAP,
	    &op, &e), VP_ERR_INVALID);
	assert_null(op);
	snprintf(c.cert_alias, sizeof(c.cert_alias), "k");
	snprintf(c.identity, sizeof(c.identity), "bad\nid");
	assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_DOT1X_SET, &a, VP_DEV_API_SOAP,
	    &op, &e), VP_ERR_INVALID);
	memset(c.token, 'x', 65 - 1);
	c.token[64] = '\0';
	snprintf(c.identity, sizeof(c.identity), "id");
	assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_DOT1X_SET, &a, VP_DEV_API_SOAP,
	    &op, &e), VP_OK);
	vp_dop_free(op);
	op = NULL;
	c.token[0] = '\0';
	assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_DOT1X_DELETE, &a, VP_DEV_API_SOAP,
	    &op, &e), VP_ERR_INVALID);
	/* not identified yet */
	assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_DOT1X_GET, NULL, "", &op, &e),
	    VP_ERR_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get),
		cmocka_unit_test(test_get_off),
		cmocka_unit_test(test_get_hostile),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_set_interface_only),
		cmocka_unit_test(test_delete),
		cmocka_unit_test(test_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
