// SPDX-License-Identifier: MIT
// header_cxx.cc - include/pagecache.h compiles as C++ (test_install.sh).
#include <pagecache.h>

int main()
{
	pc_options o = PC_OPTIONS_INIT;
	pc_stats st;
	return (o.size == sizeof o && pc_get_stats(nullptr, &st, sizeof st) == -22) ? 0 : 1;
}
