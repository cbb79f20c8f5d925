/* The vmspki command line: shared state and helpers of the front end (common.c) and the
 * command groups (cmd_*.c). The CLI parses, calls libvmspki, prints; it decides nothing. */
#ifndef VMSPKI_CLI_H
#define VMSPKI_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "vmspki/ca.h"
#include "vmspki/datadir.h"
#include "vmspki/err.h"
#include "vmspki/render_json.h"
#include "vmspki/store.h"
#include "vmspki/util.h"
#include "vmspki/x509info.h"

#define VMSPKI_VERSION "0.1.0"

/* Exit statuses of every command (design, "Command line"). */
#define CLI_OK 0
#define CLI_REFUSED 1   /* bad input, wrong passphrase, no CA, I/O failure: message on stderr */
#define CLI_USAGE 2     /* unknown command or option, missing argument */

/* Long-option values shared by every command (short options use their letter). */
enum {
	OPT_DATA = 1000, OPT_STORE, OPT_JSON, OPT_PASSFILE, OPT_P12PASSFILE,
	OPT_FIRST_LOCAL   /* each command numbers its own options from here */
};

/* Every command accepts these (cli_getopt handles --data itself). */
#define CLI_OPTS_COMMON \
	{ "data", required_argument, NULL, OPT_DATA }, \
	{ "store", required_argument, NULL, OPT_STORE }, \
	{ "help", no_argument, NULL, 'h' }

typedef struct cli {
	const char *datadir;   /* --data, else $VMSPKI_DATA, else ./var */
	char *actor;           /* "cli:<login name>" for the audit log */
	vp_datadir *dd;        /* the paths in datadir (cli_path) */
	const char *store;     /* --store: postgresql://... or sqlite:FILE (issue 22) */
	char *where;           /* the store to open (cli_store_where) */
} cli;

/* Command groups: argv[0] is the group's name ("ca", "issue", ...). */
int cmd_ca(cli *c, int argc, char **argv);
int cmd_issue(cli *c, int argc, char **argv);
int cmd_cert(cli *c, int argc, char **argv);
int cmd_audit(cli *c, int argc, char **argv);
int cmd_serve(cli *c, int argc, char **argv);        /* cmd_serve.c (the daemon) */
int cmd_token(cli *c, int argc, char **argv);        /* cmd_token.c */
int cmd_servercert(cli *c, int argc, char **argv);   /* cmd_servercert.c */
int cmd_component(cli *c, int argc, char **argv);    /* cmd_component.c */
int cmd_device(cli *c, int argc, char **argv);       /* cmd_device.c */
int cmd_https(cli *c, int argc, char **argv);        /* cmd_https.c */
int cmd_task(cli *c, int argc, char **argv);         /* cmd_https.c */
int cmd_alarm(cli *c, int argc, char **argv);        /* cmd_alarm.c */
int cmd_settings(cli *c, int argc, char **argv);     /* cmd_settings.c */
int cmd_lifecycle(cli *c, int argc, char **argv);    /* cmd_lifecycle.c */
int cmd_endpoint(cli *c, int argc, char **argv);     /* cmd_endpoint.c */

/* Follows task id to its end and prints its results (cmd_https.c): a running daemon runs it,
 * else this command does with ca (with its key) and k, which stay the caller's. json: 0 a
 * table, 1 JSON, 2 nothing. CLI_OK when every device finished. */
struct vp_sitekey;
int cli_task_follow(cli *c, vp_store *s, int64_t id, vp_ca *ca, struct vp_sitekey *k,
    int json);

/* Help texts (usage of one command or group to f); cli_help dispatches on the words. */
void cli_help_main(FILE *f);
void cli_help_ca(FILE *f, const char *sub);
void cli_help_issue(FILE *f);
void cli_help_cert(FILE *f, const char *sub);
void cli_help_audit(FILE *f, const char *sub);
void cli_help_serve(FILE *f);
void cli_help_token(FILE *f, const char *sub);
void cli_help_servercert(FILE *f, const char *sub);
void cli_help_component(FILE *f, const char *sub);
void cli_help_device(FILE *f, const char *sub);
void cli_help_https(FILE *f, const char *sub);
void cli_help_task(FILE *f, const char *sub);
void cli_help_alarm(FILE *f, const char *sub);
void cli_help_settings(FILE *f, const char *sub);
void cli_help_lifecycle(FILE *f, const char *sub);
void cli_help_endpoint(FILE *f, const char *sub);
int cli_help(int argc, char **argv);

/* Messages. cli_fail prints "vmspki: <sentence>" and returns CLI_REFUSED; cli_fail_err does
 * the same with a library error; cli_usage prints the sentence and a hint to `vmspki <cmd>
 * --help` and returns CLI_USAGE. */
int cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int cli_fail_err(const vp_error *e);
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* getopt_long for command cmd ("ca show", "issue"; NULL for the options before a command).
 * Returns the command's next option, or -1 at the end of the options. Takes --data itself
 * (into c->datadir). On --help or -h it prints the command's help (as `vmspki help CMD`), on
 * an unknown option or a missing argument a usage error: then it returns CLI_OPT_STOP and the
 * command ends with *rc (CLI_OK or CLI_USAGE). */
#define CLI_OPT_STOP (-2)
int cli_getopt(cli *c, const char *cmd, int argc, char **argv, const char *shortopts,
    const struct option *longopts, int *rc);
/* Call before the first cli_getopt of a command. */
void cli_getopt_reset(void);
/* The words after a command's options: none when missing is NULL; else exactly one (then
 * argv[optind]), and missing is the sentence for its absence. CLI_OK or CLI_USAGE (printed). */
int cli_operands(const char *cmd, int argc, char **argv, const char *missing);

/* All the option parsing of a command that takes no operands and no options of its own but
 * --json when json is not NULL (*json set to 1 when given). 1: go on; 0: the command ends with
 * *rc (its help was printed, or a usage error). */
int cli_getopt_simple(cli *c, const char *cmd, int argc, char **argv, int *json, int *rc);

/* A command group ("ca", "cert", ...): runs the sub-command argv[1] with its words (argv + 1)
 * from subs, n of them. --data may come before the sub-command; --help, -h or help prints the
 * group's help; a missing or unknown sub-command is a usage error naming those of subs. */
typedef struct cli_sub {
	const char *name;
	int (*run)(cli *c, int argc, char **argv);
} cli_sub;
int cli_group(cli *c, const char *group, const cli_sub *subs, size_t n, int argc, char **argv);

/* An object id given as an operand: a positive decimal number, else a usage error naming
 * what ("a device") and the command that lists them ("device list"). */
int cli_parse_id(const char *cmd, const char *what, const char *listcmd, const char *s,
    int64_t *id);
/* s with control characters replaced by '?', "-" when empty or NULL, into buf. */
const char *cli_safe(const char *s, char *buf, size_t n);

/* Numbers from options: a decimal integer in [min, max] or a refusal naming the option. */
int cli_parse_int(const char *opt, const char *s, long min, long max, long *out);

/* The path of p in the data directory (datadir as the options left it), owned by c; NULL when
 * out of memory (nothing told). */
const char *cli_path(cli *c, vp_path p);

/* The data directory exists with a store in it? Prints the "no CA" sentence otherwise. */
int cli_store_open(cli *c, int create, vp_store **out);
/* Loads the CA (public part only), or prints the "no CA" sentence. */
int cli_ca_load_public(cli *c, vp_store *s, vp_ca **out);
/* Loads the CA with its key: says there is no CA first, then finds the passphrase (file,
 * environment, remembered, prompt). */
int cli_ca_load_key(cli *c, vp_store *s, const char *passfile, vp_ca **out);
/* The store and its CA for a command (cli_store_open, then cli_ca_load_public or
 * cli_ca_load_key): CLI_OK with both, else the failure told and nothing left open. */
int cli_open_ca(cli *c, vp_store **s, vp_ca **ca);
int cli_open_ca_key(cli *c, const char *passfile, vp_store **s, vp_ca **ca);
/* Prints the sentence for a data directory without a CA; returns CLI_REFUSED. */
int cli_no_ca(const cli *c);

/* A PKCS#12 password: from file, else $VMSPKI_P12_PASSPHRASE (if env_ok), else a prompt on a
 * terminal (twice when confirm). Wipe with vp_secret_free_str. */
int cli_p12_pass(const char *file, int env_ok, int confirm, char **out);

/* Output: to path atomically with mode, or to stdout when path is NULL or "-". Binary data
 * (anything that is not text) is refused on a terminal. */
int cli_write_output(const char *path, const void *data, size_t len, mode_t mode);
/* The directory that will hold path exists and is writable: checked before any work. */
int cli_check_output_path(const char *opt, const char *path);

/* Flushes stdout: CLI_OK, or the failure told (CLI_REFUSED). */
int cli_flush(void);

/* Text output. Times, names, keys and JSON come from the library (util.h: vp_time_iso;
 * x509info.h; render_json.h), shared with the REST API. */
/* Prints "  label:  value" with control characters of value replaced. */
void cli_field(FILE *f, const char *label, const char *value);
/* Writes s with control characters replaced by '?' (terminal safety). */
void cli_puts_safe(FILE *f, const char *s);
/* The library's log callback of a command run here (recovery, renewals, reload output, the
 * task runner): each line on stderr, made safe as above. */
void cli_log_stderr(void *arg, const char *line);
/* Prints a certificate's facts (shared by `ca show` and `cert show`) as "  label:  value". */
int cli_cert_describe(X509 *x, FILE *f);

/* Writes the JSON value v indented and a newline to stdout, and frees it (NULL: out of
 * memory). */
int cli_json_print(json_t *v);

/* Every list command's --json has one shape: an array of the rows, where fetch walks the
 * store with a row callback that renders each row into array (vp_json_append); then printed
 * (cli_json_print). Out of memory and the store's failure are told. */
typedef vp_err (*cli_list_fetch)(vp_store *s, void *arg, json_t *array, vp_error *e);
int cli_list_json(vp_store *s, cli_list_fetch fetch, void *arg);

/* ---- issue 19 (items 1, 4, 6, 9): legacy PKCS#12, cert renew, ca trust ---- */

/* The warning after a legacy PKCS#12 (--p12-legacy) was written to path. */
void cli_p12_legacy_warning(const char *path);
/* `vmspki cert renew SERIAL ...` (cmd_issue.c, beside issue: the same outputs). */
int cmd_cert_renew(cli *c, int argc, char **argv);
/* `vmspki ca trust install|remove` (cmd_catrust.c). */
int cmd_ca_trust(cli *c, int argc, char **argv);
void cli_help_ca_trust(FILE *f);
/* ---- CA renewal (issue 19, item 5): cmd_ca_renew.c ---- */
int cli_ca_renew(cli *c, int argc, char **argv);
void cli_help_ca_renew(FILE *f);

/* ---- device discovery (issue 19, item 8): cmd_discover.c ---- */
int cli_device_discover(cli *c, int argc, char **argv);
void cli_help_device_discover(FILE *f);
/* ---- where the store is (issue 22) ---- */
int cmd_store(cli *c, int argc, char **argv);         /* cmd_store.c */
void cli_help_store(FILE *f, const char *sub);
/* The store this command opens: --store, else the data directory's store file, else
 * vmspki.db in it (vp_store_locate). NULL after printing why not. */
const char *cli_store_where(cli *c);
/* 1 when that store is a PostgreSQL database (no file in the data directory). */
int cli_store_is_pg(cli *c);
/* ---- IEEE 802.1X (cmd_dot1x.c) ---- */
int cmd_dot1x(cli *c, int argc, char **argv);
void cli_help_dot1x(FILE *f, const char *sub);

#endif
