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
#include <stddef.h>
#include <string.h>

#include "common/syscall_name.h"
#include "worker/sandbox.h"

/* Runs prog[0..len-1] on one system call; the value it returns. */
static uint32_t
run(const struct sock_filter *prog, size_t len, uint32_t arch, uint32_t nr)
{
	struct seccomp_data d;
	uint32_t a = 0;

	memset(&d, 0, sizeof(d));
	d.arch = arch;
	d.nr = (int)nr;
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
	size_t len = sandbox_program(prog, 64, AUDIT_ARCH_X86_64, nr, 5);

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
	size_t len = sandbox_program(prog, 16, AUDIT_ARCH_AARCH64, nr, 1);

	cr_assert(len > 0);
	cr_expect_eq(run(prog, len, AUDIT_ARCH_AARCH64, 63), SECCOMP_RET_ALLOW);
	cr_expect_eq(run(prog, len, AUDIT_ARCH_AARCH64, 0x40000000u), SECCOMP_RET_TRAP);
	cr_expect_eq(run(prog, len, AUDIT_ARCH_X86_64, 63), SECCOMP_RET_KILL_PROCESS);
}

Test(sandbox, program_that_does_not_fit)
{
	static const long nr[] = { 1, 2, 3, 4 };
	struct sock_filter prog[8];

	cr_expect_eq(sandbox_program(prog, 8, AUDIT_ARCH_X86_64, nr, 4), 0);
}

Test(sandbox, table_has_no_duplicates_and_known_names)
{
	size_t n;
	const char *const *v = sandbox_allowlist(&n);

	cr_assert(n > 50, "only %zu rows", n);
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < i; j++)
			cr_expect(strcmp(v[i], v[j]) != 0, "%s is listed twice", v[i]);
#if defined(__x86_64__) && !defined(__ILP32__)
		/* Every row is an x86_64 call (other architectures lack a few: open, stat...). */
		cr_expect(syscall_number(v[i]) >= 0, "%s: not a system call of x86_64", v[i]);
#endif
	}
}

Test(sandbox, table_has_what_every_worker_needs)
{
	/* Signal returns, threads, the poll loop, sockets, leaving. */
	static const char *const need[] = {
		"rt_sigreturn", "futex", "poll", "read", "write", "socket", "connect",
		"exit_group", "exit", "mmap", "munmap", "openat", "close", "getrandom",
	};
	size_t n;
	const char *const *v = sandbox_allowlist(&n);

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
