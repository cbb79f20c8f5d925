/* `vmspki lifecycle run`: the nightly job now (lifecycle.h). Device renewals it starts are run
 * by the daemon when one serves the data directory, else here, to their end. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vmspki/alarm.h"
#include "vmspki/device.h"
#include "vmspki/engine.h"
#include "vmspki/lifecycle.h"
#include "vmspki/passphrase.h"
#include "vmspki/task.h"
#include "vmspki/util.h"

void
cli_help_lifecycle(FILE *f, const char *sub)
{
	(void)sub;
	fputs(
"vmspki lifecycle run [--json] [--passphrase-file F]\n"
"  The nightly job, now: alarms for the CA, the API server certificate and component\n"
"  certificates about to expire (settings lifecycle.warning_days) or expired; renewal of\n"
"  the server and component certificates that are due; one https-update task over the\n"
"  devices whose certificate ends within lifecycle.renew_days (default: the warning + 7)\n"
"  and are in no other task; a check of the monitored endpoints that are due. The renewal\n"
"  task is run to its end (by the daemon if one runs, else here). Running it again renews\n"
"  nothing twice. A certificate a renewal would not extend (it ends with the CA already)\n"
"  is left alone and the CA gets one alarm (ca-limits-renewal). Issued certificates with\n"
"  an owner (issue --owner) or --watch get expiry alarms. Exit 1 if a part failed or a\n"
"  device could not be renewed.\n", f);
}

static int
lc_run(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	vp_lifecycle_report r;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	vp_sitekey *k = NULL;
	const char *passfile = NULL;
	char *pass = NULL;
	int ch, rc, json = 0;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "lifecycle run", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		}
	}
	if ((rc = cli_operands("lifecycle run", argc, argv, NULL)) != CLI_OK)
		return rc;
	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		return rc;
	vp_ca_free(ca);
	ca = NULL;
	if (vp_passphrase_get(c->datadir, passfile, "CA key passphrase: ", &pass, &e) != VP_OK ||
	    vp_ca_load(s, pass, &ca, &e) != VP_OK || vp_sitekey_open(s, pass, &k, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (vp_lifecycle_run(s, ca, c->datadir, 0, c->actor, cli_log_stderr, NULL, &r, &e) !=
	    VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	rc = CLI_OK;
	if (r.renewal_task != 0)
		rc = cli_task_follow(c, s, r.renewal_task, ca, k, json ? 2 : 0);
	/* The 802.1X renewals (dot1x.h) likewise. */
	for (int i = 0; i < r.ndot1x_tasks; i++)
		if (cli_task_follow(c, s, r.dot1x_tasks[i], ca, k, json ? 2 : 0) != CLI_OK)
			rc = CLI_REFUSED;
	/* The check says what it found in each device's state (`device list`); a camera that
	 * is down is not a failure of this command. */
	if (r.check_task != 0)
		(void)cli_task_follow(c, s, r.check_task, ca, k, 2);
	/* With no daemon to deliver them, this command hands the alarms to the webhook and
	 * syslog (a receiver that does not answer costs at most a few seconds). */
	if (!vp_engine_other_alive(s)) {
		vp_alarm_delivery dl;
		const char *cafile = cli_path(c, VP_PATH_CA_CERT);

		memset(&dl, 0, sizeof(dl));
		if (vp_alarm_deliver_ex(s, 3000, cafile, &dl, &e) != VP_OK)
			fprintf(stderr, "vmspki: alarms not delivered yet: %s\n", e.msg);
		else if (dl.failed > 0)
			fprintf(stderr, "vmspki: the webhook did not take the alarms yet (%s); they "
			    "are sent again later\n", dl.last_error);
	}
	if (json) {
		json_t *o = json_pack("{s:i,s:i,s:I,s:i,s:i,s:b,s:i,s:i,s:i,s:i}", "warning_days",
		    r.warn_days, "renew_days", r.renew_days, "renewal_task",
		    (json_int_t)r.renewal_task, "devices_due", r.devices_due, "devices_busy",
		    r.devices_busy, "server_renewed", r.server_renewed, "components_renewed",
		    r.components_renewed, "endpoints_checked", r.endpoints_checked,
		    "alarms_raised", r.alarms_raised, "alarms_cleared", r.alarms_cleared);
		vp_task t;

		if (o != NULL && (json_object_set_new(o, "devices_blocked",
		    json_integer(r.devices_blocked)) != 0 || json_object_set_new(o,
		    "certificates_watched", json_integer(r.certs_watched)) != 0)) {
			json_decref(o);
			o = NULL;
		}
		if (o != NULL && r.renewal_task != 0 && vp_task_get(s, r.renewal_task, &t, &e) ==
		    VP_OK)
			json_object_set_new(o, "renewal_state", json_string(t.state));
		if (o != NULL && r.check_task != 0 && vp_task_get(s, r.check_task, &t, &e) ==
		    VP_OK) {
			json_object_set_new(o, "check_task", json_integer(r.check_task));
			json_object_set_new(o, "check_state", json_string(t.state));
		}
		int jr = cli_json_print(o);

		if (rc == CLI_OK)
			rc = jr;
	} else {
		printf("lifecycle: %d device%s due for renewal (%d already in a task)%s; server "
		    "certificate %s; %d component certificate%s renewed; %d endpoint%s checked; "
		    "%d alarm%s raised, %d cleared\n", r.devices_due, r.devices_due == 1 ? "" : "s",
		    r.devices_busy, r.renewal_task ? ", renewed by a task" : "",
		    r.server_renewed ? "renewed" : "kept", r.components_renewed,
		    r.components_renewed == 1 ? "" : "s", r.endpoints_checked,
		    r.endpoints_checked == 1 ? "" : "s", r.alarms_raised,
		    r.alarms_raised == 1 ? "" : "s", r.alarms_cleared);
		if (cli_flush() != CLI_OK)
			rc = CLI_REFUSED;
	}
out:
	vp_secret_free_str(pass);
	vp_sitekey_free(k);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

int
cmd_lifecycle(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "run", lc_run },
	};

	return cli_group(c, "lifecycle", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
