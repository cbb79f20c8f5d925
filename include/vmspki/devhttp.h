/* Sending a driver's requests to a device with libcurl: Digest authentication, a timeout on
 * every request, a bounded answer, TLS with or without verification against the site CA, and
 * the transport failure told apart (timeout, refused, reset, TLS). One vp_devhttp is one
 * transfer; the CLI runs it blocking (vp_dop_run), the task engine adds its easy handle to a
 * curl multi handle. Easy handles are reused per device (vp_devhttp_free). */
#ifndef VMSPKI_DEVHTTP_H
#define VMSPKI_DEVHTTP_H

#include <stddef.h>

#include <curl/curl.h>

#include "vmspki/driver.h"
#include "vmspki/err.h"

/* Largest answer accepted from a device (a certificate list with PEMs fits many times). */
#define VP_DEVHTTP_MAX_ANSWER (1024 * 1024)

typedef struct vp_devhttp vp_devhttp;

/* Prepares the transfer of req to the device conn describes (copies what it needs of both). */
vp_err vp_devhttp_new(const vp_dev_conn *conn, const vp_http_req *req, vp_devhttp **out,
    vp_error *e);

/* Prepares a TLS check of the device's HTTPS port: a handshake that verifies the chain against
 * conn->ca_file and the name conn->tls_name (an IP address is checked against the IP SANs), then
 * a GET of "/" whose status does not matter. conn->verify is implied. */
vp_err vp_devhttp_new_tls_check(const vp_dev_conn *conn, vp_devhttp **out, vp_error *e);

/* The easy handle, to add to a multi handle (owned by t). */
CURL *vp_devhttp_easy(vp_devhttp *t);

/* Once the transfer ended with cc (from curl_easy_perform or CURLMSG_DONE): fills resp, whose
 * pointers stay valid until vp_devhttp_free. */
void vp_devhttp_finish(vp_devhttp *t, CURLcode cc, vp_http_resp *resp);

/* After a TLS check that ended with transport OK: the SHA-256 fingerprint (lowercase hex) of
 * the certificate the device presented. VP_ERR_NOTFOUND if there was none. */
vp_err vp_devhttp_peer_fingerprint(vp_devhttp *t, char fp[65], vp_error *e);

/* Ends t. Its easy handle must no longer be in a multi handle (curl_multi_remove_handle
 * first). When the transfer got an answer (and was no TLS check) the handle is kept for the
 * next vp_devhttp_new to the same device with the same settings, so that it answers the
 * device's Digest challenge at once (see devhttp.c); at most 256 are kept. */
void vp_devhttp_free(vp_devhttp *t);

/* Closes the kept handles (tests; a process may call it before it exits). */
void vp_devhttp_pool_clear(void);

/* Runs op to its end with blocking transfers to conn (for the CLI and for probes). Returns VP_OK
 * when the conversation finished (the operation may still have failed: vp_dop_failed). */
vp_err vp_dop_run(const vp_dev_conn *conn, vp_dop *op, vp_error *e);

#endif
