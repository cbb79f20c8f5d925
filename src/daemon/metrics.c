/* Prometheus metrics of the daemon: certificates issued (by profile), issuance latency
 * histogram, HTTP responses by status, failed authentications. Counters are atomics updated
 * by every worker; the text is rendered on demand for GET /metrics. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "vmspki/profile.h"

/* Upper bounds of the latency buckets, in seconds (the last bucket is +Inf). */
static const double bounds[VPD_HIST_BUCKETS] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10
};

static int
profile_index(const char *name)
{
	const vp_profile *p = vp_profile_all();

	for (int i = 0; p[i].name != NULL && i < 16; i++)
		if (strcmp(p[i].name, name) == 0)
			return i;
	return -1;
}

void
vpd_metrics_issued(vpd_metrics *m, const char *profile, double seconds)
{
	int i = profile_index(profile), b;

	if (i >= 0)
		atomic_fetch_add(&m->issued[i], 1);
	for (b = 0; b < VPD_HIST_BUCKETS && seconds > bounds[b]; b++)
		;
	atomic_fetch_add(&m->hist[b], 1);
	atomic_fetch_add(&m->hist_sum_us, (uint64_t)(seconds * 1e6));
	atomic_fetch_add(&m->hist_count, 1);
}

void
vpd_metrics_status(vpd_metrics *m, int code)
{
	if (code >= 100 && code < 600)
		atomic_fetch_add(&m->codes[code], 1);
}

/* A growing text buffer for the rendering. */
typedef struct tbuf {
	char *p;
	size_t len, cap;
	int oom;
} tbuf;

static void
tprintf(tbuf *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
tprintf(tbuf *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (t->oom)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->oom = 1;
			return;
		}
		if ((size_t)n < t->cap - t->len) {
			t->len += (size_t)n;
			return;
		}
		{
			size_t ncap = t->cap * 2 + (size_t)n + 1;
			char *np = realloc(t->p, ncap);

			if (np == NULL) {
				t->oom = 1;
				return;
			}
			t->p = np;
			t->cap = ncap;
		}
	}
}

char *
vpd_metrics_render(const vpd_metrics *m, int64_t expiring_30d, int64_t server_not_after,
    size_t *len)
{
	const vp_profile *p = vp_profile_all();
	tbuf t = { .cap = 4096 };
	uint64_t cum = 0;
	int b, i;

	if ((t.p = malloc(t.cap)) == NULL)
		return NULL;
	t.p[0] = '\0';
	tprintf(&t, "# HELP vmspki_certificates_issued_total Certificates issued through the API "
	    "since the daemon started.\n# TYPE vmspki_certificates_issued_total counter\n");
	for (i = 0; p[i].name != NULL && i < 16; i++)
		tprintf(&t, "vmspki_certificates_issued_total{profile=\"%s\"} %llu\n", p[i].name,
		    (unsigned long long)atomic_load(&m->issued[i]));
	tprintf(&t, "# HELP vmspki_issue_duration_seconds Time from an issuance request's arrival "
	    "to its reply, the commit included.\n# TYPE vmspki_issue_duration_seconds histogram\n");
	for (b = 0; b < VPD_HIST_BUCKETS; b++) {
		cum += atomic_load(&m->hist[b]);
		tprintf(&t, "vmspki_issue_duration_seconds_bucket{le=\"%g\"} %llu\n", bounds[b],
		    (unsigned long long)cum);
	}
	cum += atomic_load(&m->hist[VPD_HIST_BUCKETS]);
	tprintf(&t, "vmspki_issue_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)cum);
	tprintf(&t, "vmspki_issue_duration_seconds_sum %.6f\n",
	    (double)atomic_load(&m->hist_sum_us) / 1e6);
	tprintf(&t, "vmspki_issue_duration_seconds_count %llu\n",
	    (unsigned long long)atomic_load(&m->hist_count));
	tprintf(&t, "# HELP vmspki_certificates_expiring_30d Recorded certificates whose notAfter "
	    "is within the next 30 days (not yet expired).\n"
	    "# TYPE vmspki_certificates_expiring_30d gauge\n"
	    "vmspki_certificates_expiring_30d %lld\n", (long long)expiring_30d);
	tprintf(&t, "# HELP vmspki_http_requests_total HTTP responses sent, by status code.\n"
	    "# TYPE vmspki_http_requests_total counter\n");
	for (i = 100; i < 600; i++) {
		uint64_t v = atomic_load(&m->codes[i]);

		if (v > 0)
			tprintf(&t, "vmspki_http_requests_total{code=\"%d\"} %llu\n", i,
			    (unsigned long long)v);
	}
	tprintf(&t, "# HELP vmspki_auth_failures_total Requests refused for a wrong token or "
	    "client certificate.\n# TYPE vmspki_auth_failures_total counter\n"
	    "vmspki_auth_failures_total %llu\n",
	    (unsigned long long)atomic_load(&m->auth_failures));
	tprintf(&t, "# HELP vmspki_server_certificate_not_after_seconds When the HTTPS certificate "
	    "in use expires (Unix time).\n"
	    "# TYPE vmspki_server_certificate_not_after_seconds gauge\n"
	    "vmspki_server_certificate_not_after_seconds %lld\n", (long long)server_not_after);
	if (t.oom) {
		free(t.p);
		return NULL;
	}
	*len = t.len;
	return t.p;
}
