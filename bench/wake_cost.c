/*
 * wake-cost: what one thread wake-up costs on this machine, for bench/run's
 * paced mode. Two threads pass a byte back and forth over two pipes,
 * each blocking in read() until the other writes: every round trip is
 * two wake-ups. Prints
 *
 *   wake_cost round_trips=N us_per_wakeup=W cpu_us_per_wakeup=C syscall_us=S
 *
 * W is the wall time per wake-up, C the CPU time (both threads, user and
 * system) per wake-up, S the CPU time of one trivial system call
 * (getppid) for scale. At a moderate rate a relayed message costs a few
 * wake-ups of the relay's threads (its loop, librdkafka's broker
 * threads), so C bounds what a message can cost there.
 */
#include "autoconf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static int ping[2], pong[2];
static long rounds = 20000;

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void *echo(void *arg)
{
	char c;

	(void)arg;
	for (long i = 0; i < rounds; i++)
		if (read(ping[0], &c, 1) != 1 || write(pong[1], &c, 1) != 1)
			break;
	return NULL;
}

int main(int argc, char **argv)
{
	double t0, t1, c0, c1, s0, s1;
	long calls = 200000;
	pthread_t th;
	char c = 1;

	if (argc > 1)
		rounds = strtol(argv[1], NULL, 10);
	if (rounds <= 0 || pipe(ping) < 0 || pipe(pong) < 0)
		return 2;
	c0 = cpu_s();
	for (long i = 0; i < calls; i++)
		syscall(SYS_getppid);
	c1 = cpu_s();
	s0 = c0, s1 = c1;
	if (pthread_create(&th, NULL, echo, NULL) != 0)
		return 1;
	t0 = mono_s();
	c0 = cpu_s();
	for (long i = 0; i < rounds; i++)
		if (write(ping[1], &c, 1) != 1 || read(pong[0], &c, 1) != 1)
			return 1;
	t1 = mono_s();
	c1 = cpu_s();
	pthread_join(th, NULL);
	printf("wake_cost round_trips=%ld us_per_wakeup=%.1f cpu_us_per_wakeup=%.1f syscall_us=%.2f\n",
	       rounds, (t1 - t0) * 1e6 / (double)(2 * rounds), (c1 - c0) * 1e6 / (double)(2 * rounds),
	       (s1 - s0) * 1e6 / (double)calls);
	return 0;
}
