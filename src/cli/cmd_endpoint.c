/* `vmspki endpoint add|list|show|check|remove`: TLS servers vmspki did not install (a recording
 * server, a NAS, a proxy), watched for the certificate they serve (endpoint.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "vmspki/endpoint.h"
#include "vmspki/settings.h"
#include "vmspki/util.h"

enum { OPT_SNI = OPT_FIRST_LOCAL, OPT_PEM };

void
cli_help_endpoint(FILE *f, const char *sub)
{
	int all = sub == NULL;

	if (all)
		fputs("usage: vmspki endpoint add|list|show|check|remove ...\n\n", f);
	if (all || strcmp(sub, "add") == 0)
		fputs(
"vmspki endpoint add HOST:PORT [--sni NAME] [--json]\n"
"  Watches a TLS server vmspki did not install (a recording server, a NAS, a proxy):\n"
"  HOST is a name or an IP address ([IPv6]:PORT). It is checked at once and then every\n"
"  endpoint.interval seconds by the daemon: the chain it serves, whether it verifies\n"
"  against the site CA and names HOST (or --sni NAME, the server name sent), and its\n"
"  expiry. One that is down is added all the same, as Unreachable.\n", f);
	if (all || strcmp(sub, "list") == 0)
		fputs(
"vmspki endpoint list [--json]\n"
"  ID, Status, Address, server name, expiry and last check of every endpoint.\n", f);
	if (all || strcmp(sub, "show") == 0)
		fputs(
"vmspki endpoint show ID [--json | --pem]\n"
"  One endpoint: status and why, the certificate's subject, issuer, expiry and SHA-256\n"
"  fingerprint; --pem prints the chain it served.\n", f);
	if (all || strcmp(sub, "check") == 0)
		fputs(
"vmspki endpoint check [ID...]\n"
"  Checks the endpoints given (all of them when none is given) now, raising or clearing\n"
"  their alarms. Statuses: OK, Certificate about to expire (lifecycle.warning_days),\n"
"  Certificate has expired, Untrusted (not verified by the site CA, or another name),\n"
"  Unreachable (no connection or no TLS handshake).\n", f);
	if (all || strcmp(sub, "remove") == 0)
		fputs(
"vmspki endpoint remove ID\n"
"  Stops watching the endpoint and clears its alarms.\n", f);
}

static char *
ca_file(cli *c)
{
	return vp_strdup(cli_path(c, VP_PATH_CA_CERT));
}

static void
describe(const vp_endpoint *ep)
{
	char buf[300], t[32];

	snprintf(buf, sizeof(buf), "%" PRId64, ep->id);
	cli_field(stdout, "id:", buf);
	vp_endpoint_address(ep, buf, sizeof(buf));
	cli_field(stdout, "address:", buf);
	cli_field(stdout, "server name (SNI):", ep->sni[0] ? ep->sni : "-");
	cli_field(stdout, "status:", ep->status[0] ? ep->status : "not checked yet");
	if (ep->detail[0] != '\0')
		cli_field(stdout, "detail:", ep->detail);
	if (ep->fingerprint[0] != '\0') {
		cli_field(stdout, "verified (site CA):", ep->verified ? "yes" : "no");
		cli_field(stdout, "name matches:", ep->name_ok ? "yes" : "no");
		cli_field(stdout, "subject:", ep->subject);
		cli_field(stdout, "issuer:", ep->issuer);
		vp_time_iso(ep->not_after, t, sizeof(t));
		cli_field(stdout, "not after:", t);
		cli_field(stdout, "SHA-256:", ep->fingerprint);
	}
	if (ep->checked_at != 0) {
		vp_time_iso(ep->checked_at, t, sizeof(t));
		cli_field(stdout, "checked:", t);
	}
	vp_time_iso(ep->added_at, t, sizeof(t));
	cli_field(stdout, "added:", t);
}

/* "3  nas.site.example:443: Unreachable (cannot connect ...)" */
static void
one_line(const vp_endpoint *ep)
{
	char a[300], b[600];

	vp_endpoint_address(ep, a, sizeof(a));
	printf("endpoint %" PRId64 " %s", ep->id, cli_safe(a, b, sizeof(b)));
	if (ep->sni[0] != '\0')
		printf(" (SNI %s)", cli_safe(ep->sni, b, sizeof(b)));
	printf(": %s", ep->status);
	if (ep->detail[0] != '\0')
		printf(" (%s)", cli_safe(ep->detail, b, sizeof(b)));
	putchar('\n');
}

/* ---- add ---- */

static int
ep_add(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "sni", required_argument, NULL, OPT_SNI },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 }
	};
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_endpoint ep;
	const char *sni = NULL;
	char host[VP_ENDPOINT_HOST_MAX + 1], *caf = NULL;
	long interval = 0;
	int ch, rc, json = 0, port;

	memset(&ep, 0, sizeof(ep));
	cli_getopt_reset();
	while ((ch = cli_getopt(c, "endpoint add", argc, argv, "h", opts, &rc)) != -1) {
		if (ch == CLI_OPT_STOP)
			return rc;
		if (ch == OPT_SNI)
			sni = optarg;
		else
			json = 1;
	}
	if ((rc = cli_operands("endpoint add", argc, argv, "give the endpoint as HOST:PORT")) !=
	    CLI_OK)
		return rc;
	if (vp_endpoint_parse(argv[optind], host, sizeof(host), &port, &e) != VP_OK)
		return cli_fail_err(&e);
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if ((caf = ca_file(c)) == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	if (vp_endpoint_add(s, caf, host, port, sni, c->actor, (int64_t)time(NULL), 0, &ep, &e) !=
	    VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (json) {
		rc = cli_json_print(vp_json_endpoint(&ep, 0));
		goto out;
	}
	(void)vp_setting_get_int(s, "endpoint.interval", &interval, &e);
	printf("added endpoint %" PRId64 ":\n", ep.id);
	describe(&ep);
	if (strcmp(ep.status, VP_EP_UNREACHABLE) == 0)
		printf("It is down now; it is watched all the same and checked again every %ld s "
		    "while the daemon runs (`vmspki endpoint check %" PRId64 "` checks it now).\n",
		    interval, ep.id);
	rc = cli_flush();
out:
	vp_endpoint_clear(&ep);
	free(caf);
	vp_store_close(s);
	return rc;
}

/* ---- list, show ---- */

static vp_err
fetch_json(vp_store *s, void *arg, json_t *array, vp_error *e)
{
	(void)arg;
	return vp_endpoint_list_json(s, array, e);
}

static int
print_row(const vp_endpoint *ep, void *arg)
{
	char a[300], b[3][300], na[32], ck[32];

	(*(size_t *)arg)++;
	vp_endpoint_address(ep, a, sizeof(a));
	vp_time_iso(ep->not_after, na, sizeof(na));
	vp_time_iso(ep->checked_at, ck, sizeof(ck));
	printf("%-5" PRId64 " %-28s %-30s %-24s %-21s %s\n", ep->id,
	    ep->status[0] ? ep->status : "not checked yet", cli_safe(a, b[0], sizeof(b[0])),
	    cli_safe(ep->sni, b[1], sizeof(b[1])), ep->not_after != 0 ? na : "-",
	    ep->checked_at != 0 ? ck : "-");
	return 0;
}

static int
ep_list(cli *c, int argc, char **argv)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	size_t n = 0;
	int rc, json = 0;

	if (!cli_getopt_simple(c, "endpoint list", argc, argv, &json, &rc))
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (json) {
		rc = cli_list_json(s, fetch_json, NULL);
		goto out;
	}
	printf("%-5s %-28s %-30s %-24s %-21s %s\n", "ID", "Status", "Address", "Server name",
	    "Expires", "Checked");
	if (vp_endpoint_list(s, print_row, &n, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (n == 0)
		printf("(none: `vmspki endpoint add HOST:PORT` watches one)\n");
	rc = cli_flush();
out:
	vp_store_close(s);
	return rc;
}

static int
ep_show(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "pem", no_argument, NULL, OPT_PEM },
		{ NULL, 0, NULL, 0 }
	};
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_endpoint ep;
	int64_t id = 0;
	int ch, rc, json = 0, pem = 0;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "endpoint show", argc, argv, "h", opts, &rc)) != -1) {
		if (ch == CLI_OPT_STOP)
			return rc;
		if (ch == OPT_PEM)
			pem = 1;
		else
			json = 1;
	}
	if (json && pem)
		return cli_usage("endpoint show", "give --json or --pem, not both");
	if ((rc = cli_operands("endpoint show", argc, argv, "give the endpoint's id")) != CLI_OK ||
	    (rc = cli_parse_id("endpoint show", "an endpoint", "endpoint list", argv[optind], &id)) != CLI_OK)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_endpoint_get(s, id, &ep, &e) != VP_OK) {
		rc = cli_fail_err(&e);
	} else if (json) {
		rc = cli_json_print(vp_json_endpoint(&ep, 1));
	} else if (pem) {
		if (ep.chain_pem == NULL)
			rc = cli_fail("endpoint %" PRId64 " has served no certificate yet", id);
		else {
			fputs(ep.chain_pem, stdout);
			rc = cli_flush();
		}
	} else {
		describe(&ep);
		rc = cli_flush();
	}
	vp_endpoint_clear(&ep);
	vp_store_close(s);
	return rc;
}

/* ---- check, remove ---- */

struct ids {
	int64_t *v;
	size_t n, cap;
};

static int
push_id(struct ids *ids, int64_t id)
{
	if (ids->n == ids->cap) {
		size_t cap = ids->cap == 0 ? 16 : ids->cap * 2;
		int64_t *v = cap <= SIZE_MAX / sizeof(*v) ? realloc(ids->v, cap * sizeof(*v)) :
		    NULL;

		if (v == NULL)
			return VP_ERR_NOMEM;
		ids->v = v;
		ids->cap = cap;
	}
	ids->v[ids->n++] = id;
	return 0;
}

static int
collect_id(const vp_endpoint *ep, void *arg)
{
	return push_id(arg, ep->id);
}

static int
ep_check(cli *c, int argc, char **argv)
{
	static const struct option opts[] = { CLI_OPTS_COMMON, { NULL, 0, NULL, 0 } };
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_endpoint ep;
	struct ids ids = { 0 };
	char *caf = NULL;
	int ch, rc, failed = 0;
	vp_err r;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "endpoint check", argc, argv, "h", opts, &rc)) != -1)
		if (ch == CLI_OPT_STOP)
			return rc;
	for (int i = optind; i < argc; i++) {
		int64_t id = 0;

		if ((rc = cli_parse_id("endpoint check", "an endpoint", "endpoint list", argv[i], &id)) != CLI_OK)
			goto out;
		if (push_id(&ids, id) != 0) {
			rc = cli_fail("out of memory");
			goto out;
		}
	}
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		goto out;
	if ((caf = ca_file(c)) == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	if (optind >= argc && (r = vp_endpoint_list(s, collect_id, &ids, &e)) != VP_OK) {
		rc = r == VP_ERR_NOMEM ? cli_fail("out of memory") : cli_fail_err(&e);
		goto out;
	}
	if (ids.n == 0)
		printf("no endpoints: `vmspki endpoint add HOST:PORT` watches one\n");
	for (size_t i = 0; i < ids.n; i++) {
		if (vp_endpoint_check(s, caf, ids.v[i], (int64_t)time(NULL), 0, &ep, &e) != VP_OK) {
			fflush(stdout);
			cli_fail_err(&e);
			failed++;
			continue;
		}
		one_line(&ep);
		vp_endpoint_clear(&ep);
	}
	rc = cli_flush();
	if (rc == CLI_OK && failed > 0)
		rc = CLI_REFUSED;
out:
	free(ids.v);
	free(caf);
	vp_store_close(s);
	return rc;
}

static int
ep_remove(cli *c, int argc, char **argv)
{
	static const struct option opts[] = { CLI_OPTS_COMMON, { NULL, 0, NULL, 0 } };
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_endpoint ep;
	int64_t id = 0;
	int ch, rc;

	memset(&ep, 0, sizeof(ep));
	cli_getopt_reset();
	while ((ch = cli_getopt(c, "endpoint remove", argc, argv, "h", opts, &rc)) != -1)
		if (ch == CLI_OPT_STOP)
			return rc;
	if ((rc = cli_operands("endpoint remove", argc, argv, "give the endpoint's id")) !=
	    CLI_OK || (rc = cli_parse_id("endpoint remove", "an endpoint", "endpoint list", argv[optind], &id)) != CLI_OK)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_endpoint_get(s, id, &ep, &e) != VP_OK ||
	    vp_endpoint_remove(s, id, c->actor, &e) != VP_OK) {
		rc = cli_fail_err(&e);
	} else {
		char a[300], b[600];

		vp_endpoint_address(&ep, a, sizeof(a));
		printf("removed endpoint %" PRId64 " (%s)\n", id, cli_safe(a, b, sizeof(b)));
		rc = cli_flush();
	}
	vp_endpoint_clear(&ep);
	vp_store_close(s);
	return rc;
}

int
cmd_endpoint(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "add", ep_add },
		{ "list", ep_list },
		{ "show", ep_show },
		{ "check", ep_check },
		{ "remove", ep_remove },
	};

	return cli_group(c, "endpoint", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
