/* The public header must compile as strict ISO C99 with no extensions. */
#include "upager.h"

int header_c99_probe(void);
int header_c99_probe(void)
{
	struct upager_options o = UPAGER_OPTS(.handler_threads = 1);
	struct upager_stats s = UPAGER_STATS();

	return (int)(o.sz + s.sz);
}
