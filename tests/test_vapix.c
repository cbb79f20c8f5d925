#define _GNU_SOURCE
/* Unit tests for the VAPIX driver (src/lib/vapix*.c): every operation driven with canned device
 * answers as docs/device-protocol.md pins them, SOAP and REST, success and each kind of failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "testutil.h"
#include "driver_impl.h"
#include "vapix.h"
#include "vmspki/driver.h"

static char *cert_pem, *cert_b64, *ca_pem, *csr_pem, *csr_b64;

/* ---- fixtures ---- */

static char *
b64_der_cert(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	unsigned char *der = NULL;
	int n = i2d_X509(x, &der);
	char *s = malloc((size_t)(n + 2) / 3 * 4 + 1);

	EVP_EncodeBlock((unsigned char *)s, der, n);
	OPENSSL_free(der);
	X509_free(x);
	BIO_free(b);
	return s;
}

static char *
b64_der_csr(const char *pem)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509_REQ *r = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	unsigned char *der = NULL;
	int n = i2d_X509_REQ(r, &der);
	char *s = malloc((size_t)(n + 2) / 3 * 4 + 1);

	EVP_EncodeBlock((unsigned char *)s, der, n);
	OPENSSL_free(der);
	X509_REQ_free(r);
	BIO_free(b);
	return s;
}

static char *
x509_pem(X509 *x)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *s;
	long n;

	PEM_write_bio_X509(b, x);
	n = BIO_get_mem_data(b, &data);
	s = strndup(data, (size_t)n);
	BIO_free(b);
	return s;
}

static int
setup(void **state)
{
	EVP_PKEY *cak = vp_test_key("ec-p256"), *k = vp_test_key("ec-p256");
	X509 *ca = vp_test_cert(cak, "Site CA", NULL, NULL, 1, "keyCertSign", -1, 365);
	X509 *leaf = vp_test_cert(k, "10.0.0.5", ca, cak, 0, NULL, -1, 365);
	(void)state;

	ca_pem = x509_pem(ca);
	cert_pem = x509_pem(leaf);
	cert_b64 = b64_der_cert(cert_pem);
	csr_pem = vp_test_csr_pem(k, "10.0.0.5", "IP:10.0.0.5", NULL);
	csr_b64 = b64_der_csr(csr_pem);
	X509_free(ca);
	X509_free(leaf);
	EVP_PKEY_free(cak);
	EVP_PKEY_free(k);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(cert_pem);
	free(cert_b64);
	free(ca_pem);
	free(csr_pem);
	free(csr_b64);
	return 0;
}

/* ---- driving an operation ---- */

static vp_dop *
start(vp_dop_kind k, const vp_dop_args *a, const char *api)
{
	vp_dop *op = NULL;
	vp_error e;

	if (vp_dop_start(&vp_driver_vapix, k, a, api, &op, &e) != VP_OK)
		fail_msg("start failed: %s", e.msg);
	return op;
}

/* The next request must be method path; returns it. */
static const vp_http_req *
expect(vp_dop *op, const char *method, const char *path)
{
	const vp_http_req *r = NULL;
	vp_error e;

	assert_int_equal(vp_dop_next(op, &r, &e), VP_OK);
	if (r == NULL)
		fail_msg("no request, expected %s %s", method, path);
	assert_string_equal(r->method, method);
	assert_string_equal(r->path, path);
	return r;
}

static void
answer_n(vp_dop *op, long status, const char *ct, const char *body, size_t len)
{
	vp_http_resp r = { .transport = VP_TRANSPORT_OK, .status = status, .content_type = ct,
	    .body = (const unsigned char *)body, .len = len };
	vp_error e;

	assert_int_equal(vp_dop_feed(op, &r, &e), VP_OK);
}

static void
answer(vp_dop *op, long status, const char *ct, const char *body)
{
	answer_n(op, status, ct, body, strlen(body));
}

static void
json(vp_dop *op, long status, const char *body)
{
	answer(op, status, "application/json", body);
}

/* SOAP 1.2 envelope around inner. */
static void
soap(vp_dop *op, long status, const char *inner)
{
	char *s = NULL;

	assert_true(asprintf(&s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope "
	    "xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" "
	    "xmlns:acertificates=\"http://www.axis.com/vapix/ws/certificates\" "
	    "xmlns:acert=\"http://www.axis.com/vapix/ws/cert\" "
	    "xmlns:aweb=\"http://www.axis.com/vapix/ws/webserver\" "
	    "xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\" "
	    "xmlns:tt=\"http://www.onvif.org/ver10/schema\" "
	    "xmlns:ter=\"http://www.onvif.org/ver10/error\">"
	    "<SOAP-ENV:Body>%s</SOAP-ENV:Body></SOAP-ENV:Envelope>", inner) > 0);
	answer(op, status, "application/soap+xml; charset=utf-8", s);
	free(s);
}

static const char fault_in_use[] =
    "<SOAP-ENV:Fault><SOAP-ENV:Code><SOAP-ENV:Value>SOAP-ENV:Sender</SOAP-ENV:Value>"
    "<SOAP-ENV:Subcode><SOAP-ENV:Value>ter:InvalidArgVal</SOAP-ENV:Value><SOAP-ENV:Subcode>"
    "<SOAP-ENV:Value>acertificates:CertificateIdInUseFault</SOAP-ENV:Value></SOAP-ENV:Subcode>"
    "</SOAP-ENV:Subcode></SOAP-ENV:Code><SOAP-ENV:Reason><SOAP-ENV:Text xml:lang=\"en\">"
    "A certificate with that ID already exists</SOAP-ENV:Text></SOAP-ENV:Reason>"
    "</SOAP-ENV:Fault>";

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

/* The operation ended with failure f, retryable as given, and msg containing want. */
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

static char *
bdi_answer(const char *version)
{
	char *s = NULL;

	assert_true(asprintf(&s, "{\"apiVersion\":\"1.0\",\"context\":\"vmspki\",\"method\":"
	    "\"getAllProperties\",\"data\":{\"propertyList\":{\"Brand\":\"AXIS\",\"ProdFullName\":"
	    "\"AXIS P1367 Network Camera\",\"ProdNbr\":\"P1367\",\"ProdShortName\":\"AXIS P1367\","
	    "\"SerialNumber\":\"ACCC8E68D4D2\",\"Version\":\"%s\"}}}", version) > 0);
	return s;
}

static const char tls_conf[] =
    "<aweb:GetWebServerTlsConfigurationResponse><aweb:Configuration name=\"WebServer\">"
    "<aweb:Tls>true</aweb:Tls><aweb:ConnectionPolicies><aweb:Admin>Https</aweb:Admin>"
    "</aweb:ConnectionPolicies><aweb:Ciphers><acert:Cipher>ECDHE-ECDSA-AES128-GCM-SHA256"
    "</acert:Cipher><acert:Cipher>ECDHE-RSA-AES128-GCM-SHA256</acert:Cipher></aweb:Ciphers>"
    "<aweb:CertificateSet><acert:Certificates><acert:Id>Default HTTPS</acert:Id>"
    "</acert:Certificates><acert:CACertificates><acert:Id>Old CA</acert:Id>"
    "</acert:CACertificates><acert:TrustedCertificates><acert:Id>T &amp; C</acert:Id>"
    "</acert:TrustedCertificates></aweb:CertificateSet></aweb:Configuration>"
    "</aweb:GetWebServerTlsConfigurationResponse>";

/* Identity answered with firmware version; the driver's next request is returned. */
static vp_dop *
probe_identified(const char *version)
{
	vp_dop *op = start(VP_DOP_PROBE, NULL, "");
	const vp_http_req *r = expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	char *a = bdi_answer(version);

	assert_string_equal(r->content_type, "application/json");
	assert_non_null(strstr(r->body, "\"method\":\"getAllProperties\""));
	json(op, 200, a);
	free(a);
	return op;
}

static void
expect_tls_get(vp_dop *op)
{
	const vp_http_req *r = expect(op, "POST", "/vapix/services");

	assert_string_equal(r->content_type, "application/soap+xml; charset=utf-8");
	assert_non_null(strstr(r->body, "<aweb:GetWebServerTlsConfiguration>"));
	assert_non_null(strstr(r->body, "xmlns:aweb=\"http://www.axis.com/vapix/ws/webserver\""));
}

/* ---- probe ---- */

static void
probe_firmware_11_speaks_rest_v1(void **state)
{
	vp_dop *op = probe_identified("11.11.73");
	const vp_dop_result *res;
	(void)state;

	expect(op, "GET", "/config/rest/cert/v1");
	json(op, 200, "{\"status\":\"success\",\"data\":{\"certificates\":[]}}");
	expect_tls_get(op);
	soap(op, 200, tls_conf);
	assert_done(op);
	res = vp_dop_get_result(op);
	assert_string_equal(res->serial, "ACCC8E68D4D2");
	assert_string_equal(res->model, "AXIS P1367");
	assert_string_equal(res->firmware, "11.11.73");
	assert_string_equal(res->brand, "AXIS");
	assert_string_equal(res->api, VP_DEV_API_REST);
	assert_string_equal(vp_dop_api(op), VP_DEV_API_REST);
	assert_int_equal(res->policy, VP_POLICY_HTTPS);
	assert_string_equal(res->bound_alias, "Default HTTPS");
	vp_dop_free(op);
}

static void
probe_early_11_falls_back_to_v1beta_then_soap(void **state)
{
	vp_dop *op = probe_identified("11.8.61");
	(void)state;

	expect(op, "GET", "/config/rest/cert/v1");
	json(op, 404, "{\"status\":\"error\",\"error\":{\"code\":1,\"message\":\"Resource not found\"}}");
	expect(op, "GET", "/config/rest/cert/v1beta");
	json(op, 200, "{\"status\":\"success\",\"data\":{}}");
	expect_tls_get(op);
	soap(op, 200, tls_conf);
	assert_done(op);
	assert_string_equal(vp_dop_api(op), VP_DEV_API_REST_BETA);
	assert_string_equal(vp_dop_get_result(op)->api, VP_DEV_API_REST_BETA);
	vp_dop_free(op);

	/* 11.0 to 11.5: neither answers, SOAP it is */
	op = probe_identified("11.2.40");
	expect(op, "GET", "/config/rest/cert/v1");
	answer(op, 404, "text/html", "<html>Not found</html>");
	expect(op, "GET", "/config/rest/cert/v1beta");
	answer(op, 404, "text/html", "<html>Not found</html>");
	expect_tls_get(op);
	soap(op, 200, tls_conf);
	assert_done(op);
	assert_string_equal(vp_dop_api(op), VP_DEV_API_SOAP);
	vp_dop_free(op);
}

static void
probe_firmware_10_speaks_soap(void **state)
{
	vp_dop *op = probe_identified("10.12.114");
	(void)state;

	expect_tls_get(op);
	soap(op, 200, tls_conf);
	assert_done(op);
	assert_string_equal(vp_dop_get_result(op)->api, VP_DEV_API_SOAP);
	assert_int_equal(vp_dop_get_result(op)->policy, VP_POLICY_HTTPS);
	vp_dop_free(op);
}

static void
probe_firmware_5_50_is_unsupported(void **state)
{
	vp_dop *op = start(VP_DOP_PROBE, NULL, "");
	const vp_dop_result *res;
	(void)state;

	expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	answer(op, 404, "text/html", "<html>404</html>");
	expect(op, "GET", "/axis-cgi/param.cgi?action=list&group=root.Brand,root.Properties");
	answer(op, 200, "text/plain", "root.Brand.Brand=AXIS\r\nroot.Brand.ProdFullName=AXIS "
	    "P1224-E Network Camera\r\nroot.Brand.ProdNbr=P1224-E\r\n"
	    "root.Properties.Firmware.Version=5.50.9.2\r\n"
	    "root.Properties.System.SerialNumber=ACCC8E0C0B69\r\n");
	assert_fail(op, VP_DEVF_UNSUPPORTED, 0, "firmware 5.50.9.2, below 5.70");
	res = vp_dop_get_result(op);
	assert_string_equal(res->serial, "ACCC8E0C0B69");
	assert_string_equal(res->model, "AXIS P1224-E Network Camera");
	assert_string_equal(res->api, VP_DEV_API_UNSUPPORTED);
	assert_string_equal(vp_dop_api(op), VP_DEV_API_UNSUPPORTED);
	assert_string_equal(vp_dev_fail_str(VP_DEVF_UNSUPPORTED), "Unsupported firmware");
	vp_dop_free(op);

	/* an old but supported one continues with SOAP */
	op = start(VP_DOP_PROBE, NULL, "");
	expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	answer(op, 404, "text/html", "");
	expect(op, "GET", "/axis-cgi/param.cgi?action=list&group=root.Brand,root.Properties");
	answer(op, 200, "text/plain", "root.Brand.ProdShortName=AXIS Q6114-E\n"
	    "root.Properties.Firmware.Version=6.50.1.2\nroot.Properties.System.SerialNumber="
	    "ACCC8E022A4D\n");
	expect_tls_get(op);
	soap(op, 200, fault_in_use);        /* no web server service: policy unknown */
	assert_done(op);
	assert_string_equal(vp_dop_get_result(op)->model, "AXIS Q6114-E");
	assert_int_equal(vp_dop_get_result(op)->policy, VP_POLICY_UNKNOWN);
	assert_string_equal(vp_dop_get_result(op)->api, VP_DEV_API_SOAP);
	vp_dop_free(op);
}

/* An old-firmware identity (param.cgi) with ProdType: the op after that answer. */
static vp_dop *
probe_param(const char *type, const char *nbr, const char *fw)
{
	vp_dop *op = start(VP_DOP_PROBE, NULL, "");
	char *a = NULL;

	expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	answer(op, 404, "text/html", "");
	expect(op, "GET", "/axis-cgi/param.cgi?action=list&group=root.Brand,root.Properties");
	assert_true(asprintf(&a, "root.Brand.ProdNbr=%s\nroot.Brand.ProdType=%s\n"
	    "root.Properties.Firmware.Version=%s\nroot.Properties.System.SerialNumber="
	    "ACCC8E022A4D\n", nbr, type, fw) > 0);
	answer(op, 200, "text/plain", a);
	free(a);
	return op;
}

/* One table of product rules (ADM, ACS seeds): access control and audio from 1.25, cameras
 * from 5.70 but TLS 1.2 only from 6.10, T85 switches never; the reason is the message. */
static void
probe_product_rules(void **state)
{
	vp_dop *op;
	(void)state;

	op = probe_param("Network Door Controller", "A1601", "1.25.2");
	expect_tls_get(op);
	soap(op, 200, tls_conf);
	assert_done(op);
	assert_string_equal(vp_dop_get_result(op)->api, VP_DEV_API_SOAP);
	assert_string_equal(vp_dop_get_result(op)->product, "access-control");
	vp_dop_free(op);

	op = probe_param("Network Speaker", "C1004-E", "1.20.1");
	assert_fail(op, VP_DEVF_UNSUPPORTED, 0, "(audio) runs firmware 1.20.1, below 1.25");
	vp_dop_free(op);

	op = probe_param("Network Camera", "P1224-E", "6.00.1");
	assert_fail(op, VP_DEVF_UNSUPPORTED, 0, "TLS 1.1 at most (TLS 1.2 from 6.10)");
	assert_string_equal(vp_dop_get_result(op)->api, VP_DEV_API_UNSUPPORTED);
	assert_string_equal(vp_dop_get_result(op)->product, "camera");
	vp_dop_free(op);

	op = probe_param("PoE+ Network Switch", "T8508", "1.10.2");
	assert_fail(op, VP_DEVF_UNSUPPORTED, 0, "HTTPS cannot be enabled on AXIS T85");
	assert_string_equal(vp_dop_get_result(op)->product, "switch");
	vp_dop_free(op);

	op = probe_param("Network Camera", "P1367", "6.10.1");
	expect_tls_get(op);
	vp_dop_free(op);
}

static void
probe_refusals_and_garbage(void **state)
{
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_PROBE, NULL, "");
	expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	answer(op, 401, "text/html", "<html>Unauthorized</html>");
	assert_fail(op, VP_DEVF_AUTH, 0, "user name or password (HTTP 401)");
	assert_string_equal(vp_dev_fail_str(VP_DEVF_AUTH), "Wrong credentials");
	vp_dop_free(op);

	op = start(VP_DOP_PROBE, NULL, "");
	expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	json(op, 200, "{\"data\":{\"propertyList\":");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "not a JSON object");
	vp_dop_free(op);

	op = start(VP_DOP_PROBE, NULL, "");
	expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	json(op, 200, "{\"data\":{\"propertyList\":{\"SerialNumber\":\"ACCC8E68D4D2\"}}}");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "SerialNumber, Version");
	vp_dop_free(op);

	op = start(VP_DOP_PROBE, NULL, "");
	expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	json(op, 200, "{\"apiVersion\":\"1.0\",\"error\":{\"code\":4002,\"message\":\"Method "
	    "not supported\\u0007\"}}");
	assert_fail(op, VP_DEVF_DEVICE, 0, "Method not supported  (code 4002)");
	vp_dop_free(op);

	/* a serial that is not a MAC, a version that is not a version */
	op = probe_identified("latest");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "is not a version number");
	vp_dop_free(op);
}

static void
transport_failures_are_classified(void **state)
{
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_PROBE, NULL, "");
	expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	transport(op, VP_TRANSPORT_TIMEOUT, "Operation timed out after 30000 milliseconds");
	assert_fail(op, VP_DEVF_UNREACHABLE, 1, "did not answer in time (Operation timed out");
	vp_dop_free(op);

	op = start(VP_DOP_CA_LIST, NULL, VP_DEV_API_REST);
	expect(op, "GET", "/config/rest/cert/v1/ca_certificates");
	transport(op, VP_TRANSPORT_REFUSED, "Failed to connect to 10.0.0.5 port 80");
	assert_fail(op, VP_DEVF_UNREACHABLE, 1, "cannot be reached");
	vp_dop_free(op);

	op = start(VP_DOP_TLS_GET, NULL, VP_DEV_API_REST);
	expect_tls_get(op);
	transport(op, VP_TRANSPORT_TLS, "SSL certificate problem: unable to get local issuer");
	assert_fail(op, VP_DEVF_TLS, 0, "unable to get local issuer");
	vp_dop_free(op);

	op = start(VP_DOP_CERT_LIST, NULL, VP_DEV_API_SOAP);
	expect(op, "POST", "/vapix/services");
	transport(op, VP_TRANSPORT_TOO_BIG, "Failure writing output");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "larger than 1048576 bytes");
	vp_dop_free(op);
}

/* ---- REST ---- */

static char *
rest_list(const char *alias, const char *pem)
{
	json_t *j = json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "status", "success", "data", "alias",
	    alias, "certificate", pem, "keystore", "SE0");
	char *s = json_dumps(j, JSON_COMPACT);

	json_decref(j);
	return s;
}

static void
rest_lists_read_and_checked(void **state)
{
	vp_dop *op;
	char *a;
	(void)state;

	op = start(VP_DOP_CA_LIST, NULL, VP_DEV_API_REST);
	expect(op, "GET", "/config/rest/cert/v1/ca_certificates");
	a = rest_list("My CA", ca_pem);
	json(op, 200, a);
	free(a);
	assert_done(op);
	assert_int_equal(vp_dop_get_result(op)->ncerts, 1);
	assert_string_equal(vp_dop_get_result(op)->certs[0].alias, "My CA");
	assert_string_equal(vp_dop_get_result(op)->certs[0].pem, ca_pem);
	vp_dop_free(op);

	op = start(VP_DOP_CERT_LIST, NULL, VP_DEV_API_REST_BETA);
	expect(op, "GET", "/config/rest/cert/v1beta/certificates");
	json(op, 200, "{\"status\":\"success\",\"data\":[]}");
	assert_done(op);
	assert_int_equal(vp_dop_get_result(op)->ncerts, 0);
	vp_dop_free(op);

	op = start(VP_DOP_CERT_LIST, NULL, VP_DEV_API_REST);
	expect(op, "GET", "/config/rest/cert/v1/certificates");
	a = rest_list("Broken", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	json(op, 200, a);
	free(a);
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "entry 1 of the device's list");
	vp_dop_free(op);

	op = start(VP_DOP_CERT_LIST, NULL, VP_DEV_API_REST);
	expect(op, "GET", "/config/rest/cert/v1/certificates");
	answer(op, 200, "text/xml", "<a/>");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "not a JSON object");
	vp_dop_free(op);

	op = start(VP_DOP_CERT_LIST, NULL, VP_DEV_API_REST);
	expect(op, "GET", "/config/rest/cert/v1/certificates");
	json(op, 200, "{\"status\":\"success\",\"data\":{\"alias\":\"x\"}}");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "no data list");
	vp_dop_free(op);
}

static void
rest_ca_add_sends_the_leaf_only(void **state)
{
	char *bundle = NULL;
	vp_dop_args a = { .alias = "vmspki-ca-1a2b", .pem = NULL };
	const vp_http_req *r;
	json_t *body;
	vp_dop *op;
	(void)state;

	assert_true(asprintf(&bundle, "%s%s", ca_pem, cert_pem) > 0);
	a.pem = bundle;
	op = start(VP_DOP_CA_ADD, &a, VP_DEV_API_REST);
	r = expect(op, "POST", "/config/rest/cert/v1/ca_certificates");
	assert_string_equal(r->content_type, "application/json");
	body = json_loadb(r->body, r->body_len, 0, NULL);
	assert_non_null(body);
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "data"),
	    "alias")), "vmspki-ca-1a2b");
	assert_string_equal(json_string_value(json_object_get(json_object_get(body, "data"),
	    "certificate")), ca_pem);
	json_decref(body);
	json(op, 201, "{\"status\":\"success\"}");
	assert_done(op);
	vp_dop_free(op);
	free(bundle);

	/* no certificate at all is refused before anything is sent */
	{
		vp_dop *bad = NULL;
		vp_error e;
		vp_dop_args b = { .alias = "x", .pem = "hello" };
		assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_CA_ADD, &b, VP_DEV_API_REST, &bad, &e),
		    VP_ERR_INVALID);
		assert_null(bad);
	}
}

static void
rest_key_create_and_device_errors(void **state)
{
	static const char *const sans[] = { "IP:10.0.0.5", "DNS:cam1.site", NULL };
	vp_dop_args a = { .alias = "vmspki-https-ACCC8E26DA33-1", .key_type = "EC-P256",
	    .subject = "CN=10.0.0.5,O=Site", .sans = sans };
	const vp_http_req *r;
	json_t *body, *data;
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_REST);
	r = expect(op, "POST", "/config/rest/cert/v1/create_certificate");
	body = json_loadb(r->body, r->body_len, 0, NULL);
	data = json_object_get(body, "data");
	assert_string_equal(json_string_value(json_object_get(data, "alias")), a.alias);
	assert_string_equal(json_string_value(json_object_get(data, "key_type")), "EC-P256");
	assert_string_equal(json_string_value(json_object_get(data, "subject")), a.subject);
	assert_int_equal(json_array_size(json_object_get(data, "subject_alt_names")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(data,
	    "subject_alt_names"), 1)), "DNS:cam1.site");
	assert_null(json_object_get(data, "keystore"));
	json_decref(body);
	json(op, 400, "{\"status\":\"error\",\"error\":{\"code\":5,\"message\":\"Validation error: "
	    "Failed to generate key pair: This key algorithm is not supported on TPM\"}}");
	assert_fail(op, VP_DEVF_DEVICE, 0, "not supported on TPM (code 5, HTTP 400)");
	vp_dop_free(op);

	/* v1beta: actions are PUT; a 500 error may be retried */
	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_REST_BETA);
	expect(op, "PUT", "/config/rest/cert/v1beta/create_certificate");
	json(op, 500, "{\"status\":\"error\",\"error\":{\"code\":2,\"message\":\"Internal error\"}}");
	assert_fail(op, VP_DEVF_DEVICE, 1, "Internal error");
	vp_dop_free(op);

	/* an HTTP error without a JSON body */
	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_REST);
	expect(op, "POST", "/config/rest/cert/v1/create_certificate");
	answer(op, 503, "text/html", "<html>busy</html>");
	assert_fail(op, VP_DEVF_DEVICE, 1, "answered HTTP 503");
	vp_dop_free(op);

	/* success in both shapes */
	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_REST);
	expect(op, "POST", "/config/rest/cert/v1/create_certificate");
	json(op, 200, "{\"status\":\"success\",\"data\":{}}");
	assert_done(op);
	vp_dop_free(op);

	/* bad arguments never reach the device */
	{
		vp_dop *bad = NULL;
		vp_error e;
		vp_dop_args b = a;
		b.key_type = "DSA-1024";
		assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_KEY_CREATE, &b, VP_DEV_API_REST, &bad,
		    &e), VP_ERR_INVALID);
		b = a;
		b.key_type = "EC-P256";
		assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_KEY_CREATE, &b, VP_DEV_API_SOAP, &bad,
		    &e), VP_ERR_INVALID);
		assert_non_null(strstr(e.msg, "RSA-2048 keys only"));
		b = a;
		b.key_type = NULL;
		b.subject = "CN=a\\,b";
		assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_KEY_CREATE, &b, VP_DEV_API_SOAP, &bad,
		    &e), VP_ERR_INVALID);
		b = a;
		b.alias = "";
		assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_KEY_CREATE, &b, VP_DEV_API_REST, &bad,
		    &e), VP_ERR_INVALID);
		assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_KEY_CREATE, &a, "", &bad, &e),
		    VP_ERR_INVALID);
		assert_non_null(strstr(e.msg, "probe it first"));
		assert_null(bad);
	}
}

static void
rest_csr_is_checked(void **state)
{
	vp_dop_args a = { .alias = "My Certificate (1)" };
	const vp_http_req *r;
	json_t *j;
	char *s;
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_CSR_GET, &a, VP_DEV_API_REST);
	r = expect(op, "POST", "/config/rest/cert/v1/certificates/My%20Certificate%20%281%29/get_csr");
	assert_memory_equal(r->body, "{\"data\":{}}", r->body_len);
	j = json_pack("{s:s, s:s}", "status", "success", "data", csr_pem);
	s = json_dumps(j, JSON_COMPACT);
	json(op, 200, s);
	free(s);
	json_decref(j);
	assert_done(op);
	assert_string_equal(vp_dop_get_result(op)->csr_pem, csr_pem);
	vp_dop_free(op);

	/* a certificate where the CSR should be, or the doc example's wrapped form */
	op = start(VP_DOP_CSR_GET, &a, VP_DEV_API_REST);
	expect(op, "POST", "/config/rest/cert/v1/certificates/My%20Certificate%20%281%29/get_csr");
	j = json_pack("{s:s, s:s}", "status", "success", "data", cert_pem);
	s = json_dumps(j, JSON_COMPACT);
	json(op, 200, s);
	free(s);
	json_decref(j);
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "not a PKCS#10 request");
	assert_null(vp_dop_get_result(op)->csr_pem);
	vp_dop_free(op);

	op = start(VP_DOP_CSR_GET, &a, VP_DEV_API_REST_BETA);
	expect(op, "PUT", "/config/rest/cert/v1beta/certificates/My%20Certificate%20%281%29/get_csr");
	json(op, 200, "{\"status\":\"success\",\"data\":{\"alias\":\"-----BEGIN CERTIFICATE "
	    "REQUEST-----\"}}");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "not a PKCS#10 request");
	vp_dop_free(op);
}

/* v1beta takes PUT on 11.x and POST/PATCH on some 12.x: a 405 or 501 to one method sends the
 * request again with the other, once, and the operation's API remembers which. */
static void
rest_beta_method_follows_the_device(void **state)
{
	vp_dop_args a = { .alias = "vmspki-https-1", .subject = "CN=10.0.0.5" };
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_REST_BETA);
	expect(op, "PUT", "/config/rest/cert/v1beta/create_certificate");
	json(op, 405, "{\"status\":\"error\",\"error\":{\"code\":4,\"message\":\"Method not "
	    "allowed\"}}");
	expect(op, "POST", "/config/rest/cert/v1beta/create_certificate");
	json(op, 200, "{\"status\":\"success\",\"data\":{}}");
	assert_done(op);
	assert_string_equal(vp_dop_api(op), VP_DEV_API_REST_BETA_POST);
	vp_dop_free(op);

	/* remembered: the next operation starts with PATCH; a PUT-only device answering 501
	 * turns it back, and a second refusal is the answer */
	a.pem = cert_pem;
	op = start(VP_DOP_CERT_INSTALL, &a, VP_DEV_API_REST_BETA_POST);
	expect(op, "PATCH", "/config/rest/cert/v1beta/certificates/vmspki-https-1");
	answer(op, 501, "text/html", "<html>501</html>");
	expect(op, "PUT", "/config/rest/cert/v1beta/certificates/vmspki-https-1");
	answer(op, 405, "text/html", "<html>405</html>");
	assert_fail(op, VP_DEVF_DEVICE, 0, "HTTP 405");
	vp_dop_free(op);

	op = start(VP_DOP_CSR_GET, &a, VP_DEV_API_REST_BETA_POST);
	expect(op, "POST", "/config/rest/cert/v1beta/certificates/vmspki-https-1/get_csr");
	vp_dop_free(op);

	/* v1 is not second-guessed */
	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_REST);
	expect(op, "POST", "/config/rest/cert/v1/create_certificate");
	answer(op, 405, "text/html", "");
	assert_fail(op, VP_DEVF_DEVICE, 0, "HTTP 405");
	vp_dop_free(op);
	assert_ptr_equal(vp_driver_for_api(VP_DEV_API_REST_BETA_POST), &vp_driver_vapix);
}

/* device.keystore: a named key store goes into create_certificate; firmware before 11 cannot
 * choose and is refused before any request; lists say where each key is. */
static void
keystore_is_asked_and_read(void **state)
{
	vp_dop_args a = { .alias = "vmspki-https-1", .subject = "CN=10.0.0.5", .keystore = "TEE0" };
	const vp_http_req *r;
	vp_dop *op = NULL;
	vp_error e = { 0 };
	(void)state;

	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_REST);
	r = expect(op, "POST", "/config/rest/cert/v1/create_certificate");
	assert_non_null(strstr(r->body, "\"keystore\":\"TEE0\""));
	vp_dop_free(op);
	op = NULL;
	assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_KEY_CREATE, &a, VP_DEV_API_SOAP,
	    &op, &e), VP_ERR_INVALID);
	assert_non_null(strstr(e.msg, "cannot choose"));
	assert_null(op);
	a.keystore = "TPM 2";
	assert_int_equal(vp_dop_start(&vp_driver_vapix, VP_DOP_KEY_CREATE, &a, VP_DEV_API_REST,
	    &op, &e), VP_ERR_INVALID);

	op = start(VP_DOP_CERT_LIST, NULL, VP_DEV_API_REST);
	expect(op, "GET", "/config/rest/cert/v1/certificates");
	{
		json_t *j = json_pack("{s:s, s:[{s:s, s:s, s:s}]}", "status", "success", "data",
		    "alias", "vmspki-https-1", "certificate", cert_pem, "keystore", "SE0");
		char *txt = json_dumps(j, JSON_COMPACT);

		json(op, 200, txt);
		free(txt);
		json_decref(j);
	}
	assert_done(op);
	assert_string_equal(vp_dop_get_result(op)->certs[0].keystore, "SE0");
	vp_dop_free(op);
}

static void
rest_v1_404_falls_back_to_v1beta(void **state)
{
	vp_dop_args a = { .alias = "vmspki-https-1", .pem = NULL };
	const vp_http_req *r;
	vp_dop *op;
	(void)state;

	a.pem = cert_pem;
	op = start(VP_DOP_CERT_INSTALL, &a, VP_DEV_API_REST);
	r = expect(op, "PATCH", "/config/rest/cert/v1/certificates/vmspki-https-1");
	assert_non_null(strstr(r->body, "\"certificate\":\"-----BEGIN CERTIFICATE-----\\n"));
	json(op, 404, "{\"status\":\"error\",\"error\":{\"code\":1,\"message\":\"Resource not "
	    "found: /config/rest/cert/v1\"}}");
	expect(op, "GET", "/config/rest/cert/v1");
	answer(op, 404, "text/plain", "not found");
	r = expect(op, "PUT", "/config/rest/cert/v1beta/certificates/vmspki-https-1");
	assert_non_null(strstr(r->body, "\"certificate\""));
	json(op, 200, "{\"status\":\"success\"}");
	assert_done(op);
	assert_string_equal(vp_dop_api(op), VP_DEV_API_REST_BETA);
	vp_dop_free(op);

	/* v1 is there: the 404 was about the alias */
	op = start(VP_DOP_CERT_DELETE, &a, VP_DEV_API_REST);
	expect(op, "DELETE", "/config/rest/cert/v1/certificates/vmspki-https-1");
	json(op, 404, "{\"status\":\"error\",\"error\":{\"code\":1,\"message\":\"Resource not "
	    "found: vmspki-https-1\"}}");
	expect(op, "GET", "/config/rest/cert/v1");
	json(op, 200, "{\"status\":\"success\",\"data\":{}}");
	assert_fail(op, VP_DEVF_DEVICE, 0, "Resource not found: vmspki-https-1 (code 1, HTTP 404)");
	assert_string_equal(vp_dop_api(op), VP_DEV_API_REST);
	vp_dop_free(op);

	op = start(VP_DOP_CA_DELETE, &a, VP_DEV_API_REST_BETA);
	expect(op, "DELETE", "/config/rest/cert/v1beta/ca_certificates/vmspki-https-1");
	json(op, 200, "{\"status\":\"success\"}");
	assert_done(op);
	vp_dop_free(op);
}

/* ---- SOAP ---- */

static void
soap_key_create_and_faults(void **state)
{
	vp_dop_args a = { .alias = "vmspki-https-A&B", .subject = "CN=10.0.0.5, O=Site & Co" };
	const vp_http_req *r;
	char *ans = NULL;
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_SOAP);
	r = expect(op, "POST", "/vapix/services");
	assert_string_equal(r->content_type, "application/soap+xml; charset=utf-8");
	assert_non_null(strstr(r->body, "<acertificates:CreateCertificate2><acertificates:Id>"
	    "vmspki-https-A&amp;B</acertificates:Id><acertificates:Subject><acert:O>Site &amp; Co"
	    "</acert:O><acert:CN>10.0.0.5</acert:CN></acertificates:Subject>"
	    "<acertificates:ValidNotBefore>"));
	assert_true(asprintf(&ans, "<acertificates:CreateCertificate2Response><acertificates:Id>"
	    "vmspki-https-A&amp;B</acertificates:Id><acertificates:Certificate>%s"
	    "</acertificates:Certificate></acertificates:CreateCertificate2Response>", cert_b64) > 0);
	soap(op, 200, ans);
	free(ans);
	assert_done(op);
	vp_dop_free(op);

	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_SOAP);
	expect(op, "POST", "/vapix/services");
	soap(op, 500, fault_in_use);
	assert_fail(op, VP_DEVF_DEVICE, 0, "the device refused: A certificate with that ID already "
	    "exists (acertificates:CertificateIdInUseFault)");
	vp_dop_free(op);

	/* an answer for another id, an empty 500, garbage with status 200 */
	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_SOAP);
	expect(op, "POST", "/vapix/services");
	soap(op, 200, "<acertificates:CreateCertificate2Response><acertificates:Id>other"
	    "</acertificates:Id></acertificates:CreateCertificate2Response>");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "another certificate id");
	vp_dop_free(op);

	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_SOAP);
	expect(op, "POST", "/vapix/services");
	answer(op, 500, "text/plain", "");
	assert_fail(op, VP_DEVF_DEVICE, 1, "answered HTTP 500");
	vp_dop_free(op);

	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_SOAP);
	expect(op, "POST", "/vapix/services");
	answer(op, 200, "application/soap+xml", "<SOAP-ENV:Envelope><unclosed>");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "not XML");
	vp_dop_free(op);

	op = start(VP_DOP_KEY_CREATE, &a, VP_DEV_API_SOAP);
	expect(op, "POST", "/vapix/services");
	soap(op, 200, "<acertificates:SomethingElse/>");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "has no CreateCertificate2Response");
	vp_dop_free(op);
}

static void
soap_refuses_entity_expansion(void **state)
{
	static const char laughs[] =
	    "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
	    "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
	    "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">"
	    "<!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">"
	    "<!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">"
	    "<!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">"
	    "<!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">"
	    "<!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">"
	    "<!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">]>"
	    "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" "
	    "xmlns:acertificates=\"http://www.axis.com/vapix/ws/certificates\"><SOAP-ENV:Body>"
	    "<acertificates:GetPkcs10Request2Response><acertificates:Pkcs10Request>&lol9;"
	    "</acertificates:Pkcs10Request></acertificates:GetPkcs10Request2Response>"
	    "</SOAP-ENV:Body></SOAP-ENV:Envelope>";
	static const char xxe[] =
	    "<?xml version=\"1.0\"?><!DOCTYPE x SYSTEM \"http://10.0.0.1/evil.dtd\">"
	    "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\">"
	    "<SOAP-ENV:Body/></SOAP-ENV:Envelope>";
	vp_dop_args a = { .alias = "x" };
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_CSR_GET, &a, VP_DEV_API_SOAP);
	expect(op, "POST", "/vapix/services");
	answer(op, 200, "application/soap+xml", laughs);
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "document type declaration");
	assert_null(vp_dop_get_result(op)->csr_pem);
	vp_dop_free(op);

	op = start(VP_DOP_CSR_GET, &a, VP_DEV_API_SOAP);
	expect(op, "POST", "/vapix/services");
	answer(op, 200, "application/soap+xml", xxe);
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "document type declaration");
	vp_dop_free(op);
}

static void
soap_csr_and_lists(void **state)
{
	vp_dop_args a = { .alias = "vmspki-https-1" };
	const vp_http_req *r;
	char *ans = NULL;
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_CSR_GET, &a, VP_DEV_API_SOAP);
	r = expect(op, "POST", "/vapix/services");
	assert_non_null(strstr(r->body, "<acertificates:GetPkcs10Request2><acertificates:Id>"
	    "vmspki-https-1</acertificates:Id></acertificates:GetPkcs10Request2>"));
	/* base64 with line breaks, as some firmware sends it */
	{
		size_t n = strlen(csr_b64);
		char *wrapped = malloc(n + n / 64 + 2), *p = wrapped;
		for (size_t i = 0; i < n; i++) {
			*p++ = csr_b64[i];
			if (i % 64 == 63)
				*p++ = '\n';
		}
		*p = '\0';
		assert_true(asprintf(&ans, "<acertificates:GetPkcs10Request2Response>"
		    "<acertificates:Pkcs10Request>\n%s\n</acertificates:Pkcs10Request>"
		    "</acertificates:GetPkcs10Request2Response>", wrapped) > 0);
		free(wrapped);
	}
	soap(op, 200, ans);
	free(ans);
	assert_done(op);
	assert_string_equal(vp_dop_get_result(op)->csr_pem, csr_pem);
	vp_dop_free(op);

	op = start(VP_DOP_CSR_GET, &a, VP_DEV_API_SOAP);
	expect(op, "POST", "/vapix/services");
	soap(op, 200, "<acertificates:GetPkcs10Request2Response><acertificates:Pkcs10Request>"
	    "bm90IGEgY3Ny</acertificates:Pkcs10Request></acertificates:GetPkcs10Request2Response>");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "not a PKCS#10 request");
	vp_dop_free(op);

	op = start(VP_DOP_CERT_LIST, NULL, VP_DEV_API_SOAP);
	r = expect(op, "POST", "/vapix/services");
	assert_non_null(strstr(r->body, "<tds:GetCertificates></tds:GetCertificates>"));
	assert_true(asprintf(&ans, "<tds:GetCertificatesResponse><tds:NvtCertificate>"
	    "<tt:CertificateID>Default HTTPS</tt:CertificateID><tt:Certificate><tt:Data>%s"
	    "</tt:Data></tt:Certificate></tds:NvtCertificate><tds:NvtCertificate>"
	    "<tt:CertificateID>vmspki-https-1</tt:CertificateID><tt:Certificate><tt:Data>%s"
	    "</tt:Data></tt:Certificate></tds:NvtCertificate></tds:GetCertificatesResponse>",
	    cert_b64, cert_b64) > 0);
	soap(op, 200, ans);
	free(ans);
	assert_done(op);
	assert_int_equal(vp_dop_get_result(op)->ncerts, 2);
	assert_string_equal(vp_dop_get_result(op)->certs[1].alias, "vmspki-https-1");
	assert_string_equal(vp_dop_get_result(op)->certs[1].pem, cert_pem);
	vp_dop_free(op);

	op = start(VP_DOP_CA_LIST, NULL, VP_DEV_API_SOAP);
	r = expect(op, "POST", "/vapix/services");
	assert_non_null(strstr(r->body, "<tds:GetCACertificates></tds:GetCACertificates>"));
	soap(op, 200, "<tds:GetCACertificatesResponse><tds:CACertificate><tt:CertificateID>x"
	    "</tt:CertificateID><tt:Certificate><tt:Data>AAAA</tt:Data></tt:Certificate>"
	    "</tds:CACertificate></tds:GetCACertificatesResponse>");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "entry 1");
	vp_dop_free(op);
}

static void
soap_install_add_delete(void **state)
{
	vp_dop_args a = { .alias = "vmspki-https-1", .pem = NULL };
	const vp_http_req *r;
	char *want = NULL;
	vp_dop *op;
	(void)state;

	a.pem = cert_pem;
	op = start(VP_DOP_CERT_INSTALL, &a, VP_DEV_API_SOAP);
	r = expect(op, "POST", "/vapix/services");
	assert_true(asprintf(&want, "<tds:LoadCertificates><tds:NVTCertificate><tt:CertificateID>"
	    "vmspki-https-1</tt:CertificateID><tt:Certificate><tt:Data>%s</tt:Data>"
	    "</tt:Certificate></tds:NVTCertificate></tds:LoadCertificates>", cert_b64) > 0);
	assert_non_null(strstr(r->body, want));
	free(want);
	soap(op, 200, "<tds:LoadCertificatesResponse></tds:LoadCertificatesResponse>");
	assert_done(op);
	vp_dop_free(op);

	a.pem = ca_pem;
	op = start(VP_DOP_CA_ADD, &a, VP_DEV_API_SOAP);
	r = expect(op, "POST", "/vapix/services");
	assert_non_null(strstr(r->body, "<tds:LoadCACertificates><tds:CACertificate>"
	    "<tt:CertificateID>vmspki-https-1</tt:CertificateID>"));
	soap(op, 200, "<tds:LoadCACertificatesResponse/>");
	assert_done(op);
	vp_dop_free(op);

	op = start(VP_DOP_CERT_DELETE, &a, VP_DEV_API_SOAP);
	r = expect(op, "POST", "/vapix/services");
	assert_non_null(strstr(r->body, "<tds:DeleteCertificates><tds:CertificateID>vmspki-https-1"
	    "</tds:CertificateID></tds:DeleteCertificates>"));
	soap(op, 200, "<tds:DeleteCertificatesResponse></tds:DeleteCertificatesResponse>");
	assert_done(op);
	vp_dop_free(op);

	/* the wrong answer element */
	op = start(VP_DOP_CA_DELETE, &a, VP_DEV_API_SOAP);
	expect(op, "POST", "/vapix/services");
	soap(op, 200, "<tds:LoadCertificatesResponse/>");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "DeleteCertificatesResponse");
	vp_dop_free(op);

	/* unsupported firmware: nothing is sent */
	op = start(VP_DOP_CA_LIST, NULL, VP_DEV_API_UNSUPPORTED);
	assert_fail(op, VP_DEVF_UNSUPPORTED, 0, "cannot have its HTTPS certificate managed");
	vp_dop_free(op);
}

static void
tls_set_reads_then_writes_back(void **state)
{
	static const char *const cas[] = { "vmspki-ca-1a2b", NULL };
	vp_dop_args a = { .alias = "vmspki-https-1", .ca_aliases = cas, .policy = VP_POLICY_BOTH };
	const vp_http_req *r;
	vp_dop *op;
	(void)state;

	op = start(VP_DOP_TLS_SET, &a, VP_DEV_API_REST);
	expect_tls_get(op);
	soap(op, 200, tls_conf);
	r = expect(op, "POST", "/vapix/services");
	assert_non_null(strstr(r->body, "<aweb:SetWebServerTlsConfiguration><aweb:Configuration>"
	    "<aweb:Tls>true</aweb:Tls><aweb:ConnectionPolicies><aweb:Admin>HttpAndHttps"
	    "</aweb:Admin></aweb:ConnectionPolicies><aweb:Ciphers><acert:Cipher>"
	    "ECDHE-ECDSA-AES128-GCM-SHA256</acert:Cipher><acert:Cipher>ECDHE-RSA-AES128-GCM-SHA256"
	    "</acert:Cipher></aweb:Ciphers><aweb:CertificateSet><acert:Certificates><acert:Id>"
	    "vmspki-https-1</acert:Id></acert:Certificates><acert:CACertificates><acert:Id>"
	    "vmspki-ca-1a2b</acert:Id></acert:CACertificates><acert:TrustedCertificates>"
	    "<acert:Id>T &amp; C</acert:Id></acert:TrustedCertificates></aweb:CertificateSet>"
	    "</aweb:Configuration></aweb:SetWebServerTlsConfiguration>"));
	soap(op, 200, "<aweb:SetWebServerTlsConfigurationResponse>"
	    "</aweb:SetWebServerTlsConfigurationResponse>");
	assert_done(op);
	assert_int_equal(vp_dop_get_result(op)->policy, VP_POLICY_BOTH);
	assert_string_equal(vp_dop_get_result(op)->bound_alias, "vmspki-https-1");
	vp_dop_free(op);

	/* policy unknown and no CA list: both kept as read; a fault on the set is reported */
	a.policy = VP_POLICY_UNKNOWN;
	a.ca_aliases = NULL;
	op = start(VP_DOP_TLS_SET, &a, VP_DEV_API_SOAP);
	expect_tls_get(op);
	soap(op, 200, tls_conf);
	r = expect(op, "POST", "/vapix/services");
	assert_non_null(strstr(r->body, "<aweb:Admin>Https</aweb:Admin>"));
	assert_non_null(strstr(r->body, "<acert:CACertificates><acert:Id>Old CA</acert:Id>"));
	soap(op, 500, fault_in_use);
	assert_fail(op, VP_DEVF_DEVICE, 0, "set web server certificate: the device refused");
	vp_dop_free(op);

	/* a malformed configuration */
	op = start(VP_DOP_TLS_GET, NULL, VP_DEV_API_SOAP);
	expect_tls_get(op);
	soap(op, 200, "<aweb:GetWebServerTlsConfigurationResponse><aweb:Configuration>"
	    "<aweb:Tls>maybe</aweb:Tls></aweb:Configuration></aweb:GetWebServerTlsConfigurationResponse>");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "malformed");
	vp_dop_free(op);

	op = start(VP_DOP_TLS_GET, NULL, VP_DEV_API_SOAP);
	expect_tls_get(op);
	soap(op, 200, "<aweb:GetWebServerTlsConfigurationResponse><aweb:Configuration>"
	    "<aweb:Tls>false</aweb:Tls><aweb:ConnectionPolicies><aweb:Admin>Http</aweb:Admin>"
	    "</aweb:ConnectionPolicies></aweb:Configuration></aweb:GetWebServerTlsConfigurationResponse>");
	assert_done(op);
	assert_int_equal(vp_dop_get_result(op)->policy, VP_POLICY_HTTP);
	assert_string_equal(vp_dop_get_result(op)->bound_alias, "");
	vp_dop_free(op);
}

/* The driver table finds VAPIX by the API values its probe records, and nothing else. */
static void
driver_is_found_by_recorded_api(void **state)
{
	const vp_driver *const *all;
	vp_dop *op = NULL;
	vp_error e;
	size_t n;
	(void)state;

	assert_ptr_equal(vp_driver_for_api(VP_DEV_API_SOAP), &vp_driver_vapix);
	assert_ptr_equal(vp_driver_for_api(VP_DEV_API_REST), &vp_driver_vapix);
	assert_ptr_equal(vp_driver_for_api(VP_DEV_API_REST_BETA), &vp_driver_vapix);
	all = vp_drivers(&n);
	assert_true(n >= 1);
	assert_ptr_equal(vp_driver_for_api(""), all[0]);
	assert_null(vp_driver_for_api("onvif-from-the-future"));
	assert_null(vp_driver_for_api(VP_DEV_API_UNSUPPORTED));

	/* an unknown API is a clear refusal, never a crash */
	assert_int_equal(vp_dop_start(vp_driver_for_api("x"), VP_DOP_PROBE, NULL, "x", &op, &e),
	    VP_ERR_INVALID);
	assert_null(op);
	assert_non_null(strstr(e.msg, "no device driver"));

	/* an operation knows its driver */
	op = start(VP_DOP_PROBE, NULL, "");
	assert_ptr_equal(vp_dop_driver(op), &vp_driver_vapix);
	vp_dop_free(op);

	assert_int_equal(vp_dev_caps(VP_DEV_API_UNSUPPORTED, "5.50"), 0);
	assert_int_equal(vp_dev_caps("", ""), 0);
	assert_true(vp_dev_caps(VP_DEV_API_SOAP, "9.80.1") & VP_DCAP_HTTPS);
	assert_false(vp_dev_caps(VP_DEV_API_SOAP, "9.80.1") & VP_DCAP_KEYSTORES);
	assert_true(vp_dev_caps(VP_DEV_API_REST, "11.11.1") & VP_DCAP_KEYSTORES);
}

static void
oversize_and_redirect_are_protocol_failures(void **state)
{
	size_t n = 1024 * 1024 + 1;
	char *big = malloc(n);
	vp_dop *op;
	(void)state;

	memset(big, ' ', n);
	op = start(VP_DOP_CERT_LIST, NULL, VP_DEV_API_REST);
	expect(op, "GET", "/config/rest/cert/v1/certificates");
	answer_n(op, 200, "application/json", big, n);
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "larger than 1048576 bytes");
	vp_dop_free(op);
	free(big);

	op = start(VP_DOP_CERT_LIST, NULL, VP_DEV_API_REST);
	expect(op, "GET", "/config/rest/cert/v1/certificates");
	answer(op, 302, "text/html", "");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "redirected");
	vp_dop_free(op);

	op = start(VP_DOP_CERT_LIST, NULL, VP_DEV_API_REST);
	expect(op, "GET", "/config/rest/cert/v1/certificates");
	answer(op, 403, "text/html", "");
	assert_fail(op, VP_DEVF_AUTH, 0, "administrator");
	vp_dop_free(op);
}

/* Discovery (issue 19, item 8): one request, the unrestricted properties, no API decided; a
 * device that wants credentials says so (AUTH), one without basicdeviceinfo is UNSUPPORTED. */
static void
identify_asks_the_unrestricted_properties(void **state)
{
	vp_dop *op;
	const vp_http_req *r;
	const vp_dop_result *res;
	char *a;

	(void)state;
	op = start(VP_DOP_IDENTIFY, NULL, "");
	r = expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	assert_non_null(strstr(r->body, "\"method\":\"getAllUnrestrictedProperties\""));
	a = bdi_answer("4.10.1");            /* old firmware: still identified */
	json(op, 200, a);
	free(a);
	assert_done(op);
	res = vp_dop_get_result(op);
	assert_string_equal(res->serial, "ACCC8E68D4D2");
	assert_string_equal(res->model, "AXIS P1367");
	assert_string_equal(res->firmware, "4.10.1");
	assert_string_equal(res->brand, "AXIS");
	assert_string_equal(vp_dop_api(op), "");
	vp_dop_free(op);

	op = start(VP_DOP_IDENTIFY, NULL, "");
	expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	answer(op, 401, "text/html", "<html>401</html>");
	assert_fail(op, VP_DEVF_AUTH, 0, "without credentials");
	vp_dop_free(op);

	op = start(VP_DOP_IDENTIFY, NULL, "");
	expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	answer(op, 404, "text/html", "<html>404</html>");
	assert_fail(op, VP_DEVF_UNSUPPORTED, 0, "no basicdeviceinfo.cgi");
	vp_dop_free(op);

	op = start(VP_DOP_IDENTIFY, NULL, "");
	expect(op, "POST", "/axis-cgi/basicdeviceinfo.cgi");
	json(op, 200, "{\"data\":{\"propertyList\":{\"SerialNumber\":\"not-a-mac\","
	    "\"Version\":\"11.1\",\"ProdNbr\":\"P1\"}}}");
	assert_fail(op, VP_DEVF_PROTOCOL, 0, "not a MAC");
	vp_dop_free(op);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(probe_firmware_11_speaks_rest_v1),
		cmocka_unit_test(probe_early_11_falls_back_to_v1beta_then_soap),
		cmocka_unit_test(probe_firmware_10_speaks_soap),
		cmocka_unit_test(probe_firmware_5_50_is_unsupported),
		cmocka_unit_test(probe_product_rules),
		cmocka_unit_test(probe_refusals_and_garbage),
		cmocka_unit_test(transport_failures_are_classified),
		cmocka_unit_test(rest_lists_read_and_checked),
		cmocka_unit_test(rest_ca_add_sends_the_leaf_only),
		cmocka_unit_test(rest_key_create_and_device_errors),
		cmocka_unit_test(rest_csr_is_checked),
		cmocka_unit_test(rest_beta_method_follows_the_device),
		cmocka_unit_test(keystore_is_asked_and_read),
		cmocka_unit_test(rest_v1_404_falls_back_to_v1beta),
		cmocka_unit_test(soap_key_create_and_faults),
		cmocka_unit_test(soap_refuses_entity_expansion),
		cmocka_unit_test(soap_csr_and_lists),
		cmocka_unit_test(soap_install_add_delete),
		cmocka_unit_test(tls_set_reads_then_writes_back),
		cmocka_unit_test(oversize_and_redirect_are_protocol_failures),
		cmocka_unit_test(driver_is_found_by_recorded_api),
		cmocka_unit_test(identify_asks_the_unrestricted_properties),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
