/* `vmspki https enable|update` and `vmspki task list|show|cancel|retry-failed`: tasks that put
 * certificates on cameras, and their results per device. With --wait the command follows the
 * task to its end: a running daemon runs it, else this command runs the engine itself. */
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "vmspki/device.h"
#include "vmspki/engine.h"
#include "vmspki/extcert.h"
#include "vmspki/foreign.h"
#include "vmspki/passphrase.h"
#include "vmspki/task.h"
#include "vmspki/util.h"

enum { OPT_ALL = OPT_FIRST_LOCAL, OPT_CN, OPT_HTTPS_ONLY, OPT_WAIT, OPT_CONCURRENCY, OPT_TIMEOUT,
	OPT_DAYS, OPT_CLEAN };

static atomic_int stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	atomic_store(&stop_flag, 1);
}

void
cli_help_https(FILE *f, const char *sub)
{
	(void)sub;
	fputs(
"vmspki https enable|update (--all | ID...) [--cn ip|fqdn] [--https-only] [--concurrency N]\n"
"                           [--request-timeout S] [--days N] [--clean] [--wait] [--json]\n"
"                           [--passphrase-file F]\n"
"  Creates a task that, on each device, adds the site CA certificate, has the camera make a\n"
"  key pair and a CSR, signs it (profile device-https: CN the device's IP or FQDN, SAN both\n"
"  where known), installs it, binds it to the web server (policy HTTP and HTTPS, or HTTPS\n"
"  only), and checks with a TLS handshake that the device serves it with a chain and name\n"
"  that verify. Only then is the device Enabled; a failed step puts the device back as it\n"
"  was. update renews the certificate of devices already enabled the same way.\n"
"  --cn: the common name for this task (else the device's setting, else the site's,\n"
"  default ip). --concurrency: devices at once (default 50). --request-timeout: seconds for\n"
"  each request to a device (default 30; a camera making a key answers late).\n"
"  --days: validity of the certificates (else the setting device.days, default 365; at\n"
"  most 825, and more than the renewal window; never past the CA's end).\n"
"  An unreachable device is tried three times; wrong credentials are never tried again\n"
"  (cameras lock accounts). --wait: follow the task to its\n"
"  end and print a result per device (exit 1 if a device failed); a running daemon runs\n"
"  the task, else this command does. Without --wait the daemon runs it.\n"
"  update does the same steps for devices that already have a certificate: a new key\n"
"  made on the camera, a new certificate, the old one of ours removed once verified.\n"
"  --clean: also remove the certificates and CA certificates other tools left (names with a\n"
"  bracketed header, \"[GS] ...\", \"[CA] ...\", as AXIS Camera Station and Device Manager\n"
"  name theirs; `device show` lists them), once ours is verified; never the factory one.\n"
"\n"
"vmspki https csr ID [--out F] [--json] [--passphrase-file F]\n"
"  For a certificate from the company's own CA: a task that has the camera make a key pair\n"
"  (alias vmspki-ext-t<task>) and writes its CSR to F (else stdout).\n"
"vmspki https install ID --cert F [--chain F] [--https-only] [--json] [--passphrase-file F]\n"
"  Checks the signed certificate (the key of the last CSR, the device's address or name in\n"
"  its SAN, valid now, a path to the root CA of the chain F), then a task installs it for\n"
"  that key, binds it to the web server and checks with a TLS handshake that the camera\n"
"  serves exactly it; the camera is Enabled and recognised by that key from then on.\n", f);
}

void
cli_help_task(FILE *f, const char *sub)
{
	int all = sub == NULL;

	if (all)
		fputs("usage: vmspki task list|show|wait|cancel|retry-failed ...\n\n", f);
	if (all || strcmp(sub, "list") == 0)
		fputs("vmspki task list [--json]\n  Every task: id, kind, state, devices by "
		    "result.\n", f);
	if (all || strcmp(sub, "show") == 0)
		fputs("vmspki task show ID [--json]\n  The task and, per device, its status "
		    "(Finished, Failed, Cancelled), the step\n  reached, the device's own error "
		    "text and the duration.\n", f);
	if (all || strcmp(sub, "cancel") == 0)
		fputs("vmspki task cancel ID\n  Devices not started are cancelled; devices in "
		    "the middle stop at their next step\n  and are put back as they were.\n", f);
	if (all || strcmp(sub, "wait") == 0)
		fputs("vmspki task wait ID [--json] [--passphrase-file F]\n  Follows the task to its "
		    "end and prints its results (exit 1 if a device failed);\n  runs it here when "
		    "no daemon does (a task left by an interrupted --wait).\n", f);
	if (all || strcmp(sub, "retry-failed") == 0)
		fputs("vmspki task retry-failed ID [--wait] [--passphrase-file F]\n  Runs the "
		    "task again for its failed and cancelled devices.\n", f);
}

/* ---- printing ---- */

static int
print_result(const vp_task_result *r, void *arg)
{
	(void)arg;
	printf("%-4" PRId64 " %-13s %-16s %-10s %-20s ", r->device_id, r->mac[0] ? r->mac : "-",
	    r->address[0] ? r->address : "(removed)", r->status, r->step);
	cli_puts_safe(stdout, r->error);
	putchar('\n');
	return 0;
}

static int
print_item(const vp_task_item *it, void *arg)
{
	(void)arg;
	cli_puts_safe(stdout, it->item);
	printf("%*s %-10s ", (int)(strlen(it->item) < 32 ? 32 - strlen(it->item) : 0), "",
	    it->status);
	cli_puts_safe(stdout, it->detail);
	putchar('\n');
	return 0;
}

static int
show_task(vp_store *s, int64_t id, int json)
{
	vp_error e = { 0 };
	vp_task t;
	json_t *o;
	vp_err r;

	if (json) {
		if ((r = vp_task_show_json(s, id, &o, &e)) == VP_ERR_NOMEM)
			return cli_fail("out of memory");
		return r != VP_OK ? cli_fail_err(&e) : cli_json_print(o);
	}
	if (vp_task_get(s, id, &t, &e) != VP_OK)
		return cli_fail_err(&e);
	printf("task %" PRId64 ": %s, %s; %" PRId64 " device%s: %" PRId64 " finished, %" PRId64
	    " failed, %" PRId64 " cancelled, %" PRId64 " to do\n", t.id, t.kind, t.state, t.total,
	    t.total == 1 ? "" : "s", t.finished, t.failed, t.cancelled, t.pending + t.running);
	if (t.items > 0) {
		printf("%-32s %-10s %s\n", "Item", "Status", "Description");
		if (vp_task_items(s, id, print_item, NULL, &e) != VP_OK)
			return cli_fail_err(&e);
		if (t.total == 0)
			return cli_flush();
		putchar('\n');
	}
	printf("%-4s %-13s %-16s %-10s %-20s %s\n", "ID", "MAC address", "Address", "Status",
	    "Step", "Description");
	if (vp_task_results(s, id, print_result, NULL, &e) != VP_OK)
		return cli_fail_err(&e);
	return cli_flush();
}

/* ---- running ---- */

typedef struct ca_hold {
	vp_ca *ca;
} ca_hold;

static const vp_ca *
hold(void *arg)
{
	return ((ca_hold *)arg)->ca;
}

static void
release(void *arg, const vp_ca *ca)
{
	(void)arg;
	(void)ca;
}

/* What running a task here needs: the CA with its key and the site key. Opened before the
 * task is made, so that a wrong passphrase leaves no task behind. */
typedef struct runner {
	int here;                     /* no daemon: this command runs the engine */
	ca_hold h;
	vp_sitekey *k;
} runner;

static void
runner_close(runner *r)
{
	vp_sitekey_free(r->k);
	vp_ca_free(r->h.ca);
	memset(r, 0, sizeof(*r));
}

static int
runner_open(cli *c, vp_store *s, const char *passfile, runner *r)
{
	vp_error e = { 0 };
	char *pass = NULL;
	int rc = CLI_OK;

	memset(r, 0, sizeof(*r));
	if (vp_engine_other_alive(s))
		return CLI_OK;
	r->here = 1;
	if ((rc = cli_ca_load_public(c, s, &r->h.ca)) != CLI_OK)
		return rc;
	vp_ca_free(r->h.ca);
	r->h.ca = NULL;
	if (vp_passphrase_get(c->datadir, passfile, "CA key passphrase: ", &pass, &e) != VP_OK ||
	    vp_ca_load(s, pass, &r->h.ca, &e) != VP_OK ||
	    vp_sitekey_open(s, pass, &r->k, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		runner_close(r);
	}
	vp_secret_free_str(pass);
	return rc;
}

/* Follows task id to its end: runs the engine here unless a daemon serves the store. */
static int
follow(cli *c, vp_store *s, int64_t id, runner *run, int json)
{
	vp_error e = { 0 };
	vp_task t;
	const char *dbpath, *cafile;
	struct sigaction sa;
	int rc;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!run->here) {
		fprintf(stderr, "vmspki: the daemon runs task %" PRId64 "; following it\n", id);
		for (;;) {
			if (vp_task_get(s, id, &t, &e) != VP_OK)
				return cli_fail_err(&e);
			if (vp_task_done(&t) || atomic_load(&stop_flag))
				break;
			sleep(1);
		}
	} else {
		if ((dbpath = cli_store_where(c)) == NULL ||
		    (cafile = cli_path(c, VP_PATH_CA_CERT)) == NULL) {
			rc = cli_fail("out of memory");
			goto out;
		}
		vp_engine_cfg cfg = {
			.db_path = dbpath, .ca_file = cafile, .datadir = c->datadir,
			.sitekey = run->k, .ca_hold = hold,
			.ca_release = release, .ca_arg = &run->h, .only_task = id,
			.exit_when_idle = 1, .stop = &stop_flag, .log = cli_log_stderr,
		};
		if (vp_engine_run(&cfg, &e) != VP_OK) {
			rc = cli_fail_err(&e);
			goto out;
		}
	}
	if (atomic_load(&stop_flag))
		fprintf(stderr, "vmspki: interrupted: task %" PRId64 " goes on when the daemon runs "
		    "or with `vmspki task wait %" PRId64 "`\n", id, id);
	if (json != 2 && (rc = show_task(s, id, json)) != CLI_OK)    /* 2: say nothing */
		goto out;
	if (vp_task_get(s, id, &t, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	rc = strcmp(t.state, VP_TASK_FINISHED) == 0 ? CLI_OK : CLI_REFUSED;
out:
	return rc;
}

static int
https_run(cli *c, const char *kind, const char *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "all", no_argument, NULL, OPT_ALL },
		{ "cn", required_argument, NULL, OPT_CN },
		{ "https-only", no_argument, NULL, OPT_HTTPS_ONLY },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
		{ "request-timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "days", required_argument, NULL, OPT_DAYS },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ "clean", no_argument, NULL, OPT_CLEAN },
		{ NULL, 0, NULL, 0 }
	};
	vp_task_opts o = { .kind = kind };
	int clean = 0;
	runner run = { 0 };
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	const char *passfile = NULL;
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
		case OPT_CN:
			if (strcmp(optarg, "ip") != 0 && strcmp(optarg, "fqdn") != 0)
				return cli_usage(cmd, "--cn is ip or fqdn, not \"%.40s\"", optarg);
			o.cn_mode = optarg;
			break;
		case OPT_HTTPS_ONLY:
			o.https_only = 1;
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
		case OPT_DAYS:
			/* The profile's maximum and the renewal window are the library's checks. */
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
		case OPT_CLEAN:
			clean = 1;
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
	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK)
		goto out;
	if (wait && (rc = runner_open(c, s, passfile, &run)) != CLI_OK)
		goto out;
	if ((clean ? vp_foreign_clean_task(s, &o, ids, n, all, c->actor, &id, &e) :
	    vp_task_create(s, &o, ids, n, all, c->actor, &id, &e)) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	fprintf(stderr, "vmspki: task %" PRId64 " created (%s)\n", id, kind);
	if (wait) {
		rc = follow(c, s, id, &run, json);
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
	runner_close(&run);
	free(ids);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

static int
https_enable(cli *c, int argc, char **argv)
{
	return https_run(c, VP_TASK_HTTPS_ENABLE, "https enable", argc, argv);
}

static int
https_update(cli *c, int argc, char **argv)
{
	return https_run(c, VP_TASK_HTTPS_UPDATE, "https update", argc, argv);
}

/* ---- outside certificates (extcert.h): https csr, https install ---- */

enum { OPT_OUT = OPT_CLEAN + 1, OPT_CERT, OPT_CHAIN };

/* https csr ID [--out F] and https install ID --cert F [--chain F]: a task for one device,
 * always followed to its end (the CSR is its result; the install is not done until verified). */
static int
https_ext(cli *c, int install, const char *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "out", required_argument, NULL, OPT_OUT },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "chain", required_argument, NULL, OPT_CHAIN },
		{ "https-only", no_argument, NULL, OPT_HTTPS_ONLY },
		{ "request-timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	runner run = { 0 };
	vp_error e = { 0 };
	vp_store *s = NULL;
	vp_ca *ca = NULL;
	const char *passfile = NULL, *out = NULL, *certf = NULL, *chainf = NULL;
	unsigned char *cert = NULL, *chain = NULL;
	char *csr = NULL, alias[128];
	size_t len;
	int64_t id = 0, dev;
	int ch, rc, json = 0, https_only = 0, timeout_s = 0;
	long v;

	cli_getopt_reset();
	while ((ch = cli_getopt(c, cmd, argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_OUT:
			out = optarg;
			break;
		case OPT_CERT:
			certf = optarg;
			break;
		case OPT_CHAIN:
			chainf = optarg;
			break;
		case OPT_HTTPS_ONLY:
			https_only = 1;
			break;
		case OPT_TIMEOUT:
			if ((rc = cli_parse_int("--request-timeout", optarg, 1, 600, &v)) != CLI_OK)
				return rc;
			timeout_s = (int)v;
			break;
		case OPT_JSON:
			json = 1;
			break;
		case OPT_PASSFILE:
			passfile = optarg;
			break;
		}
	}
	if (optind + 1 != argc)
		return cli_usage(cmd, "give one device id (vmspki device list)");
	if ((rc = cli_parse_int("a device id", argv[optind], 1, INT32_MAX, &v)) != CLI_OK)
		return rc;
	dev = v;
	if (install && certf == NULL)
		return cli_usage(cmd, "give the signed certificate with --cert F");
	if (!install && (certf != NULL || chainf != NULL || https_only))
		return cli_usage(cmd, "--cert, --chain and --https-only are for https install");
	if (install && out != NULL)
		return cli_usage(cmd, "--out is for https csr");
	if (out != NULL && (rc = cli_check_output_path("--out", out)) != CLI_OK)
		return rc;
	if (install && (vp_file_read(certf, VP_FILE_MAX, &cert, &len, &e) != VP_OK ||
	    (chainf != NULL && vp_file_read(chainf, VP_FILE_MAX, &chain, &len, &e) != VP_OK))) {
		rc = cli_fail_err(&e);
		goto out;
	}
	if ((rc = cli_open_ca(c, &s, &ca)) != CLI_OK ||
	    (rc = runner_open(c, s, passfile, &run)) != CLI_OK)
		goto out;
	if ((install ? vp_extcert_install_task(s, dev, (const char *)cert, (const char *)chain,
	    https_only, timeout_s, c->actor, &id, &e) : vp_extcert_csr_task(s, dev, timeout_s,
	    c->actor, &id, &e)) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	fprintf(stderr, "vmspki: task %" PRId64 " created (%s)\n", id,
	    install ? VP_TASK_HTTPS_INSTALL : VP_TASK_HTTPS_CSR);
	/* The CSR is the output of https csr: the task's results go to stderr's reader only
	 * with --json. */
	if ((rc = follow(c, s, id, &run, install ? json : json ? 1 : 2)) != CLI_OK || install)
		goto out;
	if (vp_extcert_csr_get(s, dev, &csr, alias, sizeof(alias), &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	fprintf(stderr, "vmspki: device %" PRId64 " made key %s; sign the CSR with the company's "
	    "CA (profile: TLS server, the device's address in the subject alternative names), "
	    "then `vmspki https install %" PRId64 " --cert F --chain F`\n", dev, alias, dev);
	if (out != NULL)
		rc = cli_write_output(out, csr, strlen(csr), 0644);
	else if (!json) {
		fputs(csr, stdout);
		rc = cli_flush();
	}
out:
	free(csr);
	free(cert);
	free(chain);
	runner_close(&run);
	vp_ca_free(ca);
	vp_store_close(s);
	return rc;
}

static int
https_csr(cli *c, int argc, char **argv)
{
	return https_ext(c, 0, "https csr", argc, argv);
}

static int
https_install(cli *c, int argc, char **argv)
{
	return https_ext(c, 1, "https install", argc, argv);
}

int
cmd_https(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "enable", https_enable },
		{ "update", https_update },
		{ "csr", https_csr },
		{ "install", https_install },
	};

	return cli_group(c, "https", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}

/* ---- task ---- */

static int
print_task(const vp_task *t, void *arg)
{
	char at[32];

	(void)arg;
	vp_time_iso(t->created_at, at, sizeof(at));
	printf("%-5" PRId64 " %-13s %-10s %-21s %6" PRId64 " %8" PRId64 " %6" PRId64 " %9" PRId64
	    " %5" PRId64 "\n", t->id, t->kind, t->state, at, t->total, t->finished, t->failed,
	    t->cancelled, t->pending + t->running);
	return 0;
}

static vp_err
fetch_tasks(vp_store *s, void *arg, json_t *array, vp_error *e)
{
	(void)arg;
	return vp_task_list_json(s, array, e);
}

static int
task_list(cli *c, int argc, char **argv)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	int rc, json = 0;

	if (!cli_getopt_simple(c, "task list", argc, argv, &json, &rc))
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (json) {
		rc = cli_list_json(s, fetch_tasks, NULL);
		goto out;
	}
	printf("%-5s %-13s %-10s %-21s %6s %8s %6s %9s %5s\n", "ID", "Kind", "State", "Created",
	    "Total", "Finished", "Failed", "Cancelled", "To do");
	if (vp_task_list(s, print_task, NULL, &e) != VP_OK)
		rc = cli_fail_err(&e);
	else
		rc = cli_flush();
out:
	vp_store_close(s);
	return rc;
}

/* Options and the task id of `task show|cancel|retry-failed`. */
static int
task_id_cmd(cli *c, const char *cmd, int argc, char **argv, int *json, int *wait,
    const char **passfile, int64_t *id)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "json", no_argument, NULL, OPT_JSON },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ NULL, 0, NULL, 0 }
	};
	int ch, rc;
	long v;

	*id = 0;      /* stays 0 when --help was answered: the caller ends with rc */
	cli_getopt_reset();
	while ((ch = cli_getopt(c, cmd, argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case OPT_JSON:
			if (json == NULL)
				return cli_usage(cmd, "%s takes no --json", cmd);
			*json = 1;
			break;
		case OPT_WAIT:
			if (wait == NULL)
				return cli_usage(cmd, "%s takes no --wait", cmd);
			*wait = 1;
			break;
		case OPT_PASSFILE:
			if (passfile == NULL)
				return cli_usage(cmd, "%s takes no --passphrase-file", cmd);
			*passfile = optarg;
			break;
		}
	}
	if ((rc = cli_operands(cmd, argc, argv, "give the task's id (vmspki task list)")) !=
	    CLI_OK)
		return rc;
	if ((rc = cli_parse_int("the task id", argv[optind], 1, INT32_MAX, &v)) != CLI_OK)
		return rc;
	*id = v;
	return CLI_OK;
}

static int
task_show(cli *c, int argc, char **argv)
{
	vp_store *s = NULL;
	int64_t id;
	int rc, json = 0;

	if ((rc = task_id_cmd(c, "task show", argc, argv, &json, NULL, NULL, &id)) != CLI_OK ||
	    id == 0)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	rc = show_task(s, id, json);
	vp_store_close(s);
	return rc;
}

static int
task_cancel(cli *c, int argc, char **argv)
{
	vp_error e = { 0 };
	vp_store *s = NULL;
	int64_t id;
	int rc;

	if ((rc = task_id_cmd(c, "task cancel", argc, argv, NULL, NULL, NULL, &id)) != CLI_OK ||
	    id == 0)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (vp_task_cancel(s, id, c->actor, &e) != VP_OK)
		rc = cli_fail_err(&e);
	else
		printf("task %" PRId64 ": cancel requested\n", id);
	vp_store_close(s);
	return rc == CLI_OK ? cli_flush() : rc;
}

static int
task_wait(cli *c, int argc, char **argv)
{
	runner run = { 0 };
	vp_store *s = NULL;
	const char *passfile = NULL;
	int64_t id;
	int rc, json = 0;

	if ((rc = task_id_cmd(c, "task wait", argc, argv, &json, NULL, &passfile, &id)) !=
	    CLI_OK || id == 0)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if ((rc = runner_open(c, s, passfile, &run)) == CLI_OK)
		rc = follow(c, s, id, &run, json);
	runner_close(&run);
	vp_store_close(s);
	return rc;
}

static int
task_retry(cli *c, int argc, char **argv)
{
	runner run = { 0 };
	vp_error e = { 0 };
	vp_store *s = NULL;
	const char *passfile = NULL;
	int64_t id;
	int rc, wait = 0;

	if ((rc = task_id_cmd(c, "task retry-failed", argc, argv, NULL, &wait, &passfile,
	    &id)) != CLI_OK || id == 0)
		return rc;
	if ((rc = cli_store_open(c, 0, &s)) != CLI_OK)
		return rc;
	if (wait && (rc = runner_open(c, s, passfile, &run)) != CLI_OK)
		goto out;
	if (vp_task_retry_failed(s, id, c->actor, &e) != VP_OK) {
		rc = cli_fail_err(&e);
		goto out;
	}
	fprintf(stderr, "vmspki: task %" PRId64 " queued again for its failed devices\n", id);
	rc = wait ? follow(c, s, id, &run, 0) : CLI_OK;
out:
	runner_close(&run);
	vp_store_close(s);
	return rc;
}

int
cmd_task(cli *c, int argc, char **argv)
{
	static const cli_sub subs[] = {
		{ "list", task_list },
		{ "show", task_show },
		{ "cancel", task_cancel },
		{ "retry-failed", task_retry },
		{ "wait", task_wait },
	};

	return cli_group(c, "task", subs, sizeof(subs) / sizeof(subs[0]), argc, argv);
}

int
cli_task_follow(cli *c, vp_store *s, int64_t id, vp_ca *ca, vp_sitekey *k, int json)
{
	runner run = { .here = !vp_engine_other_alive(s), .h = { ca }, .k = k };

	if (run.here && (ca == NULL || k == NULL))
		return cli_fail("task %" PRId64 " needs the CA key and the site key to run here",
		    id);
	return follow(c, s, id, &run, json);
}
