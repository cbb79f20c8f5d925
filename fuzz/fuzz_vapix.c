/* libFuzzer target: the VAPIX driver (vapix*.c) fed fuzzed camera answers. Each input starts
 * one driver operation and answers every request it makes until the operation ends, the way
 * devhttp.c and the task engine do, so that every answer parser (basicdeviceinfo and param.cgi,
 * REST JSON, SOAP XML, certificates and CSRs in PEM and base64 DER) and every step change
 * (v1 -> v1beta fallback, TLS_SET's read-modify-write) sees hostile input.
 *
 * Input:
 *   byte 0   the operation: VP_DOP_PROBE + byte % 12 (every vp_dop_kind)
 *   byte 1   bits 0-1: the device's API as remembered (soap, rest, rest-beta, unsupported;
 *            rest-beta-post instead of rest-beta when byte 0's bit 7 is set);
 *            bit 7: none (a device never probed: only PROBE may start); bits 2-3: TLS_SET's
 *            policy; bit 4: no CA aliases (TLS_SET); bit 5: no alias (TLS_SET keeps the
 *            bound one); bit 6: no SANs (KEY_CREATE)
 *   then     the answers, one per request, separated by "\n#--#\n". An answer is a line
 *            "STATUS CONTENT-TYPE" (content type optional: none when the line has no
 *            space) and the body after it; "!N" instead of a status is a transport failure
 *            (vp_transport N). When the answers run out the device times out.
 * Seeds: corpus/fuzz_vapix/ (answers of docs/device-protocol.md, one conversation each).
 *
 * Checked besides ASan/UBSan/leaks: an operation ends within a bounded number of requests;
 * every request is well formed; a failure always says why, in one line without control
 * characters (messages reach logs and the task's per-device error); a success hands back
 * what its operation promises (a CSR that is PEM, certificates with an alias and PEM, a
 * probe with a serial number and a known API). With VP_FUZZ_VAPIX_TRACE set in the
 * environment each run prints its requests and outcome (to check what a seed reaches). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "driver_impl.h"
#include "vapix.h"
#include "vmspki/driver.h"
#include "vmspki/err.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEP "\n#--#\n"
#define MAX_REQUESTS 32     /* vp_dop_run allows 16; an operation needs at most 4 */

/* The certificate that CA_ADD and CERT_INSTALL send (an EC P-256 CA made for the seeds). */
static const char cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBhjCCAS2gAwIBAgIUaMHdbTMcZ3inll0m4cxBheZmjbUwCgYIKoZIzj0EAwIw\n"
    "GTEXMBUGA1UEAwwOdm1zcGtpIGZ1enogQ0EwHhcNMjYxMTIzMTg0MzQzWhcNMzYx\n"
    "MTIwMTg0MzQzWjAZMRcwFQYDVQQDDA52bXNwa2kgZnV6eiBDQTBZMBMGByqGSM49\n"
    "AgEGCCqGSM49AwEHA0IABPhhlV/U8ax2LyPSciTnkKixjcaJr873dxcWZ5gUyZwA\n"
    "uO0FoQB3jDNrkeTvI8VzDS2spS43NefwgdlW2HfsweujUzBRMB0GA1UdDgQWBBSx\n"
    "tKirHS3Y7UOKvuBVaDiQaWByKTAfBgNVHSMEGDAWgBSxtKirHS3Y7UOKvuBVaDiQ\n"
    "aWByKTAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cAMEQCIBcjKuYTRRhr\n"
    "JwalTeCh2no2WM2Mn2DjWbzcBStBLdy3AiA4KM33Bo1MjTkJRP1JaQrwyeGF10Us\n"
    "wBXciuBmTUZ95g==\n"
    "-----END CERTIFICATE-----\n";

static const char *const apis[] = {
	VP_DEV_API_SOAP, VP_DEV_API_REST, VP_DEV_API_REST_BETA, VP_DEV_API_UNSUPPORTED
};

/* The answer separator in [p, end), or end. */
static const char *
find_sep(const char *p, const char *end)
{
	const size_t n = sizeof(SEP) - 1;

	for (; (size_t)(end - p) >= n; p++)
		if (*p == SEP[0] && memcmp(p, SEP, n) == 0)
			return p;
	return end;
}

/* One line, no control characters, not empty: what a message must be. */
static int
line_ok(const char *s)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int
api_ok(const char *api)
{
	return api != NULL && (strcmp(api, "") == 0 || strcmp(api, VP_DEV_API_SOAP) == 0 ||
	    strcmp(api, VP_DEV_API_REST) == 0 || strcmp(api, VP_DEV_API_REST_BETA) == 0 ||
	    strcmp(api, VP_DEV_API_REST_BETA_POST) == 0 ||
	    strcmp(api, VP_DEV_API_UNSUPPORTED) == 0);
}

static void
check_request(const vp_http_req *req)
{
	volatile unsigned char sum = 0;
	size_t i;

	if (req->method == NULL || (strcmp(req->method, "GET") != 0 &&
	    strcmp(req->method, "POST") != 0 && strcmp(req->method, "PUT") != 0 &&
	    strcmp(req->method, "PATCH") != 0 && strcmp(req->method, "DELETE") != 0))
		abort();
	if (req->path[0] != '/' || memchr(req->path, '\0', sizeof(req->path)) == NULL ||
	    strpbrk(req->path, " \t\r\n#") != NULL)
		abort();
	if (req->body_len > 0 && (req->body == NULL || req->content_type == NULL))
		abort();
	for (i = 0; i < req->body_len; i++)      /* ASan: the whole body is readable */
		sum ^= (unsigned char)req->body[i];
	(void)sum;
}

static void
check_outcome(vp_dop_kind kind, const vp_dop *op)
{
	const vp_dop_result *r = vp_dop_get_result(op);
	const char *msg = NULL;
	int retryable = -1;
	vp_dev_fail f = vp_dop_failed(op, &msg, &retryable);
	size_t i;

	if (!api_ok(vp_dop_api(op)) || (retryable != 0 && retryable != 1))
		abort();
	if (f != VP_DEVF_NONE) {
		if (!line_ok(msg) || strlen(msg) >= 512)
			abort();        /* every failure says why, in one clean line */
		return;
	}
	switch (kind) {
	case VP_DOP_PROBE:
		if (r->serial[0] == '\0' || r->model[0] == '\0' || r->firmware[0] == '\0' ||
		    r->api[0] == '\0' || !api_ok(r->api) || !api_ok(vp_dop_api(op)) ||
		    strcmp(vp_dop_api(op), "") == 0)
			abort();
		break;
	case VP_DOP_IDENTIFY:
		if (r->serial[0] == '\0' || r->model[0] == '\0' || r->firmware[0] == '\0')
			abort();
		break;
	case VP_DOP_CA_LIST:
	case VP_DOP_CERT_LIST:
		if (r->ncerts > 0 && r->certs == NULL)
			abort();
		for (i = 0; i < r->ncerts; i++)
			if (!line_ok(r->certs[i].alias) || r->certs[i].pem == NULL ||
			    strncmp(r->certs[i].pem, "-----BEGIN CERTIFICATE-----", 27) != 0)
				abort();
		break;
	case VP_DOP_DOT1X_GET:
		/* 802.1X on names a configuration the device listed, with clean fields */
		if ((r->dot1x.enabled && (r->dot1x.token[0] == '\0' || !r->dot1x_found)) ||
		    (r->dot1x.token[0] != '\0' && !line_ok(r->dot1x.token)) ||
		    (r->dot1x_found && (!line_ok(r->dot1x.identity) ||
		    !line_ok(r->dot1x.cert_alias))) ||
		    (r->dot1x.ca_alias[0] != '\0' && !line_ok(r->dot1x.ca_alias)))
			abort();
		break;
	case VP_DOP_CSR_GET:
		if (r->csr_pem == NULL ||
		    strncmp(r->csr_pem, "-----BEGIN CERTIFICATE REQUEST-----", 35) != 0)
			abort();
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const sans[] = { "DNS:cam1.site.example", "IP:10.0.0.5", NULL };
	static const char *const cas[] = { "vmspki-ca-0123456789ab", NULL };
	static const vp_dot1x_conf d1x = { "vmspki-8021x", "ac:cc:8e:00:00:01",
	    "vmspki-ca-0123456789ab", "vmspki-8021x-t1", 1 };
	static const vp_dev_policy policies[] = {
		VP_POLICY_UNKNOWN, VP_POLICY_HTTP, VP_POLICY_HTTPS, VP_POLICY_BOTH
	};
	const char *p, *end, *sep, *nl, *sp, *api;
	vp_dop_kind kind;
	vp_dop_args args;
	vp_dop *op = NULL;
	vp_error e;
	unsigned flags;
	int n, stuck = 0;

	if (size < 2 || size > 256 * 1024)
		return 0;
	kind = (vp_dop_kind)(VP_DOP_PROBE + data[0] % 15);   /* up to VP_DOP_DOT1X_DELETE */
	flags = data[1];
	api = (flags & 0x80) ? "" : apis[flags & 3];
	if ((flags & 0x83) == 2 && (data[0] & 0x80))     /* v1beta that takes POST/PATCH */
		api = VP_DEV_API_REST_BETA_POST;
	memset(&args, 0, sizeof(args));
	args.alias = kind == VP_DOP_CA_ADD || kind == VP_DOP_CA_DELETE ? "vmspki-ca-0123456789ab" :
	    (kind == VP_DOP_TLS_SET && (flags & 0x20)) ? NULL : "vmspki-https-t1";
	args.pem = cert_pem;
	args.key_type = "RSA-2048";
	args.subject = "CN=10.0.0.5";
	args.sans = (flags & 0x40) ? NULL : sans;
	args.ca_aliases = (flags & 0x10) ? NULL : cas;
	args.policy = policies[(flags >> 2) & 3];
	args.dot1x = &d1x;
	args.dot1x_create = flags & 1;

	vp_error_clear(&e);
	if (vp_dop_start(&vp_driver_vapix, kind, &args, api, &op, &e) != VP_OK) {
		if (op != NULL || e.msg[0] == '\0')
			abort();        /* a refused start leaves nothing and says why */
		return 0;
	}

	p = (const char *)data + 2;
	end = (const char *)data + size;
	for (n = 0;; n++) {
		const vp_http_req *req = NULL;
		vp_http_resp resp;
		char ctype[128], *ct = NULL;
		unsigned char *body = NULL;
		size_t blen = 0;

		if (vp_dop_next(op, &req, &e) != VP_OK) {
			if (e.msg[0] == '\0')
				abort();
			stuck = 1;              /* out of memory: the operation is abandoned */
			break;
		}
		if (req == NULL)
			break;                  /* finished */
		if (n >= MAX_REQUESTS)
			abort();                /* a conversation that does not end */
		check_request(req);
		if (getenv("VP_FUZZ_VAPIX_TRACE") != NULL)
			fprintf(stderr, "  %s %s\n", req->method, req->path);

		memset(&resp, 0, sizeof(resp));
		if (p >= end) {
			resp.transport = VP_TRANSPORT_TIMEOUT;
			resp.transport_msg = "Operation timed out after 30000 milliseconds";
		} else {
			sep = find_sep(p, end);
			if ((nl = memchr(p, '\n', (size_t)(sep - p))) == NULL)
				nl = sep;
			if (p < nl && *p == '!') {
				resp.transport = (vp_transport)(nl - p > 1 ? (p[1] - '0') & 7 : 6);
				if (resp.transport == VP_TRANSPORT_OK)
					resp.transport = VP_TRANSPORT_OTHER;
				resp.transport_msg = resp.transport == VP_TRANSPORT_TIMEOUT ?
				    "Operation timed out after 30000 milliseconds" :
				    "Recv failure: Connection reset by peer";
			} else {
				char num[24];
				size_t l = (size_t)(nl - p);

				if ((sp = memchr(p, ' ', l)) != NULL) {
					size_t cl = (size_t)(nl - sp - 1);

					if (cl >= sizeof(ctype))
						cl = sizeof(ctype) - 1;
					memcpy(ctype, sp + 1, cl);
					ctype[cl] = '\0';
					ct = ctype;
					l = (size_t)(sp - p);
				}
				if (l >= sizeof(num))
					l = sizeof(num) - 1;
				memcpy(num, p, l);
				num[l] = '\0';
				resp.status = strtol(num, NULL, 10);
				resp.content_type = ct;
				/* The body in an exact-size heap copy, as devhttp hands it over (with a
				 * NUL after it that is not counted): ASan sees any read past len. */
				blen = nl < sep ? (size_t)(sep - nl - 1) : 0;
				if ((body = malloc(blen + 1)) == NULL)
					abort();
				if (blen > 0)
					memcpy(body, nl + 1, blen);
				body[blen] = '\0';
				resp.body = blen > 0 ? body : NULL;
				resp.len = blen;
			}
			p = sep < end ? sep + sizeof(SEP) - 1 : end;
		}
		if (vp_dop_feed(op, &resp, &e) != VP_OK) {
			if (e.msg[0] == '\0')
				abort();
			stuck = 1;
		}
		free(body);
		if (stuck)
			break;
	}
	if (!stuck) {
		/* An answer fed to a finished operation is refused, not used. */
		vp_http_resp late = { .transport = VP_TRANSPORT_OK, .status = 200 };

		check_outcome(kind, op);
		if (getenv("VP_FUZZ_VAPIX_TRACE") != NULL) {
			const char *msg;
			vp_dev_fail f = vp_dop_failed(op, &msg, NULL);

			fprintf(stderr, "op %d api \"%s\" -> \"%s\": %s%s%s\n", (int)kind, api,
			    vp_dop_api(op), vp_dev_fail_str(f), f != VP_DEVF_NONE ? ": " : "",
			    f != VP_DEVF_NONE ? msg : "");
		}
		vp_error_clear(&e);
		if (vp_dop_feed(op, &late, &e) == VP_OK)
			abort();
	}
	vp_dop_free(op);
	ERR_clear_error();
	return 0;
}
