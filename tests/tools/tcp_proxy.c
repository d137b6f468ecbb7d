/*
 * tcp-proxy: forwards TCP connections from a local port to a target,
 * and on SIGUSR1 turns into a blackhole: it stops reading, writing and
 * accepting, but closes nothing, so both ends see a silent connection
 * (as with a dropped route) rather than a reset. SIGUSR2 restores
 * forwarding; whatever either side sent meanwhile is then delivered,
 * and a side that gave up in the meantime closes its connection.
 *
 *   tcp-proxy TARGET_PORT      listens on an ephemeral port of
 *                              127.0.0.1, prints it on stdout, and
 *                              forwards to 127.0.0.1:TARGET_PORT
 *
 * SIGTERM ends it. For the fault tests only: single-threaded, one poll
 * loop, a 64 KiB buffer per direction.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 64
#define BUF_SIZE 65536

struct pipe_dir {
	char buf[BUF_SIZE];
	size_t len, off;	/* pending bytes buf[off..len) */
};

struct conn {
	int fd[2];		/* 0 client, 1 target */
	struct pipe_dir dir[2];	/* dir[i]: read from fd[i], written to fd[1 - i] */
};

static volatile sig_atomic_t blackhole, stop;
static struct conn *conns[MAX_CONNS];

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		blackhole = 1;
	else if (sig == SIGUSR2)
		blackhole = 0;
	else
		stop = 1;
}

static void
conn_close(int i)
{
	close(conns[i]->fd[0]);
	close(conns[i]->fd[1]);
	free(conns[i]);
	conns[i] = NULL;
}

static int
connect_target(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void
accept_one(int lfd, int target)
{
	int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC), tfd, one = 1;
	struct conn *c;
	int i;

	if (cfd < 0)
		return;
	for (i = 0; i < MAX_CONNS && conns[i] != NULL; i++)
		;
	if (i == MAX_CONNS || (tfd = connect_target(target)) < 0 ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		fprintf(stderr, "tcp-proxy: cannot forward a connection\n");
		close(cfd);
		return;
	}
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd[0] = cfd;
	c->fd[1] = tfd;
	conns[i] = c;
}

/* Moves bytes of one connection as far as poll said; -1 when it ends. */
static int
pump(struct conn *c, const short *revents)
{
	for (int d = 0; d < 2; d++) {
		struct pipe_dir *p = &c->dir[d];

		if (p->len == 0 && (revents[d] & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(c->fd[d], p->buf, sizeof(p->buf));

			if (n <= 0 && !(n < 0 && (errno == EINTR || errno == EAGAIN)))
				return -1;
			if (n > 0) {
				p->len = (size_t)n;
				p->off = 0;
			}
		}
		if (p->len > p->off && (revents[1 - d] & POLLOUT)) {
			ssize_t n = write(c->fd[1 - d], p->buf + p->off, p->len - p->off);

			if (n < 0 && errno != EINTR && errno != EAGAIN)
				return -1;
			if (n > 0)
				p->off += (size_t)n;
			if (p->off == p->len)
				p->len = p->off = 0;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	struct sigaction act;
	int lfd, target, one = 1;

	if (argc != 2 || (target = atoi(argv[1])) <= 0 || target > 65535) {
		fprintf(stderr, "usage: tcp-proxy TARGET_PORT\n");
		return 2;
	}
	memset(&act, 0, sizeof(act));
	act.sa_handler = on_signal;	/* no SA_RESTART: poll returns EINTR */
	sigaction(SIGUSR1, &act, NULL);
	sigaction(SIGUSR2, &act, NULL);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	signal(SIGPIPE, SIG_IGN);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 64) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
		perror("tcp-proxy: listen");
		return 1;
	}
	printf("%d\n", ntohs(sa.sin_port));
	fflush(stdout);

	while (!stop) {
		struct pollfd pfd[1 + 2 * MAX_CONNS];
		int idx[MAX_CONNS];
		nfds_t n = 0;
		int hole = blackhole;

		pfd[n++] = (struct pollfd){ .fd = hole ? -1 : lfd, .events = POLLIN };
		for (int i = 0; i < MAX_CONNS; i++) {
			struct conn *c = conns[i];

			idx[i] = -1;
			if (c == NULL || hole)
				continue;
			idx[i] = (int)n;
			for (int d = 0; d < 2; d++) {
				short ev = 0;

				if (c->dir[d].len == 0)
					ev |= POLLIN;
				if (c->dir[1 - d].len > c->dir[1 - d].off)
					ev |= POLLOUT;
				pfd[n++] = (struct pollfd){ .fd = c->fd[d], .events = ev };
			}
		}
		if (poll(pfd, n, hole ? 100 : 1000) < 0) {
			if (errno == EINTR)
				continue;
			perror("tcp-proxy: poll");
			return 1;
		}
		if (blackhole)
			continue;	/* the signal came during poll: touch nothing */
		if (pfd[0].revents & POLLIN)
			accept_one(lfd, target);
		for (int i = 0; i < MAX_CONNS; i++) {
			short rev[2];

			if (idx[i] < 0 || conns[i] == NULL)
				continue;
			rev[0] = pfd[idx[i]].revents;
			rev[1] = pfd[idx[i] + 1].revents;
			if (pump(conns[i], rev) < 0)
				conn_close(i);
		}
	}
	for (int i = 0; i < MAX_CONNS; i++)
		if (conns[i] != NULL)
			conn_close(i);
	close(lfd);
	return 0;
}
