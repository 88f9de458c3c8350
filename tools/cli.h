/* SPDX-License-Identifier: MIT */
/*
 * cli.h - the subcommands of the `pagecache` executable (main.c dispatches).
 * Each takes its own argv (argv[0] = the subcommand) and returns the exit
 * status. No locks.
 */
#ifndef PC_TOOLS_CLI_H
#define PC_TOOLS_CLI_H

int cmd_mkfs(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_stress(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Directory holding the pagecache executable's build tree peers ("" if
 * unknown): <build>/tools. */
const char *cli_exe_dir(void);
/* The parsers are strict: decimal digits only (no sign, no blank, no
 * trailing text), at most one suffix letter, -1 on anything else and on
 * overflow. */
/* Parses "10", "10s", "5m", "1h" into seconds; -1 on error. */
long cli_parse_duration(const char *s);
/* Parses "1G", "512M", "4096" into bytes (K M G T: binary units); -1 on error. */
long long cli_parse_size(const char *s);
/* The same, a number without a suffix counting units of @unit bytes. */
long long cli_parse_size_unit(const char *s, unsigned long long unit);
/* A plain decimal number in [min, max] into *out: 0, or -1 on error. */
int cli_parse_num(const char *s, unsigned long long min, unsigned long long max,
		  unsigned long long *out);

#endif
