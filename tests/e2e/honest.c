// SPDX-License-Identifier: GPL-2.0
/* An honest reporter through include/liveprobe.h: N episodes at 100 Hz to the ingest socket
 * PATH as worker "honest"; prints how many it could not send. */
#include <stdlib.h>

#include "liveprobe.h"

int main(int argc, char **argv)
{
	struct liveprobe lp;
	int n = argc > 2 ? atoi(argv[2]) : 0;

	if (argc < 3 || liveprobe_open(&lp, argv[1]))
		return 2;
	for (int i = 0; i < n; i++) {
		liveprobe_report_episode(&lp, "honest", liveprobe_now(), 1);
		usleep(10000);
	}
	printf("%lu\n", lp.unsent);
	liveprobe_close(&lp);
	return 0;
}
