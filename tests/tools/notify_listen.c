/*
 * notify-listen: plays systemd's side of sd_notify for the tests. Binds
 * an AF_UNIX datagram socket and prints every datagram it receives.
 *
 *   notify-listen [-p] PATH    a socket file (removed again at exit)
 *   notify-listen [-p] @NAME   an abstract socket (Linux), as in
 *                              NOTIFY_SOCKET=@NAME
 *   -p                         begin each line with the sender's pid
 *                              and a space (SCM_CREDENTIALS, which
 *                              systemd checks for NotifyAccess=main)
 *
 * Output: one line per datagram on stdout, flushed at once, with each
 * newline inside the datagram replaced by one space and a final newline
 * dropped ("READY=1\nSTATUS=x y" prints as "READY=1 STATUS=x y"), so a
 * line is a datagram and a test can check which assignments came
 * together. A datagram longer than 4 KiB is cut and the line ends in
 * " [truncated]". Once bound it says "notify-listen: listening on NAME"
 * on stderr. SIGTERM or SIGINT ends it with status 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void
on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sigaction act;
	sigset_t block, none;
	socklen_t len;
	size_t n;
	int fd, abstract, pids = 0, one = 1;

	if (argc == 3 && strcmp(argv[1], "-p") == 0) {
		pids = 1;
		argv++;
		argc--;
	}
	if (argc != 2 || argv[1][0] == '\0') {
		fprintf(stderr, "usage: notify-listen [-p] PATH | @NAME\n");
		return 2;
	}
	n = strlen(argv[1]);
	abstract = argv[1][0] == '@';
	if (n >= sizeof(sa.sun_path) + (size_t)abstract || (abstract && n < 2)) {
		fprintf(stderr, "notify-listen: %s: bad socket name\n", argv[1]);
		return 2;
	}
	memcpy(sa.sun_path, argv[1], n);
	if (abstract)
		sa.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + !abstract);

	/* SIGTERM is blocked except inside ppoll(): no window to miss it in. */
	memset(&act, 0, sizeof(act));
	act.sa_handler = on_signal;
	sigemptyset(&act.sa_mask);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &none);
	sigdelset(&none, SIGTERM);
	sigdelset(&none, SIGINT);

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("notify-listen: socket");
		return 1;
	}
	if (pids && setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		perror("notify-listen: SO_PASSCRED");
		return 1;
	}
	if (!abstract)
		unlink(argv[1]);
	if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
		fprintf(stderr, "notify-listen: bind %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	fprintf(stderr, "notify-listen: listening on %s\n", argv[1]);

	while (!stop) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char buf[4096];
		union {
			struct cmsghdr align;
			char space[CMSG_SPACE(sizeof(struct ucred))];
		} ctl;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr msg = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = &ctl, .msg_controllen = sizeof(ctl),
		};
		struct cmsghdr *cm;
		ssize_t got;
		size_t m;

		if (ppoll(&pfd, 1, NULL, &none) < 0) {
			if (errno == EINTR)
				continue;
			perror("notify-listen: ppoll");
			break;
		}
		got = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
		if (got < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			perror("notify-listen: recv");
			break;
		}
		m = (size_t)got < sizeof(buf) ? (size_t)got : sizeof(buf);
		if (m > 0 && buf[m - 1] == '\n' && (size_t)got == m)
			m--;
		for (size_t i = 0; i < m; i++)
			if (buf[i] == '\n')
				buf[i] = ' ';
		if (pids) {
			long pid = 0;

			for (cm = CMSG_FIRSTHDR(&msg); cm != NULL; cm = CMSG_NXTHDR(&msg, cm)) {
				if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
					struct ucred uc;

					memcpy(&uc, CMSG_DATA(cm), sizeof(uc));
					pid = (long)uc.pid;
				}
			}
			printf("%ld ", pid);
		}
		fwrite(buf, 1, m, stdout);
		fputs((size_t)got > sizeof(buf) ? " [truncated]\n" : "\n", stdout);
		fflush(stdout);
	}
	close(fd);
	if (!abstract)
		unlink(argv[1]);
	return stop ? 0 : 1;
}
