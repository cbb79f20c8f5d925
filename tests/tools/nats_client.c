/*
 * A small NATS client for the integration tests (tests/it/nats_*.sh), written with the NATS C
 * client library (libnats). It connects over TLS with a client certificate and does one thing:
 *
 *   vmspki-test-nats-client --url nats://127.0.0.1:PORT --ca CA.pem --cert C.pem --key K.pem
 *       [--host NAME] (connect | pub SUBJ MSG | sub SUBJ [--count N] [--timeout S])
 *
 *   connect  connects, makes one round trip (PING/PONG), closes.
 *   pub      publishes MSG on SUBJ, flushes, then looks for an asynchronous error (a
 *            permissions violation arrives as "-ERR 'Permissions Violation ...'").
 *   sub      subscribes to SUBJ, flushes, prints "subscribed to SUBJ" (the test waits for
 *            that line before it publishes), then prints "received SUBJ: DATA" for each of N
 *            messages (default 1) within S seconds (default 10).
 *
 * --host NAME: the name the server certificate must carry (default: none, the chain is still
 * verified against --ca).
 *
 * Exit status: 0 success; 1 other errors (bad usage, server unreachable, timeout); 2 the
 * connection was refused (TLS handshake or authorization); 3 a permissions violation.
 * One line on stdout says what happened: "connected", "published", "refused: ...",
 * "permissions violation: ...", "error: ...".
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nats/nats.h>

#define EXIT_OTHER 1
#define EXIT_REFUSED 2
#define EXIT_PERM 3

static pthread_mutex_t async_mu = PTHREAD_MUTEX_INITIALIZER;
static natsStatus async_err = NATS_OK;
static char async_text[512];

static void
usage(void)
{
	fprintf(stderr,
	    "usage: vmspki-test-nats-client --url nats://HOST:PORT --ca CA.pem --cert C.pem --key K.pem\n"
	    "           [--host NAME] (connect | pub SUBJ MSG | sub SUBJ [--count N] [--timeout S])\n");
	exit(EXIT_OTHER);
}

/* Asynchronous errors (permissions violations among them) come here, on libnats' thread. */
static void
on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
	const char *text = NULL;

	(void)sub;
	(void)closure;
	natsConnection_GetLastError(nc, &text);
	pthread_mutex_lock(&async_mu);
	if (async_err == NATS_OK) {
		async_err = err;
		snprintf(async_text, sizeof(async_text), "%s", text != NULL ? text : natsStatus_GetText(err));
	}
	pthread_mutex_unlock(&async_mu);
}

/*
 * The asynchronous error so far, from the handler or from the connection's last error (set
 * by libnats' reader thread before the PONG of a flush is processed, so it is there once a
 * flush has returned even if the handler has not run yet). Returns NATS_OK when none.
 */
static natsStatus
pending_error(natsConnection *nc, char *text, size_t len)
{
	natsStatus s;
	const char *last = NULL;

	pthread_mutex_lock(&async_mu);
	s = async_err;
	snprintf(text, len, "%s", async_text);
	pthread_mutex_unlock(&async_mu);
	if (s != NATS_OK)
		return s;
	s = natsConnection_GetLastError(nc, &last);
	snprintf(text, len, "%s", last != NULL && *last != '\0' ? last : natsStatus_GetText(s));
	return s;
}

static bool
is_permission(natsStatus s, const char *text)
{
	return s == NATS_NOT_PERMITTED || strstr(text, "Permissions Violation") != NULL ||
	    strstr(text, "permissions violation") != NULL;
}

/* A plain TCP connection to the URL's host and port, so that "nobody listens" (exit 1) is
 * told apart from "the broker refused us" (exit 2). */
static bool
tcp_reachable(const char *url, char *why, size_t len)
{
	char host[256], port[16];
	const char *p, *colon;
	struct addrinfo hints, *res = NULL, *ai;
	int fd, rc;
	bool okay = false;

	p = strstr(url, "://");
	p = p != NULL ? p + 3 : url;
	colon = strrchr(p, ':');
	if (colon == NULL || (size_t)(colon - p) >= sizeof(host) || strlen(colon + 1) >= sizeof(port)) {
		snprintf(why, len, "cannot read host:port from %s", url);
		return false;
	}
	memcpy(host, p, (size_t)(colon - p));
	host[colon - p] = '\0';
	snprintf(port, sizeof(port), "%s", colon + 1);
	if (host[0] == '[' && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(why, len, "cannot resolve %s: %s", host, gai_strerror(rc));
		return false;
	}
	snprintf(why, len, "nothing listens on %s:%s", host, port);
	for (ai = res; ai != NULL && !okay; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			okay = true;
		else
			snprintf(why, len, "cannot connect to %s:%s: %s", host, port, strerror(errno));
		close(fd);
	}
	freeaddrinfo(res);
	return okay;
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *ca = NULL, *cert = NULL, *key = NULL, *host = NULL;
	const char *cmd = NULL, *subj = NULL, *msg = NULL;
	long count = 1, timeout_s = 10;
	natsOptions *opts = NULL;
	natsConnection *nc = NULL;
	natsSubscription *sub = NULL;
	natsMsg *m = NULL;
	natsStatus s;
	char text[512], why[256];
	int i, ret = EXIT_OTHER;
	long got = 0;
	int64_t deadline, left;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--url") == 0 && i + 1 < argc)
			url = argv[++i];
		else if (strcmp(a, "--ca") == 0 && i + 1 < argc)
			ca = argv[++i];
		else if (strcmp(a, "--cert") == 0 && i + 1 < argc)
			cert = argv[++i];
		else if (strcmp(a, "--key") == 0 && i + 1 < argc)
			key = argv[++i];
		else if (strcmp(a, "--host") == 0 && i + 1 < argc)
			host = argv[++i];
		else if (strcmp(a, "--count") == 0 && i + 1 < argc)
			count = strtol(argv[++i], NULL, 10);
		else if (strcmp(a, "--timeout") == 0 && i + 1 < argc)
			timeout_s = strtol(argv[++i], NULL, 10);
		else if (a[0] == '-')
			usage();
		else if (cmd == NULL)
			cmd = a;
		else if (subj == NULL)
			subj = a;
		else if (msg == NULL)
			msg = a;
		else
			usage();
	}
	if (url == NULL || ca == NULL || cert == NULL || key == NULL || cmd == NULL || count < 1 ||
	    timeout_s < 1)
		usage();
	if (strcmp(cmd, "connect") == 0) {
		if (subj != NULL)
			usage();
	} else if (strcmp(cmd, "pub") == 0) {
		if (subj == NULL || msg == NULL)
			usage();
	} else if (strcmp(cmd, "sub") == 0) {
		if (subj == NULL || msg != NULL)
			usage();
	} else {
		usage();
	}
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (!tcp_reachable(url, why, sizeof(why))) {
		printf("error: %s\n", why);
		return EXIT_OTHER;
	}

	if ((s = natsOptions_Create(&opts)) != NATS_OK ||
	    (s = natsOptions_SetURL(opts, url)) != NATS_OK ||
	    (s = natsOptions_SetSecure(opts, true)) != NATS_OK ||
	    (s = natsOptions_LoadCATrustedCertificates(opts, ca)) != NATS_OK ||
	    (s = natsOptions_LoadCertificatesChain(opts, cert, key)) != NATS_OK ||
	    (host != NULL && (s = natsOptions_SetExpectedHostname(opts, host)) != NATS_OK) ||
	    (s = natsOptions_SetAllowReconnect(opts, false)) != NATS_OK ||
	    (s = natsOptions_SetMaxReconnect(opts, 0)) != NATS_OK ||
	    (s = natsOptions_SetTimeout(opts, 5000)) != NATS_OK ||
	    (s = natsOptions_SetErrorHandler(opts, on_async_error, NULL)) != NATS_OK) {
		printf("error: options: %s: %s\n", natsStatus_GetText(s), nats_GetLastError(NULL));
		goto out;
	}

	s = natsConnection_Connect(&nc, opts);
	if (s != NATS_OK) {
		/* The TCP port answered: the broker (TLS handshake or authorization) said no. */
		printf("refused: %s: %s\n", natsStatus_GetText(s), nats_GetLastError(NULL));
		ret = EXIT_REFUSED;
		goto out;
	}

	if (strcmp(cmd, "connect") == 0) {
		s = natsConnection_FlushTimeout(nc, 5000);
		if (s != NATS_OK) {
			printf("error: flush: %s\n", natsStatus_GetText(s));
			goto out;
		}
		printf("connected\n");
		ret = 0;
	} else if (strcmp(cmd, "pub") == 0) {
		s = natsConnection_PublishString(nc, subj, msg);
		if (s == NATS_OK)
			s = natsConnection_FlushTimeout(nc, 5000);
		if (s != NATS_OK && !is_permission(s, "")) {
			printf("error: publish: %s: %s\n", natsStatus_GetText(s), nats_GetLastError(NULL));
			goto out;
		}
		s = pending_error(nc, text, sizeof(text));
		if (s != NATS_OK) {
			if (is_permission(s, text)) {
				printf("permissions violation: %s\n", text);
				ret = EXIT_PERM;
			} else {
				printf("error: after publish: %s: %s\n", natsStatus_GetText(s), text);
			}
			goto out;
		}
		printf("published %s\n", subj);
		ret = 0;
	} else {
		s = natsConnection_SubscribeSync(&sub, nc, subj);
		if (s == NATS_OK)
			s = natsConnection_FlushTimeout(nc, 5000);
		if (s == NATS_OK)
			s = pending_error(nc, text, sizeof(text));
		else
			snprintf(text, sizeof(text), "%s", nats_GetLastError(NULL));
		if (s != NATS_OK) {
			if (is_permission(s, text)) {
				printf("permissions violation: %s\n", text);
				ret = EXIT_PERM;
			} else {
				printf("error: subscribe: %s: %s\n", natsStatus_GetText(s), text);
			}
			goto out;
		}
		printf("subscribed to %s\n", subj);
		deadline = nats_Now() + (int64_t)timeout_s * 1000;
		while (got < count) {
			left = deadline - nats_Now();
			if (left <= 0)
				break;
			s = natsSubscription_NextMsg(&m, sub, left);
			if (s == NATS_TIMEOUT)
				break;
			if (s != NATS_OK) {
				printf("error: receive: %s: %s\n", natsStatus_GetText(s), nats_GetLastError(NULL));
				goto out;
			}
			printf("received %s: %.*s\n", natsMsg_GetSubject(m), natsMsg_GetDataLength(m),
			    natsMsg_GetData(m));
			natsMsg_Destroy(m);
			m = NULL;
			got++;
		}
		if (got < count) {
			s = pending_error(nc, text, sizeof(text));
			if (s != NATS_OK && is_permission(s, text)) {
				printf("permissions violation: %s\n", text);
				ret = EXIT_PERM;
			} else {
				printf("error: timeout after %ld s: received %ld of %ld\n", timeout_s, got, count);
			}
			goto out;
		}
		ret = 0;
	}

out:
	natsSubscription_Destroy(sub);
	if (nc != NULL)
		natsConnection_Close(nc);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);
	nats_Close();
	return ret;
}
