/* The VAPIX driver's product rules: one table of what each Axis product class can do with
 * HTTPS certificates (minimum firmware, TLS ceiling, HTTPS at all), applied at identify. */
#include <stdio.h>
#include <string.h>

#include "vapix_internal.h"

/* One product class. A device is of the first class whose ProdType contains one of the words
 * (both identity APIs report ProdType); a device that reports none is matched by the start
 * of its product number. The last row (cameras, encoders, everything else) matches all. */
typedef struct vx_product {
	const char *cls;
	const char *words[6];      /* in ProdType */
	const char *prefixes[3];   /* of ProdNbr / product name, when ProdType is absent */
	int min_major, min_minor;  /* certificates can be managed from this firmware */
	int tls12_major, tls12_minor; /* TLS 1.2 from this firmware; below, TLS 1.1 at most */
	int https;                 /* 0: the product has no HTTPS certificate to manage */
	const char *why;           /* for https 0: the reason, as the seed gives it */
} vx_product;

/* ADM: "devices require firmware 5.70, or 1.25 for Access control and Audio products";
 * "HTTPS cannot be enabled on the AXIS T85 PoE+ Network switch series". ACS: "AXIS OS
 * versions lower than 6.10 only support TLS 1.1", and vmspki (like ACS) needs TLS 1.2. The
 * access-control and audio firmware line starts at 1.x and has TLS 1.2 from 1.25 (assumed:
 * the seeds name no ceiling there). */
static const vx_product products[] = {
	{ "switch", { "Switch", NULL }, { "T85", NULL }, 0, 0, 0, 0, 0,
	    "HTTPS cannot be enabled on AXIS T85 PoE+ network switches" },
	{ "access-control", { "Door", "Access", "Reader", "Intercom", NULL }, { "A", NULL },
	    1, 25, 1, 25, 1, NULL },
	{ "audio", { "Speaker", "Audio", "Horn", "Microphone", "Amplifier", NULL }, { "C", NULL },
	    1, 25, 1, 25, 1, NULL },
	{ "camera", { NULL }, { NULL }, 5, 70, 6, 10, 1, NULL },
};

static int
older(long major, long minor, int want_major, int want_minor)
{
	return major < want_major || (major == want_major && minor < want_minor);
}

static const vx_product *
product_of(const char *type, const char *nbr)
{
	size_t i, k, last = sizeof(products) / sizeof(products[0]) - 1;

	for (i = 0; i < last; i++) {
		const vx_product *p = &products[i];

		if (type[0] != '\0') {
			for (k = 0; p->words[k] != NULL; k++)
				if (strstr(type, p->words[k]) != NULL)
					return p;
		} else {
			for (k = 0; p->prefixes[k] != NULL; k++)
				if (strncmp(nbr, p->prefixes[k], strlen(p->prefixes[k])) == 0)
					return p;
		}
	}
	return &products[last];
}

int
vx_product_allows(vx_op *op, long major, long minor)
{
	const vx_product *p = product_of(op->prod_type, op->prod_nbr[0] != '\0' ? op->prod_nbr :
	    op->res.model);
	const char *model = op->res.model, *fw = op->res.firmware;

	snprintf(op->res.product, sizeof(op->res.product), "%s", p->cls);
	if (!p->https)
		vx_fail(op, VP_DEVF_UNSUPPORTED, 0, "%s (%s) has no HTTPS: %s", model, p->cls,
		    p->why);
	else if (older(major, minor, p->min_major, p->min_minor))
		vx_fail(op, VP_DEVF_UNSUPPORTED, 0, "%s (%s) runs firmware %s, below %d.%02d: "
		    "HTTPS certificates cannot be managed; upgrade the firmware", model, p->cls,
		    fw, p->min_major, p->min_minor);
	else if (older(major, minor, p->tls12_major, p->tls12_minor))
		vx_fail(op, VP_DEVF_UNSUPPORTED, 0, "%s (%s) runs firmware %s, which speaks TLS 1.1 "
		    "at most (TLS 1.2 from %d.%02d) and vmspki needs TLS 1.2 or later; nothing was "
		    "written to it: upgrade the firmware", model, p->cls, fw, p->tls12_major,
		    p->tls12_minor);
	else
		return 1;
	snprintf(op->api, sizeof(op->api), "%s", VP_DEV_API_UNSUPPORTED);
	snprintf(op->res.api, sizeof(op->res.api), "%s", VP_DEV_API_UNSUPPORTED);
	return 0;
}
