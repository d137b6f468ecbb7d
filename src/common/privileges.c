/*
 * privileges: giving up root and proving it cannot come back (see
 * privileges.h and SECURITY in event-relayd(8)).
 *
 * Capabilities are handled with the raw capget/capset system calls and
 * prctl(): no libcap. The one thing to know: the bounding set can only
 * be emptied while CAP_SETPCAP is held, so before the uid changes; the
 * uid change itself clears the permitted, effective and ambient sets
 * (all of real, effective and saved uid leave 0).
 */
#include "autoconf.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/privileges.h"

#define CAP_WORDS 2	/* _LINUX_CAPABILITY_VERSION_3: 64 capabilities */
#define CAP_MAX 64

static int
caps_get(struct __user_cap_data_struct d[CAP_WORDS])
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };

	return (int)syscall(SYS_capget, &h, d);
}

static int
any_cap(const struct __user_cap_data_struct d[CAP_WORDS])
{
	for (int i = 0; i < CAP_WORDS; i++)
		if ((d[i].effective | d[i].permitted | d[i].inheritable) != 0)
			return 1;
	return 0;
}

static int
have_cap(int cap)
{
	struct __user_cap_data_struct d[CAP_WORDS];

	if (caps_get(d) < 0)
		return 0;
	return (d[cap / 32].effective >> (cap % 32)) & 1;
}

/* Capabilities left in the bounding set (those the kernel knows). */
static int
bounding_left(void)
{
	int n = 0;

	for (int c = 0; c < CAP_MAX; c++)
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) > 0)
			n++;
	return n;
}

static int
empty_bounding_set(char *err, size_t errsz)
{
	if (bounding_left() == 0)
		return 0;
	if (!have_cap(CAP_SETPCAP)) {
		snprintf(err, errsz, "cannot empty the capability bounding set without CAP_SETPCAP");
		return -1;
	}
	for (int c = 0; c < CAP_MAX; c++) {
		if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) <= 0)
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
			snprintf(err, errsz, "prctl(PR_CAPBSET_DROP, %d): %s", c, strerror(errno));
			return -1;
		}
	}
	return 0;
}

int
priv_drop_capabilities(char *err, size_t errsz)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[CAP_WORDS];

	/* Not held: a process that never had CAP_SETPCAP can have no use for the set either. */
	if (have_cap(CAP_SETPCAP) && empty_bounding_set(err, errsz) < 0)
		return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) {
		snprintf(err, errsz, "prctl(PR_CAP_AMBIENT_CLEAR_ALL): %s", strerror(errno));
		return -1;
	}
	if (caps_get(d) < 0) {
		snprintf(err, errsz, "capget: %s", strerror(errno));
		return -1;
	}
	/* Nothing to drop: no capset (systemd's SystemCallFilter may refuse it). */
	if (!any_cap(d))
		return 0;
	memset(d, 0, sizeof(d));
	if (syscall(SYS_capset, &h, d) < 0) {
		snprintf(err, errsz, "capset: %s", strerror(errno));
		return -1;
	}
	return 0;
}

int
priv_switch(uid_t uid, gid_t gid, char *err, size_t errsz)
{
	if (empty_bounding_set(err, errsz) < 0)
		return -1;
	if (setgroups(0, NULL) < 0) {
		snprintf(err, errsz, "setgroups: %s", strerror(errno));
		return -1;
	}
	if (setresgid(gid, gid, gid) < 0) {
		snprintf(err, errsz, "setresgid(%ld): %s", (long)gid, strerror(errno));
		return -1;
	}
	if (setresuid(uid, uid, uid) < 0) {
		snprintf(err, errsz, "setresuid(%ld): %s", (long)uid, strerror(errno));
		return -1;
	}
	return 0;
}

int
priv_verify(uid_t uid, gid_t gid, char *desc, size_t descsz)
{
	struct __user_cap_data_struct d[CAP_WORDS];
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[2];
	int ng, caps;

	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0) {
		snprintf(desc, descsz, "getresuid: %s", strerror(errno));
		return -1;
	}
	if (ru != uid || eu != uid || su != uid || rg != gid || eg != gid || sg != gid) {
		snprintf(desc, descsz, "uids %ld/%ld/%ld gids %ld/%ld/%ld, want %ld and %ld",
		    (long)ru, (long)eu, (long)su, (long)rg, (long)eg, (long)sg, (long)uid, (long)gid);
		return -1;
	}
	ng = getgroups(2, groups);
	if (ng < 0 || ng > 1 || (ng == 1 && groups[0] != gid)) {
		snprintf(desc, descsz, "supplementary groups left (%d)", ng < 0 ? -1 : ng);
		return -1;
	}
	if (caps_get(d) < 0) {
		snprintf(desc, descsz, "capget: %s", strerror(errno));
		return -1;
	}
	caps = any_cap(d);
	for (int c = 0; c < CAP_MAX; c++)
		caps |= prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) > 0;
	if (caps) {
		snprintf(desc, descsz, "uid=%ld gid=%ld: capabilities left", (long)uid, (long)gid);
		return -1;
	}
	if (uid != 0) {
		/* Neither may work now; if one did, the drop was not for good. */
		if (setuid(0) == 0 || (gid != 0 && setgid(0) == 0)) {
			snprintf(desc, descsz, "uid=%ld gid=%ld: setuid(0) or setgid(0) succeeded",
			    (long)uid, (long)gid);
			return -1;
		}
	}
	snprintf(desc, descsz, "uid=%ld gid=%ld groups=%s, no capabilities%s", (long)uid, (long)gid,
	    ng == 0 ? "none" : "own", uid != 0 ? ", setuid(0) refused" : "");
	return 0;
}
