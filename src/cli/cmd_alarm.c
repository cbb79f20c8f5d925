/* `vmspki alarm list [--all] [--json] | alarm ack ID`: the site's alarms (alarm.h) and their
 * acknowledgement by an operator (an audit row). */
#include <inttypes.h>
#include <string.h>

#include "cli.h"
#include "vmspki/alarm.h"

enum { OPT_ALL = OPT_FIRST_LOCAL };

void
cli_help_alarm(FILE *f, const char *sub)
{
	int all = sub == NULL;

	if (all)
		fputs("usage: vmspki alarm list|ack ...\n\n", f);
	if (all || strcmp(sub, "list") == 0)
		fputs(
"vmspki alarm list [--all] [--json]\n"
"  The alarms raised now (with --all: cleared ones too), newest first: id, kind,\n"
"  subject, severity, state, when raised, who acknowledged it, and why. Each alarm\n"
"  raised or cleared also goes to the webhook (setting alarm.webhook) and to syslog\n"
"  (setting alarm.syslog).\n", f);
	if (all || strcmp(sub, "ack") == 0)
		fputs(
"vmspki alarm ack ID\n"
"  Acknowledges alarm ID (an audit row says who). The alarm stays raised until its\n"
"  condition ends; acknowledging it again changes nothing.\n", f);
}

static int
print_alarm(const vp_alarm *a, void *arg)
{
	char at[32];

	(void)arg;
	vp_time_iso(a->raised_at, at, sizeof(at));
	printf("%-5" PRId64 " %-20s ", a->id, a->kind);
	cli_puts_safe(stdout, a->subject);
	printf("%*s %-8s %-7s %-20s ", (int)(strlen(a->subject) < 20 ? 20 - strlen(a->subject) :
	    0), "", vp_alarm_severity_name(a->severity), a->state, at);
	if (a->acked_at != 0) {
		cli_puts_safe(stdout, a->acked_by);
		printf("%*s ", (int)(strlen(a->acked_by) < 16 ? 16 - strlen(a->acked_by) : 0), "");
	} else {
		printf("%-16s ", "-");
	}
	cli_puts_safe(stdout, a->message);
	putchar('\n');
	return 0;
}

/* arg: the --all flag. */
static vp_err
fetch_alarms(vp_store *s, void *arg, json_t *array, vp_error *e)
{
	return vp_alarm_list_json(s, !*(const int *)arg, array, e);
}

static int
alarm_list(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "all", no_argument, NULL, OPT_ALL },
		{ NULL, 0, NULL, 0 }
	};
	vp_error e = { 0 };
	vp_store *s = NULL;
	int ch, rc, json = 0, all = 0;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "alarm list", argc, argv, "h", opts, &rc)) != -1) {
		if (ch == CLI_OPT_STOP)
			return rc;
		if (ch == OPT_JSON)
			json = 1;
		else if (ch == OPT_ALL)
			all = 1;
	}
	if ((rc = cli_operands("alarm list", argc, argv, NULL)) != CLI_OK)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (json) {
		rc = cli_list_json(s, fetch_alarms, &all);
		goto out;
	}
	printf("%-5s %-20s %-20s %-8s %-7s %-20s %-16s %s\n", "ID", "Kind", "Subject", "Severity",
	    "State", "Raised", "Acknowledged", "Message");
	if (vp_alarm_list(s, !all, print_alarm, NULL, &e) != VP_OK)
		rc = cli_fail_err(&e);
	else
		rc = cli_flush();
out:
	vp_store_close(s);
	return rc;
}

static int
alarm_ack(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ NULL, 0, NULL, 0 }
	};
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_alarm a;
	char at[32];
	long id;
	int ch, rc;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "alarm ack", argc, argv, "h", opts, &rc)) != -1)
		if (ch == CLI_OPT_STOP)
			return rc;
	if ((rc = cli_operands("alarm ack", argc, argv, "give the alarm's id (vmspki alarm "
	    "list)")) != CLI_OK)
		return rc;
	if ((rc = cli_parse_int("the alarm id", argv[optind], 1, INT32_MAX, &id)) != CLI_OK)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_alarm_get(s, id, &a, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (a.acked_at != 0) {
		vp_time_iso(a.acked_at, at, sizeof(at));
		printf("alarm %ld was acknowledged already, by ", id);
		cli_puts_safe(stdout, a.acked_by);
		printf(" at %s\n", at);
		rc = cli_flush();
		goto out;
	}
	if (vp_alarm_ack(s, id, c->actor, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	printf("alarm %ld acknowledged (%s ", id, a.kind);
	cli_puts_safe(stdout, a.subject);
	printf(")\n");
	rc = cli_flush();
out:
	vp_store_close(s);
	return rc;
}

int
cmd_alarm(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "list", alarm_list },
		{ "ack", alarm_ack },
	};

	return cli_group(c, "alarm", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
