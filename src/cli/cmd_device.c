/* `vmspki device add|import|list|show|remove`: the camera inventory. Passwords come from a file,
 * $VMSPKI_DEVICE_PASSWORD or a prompt, are stored encrypted under the site data key (opened
 * with the CA passphrase or $VMSPKI_SITE_KEY_FILE) and are never printed again. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "cli.h"
#include "vmspki/device.h"
#include "vmspki/foreign.h"
#include "vmspki/keystore.h"
#include "vmspki/passphrase.h"
#include "vmspki/util.h"

#define DEVICE_PASSWORD_ENV "VMSPKI_DEVICE_PASSWORD"

enum {
	OPT_HTTPS_PORT = OPT_FIRST_LOCAL, OPT_USER, OPT_PWFILE, OPT_NAME, OPT_CN, OPT_BASIC,
	OPT_KEEP
};

void
cli_help_device(FILE *f, const char *sub)
{
	int all = sub == NULL;

	if (all)
		fputs("usage: vmspki device add|import|list|show|remove ...\n\n", f);
	if (all || strcmp(sub, "add") == 0)
		fputs(
"vmspki device add ADDR[:PORT] --user U [--password-file F] [--https-port N]\n"
"                  [--name FQDN] [--cn ip|fqdn] [--allow-basic] [--keep-unreachable]\n"
"                  [--json] [--passphrase-file F]\n"
"  Adds a camera: ADDR is its IP address or host name ([V6]:PORT for IPv6 with a port),\n"
"  PORT its HTTP port (80), --https-port its HTTPS port (443). The password comes from\n"
"  --password-file (first line), $" DEVICE_PASSWORD_ENV " or a prompt; it is stored\n"
"  encrypted under the site data key (which the CA passphrase, or the file named by\n"
"  $" VP_SITEKEY_FILE_ENV ", unlocks) and never shown again. The device is probed first\n"
"  (HTTP, then HTTPS without verification when HTTP is closed): MAC, model, firmware and\n"
"  HTTPS state. One that cannot be reached or refuses the credentials is not added, unless\n"
"  --keep-unreachable. --cn: the common name of its certificate (default: the site's).\n"
"  --allow-basic: Basic authentication over HTTPS if the device does not do Digest.\n", f);
	if (all || strcmp(sub, "import") == 0)
		fputs(
"vmspki device import FILE.csv [--json] [--passphrase-file F]\n"
"  Adds every line of FILE.csv: address,http_port,https_port,user,password,name (a header\n"
"  line is allowed; empty ports are 80 and 443; name may be left out; fields with a comma,\n"
"  a quote or surrounding spaces in double quotes, a quote inside doubled). Each line is\n"
"  added on its own and reported with its number; exit 1 if any line was refused.\n", f);
	if (all || strcmp(sub, "list") == 0)
		fputs(
"vmspki device list [--json]\n"
"  ID, MAC address, Status, Address, Model, Firmware, HTTPS and Server (the vmspki server\n"
"  working on it now, when a task has it running) of every device.\n", f);
	if (all || strcmp(sub, "show") == 0)
		fputs(
"vmspki device show ID [--json]\n"
"  Everything known about one device (never its password).\n", f);
	if (all || strcmp(sub, "remove") == 0)
		fputs(
"vmspki device remove ID\n"
"  Forgets the device and its password (the camera itself is not changed). Refused while\n"
"  a task that holds the device has not finished.\n", f);
}

/* ---- opening ---- */

/* The site data key: with $VMSPKI_SITE_KEY_FILE alone if that unlocks it, else with the CA
 * passphrase (checked against the CA key when the site key is made). */
static int
open_sitekey(cli *c, const char *passfile, vp_store *s, vp_sitekey **k)
{
	const char *file = getenv(VP_SITEKEY_FILE_ENV);
	vp_error e = { 0 };
	vp_ca *ca = NULL;
	char *pass = NULL;
	vp_err r;
	int rc;

	*k = NULL;
	if (file != NULL && file[0] != '\0' && passfile == NULL) {
		char how[16];

		/* "" (none yet: it is made under the file) or "file": no passphrase needed. */
		if (vp_sitekey_wrapping(s, how, sizeof(how), &e) != VP_OK)
			return cli_fail_err(&e);
		if (strcmp(how, "passphrase") != 0)
			return vp_sitekey_open(s, NULL, k, &e) == VP_OK ? CLI_OK : cli_fail_err(&e);
	}
	/* No CA is told before any passphrase is asked for. */
	if ((rc = cli_ca_load_public(c, s, &ca)) != CLI_OK)
		return rc;
	vp_ca_free(ca);
	if (vp_passphrase_get(c->datadir, passfile, "CA key passphrase: ", &pass, &e) != VP_OK)
		return cli_fail_err(&e);
	r = vp_sitekey_open(s, pass, k, &e);
	vp_secret_free_str(pass);
	return r == VP_OK ? CLI_OK : cli_fail_err(&e);
}

static char *
ca_file(cli *c)
{
	return vp_strdup(cli_path(c, VP_PATH_CA_CERT));
}

/* The device password: --password-file, $VMSPKI_DEVICE_PASSWORD, or a prompt. */
static int
device_password(const char *file, char **out)
{
	vp_error e = { 0 };
	const char *env;
	char buf[VP_DEVICE_PASSWORD_MAX + 2];
	int r;

	*out = NULL;
	if (file != NULL) {
		if (vp_passphrase_from_file(file, out, &e) != VP_OK)
			return cli_fail("--password-file: %s", e.msg);
		return CLI_OK;
	}
	if ((env = getenv(DEVICE_PASSWORD_ENV)) != NULL && env[0] != '\0') {
		if ((*out = vp_strdup(env)) == NULL)
			return cli_fail("out of memory");
		return CLI_OK;
	}
	if (!isatty(STDIN_FILENO))
		return cli_fail("no device password: give --password-file F (its first line), set "
		    "$" DEVICE_PASSWORD_ENV ", or run on a terminal to be asked");
	r = EVP_read_pw_string_min(buf, 1, (int)sizeof(buf) - 1, "Device password: ", 0);
	if (r != 0) {
		OPENSSL_cleanse(buf, sizeof(buf));
		return cli_fail(r == -2 ? "cancelled at the device password prompt" :
		    "could not read the device password from the terminal");
	}
	*out = vp_strdup(buf);
	OPENSSL_cleanse(buf, sizeof(buf));
	return *out == NULL ? cli_fail("out of memory") : CLI_OK;
}

/* ---- output ---- */

static void
format_address(const vp_device *d, char *buf, size_t n)
{
	int v6 = strchr(d->address, ':') != NULL;

	if (d->http_port == 80)
		snprintf(buf, n, "%s", d->address);
	else
		snprintf(buf, n, "%s%s%s:%d", v6 ? "[" : "", d->address, v6 ? "]" : "",
		    d->http_port);
}

static int
print_row(const vp_device *d, void *arg)
{
	char a[300], b[6][300];
	const int *servers = arg;

	format_address(d, a, sizeof(a));
	printf("%-5" PRId64 " %-13s %-28s %-22s %-26s %-13s ", d->id,
	    cli_safe(d->mac, b[0], sizeof(b[0])), cli_safe(d->status, b[1], sizeof(b[1])),
	    cli_safe(a, b[2], sizeof(b[2])), cli_safe(d->model, b[3], sizeof(b[3])),
	    cli_safe(d->firmware, b[4], sizeof(b[4])));
	if (*servers)
		printf("%-40s %s\n", d->https_state[0] ? d->https_state : "-",
		    d->server[0] ? cli_safe(d->server, b[5], sizeof(b[5])) : "-");
	else
		printf("%s\n", d->https_state[0] ? d->https_state : "-");
	return 0;
}

/* servers: the Server column (which vmspki server works on the device), shown when the
 * store is shared (PostgreSQL), since with one SQLite store there is one server. */
static void
print_header(int servers)
{
	printf("%-5s %-13s %-28s %-22s %-26s %-13s ", "ID", "MAC address", "Status", "Address",
	    "Model", "Firmware");
	if (servers)
		printf("%-40s %s\n", "HTTPS", "Server");
	else
		printf("HTTPS\n");
}

static void
describe(const vp_device *d)
{
	char buf[64], t[32];

	snprintf(buf, sizeof(buf), "%" PRId64, d->id);
	cli_field(stdout, "id:", buf);
	cli_field(stdout, "address:", d->address);
	snprintf(buf, sizeof(buf), "%d", d->http_port);
	cli_field(stdout, "HTTP port:", buf);
	snprintf(buf, sizeof(buf), "%d", d->https_port);
	cli_field(stdout, "HTTPS port:", buf);
	cli_field(stdout, "name:", d->name[0] ? d->name : "-");
	cli_field(stdout, "user:", d->username);
	cli_field(stdout, "MAC address:", d->mac[0] ? d->mac : "-");
	cli_field(stdout, "model:", d->model[0] ? d->model : "-");
	cli_field(stdout, "firmware:", d->firmware[0] ? d->firmware : "-");
	cli_field(stdout, "certificate API:", d->api[0] ? d->api : "-");
	cli_field(stdout, "status:", d->status[0] ? d->status : "-");
	if (d->status_detail[0] != '\0')
		cli_field(stdout, "detail:", d->status_detail);
	cli_field(stdout, "HTTPS:", d->https_state[0] ? d->https_state : "-");
	cli_field(stdout, "verified (pinned):", d->pinned ? "yes" : "no");
	cli_field(stdout, "reached over:", d->pinned ? "HTTPS, verified against the site CA" :
	    d->https_only ? "HTTPS, not verified" : "HTTP");
	cli_field(stdout, "Basic auth allowed:", d->allow_basic ? "yes (over HTTPS)" : "no");
	cli_field(stdout, "common name:", strcmp(d->cn_mode, "ip") == 0 ? "IP address" :
	    strcmp(d->cn_mode, "fqdn") == 0 ? "name (FQDN)" : "the site's setting");
	if (d->cert_serial[0] != '\0') {
		cli_field(stdout, "certificate serial:", d->cert_serial);
		cli_field(stdout, "certificate alias:", d->cert_alias[0] ? d->cert_alias : "-");
		vp_time_iso(d->cert_not_after, t, sizeof(t));
		cli_field(stdout, "certificate expires:", d->cert_not_after > 0 ? t : "-");
	}
	vp_time_iso(d->added_at, t, sizeof(t));
	cli_field(stdout, "added:", t);
	vp_time_iso(d->updated_at, t, sizeof(t));
	cli_field(stdout, "updated:", t);
}

/* ---- add ---- */

static int
dev_add(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "https-port", required_argument, NULL, OPT_HTTPS_PORT },
		{ "user", required_argument, NULL, OPT_USER },
		{ "password-file", required_argument, NULL, OPT_PWFILE },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "cn", required_argument, NULL, OPT_CN },
		{ "allow-basic", no_argument, NULL, OPT_BASIC },
		{ "keep-unreachable", no_argument, NULL, OPT_KEEP },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	vp_device_new nd;
	vp_device d;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_sitekey *k = NULL;
	const char *passfile = NULL, *pwfile = NULL;
	char addr[256], *pw = NULL, *caf = NULL, *check_pw = (char *)"x";
	long v;
	int ch, rc, json = 0, keep = 0, port = 0;

	memset(&nd, 0, sizeof(nd));
	cli_getopt_reset();
	while ((ch = cli_getopt(c, "device add", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_HTTPS_PORT:
			if (cli_parse_int("--https-port", optarg, 1, 65535, &v) != CLI_OK)
				return CLI_USAGE;
			nd.https_port = (int)v;
			break;
		case OPT_USER:
			nd.username = optarg;
			break;
		case OPT_PWFILE:
			pwfile = optarg;
			break;
		case OPT_NAME:
			nd.name = optarg;
			break;
		case OPT_CN:
			nd.cn_mode = optarg;
			break;
		case OPT_BASIC:
			nd.allow_basic = 1;
			break;
		case OPT_KEEP:
			keep = 1;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		}
	}
	if ((rc = cli_operands("device add", argc, argv, "give the device's address "
	    "(ADDR[:PORT])")) != CLI_OK)
		return rc;
	if (nd.username == NULL)
		return cli_usage("device add", "give the user name of an administrator account of "
		    "the device: --user U");
	if (vp_device_addr_parse(argv[optind], addr, sizeof(addr), &port, &e) != VP_OK)
		return cli_fail_err(&e);
	nd.address = addr;
	nd.http_port = port;
	/* Everything but the password is checked before any secret is asked for. */
	nd.password = check_pw;
	if (vp_device_new_check(&nd, &e) != VP_OK)
		return cli_fail_err(&e);
	if ((rc = device_password(pwfile, &pw)) != CLI_OK)
		return rc;
	nd.password = pw;
	if (vp_device_new_check(&nd, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK ||
	    (rc = open_sitekey(c, passfile, s, &k)) != CLI_OK)
		goto out;
	if ((caf = ca_file(c)) == NULL) {
		rc = cli_fail("out of memory");
		goto out;
	}
	if (vp_device_add(s, k, caf, &nd, keep, c->actor, &d, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (json) {
		rc = cli_json_print(vp_json_device(&d));
		goto out;
	}
	printf("added device %" PRId64 ":\n", d.id);
	describe(&d);
	rc = cli_flush();
out:
	free(caf);
	vp_sitekey_free(k);
	vp_store_close(s);
	if (pw != NULL)
		vp_secret_free_str(pw);
	return rc;
}

/* ---- import ---- */

typedef struct import_out {
	vp_store *s;
	int json;
	json_t *lines;
	int oom;
} import_out;

static void
import_report(int line, int64_t id, const vp_error *err, void *arg)
{
	import_out *io = arg;
	vp_error e = { 0 };
	vp_device d;
	char b[3][300];
	int have = err == NULL && vp_device_get(io->s, id, &d, &e) == VP_OK;

	if (io->json) {
		json_t *o = err != NULL ? json_pack("{s:i,s:s,s:o}", "line", line, "result",
		    "refused", "error", vp_json_str(err->msg)) :
		    json_pack("{s:i,s:s,s:I,s:o}", "line", line, "result", "added", "id",
		    (json_int_t)id, "device", have ? vp_json_device(&d) : json_null());

		if (o == NULL || json_array_append_new(io->lines, o) != 0)
			io->oom = 1;
		return;
	}
	if (err != NULL) {
		printf("line %d: refused: ", line);
		cli_puts_safe(stdout, err->msg);
		putchar('\n');
	} else if (have) {
		printf("line %d: added as device %" PRId64 " (%s, %s, HTTPS %s)\n", line, id,
		    cli_safe(d.mac, b[0], sizeof(b[0])), cli_safe(d.status, b[1], sizeof(b[1])),
		    cli_safe(d.https_state, b[2], sizeof(b[2])));
	} else {
		printf("line %d: added as device %" PRId64 "\n", line, id);
	}
}

static int
dev_import(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	import_out io;
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_sitekey *k = NULL;
	unsigned char *csv = NULL;
	const char *passfile = NULL;
	char *caf = NULL;
	size_t len = 0, added = 0, failed = 0;
	int ch, rc, json = 0;
	vp_err r;

	memset(&io, 0, sizeof(io));
	cli_getopt_reset();
	while ((ch = cli_getopt(c, "device import", argc, argv, "h", opts, &rc)) != -1) {
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
	if ((rc = cli_operands("device import", argc, argv, "give the CSV file to import "
	    "(address,http_port,https_port,user,password,name)")) != CLI_OK)
		return rc;
	if (vp_file_read(argv[optind], VP_FILE_MAX, &csv, &len, &e) != VP_OK)
		return cli_fail_err(&e);
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK ||
	    (rc = open_sitekey(c, passfile, s, &k)) != CLI_OK)
		goto out;
	if ((caf = ca_file(c)) == NULL || (json && (io.lines = json_array()) == NULL)) {
		rc = cli_fail("out of memory");
		goto out;
	}
	io.s = s;
	io.json = json;
	r = vp_device_import_csv(s, k, caf, (const char *)csv, len, c->actor, import_report, &io,
	    &added, &failed, &e);
	if (json) {
		json_t *o = json_pack("{s:I,s:I,s:O}", "added", (json_int_t)added, "failed",
		    (json_int_t)failed, "lines", io.lines);

		if (io.oom || o == NULL) {
			json_decref(o);
			rc = cli_fail("out of memory");
			goto out;
		}
		if ((rc = cli_json_print(o)) != CLI_OK)
			goto out;
	} else {
		printf("%zu device%s added, %zu line%s refused\n", added, added == 1 ? "" : "s",
		    failed, failed == 1 ? "" : "s");
		if ((rc = cli_flush()) != CLI_OK)
			goto out;
	}
	if (r != VP_OK)
		rc = cli_fail_err(&e);
	else if (failed > 0)
		rc = CLI_REFUSED;
out:
	json_decref(io.lines);
	free(caf);
	vp_sitekey_free(k);
	vp_store_close(s);
	vp_secret_free(csv, len);
	return rc;
}

/* ---- list, show, remove ---- */

static vp_err
fetch_json(vp_store *s, void *arg, json_t *array, vp_error *e)
{
	(void)arg;
	return vp_device_list_json(s, array, e);
}

static int
count_device(const vp_device *d, void *arg)
{
	(void)d;
	(*(size_t *)arg)++;
	return 0;
}

static int
dev_list(cli *c, int argc, char **argv)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	size_t n = 0;
	int rc, json = 0, servers;

	if (!cli_getopt_simple(c, "device list", argc, argv, &json, &rc))
		return rc;
	servers = cli_store_is_pg(c);
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (json) {
		rc = cli_list_json(s, fetch_json, NULL);
		goto out;
	}
	if (vp_device_list(s, count_device, &n, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if (n == 0) {
		printf("no devices: `vmspki device add ADDR --user U` or `vmspki device import "
		    "FILE.csv` adds some\n");
		rc = cli_flush();
		goto out;
	}
	print_header(servers);
	if (vp_device_list(s, print_row, &servers, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	rc = cli_flush();
out:
	vp_store_close(s);
	return rc;
}

/* Other tools' certificates the last task saw on the device (foreign.h). */
static void
describe_foreign(vp_store *s, int64_t id)
{
	static const char *const what[2][2] = {
		{ "certificates", "other tools' certificate:" },
		{ "ca_certificates", "other tools' CA certificate:" }
	};
	json_t *o = vp_foreign_json(s, id), *it;
	char line[700];
	size_t i;

	if (o == NULL)
		return;
	if (!json_is_true(json_object_get(o, "seen")))
		cli_field(stdout, "other tools' certificates:", "not looked at yet (a task lists them)");
	for (int k = 0; k < 2; k++)
		json_array_foreach(json_object_get(o, what[k][0]), i, it) {
			snprintf(line, sizeof(line), "%s (%s)",
			    json_string_value(json_object_get(it, "alias")),
			    json_string_value(json_object_get(it, "subject")));
			cli_field(stdout, what[k][1], line);
		}
	json_decref(o);
}

static int
dev_show(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "json", no_argument, NULL, OPT_JSON },
		{ NULL, 0, NULL, 0 }
	};
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_device d;
	int64_t id = 0;
	int ch, rc, json = 0;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "device show", argc, argv, "h", opts, &rc)) != -1) {
		if (ch == CLI_OPT_STOP)
			return rc;
		json = 1;
	}
	if ((rc = cli_operands("device show", argc, argv, "give the device's id")) != CLI_OK ||
	    (rc = cli_parse_id("device show", "a device", "device list", argv[optind], &id)) != CLI_OK)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_device_get(s, id, &d, &e) != VP_OK)
		rc = cli_fail_err(&e);
	else if (json) {
		json_t *o = vp_json_device(&d);

		char ks[16];

		vp_keystore_get(s, id, ks, sizeof(ks));
		if (o != NULL && (json_object_set_new(o, "other_tools", vp_foreign_json(s, id)) != 0 ||
		    json_object_set_new(o, "keystore", ks[0] != '\0' ? json_string(ks) :
		    json_null()) != 0)) {
			json_decref(o);
			o = NULL;
		}
		rc = o != NULL ? cli_json_print(o) : cli_fail("out of memory");
	} else {
		char ks[16];

		describe(&d);
		vp_keystore_get(s, id, ks, sizeof(ks));
		cli_field(stdout, "key store:", ks[0] != '\0' ? ks : "- (no key of vmspki's yet)");
		describe_foreign(s, id);
		rc = cli_flush();
	}
	vp_store_close(s);
	return rc;
}

static int
dev_remove(cli *c, int argc, char **argv)
{
	static const struct option opts[] = { CLI_OPTS_COMMON, { NULL, 0, NULL, 0 } };
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_device d;
	int64_t id = 0;
	int ch, rc;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, "device remove", argc, argv, "h", opts, &rc)) != -1)
		if (ch == CLI_OPT_STOP)
			return rc;
	if ((rc = cli_operands("device remove", argc, argv, "give the device's id")) != CLI_OK ||
	    (rc = cli_parse_id("device remove", "a device", "device list", argv[optind], &id)) != CLI_OK)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_device_get(s, id, &d, &e) != VP_OK ||
	    vp_device_remove(s, id, c->actor, &e) != VP_OK) {
		rc = cli_fail_err(&e);
	} else {
		char b[300];

		printf("removed device %" PRId64 " (%s", id, cli_safe(d.address, b, sizeof(b)));
		printf("%s%s)\n", d.mac[0] ? ", " : "", d.mac[0] ? cli_safe(d.mac, b, sizeof(b)) : "");
		rc = cli_flush();
	}
	vp_store_close(s);
	return rc;
}

int
cmd_device(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "add", dev_add },
		{ "import", dev_import },
		{ "list", dev_list },
		{ "show", dev_show },
		{ "remove", dev_remove },
		{ "discover", cli_device_discover },   /* cmd_discover.c */
	};

	return cli_group(c, "device", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}
