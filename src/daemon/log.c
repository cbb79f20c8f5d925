/* The daemon's log: one line per event on stderr, "TIME vmspki[PID]: message", written with a
 * single write(2) so that lines from several threads never interleave. Callers never pass a
 * secret; control characters are replaced so that a peer cannot forge lines. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"

/* The daemon never forks (reload commands are posix_spawn'ed), so its pid is asked for once:
 * getpid(2) is a system call, and one of them per issued certificate. */
static atomic_long log_pid;

void
vpd_log(const char *fmt, ...)
{
	char line[2048], when[40];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n, i, start;
	long pid = atomic_load_explicit(&log_pid, memory_order_relaxed);
	int k;

	if (pid == 0) {
		pid = (long)getpid();
		atomic_store_explicit(&log_pid, pid, memory_order_relaxed);
	}
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line, sizeof(line), "%s.%03dZ vmspki[%ld]: ", when, (int)(tv.tv_usec / 1000),
	    pid);
	start = k > 0 && (size_t)k < sizeof(line) ? (size_t)k : 0;
	va_start(ap, fmt);
	vsnprintf(line + start, sizeof(line) - start - 1, fmt, ap);
	va_end(ap);
	n = strlen(line);
	for (i = start; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	while (n > 0) {
		ssize_t w = write(STDERR_FILENO, line, n);

		if (w <= 0)
			break;
		n -= (size_t)w;
		memmove(line, line + w, n);
	}
}
