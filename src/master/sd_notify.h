/*
 * sd_notify: the master's notifications to systemd (Type=notify), sent
 * as the sd_notify(3) protocol describes, without libsystemd: one
 * datagram of "VAR=value" lines per notification to $NOTIFY_SOCKET.
 *
 * Every function is harmless and silent when NOTIFY_SOCKET is unset, and
 * sends nothing when called from any process but the one that called
 * sd_notify_open() (a forked worker never sends). A failed send is
 * logged at warn once, then at debug; it is never fatal.
 */
#ifndef ER_SD_NOTIFY_H
#define ER_SD_NOTIFY_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

struct route_set;
struct stats_shm;

/*
 * Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID. Call in the
 * master once its pid is final (after daemonising). The watchdog is
 * used only when WATCHDOG_USEC is set and WATCHDOG_PID is unset or names
 * this process.
 */
void sd_notify_open(void);
void sd_notify_close(void);

/*
 * Once per step of the master's loop: READY=1 (with STATUS=) the first
 * time every worker is ready by stats_slot_ready, the rule of /ready;
 * after that STATUS= whenever the text changes, at most once a second
 * ("relaying: 2 workers ready, queue q -> topic t", "degraded: 1 of 2
 * workers ready; worker 1 redis down"); WATCHDOG=1 every half of
 * WATCHDOG_USEC.
 */
void sd_notify_update(const struct stats_shm *shm, const struct route_set *routes);

/*
 * The master's poll timeout: timeout_ms (negative: none), lowered so that
 * the next WATCHDOG=1 or a STATUS= held back by the once-a-second limit
 * is not late.
 */
int sd_notify_poll_timeout(int timeout_ms);

/* A graceful stop starts: STOPPING=1. From then on only WATCHDOG=1. */
void sd_notify_stopping(void);

/*
 * For the reload (systemd 253's Type=notify-reload, and a synchronous
 * ExecReload with Type=notify alike): sd_notify_reloading() when a
 * reload starts sends "RELOADING=1" and "MONOTONIC_USEC=<CLOCK_MONOTONIC
 * in microseconds>" in one datagram; sd_notify_reloaded() when it ends,
 * whether it succeeded or not, sends READY=1 again, and the next
 * sd_notify_update() brings STATUS= up to date. In between, a STATUS=
 * text with a worker not ready begins "reloading:". Both do nothing
 * before the first READY=1 (systemd reloads only a service that is up;
 * that READY=1 still comes once every worker is ready) and after
 * sd_notify_stopping(). tests/integration/ops_sd_notify.sh does not
 * cover them yet: there is no reload to drive them.
 */
void sd_notify_reloading(void);
void sd_notify_reloaded(void);

/*
 * The address a NOTIFY_SOCKET value names: "/path", or "@name" for an
 * abstract socket (the '@' becomes a NUL, and the length counts no
 * trailing NUL). Sets *len to the length to pass to sendto(2) or bind(2);
 * returns 0, or -1 when the value is neither form or is too long.
 */
int sd_notify_addr(const char *value, struct sockaddr_un *sa, socklen_t *len);

/*
 * Writes the STATUS= text for the workers in shm into buf (at most size
 * bytes, NUL-terminated, "..." at the end when cut); `phase` begins the
 * text when some worker is not ready ("starting", "degraded",
 * "reloading"). Returns 1 when every worker is ready, else 0.
 */
int sd_notify_status_text(char *buf, size_t size, const struct stats_shm *shm,
    const struct route_set *routes, const char *phase);

#endif
