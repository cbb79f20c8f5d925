/* The task engine's IEEE 802.1X step: what an 802.1X task (VP_TASK_DOT1X_*) does instead of
 * binding and verifying HTTPS. Read the device's 802.1X (what to put back), configure ours and
 * switch it on, read it again; a failure once the change went out puts the old back at once. */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "engine_internal.h"
#include "vmspki/dot1x.h"

vp_err
eng_dot1x_task_setup(engine *g, etask *t, vp_error *e)
{
	char *pem = NULL;
	BIO *b;
	X509 *x;
	vp_err rc;

	if ((rc = vp_dot1x_eap_ca(g->s, &pem, e)) != VP_OK)
		return rc;
	free(t->eap_pem);
	t->eap_pem = NULL;
	if (pem == NULL)
		return VP_OK;                 /* the site CA */
	b = BIO_new_mem_buf(pem, -1);
	x = b != NULL ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
	BIO_free(b);
	if (x == NULL || vp_x509_fingerprint(x, "SHA256", t->eap_fp, sizeof(t->eap_fp), e) !=
	    VP_OK) {
		X509_free(x);
		free(pem);
		return vp_error_set(e, VP_ERR_INVALID, "the stored 802.1X EAP CA cannot be read: "
		    "set it again with vmspki dot1x enable --eap-ca FILE");
	}
	X509_free(x);
	snprintf(t->eap_alias, sizeof(t->eap_alias), EAPCA_ALIAS_PREFIX "%.16s", t->eap_fp);
	t->eap_pem = pem;
	return VP_OK;
}

void
eng_dot1x_task_free(etask *t)
{
	free(t->eap_pem);
	t->eap_pem = NULL;
}

const char *
eng_job_ca_alias(const engine *g, const job *j)
{
	return j->task->dot1x && j->task->eap_pem != NULL ? j->task->eap_alias : g->ca_alias;
}

const char *
eng_job_ca_pem(const engine *g, const job *j)
{
	return j->task->dot1x && j->task->eap_pem != NULL ? j->task->eap_pem : g->ca_pem;
}

const char *
eng_job_ca_fp(const engine *g, const job *j)
{
	return j->task->dot1x && j->task->eap_pem != NULL ? j->task->eap_fp : g->ca_fp;
}

/* The identity (the certificate's CN and the EAP identity) by the task's mode: "mac" the MAC
 * as aa:bb:cc:dd:ee:ff (Axis serial numbers are the MAC), "serial" the serial number as the
 * device says it, "name" the device's name, else its address. */
void
eng_dot1x_identified(job *j)
{
	const char *mode = j->task->t.cn_mode, *m = j->dev.mac;
	size_t n = strlen(m), i, o = 0;
	int hex = n == 12;

	for (i = 0; hex && i < n; i++)
		hex = isxdigit((unsigned char)m[i]) != 0;
	if (strcmp(mode, "name") == 0)
		snprintf(j->cn, sizeof(j->cn), "%s", j->dev.name[0] != '\0' ? j->dev.name :
		    j->dev.address);
	else if (strcmp(mode, "serial") == 0 || !hex)
		snprintf(j->cn, sizeof(j->cn), "%s", m);
	else
		for (i = 0; i < n && o + 3 < sizeof(j->cn); i += 2) {
			if (i > 0)
				j->cn[o++] = ':';
			j->cn[o++] = (char)tolower((unsigned char)m[i]);
			j->cn[o++] = (char)tolower((unsigned char)m[i + 1]);
			j->cn[o] = '\0';
		}
	snprintf(j->subject, sizeof(j->subject), "CN=%s", j->cn);
	for (int k = 0; k < j->nsans; k++) {
		free(j->sans[k]);
		j->sans[k] = NULL;
	}
	j->nsans = 0;
}

vp_err
eng_dot1x_step_start(engine *g, job *j, vp_dop_args *a, vp_dop_kind *kind, vp_error *e)
{
	static __thread vp_dot1x_conf c;

	(void)e;
	memset(&c, 0, sizeof(c));
	a->dot1x = &c;
	if (j->rollback) {
		/* Read what the change left (was ours made?), put the old back, then remove
		 * ours if it was not there before. */
		if (j->sub == 1) {
			if (j->d1x_ours_existed && j->d1x_old_found &&
			    strcmp(j->d1x_old.token, DOT1X_TOKEN) == 0) {
				c = j->d1x_old;
			} else {
				c.enabled = j->d1x_old.enabled;
				snprintf(c.token, sizeof(c.token), "%s", j->d1x_old.token);
			}
			*kind = VP_DOP_DOT1X_SET;
		} else {
			snprintf(c.token, sizeof(c.token), "%s", DOT1X_TOKEN);
			*kind = j->sub == 0 ? VP_DOP_DOT1X_GET : VP_DOP_DOT1X_DELETE;
		}
		return VP_OK;
	}
	snprintf(c.token, sizeof(c.token), "%s", DOT1X_TOKEN);
	if (j->sub == 1) {
		/* Once the request is out the device may have changed, answer or not. */
		j->rebound = 1;
		snprintf(c.identity, sizeof(c.identity), "%.253s", j->cn);
		snprintf(c.ca_alias, sizeof(c.ca_alias), "%s", eng_job_ca_alias(g, j));
		snprintf(c.cert_alias, sizeof(c.cert_alias), "%s", j->alias);
		c.enabled = 1;
		a->dot1x_create = !j->d1x_ours_now;
		*kind = VP_DOP_DOT1X_SET;
		return VP_OK;
	}
	*kind = VP_DOP_DOT1X_GET;         /* sub 0: before; sub 2: after */
	return VP_OK;
}

void
eng_dot1x_done(engine *g, job *j, const vp_dop_result *r)
{
	(void)g;
	if (j->rollback) {
		if (j->sub == 0) {
			j->d1x_ours_now = r->dot1x_asked_exists;
			j->sub = 1;
		} else if (j->sub == 1 && !j->d1x_ours_existed && j->d1x_ours_now) {
			j->sub = 2;                /* remove ours, which was not there */
		} else {
			j->rollback = 2;           /* put back: the loop ends the job */
		}
		return;
	}
	switch (j->sub) {
	case 0:
		/* The first read of this job is what the device had before it (a retry sees
		 * the same: nothing was changed before a retry, see eng_job_decide). */
		if (!j->d1x_have_old) {
			j->d1x_old = r->dot1x;
			j->d1x_old_found = r->dot1x_found;
			j->d1x_ours_existed = r->dot1x_asked_exists;
			j->d1x_have_old = 1;
		}
		j->d1x_ours_now = r->dot1x_asked_exists;
		j->sub = 1;
		break;
	case 1:
		j->sub = 2;                    /* read it back */
		break;
	default:
		if (!r->dot1x.enabled || strcmp(r->dot1x.token, DOT1X_TOKEN) != 0 ||
		    !r->dot1x_found) {
			snprintf(j->error, sizeof(j->error), "the device accepted the 802.1X "
			    "configuration but does not use it (802.1X %s, configuration \"%.64s\")",
			    r->dot1x.enabled ? "on" : "off", r->dot1x.token);
			j->fail = VP_DEVF_PROTOCOL;
			j->retryable = 1;
			return;
		}
		if (strcmp(r->dot1x.cert_alias, j->alias) != 0 ||
		    strcmp(r->dot1x.identity, j->cn) != 0) {
			snprintf(j->error, sizeof(j->error), "the device's 802.1X configuration is "
			    "not the one sent (its certificate %.128s, identity %.200s)",
			    r->dot1x.cert_alias, r->dot1x.identity);
			j->fail = VP_DEVF_PROTOCOL;
			j->retryable = 1;
			return;
		}
		j->rebound = 0;                /* configured and on: nothing to roll back */
		eng_job_set_step(j, ST_CLEANUP);
		break;
	}
}
