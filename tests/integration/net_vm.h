/*
 * tests/integration/net_vm: the vnet guest (guests/vnet.c) in `gmvm run`
 * processes with --net, and a host UDP socket that talks to it: datagrams
 * echoed byte for byte, "quit" and its "bye N", the guest's last words.
 * One test's processes and files in nv (the suite's .init and .fini).
 */
#ifndef GM_TEST_NET_VM_H
#define GM_TEST_NET_VM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "procs.h"

struct net_vm {
	struct vm_files f;
	char console2[160], err2[160], out2[160]; /* a second process's (a destination, a restore) */
	pid_t pid, pid2;
};
extern struct net_vm nv;

/* A suite's .init and .fini: the files, the subreaper; the processes killed, the files gone. */
void nv_setup(void);
void nv_teardown(void);
/* Both processes' stderr and consoles on stderr. */
void nv_dump(void);

/* A UDP port nobody on 127.0.0.1 has now. */
unsigned free_port(void);
/* "user,hostfwd=udp:127.0.0.1:PORT-:7" into buf. */
void net_arg(char *buf, size_t len, unsigned port);
/* gmvm run vnet.elf with --net net, the API on nv.f.sock and extra (NULL-ended) options; back once the guest is up. */
pid_t start_vnet(const char *net, const char *const *extra, const char *console, const char *out, const char *err);
/* The guest with a hostfwd from a free port (nv.pid), u sending there, one datagram of size echoed (0: none); the port. */
struct udp {
	int fd;
	struct sockaddr_in to;
};
unsigned start_forwarded(struct udp *u, size_t size);

void udp_open_to(struct udp *u, uint32_t addr, unsigned port); /* addr: host order */
void udp_open(struct udp *u, unsigned port);                    /* to 127.0.0.1 */
ssize_t udp_recv(struct udp *u, uint8_t *buf, size_t max, int ms);
/* A datagram of size bytes (a pattern of seq) and its echo, byte for byte (sent again after silences); how many sends. */
unsigned nv_echo(struct udp *u, unsigned seq, size_t size);
/* Sizes from 1 to 1400 bytes (13 datagrams); how many sends. */
unsigned echo_many(struct udp *u, unsigned first_seq);
/* "quit": the N of the guest's "bye N". */
unsigned nv_quit(struct udp *u);
/* The guest of *p ended with 0 having echoed `echoed` (>= at_least) and answered ARP, with nothing bad seen. */
void expect_finished(pid_t *p, const char *console, unsigned echoed, unsigned at_least);
/* The MAC the guest printed when it last came up. */
void guest_mac(const char *console, char mac[18]);

struct answer nv_put(const char *endpoint, const char *body);
void expect_200(struct answer a, const char *what);
/* Migrate nv.pid over a unix socket to `gmvm run --incoming` with --net net (nv.pid2, nv.console2). */
void nv_migrate(const char *net);
/* A live update of nv.pid: the new process is nv.pid2 once the old one exited 0. */
void nv_update(void);
/* After nv_update: 13 more echoes through u (closed then), the guest's end, and no second start. */
void nv_echo_after_update(struct udp *u);

#endif
