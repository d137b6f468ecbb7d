/*
 * syscall_name: the system calls of the architecture the daemon is
 * built for, by name and by number (from <sys/syscall.h>, listed at
 * build time into syscall_names.h).
 */
#ifndef ER_SYSCALL_NAME_H
#define ER_SYSCALL_NAME_H

/* The number of the system call `name`, or -1 when this architecture has none. */
long syscall_number(const char *name);

/* The name of system call `nr`, or NULL. */
const char *syscall_name(long nr);

#endif
