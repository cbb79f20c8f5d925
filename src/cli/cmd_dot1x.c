/* `vmspki dot1x enable|update`: IEEE 802.1X (EAP-TLS) on cameras as a task (task.h), and
 * `vmspki dot1x radius-config`: the RADIUS server's certificate and a FreeRADIUS eap module
 * that admits them (dot1x.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vmspki/dot1x.h"
#include "vmspki/engine.h"
#include "vmspki/passphrase.h"
#include "vmspki/task.h"
#include "vmspki/util.h"

enum { OPT_ALL = OPT_FIRST_LOCAL, OPT_IDENTITY, OPT_EAP_CA, OPT_WAIT, OPT_CONCURRENCY,
	OPT_TIMEOUT, OPT_OUT, OPT_NAME, OPT_IP, OPT_DAYS, OPT_TASK_DAYS };

void
cli_help_dot1x(FILE *f, const char *sub)
{
	(void)sub;
	fputs(
"vmspki dot1x enable|update (--all | ID...) [--identity mac|serial|name] [--eap-ca FILE]\n"
"                           [--concurrency N] [--request-timeout S] [--days N] [--wait]\n"
"                           [--json] [--passphrase-file F]\n"
"  Creates a task that, on each camera, installs the EAP CA (the CA that signed the RADIUS\n"
"  server's certificate: the site CA unless --eap-ca set another, which is remembered), has\n"
"  the camera make a key pair of its own (never the HTTPS key), signs its CSR with profile\n"
"  device-8021x (clientAuth, CN the identity: mac aa:bb:cc:dd:ee:ff (default), serial as the\n"
"  camera says it, or name, else its address), installs the certificate, configures 802.1X\n"
"  (EAP-TLS) with it and switches it on, then reads it back. A camera whose change fails gets\n"
"  its previous 802.1X configuration back. update does the same with a new key (renewal).\n"
"  With --wait the command follows the task (running it here when no daemon runs).\n"
"vmspki dot1x radius-config --out DIR [--name HOST]... [--ip ADDR]... [--days N]\n"
"                           [--passphrase-file F]\n"
"  Issues the RADIUS server's certificate (profile radius-server: serverAuth, the names\n"
"  given) and writes DIR/eap, a drop-in for FreeRADIUS's mods-available/eap (EAP-TLS only),\n"
"  with DIR/radius.pem (certificate and chain), DIR/radius.key (0640) and DIR/ca.pem (the\n"
"  CA that signs the cameras' certificates) named by absolute paths; check_cert_cn requires\n"
"  the certificate's CN to be the EAP identity.\n", f);
}

/* The task over the given devices, followed to its end with --wait. */
static int
dot1x_run(cli *c, const char *kind, const char *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "all", no_argument, NULL, OPT_ALL },
		{ "identity", required_argument, NULL, OPT_IDENTITY },
		{ "eap-ca", required_argument, NULL, OPT_EAP_CA },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
		{ "request-timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "days", required_argument, NULL, OPT_TASK_DAYS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	vp_task_opts o = { .kind = kind, .cn_mode = "mac" };
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	vp_sitekey *k = NULL;
	const char *passfile = NULL, *eap_ca = NULL;
	unsigned char *eap = NULL;
	size_t eaplen = 0;
	char *pass = NULL;
	int64_t *ids = NULL, id = 0;
	size_t n = 0;
	int ch, rc, all = 0, wait = 0, json = 0;
	long v;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, cmd, argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_ALL:
			all = 1;
			break;
		case OPT_IDENTITY:
			if (strcmp(optarg, "mac") != 0 && strcmp(optarg, "serial") != 0 &&
			    strcmp(optarg, "name") != 0)
				return cli_usage(cmd, "--identity is mac, serial or name, not \"%.40s\"",
				    optarg);
			o.cn_mode = optarg;
			break;
		case OPT_EAP_CA:
			eap_ca = optarg;
			break;
		case OPT_WAIT:
			wait = 1;
			break;
		case OPT_CONCURRENCY:
			if ((rc = cli_parse_int("--concurrency", optarg, 1, VP_TASK_CONCURRENCY_MAX,
			    &v)) != CLI_OK)
				return rc;
			o.concurrency = (int)v;
			break;
		case OPT_TIMEOUT:
			if ((rc = cli_parse_int("--request-timeout", optarg, 1, 600, &v)) != CLI_OK)
				return rc;
			o.timeout_s = (int)v;
			break;
		case OPT_TASK_DAYS:
			/* The profile's maximum and the renewal window are the library's checks,
			 * as for https enable. */
			if ((rc = cli_parse_int("--days", optarg, 1, 36525, &v)) != CLI_OK)
				return rc;
			o.days = (int)v;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		}
	}
	if (all && optind < argc)
		return cli_usage(cmd, "give device ids or --all, not both");
	if (!all && optind >= argc)
		return cli_usage(cmd, "give the ids of the devices (vmspki device list) or --all");
	if (!all) {
		if ((ids = calloc((size_t)(argc - optind), sizeof(*ids))) == NULL)
			return cli_fail("out of memory");
		for (int i = optind; i < argc; i++) {
			if ((rc = cli_parse_int("a device id", argv[i], 1, INT32_MAX, &v)) !=
			    CLI_OK) {
				free(ids);
				return rc;
			}
			ids[n++] = v;
		}
	}
	if (eap_ca != NULL && vp_file_read(eap_ca, 64 * 1024, &eap, &eaplen, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		goto out;
	/* A task run here needs the CA key and the site key: asked before anything changes. */
	if (wait && !vp_engine_other_alive(s)) {
		vp_ca_free(ca);
		ca = NULL;
		if (vp_passphrase_get(c->datadir, passfile, "CA key passphrase: ", &pass, &e) !=
		    VP_OK || vp_ca_load(s, pass, &ca, &e) != VP_OK ||
		    vp_sitekey_open(s, pass, &k, &e) != VP_OK) {
			rc = cli_fail_err(&e);
			goto out;
		}
	}
	if (eap != NULL && vp_dot1x_set_eap_ca(s, (const char *)eap, eaplen, c->actor, &e) !=
	    VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (vp_task_create(s, &o, ids, n, all, c->actor, &id, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	fprintf(stderr, "vmspki: task %" PRId64 " created (%s)\n", id, kind);
	if (wait) {
		rc = cli_task_follow(c, s, id, ca, k, json);
		goto out;
	}
	if (!vp_engine_other_alive(s))
		fprintf(stderr, "vmspki: no daemon is running: the task starts when `vmspki serve` "
		    "runs (or run this command with --wait)\n");
	if (json)
		rc = cli_json_print(json_pack("{s:I}", "task", (json_int_t)id));
	else {
		printf("%" PRId64 "\n", id);
		rc = cli_flush();
	}
out:
	vp_secret_free_str(pass);
	free(eap);
	free(ids);
	vp_sitekey_free(k);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

static int
dot1x_enable(cli *c, int argc, char **argv)
{
	return dot1x_run(c, VP_TASK_DOT1X_ENABLE, "dot1x enable", argc, argv);
}

static int
dot1x_update(cli *c, int argc, char **argv)
{
	return dot1x_run(c, VP_TASK_DOT1X_UPDATE, "dot1x update", argc, argv);
}

/* `dot1x radius-config`: the RADIUS server's certificate and its FreeRADIUS eap module. */
static int
dot1x_radius(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "out", required_argument, NULL, OPT_OUT },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "ip", required_argument, NULL, OPT_IP },
		{ "days", required_argument, NULL, OPT_DAYS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	const char *names[16], *ips[16], *passfile = NULL;
	vp_radius_opts o = { .names = names, .ips = ips };
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	char serial[64];
	int ch, rc, json = 0;
	long v;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "dot1x radius-config", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_OUT:
			o.out_dir = optarg;
			break;
		case OPT_NAME:
			if (o.nnames == 16)
				return cli_usage("dot1x radius-config", "at most 16 --name");
			names[o.nnames++] = optarg;
			break;
		case OPT_IP:
			if (o.nips == 16)
				return cli_usage("dot1x radius-config", "at most 16 --ip");
			ips[o.nips++] = optarg;
			break;
		case OPT_DAYS:
			if ((rc = cli_parse_int("--days", optarg, 1, 825, &v)) != CLI_OK)
				return rc;
			o.days = (int)v;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		}
	}
	if ((rc = cli_operands("dot1x radius-config", argc, argv, NULL)) != CLI_OK)
		return rc;
	if (o.out_dir == NULL)
		return cli_usage("dot1x radius-config", "--out DIR is required");
	if (o.nnames + o.nips == 0)
		return cli_usage("dot1x radius-config", "give the RADIUS server's --name HOST or "
		    "--ip ADDR");
	if ((rc = cli_open_ca_key(c, passfile, &s, &ca)) != CLI_OK)
		return rc;
	if (vp_dot1x_radius_config(s, ca, &o, c->actor, serial, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (json)
		rc = cli_json_print(json_pack("{s:s,s:s}", "serial", serial, "out", o.out_dir));
	else {
		printf("RADIUS server certificate %s; FreeRADIUS eap module in %s/eap\n", serial,
		    o.out_dir);
		rc = cli_flush();
	}
out:
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

int
cmd_dot1x(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "enable", dot1x_enable },
		{ "update", dot1x_update },
		{ "radius-config", dot1x_radius },
	};

	return cli_group(c, "dot1x", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
