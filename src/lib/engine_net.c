/* The task engine's network: the drivers' requests and the verify handshake sent with libcurl
 * multi (devhttp.c), many devices at once from the engine's one thread. The step machine
 * sees only the eng_net table (engine_internal.h); the unit test puts a fake in its place. */
#include <stdlib.h>

#include <curl/curl.h>

#include "engine_internal.h"
#include "vmspki/devhttp.h"

static vp_err
curl_open(engine *g, vp_error *e)
{
	CURLM *multi;

	if ((multi = curl_multi_init()) == NULL)
		return vp_error_set(e, VP_ERR_NOMEM, "cannot start libcurl");
	curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 2L);
	/* Keep a connection per active device between its requests (over HTTPS a new one costs
	 * the camera a handshake); curl's default keeps four per handle in transfer only. */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)(2 * g->max_active + 16));
	g->net_ctx = multi;
	return VP_OK;
}

static void
curl_close(engine *g)
{
	curl_multi_cleanup(g->net_ctx);
	g->net_ctx = NULL;
}

/* Frees j's transfer, out of the multi handle, and out of j's connection cache: an easy
 * handle goes back to devhttp's pool, which outlives the job. */
static void
xfer_drop(job *j)
{
	curl_easy_setopt(vp_devhttp_easy(j->xfer), CURLOPT_SHARE, NULL);
	vp_devhttp_free(j->xfer);
	j->xfer = NULL;
}

/* Puts j's new transfer into the multi handle (the handle knows its job). Each device's
 * connections are kept in a connection cache of its own (a curl share handle), closed when
 * its job ends (curl_forget). In the multi handle's one cache they would stay until curl
 * evicted them, and libcurl 7.88 (Debian 12) leaves an empty entry behind for every host it
 * evicts from, which it walks on every eviction and every removed transfer: with 10,000
 * devices, a third of the engine's time and half a second per device by the end. */
static vp_err
curl_add(engine *g, job *j, vp_error *e)
{
	CURL *easy = vp_devhttp_easy(j->xfer);

	if (j->net_job == NULL) {
		CURLSH *sh = curl_share_init();

		if (sh == NULL || curl_share_setopt(sh, CURLSHOPT_SHARE,
		    CURL_LOCK_DATA_CONNECT) != CURLSHE_OK) {
			curl_share_cleanup(sh);
			vp_devhttp_free(j->xfer);
			j->xfer = NULL;
			return vp_error_set(e, VP_ERR_NOMEM, "cannot start a transfer");
		}
		j->net_job = sh;
	}
	curl_easy_setopt(easy, CURLOPT_PRIVATE, (void *)j);
	if (curl_easy_setopt(easy, CURLOPT_SHARE, (CURLSH *)j->net_job) != CURLE_OK ||
	    curl_multi_add_handle(g->net_ctx, easy) != CURLM_OK) {
		xfer_drop(j);
		return vp_error_set(e, VP_ERR_INTERNAL, "cannot start a transfer");
	}
	return VP_OK;
}

static vp_err
curl_send(engine *g, job *j, const vp_dev_conn *conn, const vp_http_req *req, vp_error *e)
{
	vp_devhttp *t = NULL;
	vp_err rc;

	if ((rc = vp_devhttp_new(conn, req, &t, e)) != VP_OK)
		return rc;
	j->xfer = t;
	return curl_add(g, j, e);
}

static vp_err
curl_verify(engine *g, job *j, const vp_dev_conn *conn, vp_error *e)
{
	vp_devhttp *t = NULL;
	vp_err rc;

	if ((rc = vp_devhttp_new_tls_check(conn, &t, e)) != VP_OK)
		return rc;
	j->xfer = t;
	return curl_add(g, j, e);
}

static vp_err
curl_peer_fp(engine *g, job *j, char fp[65], vp_error *e)
{
	(void)g;
	return vp_devhttp_peer_fingerprint(j->xfer, fp, e);
}

/* Out of the multi handle: a transfer in flight is dropped, an answered one goes back to
 * devhttp's pool (so that the device's next request answers its Digest challenge at once). */
static void
curl_release(engine *g, job *j)
{
	if (j->xfer == NULL)
		return;
	curl_multi_remove_handle(g->net_ctx, vp_devhttp_easy(j->xfer));
	xfer_drop(j);
}

/* The device's job is over: its connections close now, not when curl would evict them. */
static void
curl_forget(engine *g, job *j)
{
	if (j->net_job == NULL)
		return;
	if (curl_share_cleanup((CURLSH *)j->net_job) != CURLSHE_OK)
		eng_log(g, "device %lld: cannot close its connections (left open)",
		    (long long)j->dev_id);
	j->net_job = NULL;
}

static int
curl_deliver(engine *g)
{
	int running = 0, left = 0, n = 0;
	CURLMsg *m;

	curl_multi_perform(g->net_ctx, &running);
	while ((m = curl_multi_info_read(g->net_ctx, &left)) != NULL) {
		vp_http_resp resp;
		char *priv = NULL;
		job *j;

		if (m->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK ||
		    (j = (job *)(void *)priv) == NULL || j->xfer == NULL)
			continue;
		curl_multi_remove_handle(g->net_ctx, m->easy_handle);
		vp_devhttp_finish(j->xfer, m->data.result, &resp);
		eng_xfer_done(g, j, &resp);
		n++;
	}
	return n;
}

static void
curl_wait(engine *g, int ms)
{
	curl_multi_poll(g->net_ctx, NULL, 0, ms, NULL);
}

/* The one multi call curl allows from another thread. */
static void
curl_wake(engine *g)
{
	curl_multi_wakeup(g->net_ctx);
}

const eng_net eng_net_curl = {
	.open = curl_open,
	.close = curl_close,
	.send = curl_send,
	.verify = curl_verify,
	.peer_fp = curl_peer_fp,
	.release = curl_release,
	.forget = curl_forget,
	.deliver = curl_deliver,
	.wait = curl_wait,
	.wake = curl_wake,
};
