/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cruisectl's shared parts, bpftool style: main() in cruisectl.c dispatches through a table of
 * struct cmd to one file per command (cruisectl_<command>.c), each with its own argp; the helpers
 * they share are in cruisectl_common.c, the status/top table in cruisectl_table.c, the signals and
 * the terminal in cruisectl_term.c.
 */
#ifndef CRUISE_CRUISECTL_H
#define CRUISE_CRUISECTL_H

#include <argp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

#include "snapshot.h" /* struct cruise_maps, struct cruise_snapshot */
#include "units.h"    /* cruise_quote */

/* user input quoted in a message (cruise_quote): escaped, one line whatever it holds, and cut */
#define QUOTED_LEN CRUISE_QUOTE_LEN(256)

enum out_fmt { OUT_TEXT, OUT_JSON };

/* One command: its word, what runs it, its argp, how many arguments it takes. */
struct cmd {
	const char *name;
	int (*func)(void);
	const struct argp *argp;
	unsigned int min_args, max_args;
};

/* What the command line said: the tool's own options and the command's common ones. */
struct cruisectl_opts {
	const char *pin_dir;
	enum out_fmt out;
	__u64 count;	   /* top: refreshes, events: events; 0: until stopped */
	__u64 interval_ns; /* top */
	__u64 timeout_ns;  /* events; 0: none */
	const struct cmd *cmd;
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

/* the command line (cruisectl_common.c) */

/* --pin-dir, for the top level and, as a child, every command's argp */
extern const struct argp_option common_options[];
extern const struct argp_child common_children[];
/* The top level's options: --pin-dir, and the ones a command's argp lists (OPT_*). */
error_t parse_common(int key, char *arg, struct argp_state *state);
/* A command's argp parser: its arguments and the common options; its own keys come first. */
error_t parse_sub(int key, char *arg, struct argp_state *state);

/* output (cruisectl_common.c) */

/* One line on stderr, "cruisectl: " and fmt, after what stdout holds. */
void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* cruise_quote in the argument order of cruisectl_set.c, its last caller by this name */
#define quoted(buf, len, s) cruise_quote(s, buf, len)
/* s as a JSON string, quotes included */
void put_json_str(FILE *f, const char *s);
/* stdout flushed: 0, or -EIO after a line (none for a closed pipe) */
int flush_out(void);

/* the maps (cruisectl_common.c) */

/* The maps pinned under opts.pin_dir, or a line saying why not; 0 or a negative errno. */
int open_maps(struct cruise_maps *m);
int take_snapshot(const struct cruise_maps *m, struct cruise_snapshot *s);
/* A medium's name; one without a name goes by its index, as in /metrics. */
const char *medium_label(const struct cruise_medium *cfg, __u32 index, char *buf, size_t len);
const struct cruise_snapshot_medium *find_index(const struct cruise_snapshot *s, __u32 i);

/* the media table of status and top (cruisectl_table.c) */

struct row {
	char time[16], name[CRUISE_NAME_LEN + 16], rate[32], burst[24], max_wait[24], max_conns[24],
		dry_run[8], open[24], backlog[24], conns[32], delayed[32], mean[24], ref_wait[32],
		ref_conns[32];
};

/* A measured duration as people read it: us below 1 ms, ms below 10 s, whole seconds above. */
void fmt_approx(__u64 ns, char *buf, size_t len);
int name_width(const struct cruise_snapshot *s);
void print_row(FILE *f, const struct row *r, int name_w);
void print_header(FILE *f, int name_w, bool rates, bool time_col);
void fill_limits(struct row *r, const struct cruise_snapshot_medium *m);
void fill_mean(char *buf, size_t len, __u64 delay_ns, __u64 delayed);
void print_fleet_media(FILE *f, const struct cruise_snapshot *s);

/* signals and the terminal, for top and events (cruisectl_term.c) */

/* the stop signal caught (SIGINT, SIGTERM, ...), 0 while none */
extern volatile sig_atomic_t stop_signal;
/* Stop signals caught and blocked but in ppoll(); wait_mask is what wait_until gives ppoll(). */
void setup_signals(sigset_t *wait_mask);
/* Single keys from the terminal on stdin ('q'); false when it is not ours to read. */
bool enter_raw_mode(void);
void restore_terminal(void);
/* Wait until deadline (CLOCK_MONOTONIC), or fd readable; true when the user asked to stop. */
bool wait_until(__u64 deadline, bool keys, int fd, const sigset_t *mask);
/* Die of sig, as a shell script running cruisectl expects of a Ctrl-C. */
void reraise(int sig);

/* the commands, one file each */

int cmd_status(void);
extern const struct argp status_argp;
int cmd_top(void);
extern const struct argp top_argp;
int cmd_set(void);
extern const struct argp set_argp;
int cmd_bindings(void);
extern const struct argp bindings_argp;
int cmd_targets(void);
extern const struct argp targets_argp;
int cmd_events(void);
extern const struct argp events_argp;
int cmd_fleet(void);
extern const struct argp fleet_argp;

#endif /* CRUISE_CRUISECTL_H */
