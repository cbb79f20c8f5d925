/* `vmspki device discover`: which addresses of a range answer as devices vmspki knows, as a
 * task with one item per device found; `--add` then adds those not in the inventory. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "vmspki/device.h"
#include "vmspki/discover.h"
#include "vmspki/passphrase.h"
#include "vmspki/util.h"

#define DISCOVER_PASSWORD_ENV "VMSPKI_DEVICE_PASSWORD"

enum {
	O_PORT = OPT_FIRST_LOCAL, O_USER, O_PWFILE, O_CONC, O_TIMEOUT, O_NODNS, O_ADD,
	O_HTTPS_PORT
};

void
cli_help_device_discover(FILE *f)
{
	fputs(
"vmspki device discover CIDR|FIRST-LAST [--port N]... [--user U --password-file F]\n"
"             [--concurrency N] [--timeout S] [--no-dns] [--add [--https-port N]] [--json]\n"
"  Asks every address of an IPv4 range (10.0.0.0/24, 10.0.0.10-10.0.0.50 or\n"
"  10.0.0.10-50; at most 4096 addresses) on each HTTP --port (80 by default), at most\n"
"  --concurrency (32) at once, who it is: Axis devices answer without credentials\n"
"  (basicdeviceinfo) unless that was turned off; with --user and --password-file (or\n"
"  $VMSPKI_DEVICE_PASSWORD) those are identified too. Each device found is named by its\n"
"  reverse DNS name when there is one. The result is a task (`vmspki task show ID`) with\n"
"  one item per device found; nothing is added unless --add is given, which adds each\n"
"  device found that the inventory lacks (--user and a password needed) as `device add`\n"
"  would, with the reverse DNS name as its name.\n", f);
}

/* Adds the devices found that the inventory lacks; CLI_OK when every one was added. */
static int
add_found(cli *c, vp_store *s, const char *passfile, vp_discovered *d, size_t n,
    const char *user, const char *pw, int https_port, int json, json_t *out)
{
	vp_error e = { 0 };
	vp_sitekey *k = NULL;
	vp_ca *ca = NULL;
	char *pass = NULL;
	const char *caf;
	int rc = CLI_OK;

	if ((rc = cli_ca_load_public(c, s, &ca)) != CLI_OK)
		return rc;
	vp_ca_free(ca);
	if (vp_passphrase_get(c->datadir, passfile, "CA key passphrase: ", &pass, &e) != VP_OK ||
	    vp_sitekey_open(s, pass, &k, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if ((caf = cli_path(c, VP_PATH_CA_CERT)) == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		vp_device_new nd;
		vp_device dev;
		json_t *o = json_array_get(json_object_get(out, "devices"), i);

		if (d[i].device_id > 0 || d[i].how == VP_DISC_REFUSED)
			continue;
		memset(&nd, 0, sizeof(nd));
		nd.address = d[i].address;
		nd.http_port = d[i].port;
		nd.https_port = https_port;
		nd.name = d[i].name[0] != '\0' ? d[i].name : NULL;
		nd.username = user;
		nd.password = pw;
		vp_error_clear(&e);
		if (vp_device_new_check(&nd, &e) != VP_OK ||
		    vp_device_add(s, k, caf, &nd, 0, c->actor, &dev, &e) != VP_OK) {
			if (!json)
				fprintf(stderr, "vmspki: %s:%d not added: %s\n", d[i].address,
				    d[i].port, e.msg);
			if (o != NULL)
				json_object_set_new(o, "add_error", json_string(e.msg));
			rc = CLI_REFUSED;
			continue;
		}
		d[i].device_id = dev.id;
		if (o != NULL)
			json_object_set_new(o, "device_id", json_integer(dev.id));
		if (!json)
			printf("added device %" PRId64 ": %s:%d\n", dev.id, d[i].address, d[i].port);
	}
out:
	vp_sitekey_free(k);
	vp_secret_free_str(pass);
	return rc;
}

int
cli_device_discover(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "port", required_argument, NULL, O_PORT },
		{ "user", required_argument, NULL, O_USER },
		{ "password-file", required_argument, NULL, O_PWFILE },
		{ "concurrency", required_argument, NULL, O_CONC },
		{ "timeout", required_argument, NULL, O_TIMEOUT },
		{ "no-dns", no_argument, NULL, O_NODNS },
		{ "add", no_argument, NULL, O_ADD },
		{ "https-port", required_argument, NULL, O_HTTPS_PORT },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 }
	};
	vp_discover_opts o;
	vp_discovered *d = NULL;
	vp_error e = { 0 };
	vp_store *s = NULL;
	json_t *out = NULL, *arr = NULL;
	const char *pwfile = NULL, *passfile = NULL, *env;
	char *pw = NULL;
	int ports[VP_DISCOVER_MAX_PORTS];
	uint32_t first, last;
	size_t n = 0, other = 0, nports = 0;
	int64_t task = 0;
	int ch, rc, json = 0, add = 0, https_port = 0;
	long v;

	memset(&o, 0, sizeof(o));
	cli_getopt_reset();
	while ((ch = cli_getopt(c, "device discover", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case O_PORT:
			if ((rc = cli_parse_int("--port", optarg, 1, 65535, &v)) != CLI_OK)
				return rc;
			if (nports == VP_DISCOVER_MAX_PORTS)
				return cli_usage("device discover", "at most %d --port options",
				    VP_DISCOVER_MAX_PORTS);
			ports[nports++] = (int)v;
			break;
		case O_USER:
			o.username = optarg;
			break;
		case O_PWFILE:
			pwfile = optarg;
			break;
		case O_CONC:
			if ((rc = cli_parse_int("--concurrency", optarg, 1,
			    VP_DISCOVER_CONCURRENCY_MAX, &v)) != CLI_OK)
				return rc;
			o.concurrency = (int)v;
			break;
		case O_TIMEOUT:
			if ((rc = cli_parse_int("--timeout", optarg, 1, 60, &v)) != CLI_OK)
				return rc;
			o.timeout_ms = v * 1000;
			break;
		case O_NODNS:
			o.no_dns = 1;
			break;
		case O_ADD:
			add = 1;
			break;
		case O_HTTPS_PORT:
			if ((rc = cli_parse_int("--https-port", optarg, 1, 65535, &v)) != CLI_OK)
				return rc;
			https_port = (int)v;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		case OPT_JSON:
			json = 1;
			break;
		}
	}
	if ((rc = cli_operands("device discover", argc, argv, "give the range to discover: "
	    "a CIDR block (10.0.0.0/24) or FIRST-LAST (10.0.0.10-10.0.0.50)")) != CLI_OK)
		return rc;
	o.range = argv[optind];
	o.ports = ports;
	o.nports = nports;
	if (pwfile != NULL && o.username == NULL)
		return cli_usage("device discover", "--password-file goes with --user");
	if (add && o.username == NULL)
		return cli_usage("device discover", "--add needs the devices' administrator "
		    "account: --user U and --password-file F");
	if (https_port != 0 && !add)
		return cli_usage("device discover", "--https-port goes with --add (the HTTPS "
		    "port of the devices added)");
	/* A bad range is told before any secret is read. */
	if (vp_discover_range(o.range, &first, &last, &e) != VP_OK)
		return cli_fail_err(&e);
	if (o.username != NULL) {
		if (pwfile != NULL) {
			if (vp_passphrase_from_file(pwfile, &pw, &e) != VP_OK)
				return cli_fail("--password-file: %s", e.msg);
		} else if ((env = getenv(DISCOVER_PASSWORD_ENV)) != NULL && env[0] != '\0') {
			if ((pw = vp_strdup(env)) == NULL)
				return cli_fail("out of memory");
		} else {
			return cli_usage("device discover", "--user needs the password: "
			    "--password-file F or $" DISCOVER_PASSWORD_ENV);
		}
		o.password = pw;
	}
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		goto out;
	if (vp_discover_run(s, &o, &d, &n, &other, &e) != VP_OK ||
	    vp_discover_record(s, c->actor, &o, d, n, &task, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if ((out = json_object()) == NULL || (arr = json_array()) == NULL ||
	    json_object_set_new(out, "task", json_integer(task)) != 0 ||
	    json_object_set_new(out, "other_answers", json_integer((json_int_t)other)) != 0 ||
	    json_object_set(out, "devices", arr) != 0) {
		rc = cli_fail("out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(arr, vp_json_discovered(&d[i])) != 0) {
			rc = cli_fail("out of memory");
			goto out;
		}
	if (!json) {
		printf("task %" PRId64 ": discovery of %s: %zu device%s found", task, o.range, n,
		    n == 1 ? "" : "s");
		if (other > 0)
			printf(" (%zu other HTTP answer%s, from nothing vmspki knows)", other,
			    other == 1 ? "" : "s");
		printf("\n");
		for (size_t i = 0; i < n; i++) {
			char where[96], b[256];

			snprintf(where, sizeof(where), "%s:%d", d[i].address, d[i].port);
			printf("  %-22s %-13s %-20s %-12s ", where, d[i].serial[0] ? d[i].serial :
			    "-", cli_safe(d[i].model, b, sizeof(b)), d[i].firmware[0] ?
			    d[i].firmware : "-");
			printf("%-30s ", cli_safe(d[i].name, b, sizeof(b)));
			if (d[i].device_id > 0)
				printf("device %" PRId64 "\n", d[i].device_id);
			else
				printf("%s\n", d[i].how == VP_DISC_NEEDS_CREDENTIALS ?
				    "needs --user to identify" : d[i].how == VP_DISC_REFUSED ?
				    "refused the credentials" : "not in the inventory");
		}
	}
	rc = CLI_OK;
	if (add)
		rc = add_found(c, s, passfile, d, n, o.username, pw, https_port, json, out);
	if (json)
		rc = cli_json_print(json_incref(out)) != CLI_OK ? CLI_REFUSED : rc;
	else if (cli_flush() != CLI_OK)
		rc = CLI_REFUSED;
out:
	json_decref(arr);
	json_decref(out);
	free(d);
	if (pw != NULL)
		vp_secret_free_str(pw);
	vp_store_close(s);
	return rc;
}
