/*
 * Writes the seed corpus of tests/fuzz/corpus/move_header (see
 * fuzz_move_header.c for the layout) with gmvm's own writers: a migration
 * sender's streams (gm_stream_out_*), the destination's frames
 * (gm_frame_send*), a live update's messages (gm_ho_send) and their JSON,
 * and a few each of them refuses.  Built beside the fuzz targets; run
 *   build-x/tests/fuzz/make_move_header_corpus tests/fuzz/corpus/move_header
 * The files are committed; rerun only to change the seeds.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "move/handover.h"
#include "move/move.h"

#define UUID "6f1c2a3e-0d4b-4c8e-9a7f-2b5d1e3c4a6f"
#define SESSION "0123456789abcdef0123456789abcdef"
#define MACHINE                                                                                               \
	"\"gmvm_version\":\"0.1.0\",\"uuid\":\"" UUID "\",\"config\":{\"cpus\":2,\"cmdline\":\"console=ttyS0\"," \
	"\"memory\":{\"size\":268435456,\"backend\":\"memfd\",\"hugepages\":\"4K\",\"prealloc\":false}"
#define REGIONS                                                                                    \
	"\"regions\":[{\"name\":\"ram\",\"size\":268435456,\"gpa\":0,\"page_size\":4096,\"backend\":\"memfd\"}," \
	"{\"name\":\"extra\",\"size\":2097152,\"gpa\":4294967296,\"page_size\":4096,\"backend\":\"anon\"}]"
#define DEVICES                                                                                      \
	",\"devices\":{\"disks\":[{\"path\":\"/var/a.img\",\"readonly\":true,\"direct\":false}]," \
	"\"virtio_console\":true,\"virtio_rng\":false}"

static const char *dir;
static int sv[2];

static void die(const char *what, const struct gm_error *err)
{
	fprintf(stderr, "make_move_header_corpus: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

static void open_wire(void)
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair", NULL);
}

/* Whatever the writers put on the wire, after prefix, as seed name. */
static void save(const char *name, const void *prefix, size_t plen)
{
	static char buf[1 << 20];
	char path[4096];
	size_t n = 0;
	ssize_t k;
	FILE *f;

	close(sv[0]);
	while ((k = read(sv[1], buf + n, sizeof(buf) - n)) > 0)
		n += (size_t)k;
	close(sv[1]);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(prefix, 1, plen, f) != plen || fwrite(buf, 1, n, f) != n || fclose(f))
		die(path, NULL);
}

/* Mode 0: a sender's first connection, header json and pages of region 0 (and 1), then END unless cut. */
static void stream(const char *name, const char *json, bool pages, bool zstd, bool end)
{
	static uint8_t mem[4 * 4096];
	struct gm_stream_out *w;
	struct gm_error err = { 0 };

	open_wire();
	memset(mem + 4096, 0xa5, 4096);
	memcpy(mem + 3 * 4096, "gmvm", 4);
	if (gm_stream_out_open(sv[0], &w, &err) || gm_stream_out_header(w, json, strlen(json), &err))
		die(name, &err);
	if (pages && (gm_stream_out_pages(w, 0, mem, 4096, 0, 4, NULL, zstd ? GM_PAGES_COMPRESS : 0, &err) ||
		      gm_stream_out_pages(w, 1, mem, 4096, 0, 2, NULL, GM_PAGES_ZEROS, &err) ||
		      gm_stream_out_section(w, GM_SECTION_MIGRATION, 0, 1, "{\"rounds\":1}", 12, zstd, &err)))
		die(name, &err);
	if (end ? gm_stream_out_end(w, &err) : gm_stream_out_flush(w, &err))
		die(name, &err);
	gm_stream_out_free(w);
	save(name, "\x00", 1);
}

/* Mode 1: frames as the destination sends them. */
static void frames(const char *name, const uint32_t *kinds, unsigned n, const char *text)
{
	struct gm_error err = { 0 };

	open_wire();
	for (unsigned i = 0; i < n; i++)
		if (kinds[i] == GM_FRAME_PAGE ? gm_frame_send_page(sv[0], 1, 12345, &err)
					      : gm_frame_send(sv[0], kinds[i], kinds[i] == GM_FRAME_REFUSED ? 1 : 0,
							      kinds[i] == GM_FRAME_REFUSED ? text : NULL, 1000, &err))
			die(name, &err);
	save(name, "\x01", 1);
}

/* Mode 2: one message of kind (json text) as gm_ho_send sends it, read expecting want. */
static void handover(const char *name, unsigned want, enum gm_handover_kind kind, const char *json)
{
	struct gm_error err = { 0 };
	uint8_t prefix[2] = { 2, (uint8_t)(want - 1) };

	open_wire();
	if (gm_ho_send(sv[0], kind, json_loads(json, 0, NULL), NULL, 0, 1000, &err))
		die(name, &err);
	save(name, prefix, 2);
}

/* Mode 3: a JSON text that nfds fds came with. */
static void text(const char *name, unsigned nfds, const char *json)
{
	uint8_t prefix[2] = { 3, (uint8_t)nfds };

	open_wire();
	if (write(sv[0], json, strlen(json)) != (ssize_t)strlen(json))
		die(name, NULL);
	save(name, prefix, 2);
}

#define MIG(ch, n) ",\"migration\":{\"session\":\"" SESSION "\",\"channel\":" #ch ",\"connections\":" #n \
		   ",\"mode\":\"precopy\",\"compress\":false}"
#define HELLO_HEADER(h) "{\"stream_version\":1,\"gmvm_version\":\"0.1.0\",\"header\":" h ",\"updates\":1," \
			"\"console\":\"file\",\"console_path\":\"/tmp/c.log\"," \
			"\"regions\":[{\"name\":\"ram\",\"movable\":true,\"numa_node\":0,\"track_dirty\":false}," \
			"{\"name\":\"extra\",\"movable\":false,\"numa_node\":0,\"track_dirty\":true}]," \
			"\"fds\":[\"region\",\"region\",\"console\",\"lock\"]}"

int main(int argc, char **argv)
{
	static const uint32_t ready_running[] = { GM_FRAME_READY, GM_FRAME_RUNNING };
	static const uint32_t postcopy[] = { GM_FRAME_READY, GM_FRAME_PAGE, GM_FRAME_PAGE, GM_FRAME_DONE, GM_FRAME_RUNNING };
	static const uint32_t refused[] = { GM_FRAME_REFUSED };
	static const uint32_t bad_kind[] = { 9 };
	/* the header as a JSON string inside HELLO */
	const char *quoted = "\"{\\\"gmvm_version\\\":\\\"0.1.0\\\",\\\"uuid\\\":\\\"" UUID "\\\",\\\"config\\\":{\\\"cpus\\\":1,"
			     "\\\"memory\\\":{\\\"size\\\":268435456,\\\"backend\\\":\\\"memfd\\\",\\\"hugepages\\\":\\\"4K\\\"}},"
			     "\\\"regions\\\":[{\\\"name\\\":\\\"ram\\\",\\\"size\\\":268435456},{\\\"name\\\":\\\"extra\\\","
			     "\\\"size\\\":2097152,\\\"gpa\\\":4294967296,\\\"page_size\\\":4096,\\\"backend\\\":\\\"memfd\\\"}]}\"";
	char hello[4096];

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
		return 2;
	}
	dir = argv[1];
	snprintf(hello, sizeof(hello), HELLO_HEADER("%s"), quoted);

	stream("stream_ram", "{" MACHINE "}" MIG(0, 1) "}", true, false, true);
	stream("stream_regions_devices", "{" MACHINE DEVICES "}," REGIONS MIG(0, 4) "}", true, true, true);
	stream("stream_cut", "{" MACHINE "}" MIG(0, 2) "}", true, false, false);
	stream("stream_channel1", "{\"gmvm_version\":\"0.1.0\",\"uuid\":\"" UUID "\"" MIG(1, 2) "}", false, false, true);
	stream("stream_17_connections", "{" MACHINE "}" MIG(0, 17) "}", false, false, true);
	stream("stream_snapshot", "{" MACHINE "}}", true, false, true);

	frames("frames_ready_running", ready_running, 2, NULL);
	frames("frames_postcopy", postcopy, 5, NULL);
	frames("frames_refused", refused, 1, "the destination's --incoming-identity is another VM\n\x1b[31m");
	frames("frames_bad_kind", bad_kind, 1, NULL);

	handover("ho_hello", GM_HO_HELLO, GM_HO_HELLO, hello);
	handover("ho_handover", GM_HO_HANDOVER, GM_HO_HANDOVER,
		 "{\"t0_us\":1,\"start_us\":0,\"check_ms\":1.5,\"state_bytes\":4096,\"running\":true,"
		 "\"paths\":{\"api\":\"/tmp/api.sock\"},\"fds\":[]}");
	handover("ho_can", GM_HO_CAN, GM_HO_CAN, "{\"bind\":\"ram=mapped,extra=mapped\"}");
	handover("ho_ready", GM_HO_READY, GM_HO_READY, "{\"load_us\":1234}");
	handover("ho_running", GM_HO_RUNNING, GM_HO_RUNNING, "{\"pause_us\":99}");
	handover("ho_commit", GM_HO_COMMIT, GM_HO_COMMIT, "{}");
	handover("ho_refused", GM_HO_READY, GM_HO_REFUSED, "{\"error\":\"the new gmvm cannot map region extra\",\"status\":3}");
	handover("ho_wrong_kind", GM_HO_HELLO, GM_HO_READY, "{\"load_us\":1}");

	text("json_hello", 4, hello);
	text("json_hello_no_fds", 0, hello);
	text("json_hello_version_9", 4, "{\"stream_version\":9,\"header\":\"{}\",\"regions\":[]}");
	text("json_handover", 2, "{\"t0_us\":1,\"running\":false,\"paths\":{\"api\":\"/a\"},\"fds\":[\"api\",\"state\"]}");
	text("json_handover_no_state", 1, "{\"fds\":[\"api\"]}");
	text("json_migration_header", 0, "{" MACHINE DEVICES "}," REGIONS MIG(0, 16) "}");
	printf("seeds written to %s\n", dir);
	return 0;
}
