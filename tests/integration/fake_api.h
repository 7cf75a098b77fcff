/*
 * tests/integration/fake_api: a stand-in for a gmvm API socket, for the
 * client commands that no machine can answer here (migrate needs two
 * KVM machines, snapshot and update one).  It serves each connection on
 * a thread of its own: GET vm.info with info_body (a running machine
 * when NULL); anything else is "the PUT", recorded whole, answered
 * put_status/put_body after delay_ms, so a client can be seen waiting
 * and polling meanwhile.
 */
#ifndef GM_TEST_FAKE_API_H
#define GM_TEST_FAKE_API_H

#include <jansson.h>
#include <pthread.h>

#define FAKE_MAX_CONNS 256

struct fake {
	int lfd;
	char path[108];
	volatile int stop;
	pthread_t thread;
	/* the answer to the PUT, after delay_ms */
	int put_status;
	const char *put_body;
	int delay_ms;
	const char *info_body; /* vm.info's answer; set it before the client runs */
	pthread_mutex_t lock;
	char put_request[8192]; /* what the last PUT carried, headers and body */
	int puts, gets;         /* how many of each came */
	pthread_t conns[FAKE_MAX_CONNS];
	int nconns;
};

/* Listen at sock (which must not exist) and serve until fake_stop. */
void fake_start(struct fake *f, const char *sock, int status, const char *body, int delay_ms);
/* Stop, wait for every connection's thread, remove the socket. */
void fake_stop(struct fake *f);

/* The JSON object the last PUT carried (asserted to be one); after fake_stop. */
json_t *fake_put_body(const struct fake *f);

/* fake_stop, and assert that the client sent one request: the PUT. */
void fake_stop_one_put(struct fake *f);

#endif
