/*
 * privileges: giving up root and proving it cannot come back. Used by
 * the master as it starts (main.c) and by every worker before its
 * seccomp filter goes in (worker/sandbox.c).
 */
#ifndef ER_PRIVILEGES_H
#define ER_PRIVILEGES_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Empties the capability bounding set (while CAP_SETPCAP allows it),
 * then every capability set: ambient, inheritable, permitted, effective.
 * 0, or -1 with the reason in err.
 */
int priv_drop_capabilities(char *err, size_t errsz);

/*
 * Becomes uid:gid for good: no supplementary groups, real, effective
 * and saved ids all set. Empties the bounding set first (it needs
 * CAP_SETPCAP, which setuid takes away). 0, or -1 with the reason in err.
 */
int priv_switch(uid_t uid, gid_t gid, char *err, size_t errsz);

/*
 * Checks that the process cannot regain what it gave up: real,
 * effective and saved uid and gid are `uid` and `gid`, no supplementary
 * group but gid, no capability in any set, and, unless uid is 0,
 * setuid(0) and setgid(0) fail. Writes what it found to `desc` ("uid=..
 * gid=.. groups=none, no capabilities, setuid(0) refused") and returns 0,
 * or -1 with the problem in desc.
 */
int priv_verify(uid_t uid, gid_t gid, char *desc, size_t descsz);

#endif
