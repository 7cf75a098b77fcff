/*
 * cli/options: `gmvm run` options into a gm_config.  A hand-written loop
 * rather than getopt_long, because getopt keeps its state in globals
 * (optind, optarg) and this parser must be reentrant and callable many times
 * in one process (tests, a future control API).
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/options.h"
#include "move/transport.h"
#include "util/escape.h"

#define USAGE_LINE "usage: gmvm run [OPTIONS] GUEST (gmvm run --help lists the options)"

/* User input quoted in a message: escaped and cut (util/escape.h). */
#define Q(s, buf) gm_escape((s), (buf), sizeof(buf))

enum opt_id {
	O_KERNEL, O_MEMORY, O_REGION, O_CPUS, O_CMDLINE, O_CONSOLE, O_ENTRY, O_TIMEOUT, O_TRACE, O_API_SOCK,
	O_EVENT_MONITOR, O_UUID, O_RESTORE, O_NEW_IDENTITY, O_RESTORE_MODE, O_DIRTY_LOG,
	O_INCOMING, O_INCOMING_IDENTITY, O_INCOMING_TIMEOUT, O_TAKEOVER, O_TEST_UPDATE_DIE, O_HELP,
	O_INITRD, O_CPU, O_DISK, O_DEVICE, O_NET, O_BALLOON, O_SECCOMP,
};

struct opt {
	const char *name;  /* long name, without "--" */
	char short_name;   /* 0: none */
	const char *arg;   /* argument name for messages, NULL: a flag */
	enum opt_id id;
	/* The value is optional and only inline: "--balloon", "--balloon=K=V,..." or "--balloon,K=V,..." */
	bool optional_val;
};

static const struct opt opts[] = {
	{ "kernel", 0, "PATH", O_KERNEL },
	{ "memory", 'm', "SPEC", O_MEMORY },
	{ "region", 0, "name=NAME,SPEC", O_REGION },
	{ "cpus", 'c', "N", O_CPUS },
	{ "cmdline", 'a', "STR", O_CMDLINE },
	{ "initrd", 0, "PATH", O_INITRD },
	{ "cpu", 0, "TEMPLATE", O_CPU },
	{ "disk", 0, "SPEC", O_DISK },
	{ "device", 0, "KIND", O_DEVICE },
	{ "net", 0, "user[,hostfwd=...]|tap=NAME", O_NET },
	{ "balloon", 0, "[,free-page-reporting=on|off][,deflate-on-oom=on|off]", O_BALLOON, true },
	{ "console", 0, "stdio|file:PATH|none", O_CONSOLE },
	{ "entry", 0, "auto|linux64|pvh", O_ENTRY },
	{ "timeout", 0, "SECONDS", O_TIMEOUT },
	{ "trace-startup", 0, NULL, O_TRACE },
	{ "api-sock", 0, "PATH", O_API_SOCK },
	{ "event-monitor", 0, "path=FILE|fd=N", O_EVENT_MONITOR },
	{ "seccomp", 0, "on|log|off", O_SECCOMP },
	{ "uuid", 0, "UUID", O_UUID },
	{ "restore", 0, "DIR", O_RESTORE },
	{ "new-identity", 0, NULL, O_NEW_IDENTITY },
	{ "restore-mode", 0, "copy|map|ondemand", O_RESTORE_MODE },
	{ "dirty-log", 0, "auto|ring|bitmap", O_DIRTY_LOG },
	{ "incoming", 0, "tcp:HOST:PORT|unix:PATH", O_INCOMING },
	{ "incoming-identity", 0, "UUID", O_INCOMING_IDENTITY },
	{ "incoming-timeout", 0, "SECONDS", O_INCOMING_TIMEOUT },
	{ "help", 'h', NULL, O_HELP },
	/* not in the usage: what a live update starts its new process with (docs/live-update.md) */
	{ "takeover", 0, "FD", O_TAKEOVER },
	{ "test-update-die", 0, "PHASE", O_TEST_UPDATE_DIE },
};

#define N_OPTS (sizeof(opts) / sizeof(opts[0]))

static int parse_cpus(const char *s, unsigned *out, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	unsigned v = 0;

	if (!*s)
		goto bad;
	for (const char *p = s; *p; p++) {
		if (*p < '0' || *p > '9')
			goto bad;
		v = v * 10 + (unsigned)(*p - '0');
		if (v > GM_MAX_CPUS)
			goto bad;
	}
	if (v == 0)
		goto bad;
	*out = v;
	return 0;
bad:
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--cpus %s: must be 1 to %d", Q(s, q),
		       GM_MAX_CPUS);
}

/* DIGITS[.DIGITS] (or .DIGITS), computed by hand so the locale's decimal
 * point and strtod's hex, exponent and inf forms play no part. */
static int parse_timeout(const char *name, const char *s, double *out, struct gm_error *err)
{
	double v = 0, scale = 1;
	bool dot = false, digits = false;
	char q[GM_ESCAPE_SHORT];

	for (const char *p = s; *p; p++) {
		if (*p == '.' && !dot) {
			dot = true;
		} else if (*p >= '0' && *p <= '9') {
			digits = true;
			if (dot) {
				scale /= 10;
				v += (*p - '0') * scale;
			} else {
				v = v * 10 + (*p - '0');
			}
		} else {
			digits = false;
			break;
		}
	}
	if (!digits || !(v > 0))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "%s %s: must be a positive number of seconds, e.g. 10 or 0.5", name, Q(s, q));
	if (!isfinite(v) || v > GM_CLI_TIMEOUT_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ERANGE,
			       "%s %s: must be at most %.0f seconds", name, Q(s, q), GM_CLI_TIMEOUT_MAX);
	*out = v;
	return 0;
}

static int parse_console(const char *s, struct gm_config *cfg, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];

	if (strcmp(s, "stdio") == 0) {
		cfg->console = GM_CONSOLE_STDIO;
		cfg->console_path = NULL;
	} else if (strcmp(s, "none") == 0) {
		cfg->console = GM_CONSOLE_NONE;
		cfg->console_path = NULL;
	} else if (strncmp(s, "file:", 5) == 0) {
		if (!s[5])
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--console %s: the path is empty; write file:PATH, e.g. file:guest.log",
				       Q(s, q));
		cfg->console = GM_CONSOLE_FILE;
		cfg->console_path = s + 5;
	} else {
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--console %s: unknown console; use stdio, file:PATH or none", Q(s, q));
	}
	return 0;
}

static int parse_entry(const char *s, enum gm_entry *out, struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];

	if (strcmp(s, "auto") == 0)
		*out = GM_ENTRY_AUTO;
	else if (strcmp(s, "linux64") == 0)
		*out = GM_ENTRY_LINUX64;
	else if (strcmp(s, "pvh") == 0)
		*out = GM_ENTRY_PVH;
	else
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--entry %s: unknown entry; use auto, linux64 or pvh", Q(s, q));
	return 0;
}

static int parse_memory(const char *s, struct gm_config *cfg, bool *given, struct gm_error *err)
{
	struct gm_error e = { 0 };
	char q[GM_ESCAPE_SHORT];

	if (*given)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--memory given twice; put every memory setting in one --memory, e.g. --memory 1G,backend=memfd");
	*given = true;
	if (gm_mem_config_parse(s, &cfg->mem, &e))
		return gm_fail(err, e.status, e.errnum, "--memory %s: %s", Q(s, q), e.msg);
	cfg->mem.given = true;
	return 0;
}

/* One --region: parsed by the --memory parser, named, counted and told apart from the others. */
static int parse_region(const char *s, struct gm_config *cfg, struct gm_error *err)
{
	struct gm_error e = { 0 };
	char q[GM_ESCAPE_SHORT];

	if (cfg->nregions == GM_MAX_REGIONS - 1)
		return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG,
			       "--region %s: too many regions; a VM has at most %d in all (ram and %d --region)", Q(s, q),
			       GM_MAX_REGIONS, GM_MAX_REGIONS - 1);
	if (gm_region_config_parse(s, &cfg->regions[cfg->nregions], &e))
		return gm_fail(err, e.status, e.errnum, "--region %s: %s", Q(s, q), e.msg);
	cfg->nregions++;
	/* the name rules, at once, so the message names the option at fault */
	return gm_regions_check(cfg, false, err);
}

/*
 * --incoming URL, checked as the destination will use it: a URL it can
 * listen on (a UNIX path leaves room for the temporary name it binds first).
 */
static int parse_incoming(const char *s, struct gm_config *cfg, struct gm_error *err)
{
	struct gm_error e = { 0 };
	struct gm_move_url u;
	char q[GM_ESCAPE_PATH], q2[GM_ESCAPE_PATH];

	if (cfg->incoming)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--incoming given twice ('%s' and '%s'); a destination takes one sender at one URL",
			       Q(cfg->incoming, q), Q(s, q2));
	if (gm_move_url_parse(s, &u, &e))
		return gm_fail(err, e.status, e.errnum, "--incoming: %s", e.msg);
	if (u.kind == GM_URL_UNIX && strlen(u.path) > GM_UNIX_LISTEN_PATH_MAX)
		return gm_fail(err, GM_STATUS_BAD_INPUT, ENAMETOOLONG,
			       "--incoming %s: the path is %zu bytes, more than the %d gmvm can listen on; choose a shorter path",
			       Q(s, q), strlen(u.path), GM_UNIX_LISTEN_PATH_MAX);
	cfg->incoming = s;
	return 0;
}

/* What the parser remembers between arguments. */
struct parse_state {
	bool mem_given;
	bool console_given;
	bool kernel_from_opt; /* cfg->kernel came from --kernel, not the GUEST argument */
};

/*
 * The guest ELF, from --kernel (from_opt) or the GUEST argument: either way
 * once, so a second one is refused naming both rather than silently winning.
 */
static int set_kernel(struct parse_state *st, struct gm_config *cfg, const char *path, bool from_opt,
		      struct gm_error *err)
{
	char a[GM_ESCAPE_PATH], b[GM_ESCAPE_PATH];

	if (cfg->kernel && st->kernel_from_opt != from_opt)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--kernel '%s' and the argument '%s' both name the guest ELF; give it once, either way",
			       Q(from_opt ? path : cfg->kernel, a), Q(from_opt ? cfg->kernel : path, b));
	if (cfg->kernel && from_opt)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--kernel given twice ('%s' and '%s'); give one guest ELF",
			       Q(cfg->kernel, a), Q(path, b));
	if (cfg->kernel)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "unexpected argument '%s' after the guest ELF '%s'; " USAGE_LINE,
			       Q(path, a), Q(cfg->kernel, b));
	if (!*path)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "the guest ELF path is empty; " USAGE_LINE);
	cfg->kernel = path;
	st->kernel_from_opt = from_opt;
	return 0;
}

/*
 * A console file that is the guest image would be truncated by the console's
 * open before the image is read.  Compared by device and inode, so another
 * spelling of the same path (./g.elf, a link) is caught too; when either does
 * not exist yet they cannot be the same file.
 */
static int check_console_not_image(const struct gm_config *cfg, struct gm_error *err)
{
	struct stat con, img;
	char q[GM_ESCAPE_PATH];

	if (cfg->console != GM_CONSOLE_FILE || !cfg->console_path || !cfg->kernel)
		return 0;
	if (stat(cfg->console_path, &con) < 0 || stat(cfg->kernel, &img) < 0)
		return 0;
	if (con.st_dev != img.st_dev || con.st_ino != img.st_ino)
		return 0;
	return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
		       "--console file:%s is the guest image itself and would overwrite it; choose another file",
		       Q(cfg->console_path, q));
}

/* Apply one option with its value (NULL for a flag). */
static int apply(const struct opt *o, const char *val, struct gm_config *cfg, struct parse_state *st,
		 struct gm_error *err)
{
	char q[GM_ESCAPE_SHORT];
	int r;
	size_t len;

	switch (o->id) {
	case O_KERNEL:
		return set_kernel(st, cfg, val, true, err);
	case O_MEMORY:
		return parse_memory(val, cfg, &st->mem_given, err);
	case O_REGION:
		return parse_region(val, cfg, err);
	case O_CPUS:
		return parse_cpus(val, &cfg->cpus, err);
	case O_CMDLINE:
		len = strlen(val);
		if (len > GM_CLI_CMDLINE_MAX)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--cmdline: %zu bytes is too long; the guest command line holds at most %d",
				       len, GM_CLI_CMDLINE_MAX);
		cfg->cmdline = val;
		return 0;
	case O_INITRD:
		if (!*val)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--initrd: the path is empty; name the initial ramdisk file");
		cfg->initrd = val;
		return 0;
	case O_CPU:
		/* the template and its feature names are the machine's to check (x86/cpu_template.c) */
		if (!*val)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--cpu: empty; use host or minimal, e.g. --cpu host,-cx16");
		cfg->cpu = val;
		return 0;
	case O_DISK:
		if (cfg->ndisks == GM_MAX_DISKS)
			return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG, "more than %d --disk; use fewer disks", GM_MAX_DISKS);
		r = gm_disk_config_parse(val, &cfg->disks[cfg->ndisks], err);
		if (r)
			return r;
		cfg->ndisks++;
		return 0;
	case O_DEVICE:
		if (!strcmp(val, "virtio-console"))
			cfg->virtio_console = true;
		else if (!strcmp(val, "virtio-rng"))
			cfg->virtio_rng = true;
		else
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--device %s: use virtio-console or virtio-rng (disks are --disk)", Q(val, q));
		return 0;
	case O_NET:
		if (cfg->nnets == GM_MAX_NETS)
			return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG, "more than %d --net; use fewer interfaces", GM_MAX_NETS);
		r = gm_net_config_parse(val, &cfg->nets[cfg->nnets], err);
		if (r)
			return r;
		cfg->nnets++;
		return 0;
	case O_BALLOON:
		if (cfg->balloon.on)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--balloon given twice; a VM has one balloon, give it once");
		return gm_balloon_config_parse(val ? val : "", &cfg->balloon, err);
	case O_CONSOLE:
		st->console_given = true;
		return parse_console(val, cfg, err);
	case O_ENTRY:
		return parse_entry(val, &cfg->entry, err);
	case O_TIMEOUT:
		return parse_timeout("--timeout", val, &cfg->timeout, err);
	case O_TRACE:
		cfg->trace_startup = true;
		return 0;
	case O_API_SOCK:
		if (!*val)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--api-sock: the path is empty; name the socket to create, e.g. --api-sock /tmp/gmvm.sock");
		cfg->api_sock = val;
		return 0;
	case O_SECCOMP:
		/* the values of the sandbox's enum gm_seccomp_mode, spelled out so the
		 * option parser links without libseccomp (its tests, the fuzzer) */
		if (!strcmp(val, "on"))
			cfg->seccomp = 0;
		else if (!strcmp(val, "log"))
			cfg->seccomp = 1;
		else if (!strcmp(val, "off"))
			cfg->seccomp = 2;
		else
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--seccomp %s: say on, log or off", Q(val, q));
		return 0;
	case O_UUID: {
		uint8_t u[16];
		if (gm_uuid_parse(val, u, err))
			return -EINVAL;
		cfg->uuid = val;
		return 0;
	}
	case O_RESTORE:
		if (cfg->nrestore == GM_MAX_RESTORE)
			return gm_fail(err, GM_STATUS_BAD_INPUT, E2BIG, "more than %d --restore; merge the chain first (gmvm snapshot-merge)",
				       GM_MAX_RESTORE);
		cfg->restore[cfg->nrestore++] = val;
		return 0;
	case O_NEW_IDENTITY:
		cfg->new_identity = true;
		return 0;
	case O_RESTORE_MODE:
		if (!strcmp(val, "copy"))
			cfg->restore_mode = 0;
		else if (!strcmp(val, "map"))
			cfg->restore_mode = 1;
		else if (!strcmp(val, "ondemand"))
			cfg->restore_mode = 2;
		else
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--restore-mode %s: use copy, map or ondemand",
				       Q(val, q));
		return 0;
	case O_DIRTY_LOG:
		if (!strcmp(val, "auto"))
			cfg->dirty_log = GM_DIRTY_LOG_AUTO;
		else if (!strcmp(val, "ring"))
			cfg->dirty_log = GM_DIRTY_LOG_RING;
		else if (!strcmp(val, "bitmap"))
			cfg->dirty_log = GM_DIRTY_LOG_BITMAP;
		else
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--dirty-log %s: use auto, ring or bitmap",
				       Q(val, q));
		return 0;
	case O_INCOMING:
		return parse_incoming(val, cfg, err);
	case O_INCOMING_IDENTITY: {
		struct gm_error e = { 0 };
		uint8_t u[16];
		if (gm_uuid_parse(val, u, &e))
			return gm_fail(err, e.status, e.errnum, "--incoming-identity: %s", e.msg);
		cfg->incoming_identity = val;
		return 0;
	}
	case O_INCOMING_TIMEOUT:
		if (parse_timeout("--incoming-timeout", val, &cfg->incoming_timeout, err))
			return -EINVAL;
		if (cfg->incoming_timeout > GM_CLI_INCOMING_TIMEOUT_MAX)
			return gm_fail(err, GM_STATUS_BAD_INPUT, ERANGE,
				       "--incoming-timeout %s: must be at most %d seconds (a week)", Q(val, q),
				       GM_CLI_INCOMING_TIMEOUT_MAX);
		return 0;
	case O_EVENT_MONITOR:
		/* the spec itself is checked by gm_events_open, still before any VM exists */
		cfg->event_monitor = val;
		return 0;
	case O_TAKEOVER: {
		char *end;
		long fd = strtol(val, &end, 10);

		if (*val < '0' || *val > '9' || *end || fd < 3 || fd > 65535)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--takeover %s: not an fd number; this option is for the process a live update starts (PUT vmm.live-update)",
				       Q(val, q));
		cfg->takeover_fd = (int)fd;
		return 0;
	}
	case O_TEST_UPDATE_DIE: {
		static const char *const phases[] = { "hello", "check", "handover", "state", "load", "ready" };

		for (size_t i = 0; i < sizeof(phases) / sizeof(phases[0]); i++)
			if (!strcmp(val, phases[i])) {
				cfg->test_update_die = phases[i];
				return 0;
			}
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--test-update-die %s: use hello, check, handover, state, load or ready", Q(val, q));
	}
	case O_HELP:
		return 0;
	}
	return 0;
}

/* A live update's new process gets its guest, memory, identity and sockets from the old one. */
static int check_takeover(const struct gm_config *cfg, const struct parse_state *st, struct gm_error *err)
{
	const char *clash = cfg->kernel ? "a guest ELF" : cfg->nrestore ? "--restore" : cfg->incoming ? "--incoming"
			  : st->mem_given ? "--memory" : cfg->nregions ? "--region" : cfg->api_sock ? "--api-sock"
			  : st->console_given ? "--console" : cfg->ndisks ? "--disk" : cfg->initrd ? "--initrd"
			  : cfg->cpu ? "--cpu" : cfg->virtio_console || cfg->virtio_rng ? "--device"
			  : cfg->nnets ? "--net" : cfg->balloon.on ? "--balloon"
			  : cfg->event_monitor ? "--event-monitor" : cfg->uuid ? "--uuid" : NULL;

	if (cfg->takeover_fd < 0)
		return cfg->test_update_die ? gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--test-update-die needs --takeover FD")
					    : 0;
	if (clash)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "%s with --takeover: the running gmvm hands over its guest, memory, identity and sockets; drop it",
			       clash);
	return 0;
}

/*
 * Find the option named by arg ("--name", "--name=VALUE", "-x" or
 * "-xVALUE"); *inline_val is set to a value written in the same argument.
 */
static const struct opt *lookup(const char *arg, const char **inline_val)
{
	*inline_val = NULL;
	if (arg[1] == '-') {
		const char *name = arg + 2;
		const char *eq = strchr(name, '='), *comma = strchr(name, ',');
		size_t n = eq ? (size_t)(eq - name) : strlen(name);
		size_t nc = comma && (!eq || comma < eq) ? (size_t)(comma - name) : n;

		for (size_t i = 0; i < N_OPTS; i++) {
			if (strlen(opts[i].name) == n && memcmp(opts[i].name, name, n) == 0) {
				*inline_val = eq ? eq + 1 : NULL;
				return &opts[i];
			}
			if (opts[i].optional_val && nc < n && strlen(opts[i].name) == nc &&
			    memcmp(opts[i].name, name, nc) == 0) {
				*inline_val = name + nc + 1;
				return &opts[i];
			}
		}
		return NULL;
	}
	for (size_t i = 0; i < N_OPTS; i++) {
		if (opts[i].short_name && opts[i].short_name == arg[1]) {
			if (arg[2] && !opts[i].arg)
				return NULL; /* "-hx": no clustering of flags */
			*inline_val = arg[2] ? arg + 2 : NULL;
			return &opts[i];
		}
	}
	return NULL;
}

int gm_cli_parse_run(int argc, char **argv, struct gm_config *cfg, struct gm_error *err)
{
	struct parse_state st = { 0 };
	bool options_done = false;
	char q[GM_ESCAPE_SHORT];
	int ret;

	gm_config_defaults(cfg);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *val;
		const struct opt *o;

		if (options_done || arg[0] != '-' || arg[1] == '\0') {
			ret = set_kernel(&st, cfg, arg, false, err);
			if (ret)
				return ret;
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			options_done = true;
			continue;
		}
		o = lookup(arg, &val);
		if (!o)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "unknown option '%s'; " USAGE_LINE, Q(arg, q));
		if (!o->arg && val)
			return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
				       "--%s takes no value; write --%s", o->name, o->name);
		if (o->arg && !val && !o->optional_val) {
			if (i + 1 >= argc)
				return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
					       "--%s needs a value; write --%s %s", o->name, o->name,
					       o->arg);
			val = argv[++i];
		}
		if (o->id == O_HELP) {
			gm_cli_run_usage(stdout);
			return 1;
		}
		ret = apply(o, val, cfg, &st, err);
		if (ret)
			return ret;
	}
	if (cfg->nrestore && cfg->kernel)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--restore and a guest ELF both say what to run; a snapshot holds its guest, drop the ELF");
	if (cfg->incoming && cfg->kernel)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--incoming and a guest ELF both say what to run; the sender brings its guest, drop the ELF");
	if (cfg->incoming && cfg->nrestore)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--incoming and --restore both say where the guest comes from; give one");
	if (cfg->incoming && cfg->uuid)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--uuid with --incoming: the sender brings the VM's identity; to require one, write --incoming-identity UUID");
	if (!cfg->incoming && (cfg->incoming_identity || cfg->incoming_timeout > 0))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL,
			       "--incoming-identity and --incoming-timeout need --incoming URL");
	if (!cfg->nrestore && (cfg->new_identity || cfg->restore_mode))
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--new-identity and --restore-mode need --restore DIR");
	if (cfg->nrestore && cfg->uuid && cfg->new_identity)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "--uuid and --new-identity both set the identity; give one");
	ret = check_takeover(cfg, &st, err);
	if (ret)
		return ret;
	if (cfg->takeover_fd >= 0)
		return 0;
	if (!cfg->kernel && !cfg->nrestore && !cfg->incoming)
		return gm_fail(err, GM_STATUS_BAD_INPUT, EINVAL, "missing the guest ELF; " USAGE_LINE);
	/* a restore takes each region's size from the snapshot, an incoming guest from its sender */
	ret = gm_regions_check(cfg, !cfg->nrestore && !cfg->incoming, err);
	if (ret)
		return ret;
	return check_console_not_image(cfg, err);
}
