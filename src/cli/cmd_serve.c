/* `vmspki serve`: the HTTPS REST API daemon (src/daemon). This file only reads the options. */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon.h"
#include "cli.h"

enum { O_LISTEN = OPT_FIRST_LOCAL, O_THREADS, O_CA_KEY, O_RENEW_CHECK, O_ACCESS_LOG,
	O_WEB, O_NO_WEB };

void
cli_help_serve(FILE *f)
{
	fputs(
"usage: vmspki serve [--listen ADDR:PORT]... [--threads N] [--passphrase-file F]\n"
"                    [--ca-key rsa4096|ec-p256|ec-p384] [--renew-check SECONDS] [--access-log]\n"
"                    [--web DIR | --no-web]\n"
"  Serves the REST API over HTTPS (docs/api.md) until SIGTERM or SIGINT, which let the\n"
"  requests in flight finish (10 s at most) and exit 0; SIGHUP reloads the server\n"
"  certificate at once.\n"
"  --listen     address to listen on, repeatable; default 127.0.0.1:8443 and [::1]:8443.\n"
"               Every address: --listen 0.0.0.0:8443 --listen [::]:8443. Port 0 lets the\n"
"               system pick a free port (printed at start).\n"
"  --threads    event loops (default: one per core).\n"
"  --ca-key     the key of a CA made at first start (default rsa4096).\n"
"  --renew-check  seconds between checks that the server certificate needs renewing\n"
"               (default 300); the files are looked at every 2 s.\n"
"  --access-log one log line per request on stderr.\n"
"  --web        the web UI's files, served at https://ADDR:PORT/ (default: the ones\n"
"               installed with the binary, BIN/../share/vmspki/web, or BIN/web in a\n"
"               build tree); --no-web serves the API alone.\n"
"  At first start, with no CA in the data directory, a CA is made; its passphrase is the\n"
"  one given (--passphrase-file, $VMSPKI_PASSPHRASE: not stored) or a random one kept in\n"
"  DIR/ca.passphrase (0600). The server certificate (DIR/certs/server.crt) is made or\n"
"  renewed as needed, and when no API token exists one called \"admin\" is made and\n"
"  printed once on standard output.\n", f);
}

int
cmd_serve(cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		CLI_OPTS_COMMON,
		{ "listen", required_argument, NULL, O_LISTEN },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "passphrase-file", required_argument, NULL, OPT_PASSFILE },
		{ "ca-key", required_argument, NULL, O_CA_KEY },
		{ "renew-check", required_argument, NULL, O_RENEW_CHECK },
		{ "access-log", no_argument, NULL, O_ACCESS_LOG },
		{ "web", required_argument, NULL, O_WEB },
		{ "no-web", no_argument, NULL, O_NO_WEB },
		{ NULL, 0, NULL, 0 }
	};
	vpd_opts o;
	vp_error e = { 0 };
	vp_keytype kt;
	long v;
	int ch, rc;

	memset(&o, 0, sizeof(o));
	cli_getopt_reset();
	while ((ch = cli_getopt(c, "serve", argc, argv, "h", opts, &rc)) != -1) {
		switch (ch) {
		case CLI_OPT_STOP:
			return rc;
		case O_LISTEN:
			if (o.nlisten >= VPD_LISTEN_MAX)
				return cli_usage("serve", "at most %d --listen addresses", VPD_LISTEN_MAX);
			o.listen[o.nlisten++] = optarg;
			break;
		case O_THREADS:
			if ((rc = cli_parse_int("--threads", optarg, 1, VPD_THREADS_MAX, &v)) != CLI_OK)
				return rc;
			o.threads = (int)v;
			break;
		case OPT_PASSFILE:
			o.passfile = optarg;
			break;
		case O_CA_KEY:
			if (vp_keytype_parse(optarg, &kt, &e) != VP_OK)
				return cli_fail_err(&e);
			o.ca_key = optarg;
			break;
		case O_RENEW_CHECK:
			if ((rc = cli_parse_int("--renew-check", optarg, 1, 86400, &v)) != CLI_OK)
				return rc;
			o.renew_check = (int)v;
			break;
		case O_ACCESS_LOG:
			o.access_log = 1;
			break;
		case O_WEB:
			o.web_dir = optarg;
			break;
		case O_NO_WEB:
			o.no_web = 1;
			break;
		}
	}
	if ((rc = cli_operands("serve", argc, argv, NULL)) != CLI_OK)
		return rc;
	for (size_t i = 0; i < o.nlisten; i++) {
		struct sockaddr_storage ss;
		unsigned len;

		if (vpd_addr_parse(o.listen[i], &ss, &len, &e) != 0)
			return cli_fail_err(&e);
	}
	if (o.web_dir != NULL && o.no_web)
		return cli_usage("serve", "--web and --no-web exclude each other");
	o.datadir = c->datadir;
	if ((o.store = cli_store_where(c)) == NULL)
		return CLI_REFUSED;
	return vpd_serve(&o) == 0 ? CLI_OK : CLI_REFUSED;
}
