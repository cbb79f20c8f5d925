/* Failed authentications per peer address: a token bucket per address (a burst of failures,
 * refilled at a steady rate) and a lock-out once it runs dry. Shared by every worker thread
 * behind one mutex; the table is bounded so that a flood of addresses cannot grow memory. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"

#define RL_SLOTS 1024
#define RL_ADDR_MAX 64

typedef struct rl_entry {
	struct rl_entry *next;
	char addr[RL_ADDR_MAX];
	double tokens;          /* failures still allowed */
	int64_t updated_ms;     /* when tokens was last brought up to date */
	int64_t failed_ms;      /* last failure */
	int64_t locked_until_ms;
} rl_entry;

struct vpd_rl {
	pthread_mutex_t mu;
	rl_entry *slot[RL_SLOTS];
	size_t n, max;
	double burst;
	double per_ms;          /* tokens per millisecond */
	int64_t lockout_ms;
};

static unsigned
rl_hash(const char *s)
{
	unsigned h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h % RL_SLOTS;
}

vpd_rl *
vpd_rl_new(int burst, int per_minute, int lockout_s, size_t max_entries)
{
	vpd_rl *rl = calloc(1, sizeof(*rl));

	if (rl == NULL)
		return NULL;
	pthread_mutex_init(&rl->mu, NULL);
	rl->burst = burst > 0 ? burst : 1;
	rl->per_ms = (per_minute > 0 ? per_minute : 1) / 60000.0;
	rl->lockout_ms = (int64_t)(lockout_s > 0 ? lockout_s : 0) * 1000;
	rl->max = max_entries > 0 ? max_entries : 1;
	return rl;
}

void
vpd_rl_free(vpd_rl *rl)
{
	if (rl == NULL)
		return;
	for (size_t i = 0; i < RL_SLOTS; i++) {
		rl_entry *e = rl->slot[i], *next;

		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

static void
refill(vpd_rl *rl, rl_entry *e, int64_t now)
{
	if (now > e->updated_ms) {
		e->tokens += (double)(now - e->updated_ms) * rl->per_ms;
		if (e->tokens > rl->burst)
			e->tokens = rl->burst;
		e->updated_ms = now;
	}
}

/* Seconds addr must still wait (0: may try). */
static int
wait_s(vpd_rl *rl, rl_entry *e, int64_t now)
{
	int64_t ms = 0;

	if (e->locked_until_ms > now)
		ms = e->locked_until_ms - now;
	else if (e->tokens < 1.0)
		ms = (int64_t)((1.0 - e->tokens) / rl->per_ms) + 1;
	return ms > 0 ? (int)((ms + 999) / 1000) : 0;
}

static rl_entry *
find(vpd_rl *rl, const char *addr, rl_entry ***link)
{
	rl_entry **pp = &rl->slot[rl_hash(addr)];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (strcmp((*pp)->addr, addr) == 0)
			break;
	if (link != NULL)
		*link = pp;
	return *pp;
}

/* Makes room for one entry. An entry that says nothing any more (full bucket, no lock-out)
 * goes first; failing that, the unlocked one least recently touched; a locked-out address
 * goes last (the one whose lock-out ends soonest), so that flooding the table from many
 * addresses does not lift a lock-out. */
static void
evict_one(vpd_rl *rl, int64_t now)
{
	rl_entry **victim = NULL, **locked = NULL, **pp;
	int64_t oldest = INT64_MAX, soonest = INT64_MAX;

	for (size_t i = 0; i < RL_SLOTS; i++) {
		for (pp = &rl->slot[i]; *pp != NULL; pp = &(*pp)->next) {
			rl_entry *e = *pp;

			refill(rl, e, now);
			if (e->locked_until_ms > now) {
				if (e->locked_until_ms < soonest) {
					soonest = e->locked_until_ms;
					locked = pp;
				}
				continue;
			}
			if (e->tokens >= rl->burst) {
				victim = pp;
				goto found;
			}
			if (e->failed_ms < oldest) {
				oldest = e->failed_ms;
				victim = pp;
			}
		}
	}
	if (victim == NULL)
		victim = locked;
	if (victim == NULL)
		return;
found:
	{
		rl_entry *e = *victim;

		*victim = e->next;
		free(e);
		rl->n--;
	}
}

int
vpd_rl_blocked(vpd_rl *rl, const char *addr, int64_t now_ms)
{
	rl_entry *e;
	int w = 0;

	pthread_mutex_lock(&rl->mu);
	if (rl->n > 0 && (e = find(rl, addr, NULL)) != NULL) {
		refill(rl, e, now_ms);
		w = wait_s(rl, e, now_ms);
	}
	pthread_mutex_unlock(&rl->mu);
	return w;
}

int
vpd_rl_fail(vpd_rl *rl, const char *addr, int64_t now_ms)
{
	rl_entry *e, **link;
	int w;

	pthread_mutex_lock(&rl->mu);
	if ((e = find(rl, addr, &link)) == NULL) {
		if (rl->n >= rl->max) {
			evict_one(rl, now_ms);
			find(rl, addr, &link);   /* the chain may have changed */
		}
		if ((e = calloc(1, sizeof(*e))) == NULL) {
			pthread_mutex_unlock(&rl->mu);
			return 0;
		}
		snprintf(e->addr, sizeof(e->addr), "%s", addr);
		e->tokens = rl->burst;
		e->updated_ms = now_ms;
		*link = e;
		rl->n++;
	}
	refill(rl, e, now_ms);
	e->failed_ms = now_ms;
	e->tokens -= 1.0;
	if (e->tokens < 1.0 && rl->lockout_ms > 0 && e->locked_until_ms <= now_ms) {
		e->locked_until_ms = now_ms + rl->lockout_ms;
		if (e->tokens < 0)
			e->tokens = 0;
	}
	w = wait_s(rl, e, now_ms);
	pthread_mutex_unlock(&rl->mu);
	return w;
}

size_t
vpd_rl_count(vpd_rl *rl)
{
	size_t n;

	pthread_mutex_lock(&rl->mu);
	n = rl->n;
	pthread_mutex_unlock(&rl->mu);
	return n;
}
