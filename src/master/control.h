/*
 * control: the master's control socket, a unix stream socket on which
 * root or a member of the daemon's group sends one request line
 * ("reload wait\n") and reads one JSON reply line. The commands are the
 * rows of src/common/control.def.
 */
#ifndef ER_CONTROL_H
#define ER_CONTROL_H

#include <poll.h>
#include <stdint.h>

enum control_cmd {
#define CONTROL_CMD(name, id, changes, args, help) CTL_##id,
#include "common/control.def"
#undef CONTROL_CMD
	CTL_COUNT
};

struct control;
struct control_client;

/*
 * Called once per request. The handler answers with control_reply(),
 * now or later (a reload that is waited for); a client not answered yet
 * stays open.
 */
typedef void (*control_fn)(void *arg, struct control_client *cl, enum control_cmd cmd,
    const char *args);

/*
 * Listens on `path` (mode 0660; the directory is created, mode 0750,
 * when missing). NULL, logged, when that fails.
 */
struct control *control_open(const char *path, control_fn fn, void *arg);
void control_close(struct control *c);

/* The fds to poll (at most `max`), and serving what they say. */
int control_pollfds(struct control *c, struct pollfd *pfd, int max);
void control_handle(struct control *c, const struct pollfd *pfd, int n, uint64_t now_ms);

/* Sends the reply (one JSON object, no newline) and closes the client. */
void control_reply(struct control_client *cl, const char *json);

/* Parses "NAME [ARGS]" into a command; -1 if unknown. *args points into line. */
int control_parse(const char *line, enum control_cmd *cmd, const char **args);

#endif
