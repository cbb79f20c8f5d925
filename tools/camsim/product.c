/* camsim's products other than cameras, and what each can do (the ADM and ACS seeds): access
 * control and audio products manage certificates from firmware 1.25, AXIS T85 PoE switches
 * cannot do HTTPS, and cameras below firmware 6.10 speak TLS 1.1 only. */
#include <string.h>

#include "camsim.h"

/* The products a fleet entry may name besides the cameras that generated fleets cycle
 * through: ProdNbr, ProdFullName, ProdType as the devices report them. */
static const struct cs_model other_models[] = {
	{ "A1601", "AXIS A1601 Network Door Controller", "Network Door Controller" },
	{ "A1001", "AXIS A1001 Network Door Controller", "Network Door Controller" },
	{ "C1004-E", "AXIS C1004-E Network Cabinet Speaker", "Network Speaker" },
	{ "T8508", "AXIS T8508 PoE+ Network Switch", "PoE+ Network Switch" },
	{ "T8516", "AXIS T8516 PoE+ Network Switch", "PoE+ Network Switch" },
};

const struct cs_model *
cs_product_model(const char *nbr)
{
	for (size_t i = 0; i < sizeof(other_models) / sizeof(other_models[0]); i++)
		if (strcmp(other_models[i].nbr, nbr) == 0)
			return &other_models[i];
	return NULL;
}

static int
is_switch(const cs_device *d)
{
	return strstr(d->prod_type, "Switch") != NULL;
}

/* Access control and audio: their own firmware line, certificates from 1.25. */
static int
is_acs_audio(const cs_device *d)
{
	return strstr(d->prod_type, "Door") != NULL || strstr(d->prod_type, "Access") != NULL ||
	    strstr(d->prod_type, "Reader") != NULL || strstr(d->prod_type, "Speaker") != NULL ||
	    strstr(d->prod_type, "Audio") != NULL;
}

int
cs_dev_https_capable(const cs_device *d)
{
	if (is_switch(d))
		return 0;
	if (is_acs_audio(d))
		return cs_fw_at_least(d, 1, 25);
	return cs_fw_at_least(d, 5, 70);
}

int
cs_dev_tls11_only(const cs_device *d)
{
	return cs_dev_https_capable(d) && !is_acs_audio(d) && !cs_fw_at_least(d, 6, 10);
}
