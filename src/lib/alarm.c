/* Alarms in the store (raise, clear, acknowledge, list) and their delivery from the outbox to
 * the configured webhook (libcurl, JSON POST, retried with back-off) and to syslog(3). */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "internal.h"
#include "vmspki/alarm.h"
#include "vmspki/ca.h"
#include "vmspki/render_json.h"
#include "vmspki/settings.h"
#include "vmspki/util.h"

#define DEFAULT_TIMEOUT_MS 5000L
#define MAX_TIMEOUT_MS     600000L
#define BACKOFF_FIRST_S    10
#define BACKOFF_MAX_S      3600
/* A claimed row is the claimer's for its timeout and this margin; a claimer that died in
 * the middle leaves it to be sent again after that. */
#define LEASE_MARGIN_S     60
/* Delivered rows are kept this long (for a look at what went out), then removed. */
#define KEEP_DONE_S        (30 * 86400)
#define SYSLOG_BATCH       100

const char *
vp_alarm_severity_name(vp_alarm_severity sev)
{
	return sev == VP_SEV_CRITICAL ? "critical" : "warning";
}

/* A row of vp_alarm_list_json. */
static int
append_alarm(const vp_alarm *a, void *arg)
{
	return vp_json_append(arg, vp_json_alarm(a));
}

json_t *
vp_json_alarm(const vp_alarm *a)
{
	json_t *o = json_object();
	int bad = o == NULL;

	if (bad)
		return NULL;
	bad |= json_object_set_new(o, "id", json_integer((json_int_t)a->id));
	bad |= json_object_set_new(o, "kind", vp_json_str(a->kind));
	bad |= json_object_set_new(o, "subject", vp_json_str(a->subject));
	bad |= json_object_set_new(o, "severity", json_string(vp_alarm_severity_name(a->severity)));
	bad |= json_object_set_new(o, "message", vp_json_str(a->message));
	bad |= json_object_set_new(o, "state", vp_json_str(a->state));
	bad |= json_object_set_new(o, "raised_at", vp_json_time(a->raised_at));
	bad |= json_object_set_new(o, "cleared_at", a->cleared_at != 0 ?
	    vp_json_time(a->cleared_at) : json_null());
	bad |= json_object_set_new(o, "acknowledged", json_boolean(a->acked_at != 0));
	bad |= json_object_set_new(o, "acknowledged_at", a->acked_at != 0 ?
	    vp_json_time(a->acked_at) : json_null());
	bad |= json_object_set_new(o, "acknowledged_by", a->acked_at != 0 ?
	    vp_json_str(a->acked_by) : json_null());
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

vp_err
vp_alarm_list_json(vp_store *s, int active_only, json_t *array, vp_error *e)
{
	return vp_alarm_list(s, active_only, append_alarm, array, e);
}

/* ---- checks of what callers give ---- */

static vp_err
check_kind(const char *kind, vp_error *e)
{
	size_t n = kind != NULL ? strlen(kind) : 0;
	vp_alarm a;

	if (n == 0 || n >= sizeof(a.kind) || strspn(kind, "abcdefghijklmnopqrstuvwxyz0123456789-")
	    != n)
		return vp_error_set(e, VP_ERR_INVALID, "an alarm kind is 1 to %zu characters of "
		    "a-z, 0-9 and '-' (like \"%s\")", sizeof(a.kind) - 1, VP_ALARM_CA_EXPIRING);
	return VP_OK;
}

static vp_err
check_subject(const char *subject, vp_error *e)
{
	size_t n = subject != NULL ? strlen(subject) : 0;
	vp_alarm a;

	if (n == 0 || n >= sizeof(a.subject))
		return vp_error_set(e, VP_ERR_INVALID, "an alarm's subject is 1 to %zu characters "
		    "(like \"ca\" or \"device:7\")", sizeof(a.subject) - 1);
	for (const unsigned char *p = (const unsigned char *)subject; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			return vp_error_set(e, VP_ERR_INVALID, "an alarm's subject holds no control "
			    "characters");
	return VP_OK;
}

/* msg into buf (n bytes): control characters become spaces, and a message too long is cut
 * where a UTF-8 character starts. */
static void
clean_message(const char *msg, char *buf, size_t n)
{
	size_t len;

	snprintf(buf, n, "%s", msg != NULL ? msg : "");
	len = strlen(buf);
	if (msg != NULL && strlen(msg) > len) {
		/* Cut inside a character (the first byte left out continues one): drop it all. */
		while (len > 0 && ((unsigned char)msg[len] & 0xc0) == 0x80)
			len--;
		buf[len] = '\0';
	}
	for (unsigned char *p = (unsigned char *)buf; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = ' ';
}

/* ---- reading ---- */

vp_err
vp_alarm_get(vp_store *s, int64_t id, vp_alarm *out, vp_error *e)
{
	vp_err rc = vp_store_alarm_get(s, id, out, e);

	if (rc == VP_ERR_NOTFOUND)
		rc = vp_error_set(e, VP_ERR_NOTFOUND, "there is no alarm %" PRId64 " (vmspki alarm "
		    "list --all shows them)", id);
	return rc;
}

/* The caller's callback, and what it said when it stopped the list. */
struct list_arg {
	vp_alarm_cb cb;
	void *arg;
	int stopped;
};

static int
list_one(const vp_alarm *a, void *arg)
{
	struct list_arg *l = arg;

	return l->stopped = l->cb(a, l->arg);
}

vp_err
vp_alarm_list(vp_store *s, int active_only, vp_alarm_cb cb, void *arg, vp_error *e)
{
	struct list_arg l = { cb, arg, 0 };
	vp_err rc = vp_store_alarm_list(s, active_only, list_one, &l, e);

	if (l.stopped != 0)
		rc = vp_error_set(e, (vp_err)l.stopped, "%s", l.stopped == VP_ERR_NOMEM ?
		    "out of memory" : "the list of alarms was cut short");
	return rc;
}

/* ---- raise and clear, each with its outbox row in the same transaction ---- */

/* Which site the event comes from: this host and the CA (its CN and fingerprint). */
static json_t *
site_json(vp_store *s)
{
	char host[256] = "", cn[256] = "";
	vp_ca *ca = NULL;
	json_t *o;

	if (gethostname(host, sizeof(host) - 1) != 0)
		host[0] = '\0';
	if (vp_ca_load(s, NULL, &ca, NULL) == VP_OK)
		vp_x509_name_cn(X509_get_subject_name(vp_ca_cert(ca)), cn, sizeof(cn));
	o = json_object();
	if (o == NULL || json_object_set_new(o, "host", vp_json_str_or_null(host)) != 0 ||
	    json_object_set_new(o, "ca", vp_json_str_or_null(cn)) != 0 ||
	    json_object_set_new(o, "ca_sha256", ca != NULL ?
	    vp_json_str(vp_ca_fingerprint(ca)) : json_null()) != 0) {
		json_decref(o);
		o = NULL;
	}
	vp_ca_free(ca);
	return o;
}

/* Appends the outbox row of event ("raised", "cleared") for a (as it is now). */
static vp_err
outbox_add(vp_store *s, const vp_alarm *a, const char *event, int64_t now, vp_error *e)
{
	json_t *o = json_object(), *alarm = vp_json_alarm(a), *site = site_json(s);
	char *payload = NULL;
	vp_err rc = VP_OK;
	int bad = o == NULL || alarm == NULL || site == NULL;

	if (!bad) {
		bad |= json_object_set_new(o, "event", json_string(event));
		bad |= json_object_set_new(o, "at", vp_json_time(now));
		bad |= json_object_set(o, "alarm", alarm);
		bad |= json_object_set(o, "site", site);
	}
	if (bad || (payload = json_dumps(o, JSON_COMPACT)) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = vp_store_alarm_outbox_add(s, a->id, event, payload, now, e);
out:
	free(payload);
	json_decref(alarm);
	json_decref(site);
	json_decref(o);
	return rc;
}

vp_err
vp_alarm_raise(vp_store *s, const char *kind, const char *subject, vp_alarm_severity sev,
    const char *message, int *raised, vp_error *e)
{
	int64_t now = (int64_t)time(NULL);
	vp_alarm a;
	char msg[sizeof(a.message)];
	int found = 0;
	vp_err rc;

	if (raised != NULL)
		*raised = 0;
	if ((rc = check_kind(kind, e)) != VP_OK || (rc = check_subject(subject, e)) != VP_OK)
		return rc;
	if (sev != VP_SEV_WARNING && sev != VP_SEV_CRITICAL)
		return vp_error_set(e, VP_ERR_INVALID, "an alarm's severity is warning or critical");
	clean_message(message, msg, sizeof(msg));
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_alarm_find_raised(s, kind, subject, &a, &found, e)) != VP_OK)
		goto fail;
	if (found) {
		/* Raised already: only its words and severity follow the condition. */
		if (strcmp(a.message, msg) != 0 || a.severity != sev) {
			memcpy(a.message, msg, sizeof(a.message));
			a.severity = sev;
			if ((rc = vp_store_alarm_reword(s, &a, e)) != VP_OK)
				goto fail;
		}
	} else {
		memset(&a, 0, sizeof(a));
		snprintf(a.kind, sizeof(a.kind), "%s", kind);
		snprintf(a.subject, sizeof(a.subject), "%s", subject);
		a.severity = sev;
		memcpy(a.message, msg, sizeof(a.message));
		snprintf(a.state, sizeof(a.state), "raised");
		a.raised_at = now;
		if ((rc = vp_store_alarm_insert(s, &a, e)) != VP_OK ||
		    (rc = outbox_add(s, &a, "raised", now, e)) != VP_OK)
			goto fail;
	}
	if ((rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	if (raised != NULL)
		*raised = !found;
	return VP_OK;
fail:
	vp_store_rollback(s);
	return rc;
}

vp_err
vp_alarm_clear(vp_store *s, const char *kind, const char *subject, int *cleared, vp_error *e)
{
	int64_t now = (int64_t)time(NULL);
	vp_alarm a;
	int found = 0;
	vp_err rc;

	if (cleared != NULL)
		*cleared = 0;
	if ((rc = check_kind(kind, e)) != VP_OK || (rc = check_subject(subject, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_alarm_find_raised(s, kind, subject, &a, &found, e)) != VP_OK)
		goto fail;
	if (found) {
		if ((rc = vp_store_alarm_set_cleared(s, a.id, now, e)) != VP_OK)
			goto fail;
		snprintf(a.state, sizeof(a.state), "cleared");
		a.cleared_at = now;
		if ((rc = outbox_add(s, &a, "cleared", now, e)) != VP_OK)
			goto fail;
	}
	if ((rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	if (cleared != NULL)
		*cleared = found;
	return VP_OK;
fail:
	vp_store_rollback(s);
	return rc;
}

vp_err
vp_alarm_ack(vp_store *s, int64_t id, const char *actor, vp_error *e)
{
	vp_alarm a;
	char by[sizeof(a.acked_by)], detail[300];
	vp_err rc;

	clean_message(actor != NULL && actor[0] != '\0' ? actor : "unknown", by, sizeof(by));
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_alarm_get(s, id, &a, e)) != VP_OK)
		goto fail;
	if (a.acked_at != 0) {
		/* Acknowledged before: the first acknowledgement stands. */
		vp_store_rollback(s);
		return VP_OK;
	}
	snprintf(detail, sizeof(detail), "alarm %" PRId64 ": %s %s", id, a.kind, a.subject);
	if ((rc = vp_store_alarm_set_acked(s, id, (int64_t)time(NULL), by, e)) != VP_OK ||
	    (rc = vp_store_audit_append(s, by, "alarm.ack", NULL, detail, e)) != VP_OK ||
	    (rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	return VP_OK;
fail:
	vp_store_rollback(s);
	return rc;
}

/* ---- delivery ---- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void
curl_init(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* The syslog line of one outbox payload; control characters of the text become '?'. */
static void
syslog_row(const char *event, const char *payload)
{
	json_t *p = json_loads(payload, 0, NULL);
	json_t *a = json_object_get(p, "alarm");
	const char *kind = json_string_value(json_object_get(a, "kind"));
	const char *subject = json_string_value(json_object_get(a, "subject"));
	const char *sev = json_string_value(json_object_get(a, "severity"));
	const char *msg = json_string_value(json_object_get(a, "message"));
	json_int_t id = json_integer_value(json_object_get(a, "id"));
	int cleared = strcmp(event, "cleared") == 0;
	int prio = cleared ? LOG_NOTICE : sev != NULL && strcmp(sev, "critical") == 0 ? LOG_CRIT :
	    LOG_WARNING;
	char line[900];

	snprintf(line, sizeof(line), "vmspki alarm %" JSON_INTEGER_FORMAT " %s: [%s] %s %s%s%s", id,
	    cleared ? "cleared" : "raised", sev != NULL ? sev : "warning",
	    kind != NULL ? kind : "?", subject != NULL ? subject : "?", msg != NULL &&
	    msg[0] != '\0' ? ": " : "", msg != NULL ? msg : "");
	for (unsigned char *c = (unsigned char *)line; *c != '\0'; c++)
		if (*c < 0x20 || *c == 0x7f)
			*c = '?';
	syslog(LOG_DAEMON | prio, "%s", line);
	json_decref(p);
}

/* The rows of one syslog batch: each logged as it is read, its id kept to be marked. */
struct syslog_batch {
	int64_t ids[SYSLOG_BATCH];
	int n;
};

static int
syslog_one(const vp_store_alarm_event *ev, void *arg)
{
	struct syslog_batch *b = arg;

	if (b->n >= SYSLOG_BATCH)
		return VP_OK;
	syslog_row(ev->event, ev->payload);
	b->ids[b->n++] = ev->id;
	return VP_OK;
}

/* Every row not yet logged goes to syslog (on) or is marked as not to be (off), a batch per
 * transaction: the write lock makes each row logged by one process only. */
static vp_err
deliver_syslog(vp_store *s, int on, int *logged, vp_error *e)
{
	struct syslog_batch b;
	int any = 0;
	vp_err rc;

	/* A read first, so that the delivery thread takes the write lock only when it has
	 * something to write. */
	if ((rc = vp_store_alarm_outbox_syslog_pending(s, &any, e)) != VP_OK || !any)
		return rc;
	if (!on)
		return vp_store_alarm_outbox_syslog_skip(s, e);
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	b.n = 0;
	if ((rc = vp_store_alarm_outbox_syslog_list(s, SYSLOG_BATCH, syslog_one, &b, e)) != VP_OK)
		goto fail;
	for (int i = 0; i < b.n; i++)
		if ((rc = vp_store_alarm_outbox_syslog_done(s, b.ids[i], e)) != VP_OK)
			goto fail;
	if ((rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	*logged += b.n;
	return VP_OK;
fail:
	vp_store_rollback(s);
	return rc;
}

/* Takes the oldest due row whose alarm has no earlier row still to send (so that a clear
 * never overtakes its raise), and makes it ours until lease_until: another process skips it
 * until then. *got 0: nothing is due. */
static vp_err
claim(vp_store *s, int64_t now, int64_t lease_until, vp_store_alarm_event *r, int *got,
    vp_error *e)
{
	vp_err rc;

	*got = 0;
	if ((rc = vp_store_begin(s, e)) != VP_OK)
		return rc;
	if ((rc = vp_store_alarm_outbox_next(s, now, r, got, e)) != VP_OK)
		goto fail;
	if (*got && (rc = vp_store_alarm_outbox_lease(s, r->id, lease_until, e)) != VP_OK)
		goto fail;
	if ((rc = vp_store_commit(s, e)) != VP_OK)
		goto fail;
	return VP_OK;
fail:
	vp_store_rollback(s);
	free(r->payload);
	r->payload = NULL;
	*got = 0;
	return rc;
}

/* Seconds to wait before attempt number attempts + 1: 10 s, doubling, at most an hour. */
static int64_t
backoff(int attempts)
{
	int64_t d = BACKOFF_FIRST_S;

	for (int i = 1; i < attempts && d < BACKOFF_MAX_S; i++)
		d *= 2;
	return d < BACKOFF_MAX_S ? d : BACKOFF_MAX_S;
}

/* The outcome of an attempt, recorded (the row stays ours until then). */
static vp_err
finish(vp_store *s, const vp_store_alarm_event *r, int ok, const char *why, vp_error *e)
{
	int64_t now = (int64_t)time(NULL);

	if (ok)
		return vp_store_alarm_outbox_sent(s, r->id, e);
	return vp_store_alarm_outbox_failed(s, r->id, now + backoff(r->attempts + 1), why, e);
}

static size_t
discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* Adds the extra trusted certificates (a STACK_OF(X509)) to the store curl made from the
 * system's CAs (called after curl has set every other TLS option). */
static CURLcode
add_trust(CURL *h, void *ssl_ctx, void *arg)
{
	STACK_OF(X509) *extra = arg;
	X509_STORE *store = SSL_CTX_get_cert_store((SSL_CTX *)ssl_ctx);

	(void)h;
	for (int i = 0; store != NULL && i < sk_X509_num(extra); i++)
		X509_STORE_add_cert(store, sk_X509_value(extra, i));   /* a duplicate is fine */
	ERR_clear_error();
	return CURLE_OK;
}

/* The certificates of a PEM file; NULL (nothing added) when it cannot be read. */
static STACK_OF(X509) *
read_trust(const char *path)
{
	STACK_OF(X509) *sk = NULL;
	unsigned char *pem = NULL;
	size_t len = 0;

	if (path == NULL || vp_file_read(path, VP_FILE_MAX, &pem, &len, NULL) != VP_OK)
		return NULL;
	if (vp_chain_from_pem(pem, len, &sk, NULL) != VP_OK || sk_X509_num(sk) == 0) {
		vp_x509_stack_free(sk);
		sk = NULL;
	}
	free(pem);
	return sk;
}

/* POSTs a row's payload. 1 when the receiver answered 2xx; else 0 with why (which never
 * holds the URL: it may carry credentials). */
static int
post(CURL *h, const char *url, STACK_OF(X509) *trust, long timeout_ms,
    const vp_store_alarm_event *r, char *why, size_t n)
{
	struct curl_slist *hdr = NULL, *l;
	char h_event[64], h_id[64];
	long status = 0;
	CURLcode c = CURLE_OK;
	int ok = 0;

	snprintf(h_event, sizeof(h_event), "X-Vmspki-Event: %s", r->event);
	snprintf(h_id, sizeof(h_id), "X-Vmspki-Delivery: %" PRId64, r->id);
	if ((l = curl_slist_append(hdr, "Content-Type: application/json")) == NULL ||
	    (hdr = l, l = curl_slist_append(hdr, "Expect:")) == NULL ||
	    (hdr = l, l = curl_slist_append(hdr, h_event)) == NULL ||
	    (hdr = l, l = curl_slist_append(hdr, h_id)) == NULL) {
		snprintf(why, n, "out of memory");
		goto out;
	}
	hdr = l;
	curl_easy_reset(h);
#define SET(opt, val) if (c == CURLE_OK) c = curl_easy_setopt(h, opt, val)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_PROXY, "");
	SET(CURLOPT_NOPROXY, "*");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_TIMEOUT_MS, timeout_ms);
	SET(CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
	SET(CURLOPT_USERAGENT, "vmspki");
	SET(CURLOPT_HTTPHEADER, hdr);
	SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(r->payload));
	SET(CURLOPT_POSTFIELDS, r->payload);
	SET(CURLOPT_WRITEFUNCTION, discard);
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	if (trust != NULL) {
#if LIBCURL_VERSION_NUM >= 0x075700
		SET(CURLOPT_CA_CACHE_TIMEOUT, 0L);    /* the store gets our additions: not shared */
#endif
		SET(CURLOPT_SSL_CTX_FUNCTION, add_trust);
		SET(CURLOPT_SSL_CTX_DATA, trust);
	}
#undef SET
	if (c != CURLE_OK) {
		snprintf(why, n, "cannot set up the request: %s", curl_easy_strerror(c));
		goto out;
	}
	switch ((c = curl_easy_perform(h))) {
	case CURLE_OK:
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (status >= 200 && status < 300)
			ok = 1;
		else
			snprintf(why, n, "the webhook answered HTTP %ld", status);
		break;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(why, n, "the webhook did not answer within %ld ms", timeout_ms);
		break;
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(why, n, "the webhook's host name does not resolve");
		break;
	case CURLE_COULDNT_CONNECT:
		snprintf(why, n, "cannot connect to the webhook (nothing listens, or no route)");
		break;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(why, n, "the webhook's TLS certificate or handshake failed (it must "
		    "verify against the system's CAs or the site CA): %s", curl_easy_strerror(c));
		break;
	default:
		snprintf(why, n, "the webhook could not be reached: %s", curl_easy_strerror(c));
		break;
	}
out:
	curl_slist_free_all(hdr);
	return ok;
}

static vp_err
deliver_webhook(vp_store *s, const char *url, long timeout_ms, const char *ca_file,
    vp_alarm_delivery *out, vp_error *e)
{
	STACK_OF(X509) *trust = NULL;
	CURL *h = NULL;
	vp_store_alarm_event r;
	vp_err rc = VP_OK;
	int got = 0, ok;

	if ((rc = vp_store_alarm_outbox_webhook_due(s, (int64_t)time(NULL), &got, e)) != VP_OK ||
	    !got)
		return rc;
	if (url[0] == '\0')
		return vp_store_alarm_outbox_webhook_skip(s, "no webhook was configured "
		    "(alarm.webhook)", e);
	if (strncmp(url, "https://", 8) == 0)
		trust = read_trust(ca_file);
	pthread_once(&curl_once, curl_init);
	if ((h = curl_easy_init()) == NULL) {
		rc = vp_error_set(e, VP_ERR_NOMEM, "cannot make an HTTP client (out of memory)");
		goto out;
	}
	for (int i = 0; i < VP_ALARM_DELIVER_MAX; i++) {
		int64_t now = (int64_t)time(NULL);
		char why[sizeof(out->last_error)] = "";

		memset(&r, 0, sizeof(r));
		if ((rc = claim(s, now, now + timeout_ms / 1000 + 1 + LEASE_MARGIN_S, &r, &got,
		    e)) != VP_OK || !got)
			break;
		ok = post(h, url, trust, timeout_ms, &r, why, sizeof(why));
		rc = finish(s, &r, ok, why, e);
		free(r.payload);
		if (rc != VP_OK)
			break;
		if (ok) {
			out->delivered++;
			continue;
		}
		out->failed++;
		snprintf(out->last_error, sizeof(out->last_error), "%s", why);
		break;     /* the receiver is down or refuses: the rest waits for the next call */
	}
out:
	curl_easy_cleanup(h);
	vp_x509_stack_free(trust);
	return rc;
}

vp_err
vp_alarm_deliver_ex(vp_store *s, long timeout_ms, const char *ca_file, vp_alarm_delivery *out,
    vp_error *e)
{
	vp_alarm_delivery local;
	char url[1100], sys[16];
	vp_err rc;

	if (out == NULL)
		out = &local;
	memset(out, 0, sizeof(*out));
	if (timeout_ms == 0)
		timeout_ms = DEFAULT_TIMEOUT_MS;
	if (timeout_ms < 1 || timeout_ms > MAX_TIMEOUT_MS)
		return vp_error_set(e, VP_ERR_INVALID, "the webhook timeout is 1 to %ld ms, not %ld",
		    MAX_TIMEOUT_MS, timeout_ms);
	if ((rc = vp_setting_get(s, "alarm.webhook", url, sizeof(url), e)) != VP_OK ||
	    (rc = vp_setting_get(s, "alarm.syslog", sys, sizeof(sys), e)) != VP_OK)
		return rc;
	if ((rc = deliver_syslog(s, strcmp(sys, "on") == 0, &out->logged, e)) != VP_OK ||
	    (rc = deliver_webhook(s, url, timeout_ms, ca_file, out, e)) != VP_OK)
		return rc;
	/* What went out a month ago is of no more use (looked at when something went out). */
	if (out->delivered + out->logged == 0)
		return VP_OK;
	return vp_store_alarm_outbox_purge(s, (int64_t)time(NULL) - KEEP_DONE_S, e);
}

vp_err
vp_alarm_deliver(vp_store *s, long timeout_ms, int *delivered, vp_error *e)
{
	vp_alarm_delivery d;
	vp_err rc = vp_alarm_deliver_ex(s, timeout_ms, NULL, &d, e);

	if (delivered != NULL)
		*delivered = d.delivered;
	return rc;
}
