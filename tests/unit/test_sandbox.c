/*
 * Unit tests of the worker's seccomp filter: the BPF program that
 * sandbox_program() builds, run through a small interpreter of the
 * instructions it uses (allowed calls pass, others trap, a foreign
 * architecture or an x32 call kills), and the table seccomp.def (no
 * duplicate, every row a system call of x86_64, the calls a worker
 * cannot do without are there).
 */
#include "autoconf.h"
#include <criterion/criterion.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/syscall_name.h"
#include "worker/sandbox.h"

/* Runs prog[0..len-1] on one system call; the value it returns. */
static uint32_t
run_arg(const struct sock_filter *prog, size_t len, uint32_t arch, uint32_t nr, uint64_t arg0)
{
	struct seccomp_data d;
	uint32_t a = 0;

	memset(&d, 0, sizeof(d));
	d.arch = arch;
	d.nr = (int)nr;
	d.args[0] = arg0;
	for (size_t pc = 0; pc < len; pc++) {
		const struct sock_filter *i = &prog[pc];

		switch (i->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			cr_assert(i->k + 4 <= sizeof(d), "load out of seccomp_data at %zu", pc);
			memcpy(&a, (const char *)&d + i->k, 4);
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == i->k ? i->jt : i->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			pc += a >= i->k ? i->jt : i->jf;
			break;
		case BPF_RET | BPF_K:
			return i->k;
		default:
			cr_assert_fail("unexpected instruction 0x%x at %zu", i->code, pc);
		}
	}
	cr_assert_fail("the program ran off its end");
	return 0;
}

static uint32_t
run(const struct sock_filter *prog, size_t len, uint32_t arch, uint32_t nr)
{
	return run_arg(prog, len, arch, nr, 0);
}

/* Rules allowing the numbers nr[0..n-1], any arguments. */
static size_t
rules(struct sandbox_rule *r, const long *nr, size_t n)
{
	memset(r, 0, n * sizeof(*r));
	for (size_t i = 0; i < n; i++)
		r[i].nr = nr[i];
	return n;
}

Test(sandbox, program_allows_the_listed_calls_only)
{
	static const long nr[] = { 0, 1, 7, 202, 435 };
	static const struct {
		uint32_t arch, nr, want;
	} cases[] = {
		{ AUDIT_ARCH_X86_64, 0, SECCOMP_RET_ALLOW },
		{ AUDIT_ARCH_X86_64, 202, SECCOMP_RET_ALLOW },
		{ AUDIT_ARCH_X86_64, 435, SECCOMP_RET_ALLOW },
		{ AUDIT_ARCH_X86_64, 2, SECCOMP_RET_TRAP },
		{ AUDIT_ARCH_X86_64, 105, SECCOMP_RET_TRAP },
		{ AUDIT_ARCH_X86_64, 0x40000000u, SECCOMP_RET_KILL_PROCESS },	/* x32 read */
		{ AUDIT_ARCH_I386, 0, SECCOMP_RET_KILL_PROCESS },
		{ AUDIT_ARCH_AARCH64, 7, SECCOMP_RET_KILL_PROCESS },
	};
	struct sock_filter prog[64];
	struct sandbox_rule r[5];
	size_t len = sandbox_program(prog, 64, AUDIT_ARCH_X86_64, r, rules(r, nr, 5));

	cr_assert(len > 0 && len <= 64, "program length %zu", len);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t got = run(prog, len, cases[i].arch, cases[i].nr);

		cr_expect_eq(got, cases[i].want, "arch 0x%x nr %u: got 0x%x, want 0x%x",
		    cases[i].arch, cases[i].nr, got, cases[i].want);
	}
}

Test(sandbox, no_x32_check_on_other_architectures)
{
	static const long nr[] = { 63 };
	struct sock_filter prog[16];
	struct sandbox_rule r[1];
	size_t len = sandbox_program(prog, 16, AUDIT_ARCH_AARCH64, r, rules(r, nr, 1));

	cr_assert(len > 0);
	cr_expect_eq(run(prog, len, AUDIT_ARCH_AARCH64, 63), SECCOMP_RET_ALLOW);
	cr_expect_eq(run(prog, len, AUDIT_ARCH_AARCH64, 0x40000000u), SECCOMP_RET_TRAP);
	cr_expect_eq(run(prog, len, AUDIT_ARCH_X86_64, 63), SECCOMP_RET_KILL_PROCESS);
}

Test(sandbox, program_that_does_not_fit)
{
	static const long nr[] = { 1, 2, 3, 4 };
	struct sock_filter prog[8];
	struct sandbox_rule r[4];

	cr_expect_eq(sandbox_program(prog, 8, AUDIT_ARCH_X86_64, r, rules(r, nr, 4)), 0);
}

Test(sandbox, first_argument_checked)
{
	/* read, prctl(PR_SET_NAME or PR_GET_NAME only), write: the rule after the block still matches. */
	struct sandbox_rule r[3] = {
		{ .nr = 0 },
		{ .nr = 157, .nargs = 2, .arg0 = { 15, 16 } },
		{ .nr = 1 },
	};
	static const struct {
		uint32_t nr;
		uint64_t arg0;
		uint32_t want;
	} cases[] = {
		{ 157, 15, SECCOMP_RET_ALLOW },
		{ 157, 16, SECCOMP_RET_ALLOW },
		{ 157, 4, SECCOMP_RET_TRAP },		/* PR_SET_DUMPABLE */
		{ 157, 38, SECCOMP_RET_TRAP },		/* PR_SET_NO_NEW_PRIVS */
		{ 157, 0x100000000ull | 4, SECCOMP_RET_TRAP },
		{ 0, 4, SECCOMP_RET_ALLOW },
		{ 1, 4, SECCOMP_RET_ALLOW },
		{ 2, 15, SECCOMP_RET_TRAP },
	};
	struct sock_filter prog[64];
	size_t len = sandbox_program(prog, 64, AUDIT_ARCH_X86_64, r, 3);

	cr_assert(len > 0, "the program does not fit");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t got = run_arg(prog, len, AUDIT_ARCH_X86_64, cases[i].nr, cases[i].arg0);

		cr_expect_eq(got, cases[i].want, "nr %u arg0 %llu: got 0x%x, want 0x%x", cases[i].nr,
		    (unsigned long long)cases[i].arg0, got, cases[i].want);
	}
}

Test(sandbox, table_has_no_duplicates_and_known_names)
{
	struct sandbox_rule r[256];
	const char *v[256];
	size_t n = sandbox_rules(r, v, 256);

	cr_assert(n > 50 && n <= 256, "%zu rows", n);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++)
			cr_expect(strcmp(v[i], v[j]) != 0 && r[i].nr != r[j].nr,
			    "%s is listed twice", v[i]);
		cr_expect_eq(syscall_number(v[i]), r[i].nr, "%s: number %ld", v[i], r[i].nr);
	}
#if defined(__x86_64__) && !defined(__ILP32__)
	{
		/* Every row is an x86_64 call (other architectures lack a few: open, stat...). */
		size_t rows = 0;
		FILE *f = fopen(TEST_SRCDIR "/../../src/worker/seccomp.def", "r");
		char line[256];

		cr_assert(f != NULL, "cannot read seccomp.def");
		while (fgets(line, sizeof(line), f) != NULL)
			rows += strncmp(line, "SYSCALL(", 8) == 0 || strncmp(line, "SYSCALL_ARG0(", 13) == 0;
		fclose(f);
		cr_expect(n >= rows, "%zu rows resolved, seccomp.def has %zu", n, rows);
	}
#endif
}

Test(sandbox, table_has_what_every_worker_needs)
{
	/* Signal returns, threads, the poll loop, sockets, leaving. */
	static const char *const need[] = {
		"rt_sigreturn", "futex", "poll", "read", "write", "socket", "connect",
		"exit_group", "exit", "mmap", "munmap", "openat", "close", "getrandom",
	};
	struct sandbox_rule r[256];
	const char *v[256];
	size_t n = sandbox_rules(r, v, 256);

	for (size_t k = 0; k < sizeof(need) / sizeof(need[0]); k++) {
		int found = 0;

		for (size_t i = 0; i < n; i++)
			found |= strcmp(v[i], need[k]) == 0;
		cr_expect(found, "%s is not in seccomp.def", need[k]);
	}
}

Test(sandbox, names_and_numbers)
{
	long nr = syscall_number("getpid");

	cr_assert(nr >= 0, "getpid has no number");
	cr_expect_str_eq(syscall_name(nr), "getpid");
	cr_expect_eq(syscall_number("no_such_call"), -1);
	cr_expect_null(syscall_name(-5));
}

#if defined(__x86_64__)
/*
 * The whole filter of seccomp.def, installed in a child asleep in
 * nanosleep: a stop and a continue (SIGSTOP/SIGCONT, or a debugger
 * attaching) make the kernel resume the sleep with restart_syscall,
 * which the filter must allow or the worker dies of SIGSYS.
 */
Test(sandbox, a_stopped_and_continued_worker_lives_on)
{
	struct sandbox_rule r[256];
	struct sock_filter prog[512];
	size_t n = sandbox_rules(r, NULL, 256);
	size_t len = sandbox_program(prog, 512, AUDIT_ARCH_X86_64, r, n);
	int ready[2], status = 0;
	char c;
	pid_t pid;

	cr_assert(n > 0 && n <= 256 && len > 0);
	cr_assert_eq(pipe(ready), 0);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		struct sock_fprog fp = { .len = (unsigned short)len, .filter = prog };
		struct timespec ts = { 1, 0 };

		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fp, 0, 0) < 0)
			_exit(3);
		if (write(ready[1], "1", 1) != 1)
			_exit(4);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ready[1]);
	cr_assert_eq(read(ready[0], &c, 1), 1, "the child did not install the filter");
	cr_assert_eq(kill(pid, SIGSTOP), 0);
	cr_assert_eq(waitpid(pid, &status, WUNTRACED), pid);
	cr_assert(WIFSTOPPED(status), "the child was not stopped (status %#x)", status);
	cr_assert_eq(kill(pid, SIGCONT), 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the child %s %d after SIGCONT", WIFSIGNALED(status) ? "died of signal" : "exited with",
	    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
	close(ready[0]);
}
#endif
