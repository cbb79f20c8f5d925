/* Prometheus metrics of the daemon: certificates issued (by profile), issuance latency
 * histogram, HTTP responses by status, failed authentications. Counters are atomics updated
 * by every worker; the text is rendered on demand for GET /metrics. */
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

int
vpd_metrics_render(const vpd_metrics *m, int64_t expiring_30d, int64_t server_not_after,
    vp_buf *t)
{
	const vp_profile *p = vp_profile_all();
	uint64_t cum = 0;
	int b, i;

	/* refusals show in vp_buf_failed, checked once at the end */
	vp_buf_printf(t, NULL, "# HELP vmspki_certificates_issued_total Certificates issued "
	    "through the API since the daemon started.\n"
	    "# TYPE vmspki_certificates_issued_total counter\n");
	for (i = 0; p[i].name != NULL && i < 16; i++)
		vp_buf_printf(t, NULL, "vmspki_certificates_issued_total{profile=\"%s\"} %llu\n",
		    p[i].name, (unsigned long long)atomic_load(&m->issued[i]));
	vp_buf_printf(t, NULL, "# HELP vmspki_issue_duration_seconds Time from an issuance "
	    "request's arrival to its reply, the commit included.\n"
	    "# TYPE vmspki_issue_duration_seconds histogram\n");
	for (b = 0; b < VPD_HIST_BUCKETS; b++) {
		cum += atomic_load(&m->hist[b]);
		vp_buf_printf(t, NULL, "vmspki_issue_duration_seconds_bucket{le=\"%g\"} %llu\n",
		    bounds[b], (unsigned long long)cum);
	}
	cum += atomic_load(&m->hist[VPD_HIST_BUCKETS]);
	vp_buf_printf(t, NULL, "vmspki_issue_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)cum);
	vp_buf_printf(t, NULL, "vmspki_issue_duration_seconds_sum %.6f\n",
	    (double)atomic_load(&m->hist_sum_us) / 1e6);
	vp_buf_printf(t, NULL, "vmspki_issue_duration_seconds_count %llu\n",
	    (unsigned long long)atomic_load(&m->hist_count));
	vp_buf_printf(t, NULL, "# HELP vmspki_certificates_expiring_30d Recorded certificates "
	    "whose notAfter is within the next 30 days (not yet expired).\n"
	    "# TYPE vmspki_certificates_expiring_30d gauge\n"
	    "vmspki_certificates_expiring_30d %lld\n", (long long)expiring_30d);
	vp_buf_printf(t, NULL, "# HELP vmspki_http_requests_total HTTP responses sent, by status "
	    "code.\n# TYPE vmspki_http_requests_total counter\n");
	for (i = 100; i < 600; i++) {
		uint64_t v = atomic_load(&m->codes[i]);

		if (v > 0)
			vp_buf_printf(t, NULL, "vmspki_http_requests_total{code=\"%d\"} %llu\n", i,
			    (unsigned long long)v);
	}
	vp_buf_printf(t, NULL, "# HELP vmspki_auth_failures_total Requests refused for a wrong "
	    "token or client certificate.\n# TYPE vmspki_auth_failures_total counter\n"
	    "vmspki_auth_failures_total %llu\n",
	    (unsigned long long)atomic_load(&m->auth_failures));
	vp_buf_printf(t, NULL, "# HELP vmspki_server_certificate_not_after_seconds When the HTTPS "
	    "certificate in use expires (Unix time).\n"
	    "# TYPE vmspki_server_certificate_not_after_seconds gauge\n"
	    "vmspki_server_certificate_not_after_seconds %lld\n", (long long)server_not_after);
	return vp_buf_failed(t) ? -1 : 0;
}
