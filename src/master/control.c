/*
 * control: the control socket (see control.h). Non-blocking from end to
 * end: the master's poll loop reads requests and writes replies as the
 * clients allow, so a slow or stuck client never stalls the relay's
 * supervisor.
 *
 * Who may connect: root, the daemon's own user, or a member of the
 * daemon's group (SO_PEERCRED, checked at accept). The socket file is
 * mode 0660, so the kernel refuses most others first; anyone who gets
 * through anyway gets a JSON refusal and a log line. The one thing to
 * know: a client a handler has not answered yet (a reload waited for)
 * is freed only by control_reply(), even if its peer went away.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "master/control.h"

#define MAX_CLIENTS 16
#define REQUEST_MAX 1024
#define IDLE_MS 5000

static const char *const cmd_names[CTL_COUNT] = {
#define CONTROL_CMD(name, id, changes, args, help) [CTL_##id] = name,
#include "common/control.def"
#undef CONTROL_CMD
};

struct control_client {
	struct control *ctl;
	int fd;
	int held;		/* handed to the handler, not answered yet */
	int gone;		/* peer closed while held */
	uint64_t since_ms;
	size_t inlen;
	char in[REQUEST_MAX];
	char *out;
	size_t outlen, outoff;
};

struct control {
	int fd;
	char *path;
	control_fn fn;
	void *arg;
	struct control_client *cl[MAX_CLIENTS];
};

int
control_parse(const char *line, enum control_cmd *cmd, const char **args)
{
	size_t n = strcspn(line, " \t");

	for (int i = 0; i < CTL_COUNT; i++) {
		if (strlen(cmd_names[i]) == n && strncmp(line, cmd_names[i], n) == 0) {
			*cmd = (enum control_cmd)i;
			line += n;
			*args = line + strspn(line, " \t");
			return 0;
		}
	}
	return -1;
}

/* Creates the socket's directory when it is missing (one level). */
static void
make_dir(const char *path)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return;
	*slash = '\0';
	if (mkdir(dir, 0750) < 0 && errno != EEXIST)
		log_warn("control: mkdir %s: %s", dir, strerror(errno));
}

struct control *
control_open(const char *path, control_fn fn, void *arg)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control *c;
	int fd;

	if (path == NULL || path[0] == '\0')
		return NULL;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("control: socket path too long: %s", path);
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	make_dir(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("control: socket: %s", strerror(errno));
		return NULL;
	}
	/*
	 * A socket file left by a daemon that died refuses connections and is
	 * removed; a live one (or one we cannot tell) is left alone.
	 */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		log_error("control: %s: another event-relayd is listening there", path);
		close(fd);
		return NULL;
	}
	if (errno != ECONNREFUSED && errno != ENOENT) {
		log_error("control: %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	close(fd);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_error("control: socket: %s", strerror(errno));
		return NULL;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0660) < 0 ||
	    listen(fd, 16) < 0) {
		log_error("control: %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL || (c->path = strdup(path)) == NULL) {
		free(c);
		close(fd);
		unlink(path);
		log_error("control: out of memory");
		return NULL;
	}
	c->fd = fd;
	c->fn = fn;
	c->arg = arg;
	log_info("control: listening on %s", path);
	return c;
}

static void
client_free(struct control_client *cl)
{
	struct control *c = cl->ctl;

	if (c != NULL)
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (c->cl[i] == cl)
				c->cl[i] = NULL;
	if (cl->fd >= 0)
		close(cl->fd);
	free(cl->out);
	free(cl);
}

void
control_close(struct control *c)
{
	if (c == NULL)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct control_client *cl = c->cl[i];

		/* A reply still queued (`stop`'s) gets one try before the close. */
		if (cl != NULL && cl->out != NULL && cl->fd >= 0 &&
		    write(cl->fd, cl->out + cl->outoff, cl->outlen - cl->outoff) < 0)
			log_debug("control: a reply was lost at exit: %s", strerror(errno));
		if (cl != NULL)
			client_free(cl);
	}
	close(c->fd);
	unlink(c->path);
	free(c->path);
	free(c);
}

/* Root, our own user, or a member of our group. */
static int
allowed(uid_t uid, gid_t gid)
{
	gid_t mine = getegid(), *groups;
	int n = 64, ok = 0;
	struct passwd *pw;

	if (uid == 0 || uid == geteuid() || gid == mine)
		return 1;
	/* Supplementary groups: a name service lookup, once per such client. */
	pw = getpwuid(uid);
	if (pw == NULL)
		return 0;
	for (int tries = 0; tries < 2; tries++) {
		groups = malloc((size_t)n * sizeof(*groups));
		if (groups == NULL)
			return 0;
		if (getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) >= 0) {
			for (int i = 0; i < n; i++)
				ok |= groups[i] == mine;
			free(groups);
			return ok;
		}
		free(groups);	/* n is now the number needed */
	}
	return 0;
}

static void
queue_out(struct control_client *cl, const char *json)
{
	size_t n = strlen(json);

	free(cl->out);
	cl->out = malloc(n + 1);
	if (cl->out == NULL) {
		cl->outlen = 0;
		return;
	}
	memcpy(cl->out, json, n);
	cl->out[n] = '\n';
	cl->outlen = n + 1;
	cl->outoff = 0;
}

void
control_reply(struct control_client *cl, const char *json)
{
	cl->held = 0;
	if (cl->gone) {
		client_free(cl);
		return;
	}
	queue_out(cl, json);
	if (cl->out == NULL)
		client_free(cl);
}

static void
accept_one(struct control *c, uint64_t now_ms)
{
	struct ucred cr = { .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	socklen_t crlen = sizeof(cr);
	struct control_client *cl;
	int fd, slot = -1;

	fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	for (int i = 0; i < MAX_CLIENTS; i++)
		if (c->cl[i] == NULL) {
			slot = i;
			break;
		}
	if (slot < 0 || (cl = calloc(1, sizeof(*cl))) == NULL) {
		log_warn("control: too many clients: connection refused");
		close(fd);
		return;
	}
	cl->ctl = c;
	cl->fd = fd;
	cl->since_ms = now_ms;
	c->cl[slot] = cl;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) < 0 || !allowed(cr.uid, cr.gid)) {
		char msg[160];

		log_warn("control: refused a client (pid %ld, uid %ld): not root and not in the "
		    "daemon's group", (long)cr.pid, (long)cr.uid);
		snprintf(msg, sizeof(msg), "{\"ok\":false,\"error\":\"permission denied: uid %ld is "
		    "not root and not in the daemon's group\"}", (long)cr.uid);
		queue_out(cl, msg);
	}
}

static void
read_request(struct control_client *cl)
{
	enum control_cmd cmd;
	const char *args;
	char *nl;
	ssize_t n;

	n = read(cl->fd, cl->in + cl->inlen, sizeof(cl->in) - 1 - cl->inlen);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		client_free(cl);
		return;
	}
	if (n < 0)
		return;
	cl->inlen += (size_t)n;
	cl->in[cl->inlen] = '\0';
	nl = strchr(cl->in, '\n');
	if (nl == NULL) {
		if (cl->inlen == sizeof(cl->in) - 1)
			queue_out(cl, "{\"ok\":false,\"error\":\"request too long\"}");
		return;
	}
	*nl = '\0';
	if (nl > cl->in && nl[-1] == '\r')
		nl[-1] = '\0';
	if (control_parse(cl->in, &cmd, &args) < 0) {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		if (f == NULL) {
			client_free(cl);
			return;
		}
		fputs("{\"ok\":false,\"error\":", f);
		json_str(f, "unknown command (see event-relayctl(8))");
		fputs(",\"request\":", f);
		cl->in[strcspn(cl->in, " \t")] = '\0';
		json_str(f, cl->in);
		fputc('}', f);
		if (fclose(f) == 0)
			queue_out(cl, buf);
		free(buf);
		return;
	}
	cl->held = 1;
	cl->ctl->fn(cl->ctl->arg, cl, cmd, args);
}

static void
write_reply(struct control_client *cl)
{
	ssize_t n = write(cl->fd, cl->out + cl->outoff, cl->outlen - cl->outoff);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		client_free(cl);
		return;
	}
	cl->outoff += (size_t)n;
	if (cl->outoff == cl->outlen)
		client_free(cl);
}

int
control_pollfds(struct control *c, struct pollfd *pfd, int max)
{
	int n = 0;

	if (c == NULL || max < 1)
		return 0;
	pfd[n++] = (struct pollfd){ .fd = c->fd, .events = POLLIN };
	for (int i = 0; i < MAX_CLIENTS && n < max; i++) {
		struct control_client *cl = c->cl[i];

		if (cl == NULL || cl->gone)
			continue;
		pfd[n++] = (struct pollfd){ .fd = cl->fd,
		    .events = cl->out != NULL ? POLLOUT : POLLIN };
	}
	return n;
}

void
control_handle(struct control *c, const struct pollfd *pfd, int n, uint64_t now_ms)
{
	if (c == NULL)
		return;
	for (int k = 1; k < n; k++) {
		struct control_client *cl = NULL;

		if (pfd[k].revents == 0)
			continue;
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (c->cl[i] != NULL && c->cl[i]->fd == pfd[k].fd)
				cl = c->cl[i];
		if (cl == NULL)
			continue;
		if (cl->out != NULL && (pfd[k].revents & (POLLOUT | POLLERR | POLLHUP)))
			write_reply(cl);
		else if (cl->held && (pfd[k].revents & (POLLHUP | POLLERR | POLLIN))) {
			char b;
			ssize_t r = read(cl->fd, &b, 1);

			/* Waiting for its answer: only notice that the peer left. */
			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
				close(cl->fd);
				cl->fd = -1;
				cl->gone = 1;
			}
		} else if (!cl->held && (pfd[k].revents & (POLLIN | POLLHUP | POLLERR)))
			read_request(cl);
	}
	if (n > 0 && (pfd[0].revents & POLLIN))
		for (int i = 0; i < 8; i++)
			accept_one(c, now_ms);
	for (int i = 0; i < MAX_CLIENTS; i++) {
		struct control_client *cl = c->cl[i];

		if (cl != NULL && !cl->held && now_ms - cl->since_ms > IDLE_MS)
			client_free(cl);
	}
}
