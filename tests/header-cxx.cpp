// The public header must compile as C++ (extern "C", no C-only syntax
// outside the macros a C++ caller can avoid).
#include "upager.h"

int header_cxx_probe();
int header_cxx_probe()
{
	struct upager_options o = {};
	o.sz = sizeof(o);
	upager_log_fn (*fn)(upager_log_fn) = upager_set_log;
	(void)fn;
	return static_cast<int>(o.sz);
}
