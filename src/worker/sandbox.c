/*
 * sandbox: a worker's last steps before it starts its first thread (see
 * sandbox.h and SECURITY in event-relayd(8)).
 *
 * The filter is raw classic BPF installed with prctl(PR_SET_SECCOMP),
 * not libseccomp: it is one linear allowlist (seccomp.def) checked
 * after the architecture, which needs neither libseccomp's syscall
 * resolver (syscall_name.c knows this architecture's numbers) nor its
 * multiplexing, and it adds no run-time dependency to the packages.
 *
 * A call outside the list traps (SECCOMP_RET_TRAP) instead of failing
 * with EPERM: a library that meets an unexpected EPERM may retry for
 * ever or degrade without a word, while a trapped call ends the worker
 * at once, the master logs which call it was and restarts the worker
 * with its usual backoff. A call made under another architecture's
 * numbering (x32 on x86_64, a foreign AUDIT_ARCH) kills the process
 * outright: nothing legitimate does that. Sanitizer builds (tests) add
 * the SANITIZER_SYSCALL rows and drop the argument checks: AddressSanitizer
 * and LeakSanitizer's exit-time check (ptrace, prctl) need them.
 *
 * The one thing to know: prctl() filters only the calling thread and
 * the threads it starts later, so sandbox_enter() must run before
 * librdkafka, hiredis or OpenSSL start any thread.
 */
#include "autoconf.h"

#include <errno.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/privileges.h"
#include "common/stats.h"
#include "common/syscall_name.h"
#include "worker/sandbox.h"

#if defined(__x86_64__) && !defined(__ILP32__)
#define ER_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__i386__)
#define ER_AUDIT_ARCH AUDIT_ARCH_I386
#elif defined(__aarch64__) && !defined(__AARCH64EB__)
#define ER_AUDIT_ARCH AUDIT_ARCH_AARCH64
#elif defined(__arm__) && !defined(__ARMEB__)
#define ER_AUDIT_ARCH AUDIT_ARCH_ARM
#elif defined(__powerpc64__) && defined(__LITTLE_ENDIAN__)
#define ER_AUDIT_ARCH AUDIT_ARCH_PPC64LE
#elif defined(__s390x__)
#define ER_AUDIT_ARCH AUDIT_ARCH_S390X
#elif defined(__riscv) && __riscv_xlen == 64
#define ER_AUDIT_ARCH AUDIT_ARCH_RISCV64
#endif

#ifndef SECCOMP_RET_KILL_PROCESS
#define SECCOMP_RET_KILL_PROCESS SECCOMP_RET_KILL
#endif
#define X32_SYSCALL_BIT 0x40000000u

#if defined(__SANITIZE_ADDRESS__)
#define ER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ER_SANITIZER 1
#endif
#endif

#ifdef ER_SANITIZER
#define SANITIZER_NOTE " (with the sanitizer rows)"
#else
#define SANITIZER_NOTE ""
#endif

static const struct {
	const char *name;
	unsigned nargs;
	uint32_t arg0[SANDBOX_ARG0_MAX];
} rows[] = {
#define GROUP(id, title)
#define SYSCALL(name, group) { #name, 0, { 0 } },
#define ARG0_COUNT(...) (sizeof((uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t))
#ifdef ER_SANITIZER
/* LeakSanitizer needs prctl's other options: no argument check. */
#define SYSCALL_ARG0(name, group, ...) { #name, 0, { 0 } },
#define SANITIZER_SYSCALL(name, group) { #name, 0, { 0 } },
#else
#define SYSCALL_ARG0(name, group, ...) { #name, ARG0_COUNT(__VA_ARGS__), { __VA_ARGS__ } },
#define SANITIZER_SYSCALL(name, group)
#endif
#include "worker/seccomp.def"
#undef GROUP
#undef SYSCALL
#undef SYSCALL_ARG0
#undef SANITIZER_SYSCALL
};

#define NROWS (sizeof(rows) / sizeof(rows[0]))
/*
 * The prologue (6), two per rule, three more and one per value for each
 * of at most four rules with a checked first argument, the end (1).
 */
#define PROG_MAX (2 * NROWS + (3 + SANDBOX_ARG0_MAX) * 4 + 8)

size_t
sandbox_rules(struct sandbox_rule *r, const char **names, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < NROWS; i++) {
		long x = syscall_number(rows[i].name);

		/* Rows for other architectures (open, stat, ... are not everywhere). */
		if (x < 0)
			continue;
		if (n < cap) {
			r[n].nr = x;
			r[n].nargs = rows[i].nargs;
			memcpy(r[n].arg0, rows[i].arg0, sizeof(r[n].arg0));
			if (names != NULL)
				names[n] = rows[i].name;
		}
		n++;
	}
	return n;
}

/* Where the low 32 bits of the first argument are in struct seccomp_data. */
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define ARG0_LOW offsetof(struct seccomp_data, args[0])
#else
#define ARG0_LOW (offsetof(struct seccomp_data, args[0]) + 4)
#endif

size_t
sandbox_program(struct sock_filter *prog, size_t cap, uint32_t arch,
    const struct sandbox_rule *r, size_t n)
{
	size_t k = 0, need = 7;

	for (size_t i = 0; i < n; i++) {
		if (r[i].nargs > SANDBOX_ARG0_MAX)
			return 0;
		need += r[i].nargs == 0 ? 2 : 4 + r[i].nargs;
	}
	if (cap < need)
		return 0;
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, arch));
	prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, arch, 1, 0);
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
	    offsetof(struct seccomp_data, nr));
	if (arch == AUDIT_ARCH_X86_64) {
		/* x32 calls share the architecture value: refuse the whole x32 range. */
		prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, X32_SYSCALL_BIT,
		    0, 1);
		prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	}
	for (size_t i = 0; i < n; i++) {
		unsigned m = r[i].nargs;

		if (m == 0) {
			prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
			    (uint32_t)r[i].nr, 0, 1);
			prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
			continue;
		}
		/*
		 * Not this call: skip the block, the accumulator still holds
		 * the number. This call: the first argument decides, and the
		 * block ends in a return either way.
		 */
		prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
		    (uint32_t)r[i].nr, 0, (uint8_t)(m + 3));
		prog[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, ARG0_LOW);
		for (unsigned j = 0; j < m; j++)
			prog[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
			    r[i].arg0[j], (uint8_t)(m - j), 0);
		prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
		prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	}
	prog[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP);
	return k;
}

static struct worker_slot *sigsys_slot;

/*
 * A refused call: leave its number for the master, then die of SIGSYS
 * (raised again with the default action; it is delivered as soon as
 * this handler returns). Async-signal-safe.
 */
static void
on_sigsys(int sig, siginfo_t *si, void *uc)
{
	static const char head[] = "event-relayd worker: seccomp: refused system call ";
	char line[sizeof(head) + 16], digits[12];
	size_t n = sizeof(head) - 1, k = 0;
	unsigned nr = (unsigned)si->si_syscall;
	struct sigaction sa;
	ssize_t w;

	(void)uc;
	if (sigsys_slot != NULL)
		__atomic_store_n(&sigsys_slot->sigsys, nr + 1, __ATOMIC_RELAXED);
	/* Also on standard error, for a process the master does not wait for. */
	memcpy(line, head, n);
	do
		digits[k++] = (char)('0' + nr % 10);
	while ((nr /= 10) != 0 && k < sizeof(digits));
	while (k > 0)
		line[n++] = digits[--k];
	line[n++] = '\n';
	w = write(STDERR_FILENO, line, n);
	(void)w;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
	raise(sig);
}

#ifdef ER_AUDIT_ARCH
/* 1: installed; 0: the kernel has no seccomp filters (said); -1: failed (said). */
static int
install_filter(struct worker_slot *ws, size_t *nrules)
{
	static struct sock_filter prog[PROG_MAX];
	struct sandbox_rule r[NROWS];
	size_t n = sandbox_rules(r, NULL, NROWS), len;
	struct sock_fprog fp;
	struct sigaction sa;

	len = sandbox_program(prog, PROG_MAX, ER_AUDIT_ARCH, r, n);
	if (len == 0) {
		log_error("seccomp: the filter does not fit");
		return -1;
	}
	sigsys_slot = ws;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSYS, &sa, NULL) < 0) {
		log_error("seccomp: sigaction(SIGSYS): %s", strerror(errno));
		return -1;
	}
	fp.len = (unsigned short)len;
	fp.filter = prog;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) < 0) {
		if (errno == EINVAL) {
			log_warn("seccomp: this kernel has no seccomp filters: the worker runs "
			    "without one");
			return 0;
		}
		log_error("seccomp: prctl(PR_SET_SECCOMP): %s", strerror(errno));
		return -1;
	}
	*nrules = n;
	return 1;
}
#endif

/* A hidden fault for sec_privileges.sh: try to become root again. */
static void
inject_setuid(void)
{
	const char *f = getenv("EVENT_RELAY_FAULT_INJECTION");

	if (f == NULL || strstr(f, "setuid") == NULL)
		return;
	log_warn("fault injection: trying setuid(0)");
	if (setuid(0) == 0)
		log_error("fault injection: setuid(0) succeeded: the worker is root again");
	else
		log_warn("fault injection: setuid(0) refused: %s", strerror(errno));
}

int
sandbox_enter(const struct er_config *cfg, struct worker_slot *ws)
{
	char desc[256], err[256];
	const char *how = "seccomp off (seccomp = false)";
	char filt[96];

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		log_error("prctl(PR_SET_NO_NEW_PRIVS): %s", strerror(errno));
		return -1;
	}
	/*
	 * Its memory holds the broker passwords and TLS keys: no core dump,
	 * and no ptrace by other processes of the same user.
	 */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
		log_error("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
		return -1;
	}
	/* Root by allow_root: its groups go while CAP_SETGID is there to drop them. */
	if (getuid() == 0 && setgroups(0, NULL) < 0 && errno != EPERM) {
		log_error("setgroups: %s", strerror(errno));
		return -1;
	}
	if (priv_drop_capabilities(err, sizeof(err)) < 0) {
		log_error("giving up capabilities: %s", err);
		return -1;
	}
	if (priv_verify(getuid(), getgid(), desc, sizeof(desc)) < 0) {
		log_error("privileges: %s", desc);
		return -1;
	}
	if (cfg->seccomp) {
#ifdef ER_AUDIT_ARCH
		size_t n = 0;
		int rc = install_filter(ws, &n);

		if (rc < 0)
			return -1;
		if (rc == 0) {
			how = "no seccomp filter (not in this kernel)";
		} else {
			snprintf(filt, sizeof(filt), "seccomp filter of %zu system calls%s", n,
			    SANITIZER_NOTE);
			how = filt;
		}
#else
		(void)ws;
		(void)filt;
		log_warn("seccomp: no filter for this architecture: the worker runs without one");
		how = "no seccomp filter (not on this architecture)";
#endif
	}
	log_info("privileges: %s; no_new_privs; %s", desc, how);
	inject_setuid();
	return 0;
}
