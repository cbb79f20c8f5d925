/* `vmspki component add|list|renew|remove|nats-config`: the certificates of the site's
 * internal components (a NATS broker and its clients), their files under
 * DIR/components/certificates, and the broker's TLS and authorization configuration. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "vmspki/component.h"
#include "vmspki/util.h"

enum { OPT_SERVER = OPT_FIRST_LOCAL, OPT_CLIENT, OPT_ALL, OPT_FORCE, OPT_OUT };

void
cli_help_component(FILE *f, const char *sub)
{
	int all = sub == NULL;

	if (all)
		fputs("usage: vmspki component add|list|renew|remove|nats-config ...\n\n", f);
	if (all || strcmp(sub, "add") == 0)
		fputs(
"vmspki component add ID [--server] [--client] [--json] [--passphrase-file F]\n"
"  Issues the component's server certificate (CN ID; SAN the host's names, localhost,\n"
"  every interface address, 127.0.0.1, ::1; serverAuth) and/or client certificate (CN ID;\n"
"  SAN email ID.component@natsbroker.localhost; clientAuth), RSA 2048, 10 years at most,\n"
"  into DIR/components/certificates/ID.{server,client}.{cert,key}.pem (keys 0600,\n"
"  unencrypted). Neither flag: both. ID: 1-64 of a-z 0-9 . _ -, not starting with . or -.\n", f);
	if (all || strcmp(sub, "list") == 0)
		fputs(
"vmspki component list [--json]\n"
"  Every component, its certificates' serials, expiry and status (OK, Certificate about\n"
"  to expire, Certificate has expired, Issued by another CA, Missing).\n", f);
	if (all || strcmp(sub, "renew") == 0)
		fputs(
"vmspki component renew [--all | ID...] [--force] [--json] [--passphrase-file F]\n"
"  Renews each certificate that is missing, does not match its key, was issued by another\n"
"  CA, expires within the renewal window (setting component.renew_days; its default, 0,\n"
"  follows lifecycle.renew_days: 37 days, the warning plus 7) unless it already ends with\n"
"  the CA, or (server) does not name every current address; --force renews them all.\n"
"  Then runs the \"reload\" command of each renewed component from\n"
"  DIR/components.json (sh -c, 30 s at most, output to stderr). No ID: every component.\n",
    f);
	if (all || strcmp(sub, "remove") == 0)
		fputs(
"vmspki component remove ID\n"
"  Deletes the component's files and forgets it (its certificates stay recorded).\n", f);
	if (all || strcmp(sub, "nats-config") == 0)
		fputs(
"vmspki component nats-config ID [--out F]\n"
"  A nats-server configuration for the broker ID (it needs a server certificate): a tls\n"
"  block with verify_and_map, and an authorization block with one user per component\n"
"  client certificate, allowed the subjects DIR/components.json gives it (none: nothing).\n"
"  Include it from the broker's main configuration, which sets listen/port. --out writes\n"
"  the file atomically, mode 0600.\n"
"\n"
"DIR/components.json (optional):\n"
"  {\"components\": {\"ID\": {\"publish\": [\"subject.>\", ...], \"subscribe\": [...],\n"
"                         \"reload\": \"shell command run after renewal\"}}}\n", f);
}

static int
print_cert_line(const vp_component_info *ci, int k)
{
	const vp_component_cert *cc = &ci->cert[k];
	char na[32] = "-";

	if (!cc->wanted)
		return 0;
	if (cc->present)
		vp_time_iso(cc->not_after, na, sizeof(na));
	printf("%-24s %-6s  %-40s  %-20s  %s", ci->id, vp_component_kind_name((vp_component_kind)k),
	    cc->present ? cc->serial : "-", na, cc->status);
	if (cc->reason[0] != '\0' && strcmp(cc->status, "OK") == 0)
		printf(" (renewal due: %s)", cc->reason);
	putchar('\n');
	return 1;
}

static int
comp_add(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "server", no_argument, NULL, OPT_SERVER },
		{ "client", no_argument, NULL, OPT_CLIENT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	vp_component_info info;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	const char *passfile = NULL, *id;
	int ch, rc, server = 0, client = 0, json = 0, k;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "component add", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_SERVER:
			server = 1;
			break;
		case OPT_CLIENT:
			client = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		}
	}
	if ((rc = cli_operands("component add", argc, argv, "give the component's id")) != CLI_OK)
		return rc;
	id = argv[optind];
	/* A bad id is refused before any passphrase is asked for. */
	if (vp_component_id_check(id, &e) != VP_OK)
		return cli_fail_err(&e);
	if ((rc = cli_open_ca_key(c, passfile, &s, &ca)) != CLI_OK)
		return rc;
	if (vp_component_add(s, ca, c->datadir, id, server, client, c->actor, &info, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (json) {
		rc = cli_json_print(vp_json_component(&info, c->datadir));
		goto out;
	}
	printf("component %s:\n", id);
	for (k = 0; k < 2; k++) {
		char *cp, *kp, na[32];

		if (!info.cert[k].wanted)
			continue;
		cp = vp_component_file(c->datadir, id, (vp_component_kind)k, 0);
		kp = vp_component_file(c->datadir, id, (vp_component_kind)k, 1);
		vp_time_iso(info.cert[k].not_after, na, sizeof(na));
		printf("  %s certificate %s, valid until %s (%s)\n",
		    vp_component_kind_name((vp_component_kind)k), info.cert[k].serial, na,
		    info.cert[k].status);
		printf("    %s\n    %s\n", cp != NULL ? cp : "?", kp != NULL ? kp : "?");
		free(cp);
		free(kp);
	}
	rc = cli_flush();
out:
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

static int
comp_list(cli *c, int argc, char **argv)
{
	vp_component_info *all = NULL;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	size_t n = 0, i;
	int rc, json = 0;

	if (!cli_getopt_simple(c, "component list", argc, argv, &json, &rc))
		return rc;
	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		return rc;
	if (vp_component_list(s, ca, c->datadir, &all, &n, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (json) {
		rc = cli_json_print(vp_json_components(all, n, c->datadir));
		goto out;
	}
	if (n == 0) {
		printf("no components: `vmspki component add ID` makes one\n");
		rc = cli_flush();
		goto out;
	}
	printf("%-24s %-6s  %-40s  %-20s  %s\n", "ID", "KIND", "SERIAL", "NOT AFTER", "STATUS");
	for (i = 0; i < n; i++) {
		print_cert_line(&all[i], VP_COMPONENT_SERVER);
		print_cert_line(&all[i], VP_COMPONENT_CLIENT);
	}
	rc = cli_flush();
out:
	free(all);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

static int
comp_renew(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "all", no_argument, NULL, OPT_ALL },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	vp_component_outcome *oc = NULL;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	json_t *a = NULL;
	const char *passfile = NULL;
	const char *const *ids;
	size_t n = 0, nids, i;
	int ch, rc, all = 0, force = 0, json = 0, k;
	vp_err r;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "component renew", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_ALL:
			all = 1;
			break;
		case OPT_FORCE:
			force = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		}
	}
	ids = (const char *const *)argv + optind;
	nids = optind < argc ? (size_t)(argc - optind) : 0;
	if (all && nids > 0)
		return cli_usage("component renew", "give --all or component ids, not both");
	for (i = 0; i < nids; i++)
		if (vp_component_id_check(ids[i], &e) != VP_OK)
			return cli_fail_err(&e);
	if ((rc = force ? cli_open_ca_key(c, passfile, &s, &ca) : cli_open_ca(c, &s, &ca)) !=
	    CLI_OK)
		return rc;
	/* Without --force the CA key is asked for only when something is due. */
	r = vp_component_renew(s, ca, c->datadir, ids, nids, force, c->actor, cli_log_stderr,
	    NULL, &oc, &n, &e);
	if (r == VP_ERR_PASSPHRASE && vp_ca_key(ca) == NULL) {
		vp_ca_free(ca);
		ca = NULL;
		if ((rc = cli_ca_load_key(c, s, passfile, &ca)) != CLI_OK)
			goto out;
		memset(&e, 0, sizeof(e));
		r = vp_component_renew(s, ca, c->datadir, ids, nids, force, c->actor, cli_log_stderr,
		    NULL, &oc, &n, &e);
	}
	if (r != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (json) {
		if ((a = json_array()) == NULL) {
			rc = cli_fail("out of memory");
			goto out;
		}
		for (i = 0; i < n; i++)
			if (json_array_append_new(a, vp_json_component_outcome(&oc[i])) != 0) {
				rc = cli_fail("out of memory");
				goto out;
			}
		rc = cli_json_print(a);
		a = NULL;
		goto out;
	}
	if (n == 0)
		printf("no components\n");
	for (i = 0; i < n; i++) {
		for (k = 0; k < 2; k++) {
			if (!oc[i].wanted[k])
				continue;
			printf("%s %s: ", oc[i].id, vp_component_kind_name((vp_component_kind)k));
			if (oc[i].renewed[k])
				printf("renewed (%s), serial %s\n", oc[i].reason[k], oc[i].serial[k]);
			else
				printf("ok\n");
		}
		if (oc[i].reload_ran)
			printf("%s: reload command %s\n", oc[i].id, oc[i].reload_result);
	}
	rc = cli_flush();
out:
	json_decref(a);
	free(oc);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

/* The ID of `component remove|nats-config ID`. */
static int
comp_remove(cli *c, int argc, char **argv)
{
	static const struct option opts[] = { CLI_OPTS_COMMON, { NULL, 0, NULL, 0 } };
	vp_error e = { 0 };
	vp_store *s = NULL;
	const char *id;
	int rc;

	cli_getopt_reset();
	if (cli_getopt(c, "component remove", argc, argv, "h", opts, &rc) != -1 ||
	    (rc = cli_operands("component remove", argc, argv, "give the component's id")) !=
	    CLI_OK)
		return rc;
	id = argv[optind];
	if (vp_component_id_check(id, &e) != VP_OK)
		return cli_fail_err(&e);
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_component_remove(s, c->datadir, id, c->actor, &e) != VP_OK)
		rc = cli_fail_err(&e);
	else
		printf("removed component %s (its certificates stay in the records)\n", id);
	vp_store_close(s);
	return rc == CLI_OK ? cli_flush() : rc;
}

static int
comp_nats_config(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "out", required_argument, NULL, OPT_OUT },
		{ NULL, 0, NULL, 0 }
	};
	vp_error e = { 0 };
	vp_store *s = NULL;
	const char *out = NULL, *id;
	char *text = NULL;
	size_t len = 0;
	int ch, rc;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "component nats-config", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_OUT:
			out = optarg;
			break;
		}
	}
	if ((rc = cli_operands("component nats-config", argc, argv,
	    "give the id of the broker component")) != CLI_OK)
		return rc;
	id = argv[optind];
	if (vp_component_id_check(id, &e) != VP_OK)
		return cli_fail_err(&e);
	if ((rc = cli_check_output_path("--out", out)) != CLI_OK)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_component_nats_config(s, c->datadir, id, &text, &len, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if ((rc = cli_write_output(out, text, len, 0600)) == CLI_OK && out != NULL &&
	    strcmp(out, "-") != 0)
		fprintf(stderr, "wrote the nats-server configuration for %s to %s\n", id, out);
out:
	free(text);
	vp_store_close(s);
	return rc;
}

int
cmd_component(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "add", comp_add }, { "list", comp_list }, { "renew", comp_renew },
		{ "remove", comp_remove }, { "nats-config", comp_nats_config }
	};

	return cli_group(c, "component", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
