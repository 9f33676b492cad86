/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* cruisectl's shared parts: what a command's file (cruisectl_*.c) takes from cruisectl.c. */
#ifndef CRUISE_CRUISECTL_H
#define CRUISE_CRUISECTL_H

#include <argp.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

/* user input quoted in a message: escaped (one line whatever it holds) and cut */
#define QUOTED_LEN 160

enum out_fmt { OUT_TEXT, OUT_JSON };

struct command;

/* What the command line said: the tool's own options and the command's common ones. */
struct cruisectl_opts {
	const char *pin_dir;
	enum out_fmt out;
	__u64 count;	   /* top: refreshes, events: events; 0: until stopped */
	__u64 interval_ns; /* top */
	__u64 timeout_ns;  /* events; 0: none */
	const struct command *cmd;
	char **args;
	unsigned int n_args;
};

extern struct cruisectl_opts opts;

/* The options every command's argp may take (parse_sub); a command's own keys start above. */
enum {
	OPT_INTERVAL = 'i',
	OPT_COUNT = 'n',
	OPT_OUTPUT = 'o',
	OPT_PIN_DIR = 'p',
	OPT_TIMEOUT = 't',
	OPT_COMMAND_FIRST = 0x100, /* long options only */
};

#define OUTPUT_OPTION(what)                                                                        \
	{                                                                                          \
		"output", OPT_OUTPUT, "FORMAT", 0, "text (default) or json: " what, 0              \
	}

/* A command's argp parser: its arguments and the common options; its own keys come first. */
error_t parse_sub(int key, char *arg, struct argp_state *state);

/* One line on stderr, "cruisectl: " and fmt, after what stdout holds. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* s escaped as a JSON string body: safe to quote in a one-line message whatever it holds */
const char *quoted(char *buf, size_t len, const char *s);
void put_json_str(FILE *f, const char *s);
/* stdout flushed: 0, or -EIO after a line (none for a closed pipe) */
int flush_out(void);

/* the commands in their own files */
int cmd_fleet(void);
extern const struct argp fleet_argp;

#endif /* CRUISE_CRUISECTL_H */
