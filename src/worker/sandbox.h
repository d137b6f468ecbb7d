/*
 * sandbox: what a worker gives up before it starts any thread or
 * touches a broker: every capability, the right to gain privileges
 * (no_new_privs), core dumps, and every system call outside
 * seccomp.def (a seccomp filter, unless the setting seccomp is false).
 */
#ifndef ER_SANDBOX_H
#define ER_SANDBOX_H

#include <stddef.h>
#include <stdint.h>

struct er_config;
struct worker_slot;

/*
 * Confines the calling worker; must run before its first thread (the
 * filter is inherited by threads started later, never by those already
 * running). A call the filter refuses raises SIGSYS: its number goes to
 * ws->sigsys for the master's log line, and the worker dies of the
 * signal. 0, or -1 after logging why (the worker must not go on).
 */
int sandbox_enter(const struct er_config *cfg, struct worker_slot *ws);

/* One row of seccomp.def, resolved for this architecture. */
#define SANDBOX_ARG0_MAX 4
struct sandbox_rule {
	long nr;		/* system call number */
	unsigned nargs;		/* 0: any arguments; else the first must be one of arg0 */
	uint32_t arg0[SANDBOX_ARG0_MAX];
};

/*
 * The filter's BPF program for the rules r[0..n-1] on the architecture
 * `arch` (an AUDIT_ARCH_ value): returns the number of instructions
 * written to prog (room for `cap`), or 0 if it does not fit. Exposed
 * for the unit test.
 */
struct sock_filter;
size_t sandbox_program(struct sock_filter *prog, size_t cap, uint32_t arch,
    const struct sandbox_rule *r, size_t n);

/*
 * The rules of seccomp.def this build allows, in the table's order, for
 * this architecture (rows it does not have are left out): writes up to
 * `cap` of them to r and returns how many there are; names[i] is the
 * name of r[i] when names is not NULL.
 */
size_t sandbox_rules(struct sandbox_rule *r, const char **names, size_t cap);

#endif
