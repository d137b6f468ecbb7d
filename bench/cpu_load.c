/*
 * cpu-load: keeps a given share of the machine's CPUs busy, for
 * bench/run's ceiling run.
 *
 *   cpu-load -c CORES [-p PERIOD_US]
 *
 * Starts one thread per online CPU; each takes CORES / CPUs of a CPU,
 * spinning and sleeping PERIOD_US (1000) in turn, until SIGTERM or
 * SIGINT. It stands in for the CPU the relay's own processes, Redis and
 * the Kafka mock take during a relay run, so that the bare consumer can
 * be measured with that much of the machine gone: the ceiling any relay
 * with those costs could reach on this machine.
 *
 * The one thing to know before changing it: the load is spread over all
 * CPUs in short slices, like the many small wake-ups of the processes it
 * stands in for; one thread spinning for long stretches would instead
 * take one CPU away from the broker at a time.
 */
#include "autoconf.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_THREADS 256

static long period_us;
static double share;	/* of one CPU, per thread */

static void
usage(FILE *f, int rc)
{
	fprintf(f,
	    "usage: cpu-load -c CORES [-p PERIOD_US]\n"
	    "  keeps CORES of the machine's CPUs busy (one thread per CPU, each\n"
	    "  taking CORES/CPUs, sleeping PERIOD_US, default 1000, between spins)\n"
	    "  until SIGTERM\n");
	exit(rc);
}

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t
thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Spins until this thread's CPU time is `share` of the time since it
 * started, then sleeps a period. Counting the CPU time actually had
 * (not the wall time spun) keeps the load right when the thread is
 * preempted or wakes late; a fixed spin per period fell to 0.25 of an
 * asked 0.46 cores on a busy machine.
 */
static void *
spin(void *arg)
{
	volatile uint64_t x = 0;
	int64_t start = now_ns(), cpu0 = thread_cpu_ns();
	struct timespec nap = { 0, period_us * 1000 };

	(void)arg;
	for (;;) {
		int64_t want = (int64_t)(share * (double)(now_ns() - start));

		/* The CPU clock is a system call: look at it every 20 us. */
		while (thread_cpu_ns() - cpu0 < want) {
			int64_t until = now_ns() + 20000;

			while (now_ns() < until)
				x++;
		}
		nanosleep(&nap, NULL);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	double cores = -1;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	sigset_t set;
	int c, sig;
	char *end;

	period_us = 1000;
	while ((c = getopt(argc, argv, "c:p:h")) != -1) {
		switch (c) {
		case 'c':
			cores = strtod(optarg, &end);
			if (*end != '\0' || end == optarg)
				usage(stderr, 2);
			break;
		case 'p':
			period_us = strtol(optarg, &end, 10);
			if (*end != '\0' || period_us < 100 || period_us > 1000000)
				usage(stderr, 2);
			break;
		case 'h': usage(stdout, 0); break;
		default: usage(stderr, 2); break;
		}
	}
	if (optind != argc || ncpu < 1 || cores < 0 || cores > (double)ncpu)
		usage(stderr, 2);
	if (ncpu > MAX_THREADS)
		ncpu = MAX_THREADS;
	share = cores / (double)ncpu;

	/* Threads inherit the mask: only sigwait below sees TERM and INT. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (long i = 0; share > 0 && i < ncpu; i++) {
		pthread_t t;
		int rc = pthread_create(&t, NULL, spin, NULL);

		if (rc != 0) {
			fprintf(stderr, "cpu-load: pthread_create: %s\n", strerror(rc));
			return 1;
		}
	}
	printf("cpu-load cores=%.2f threads=%ld period_us=%ld\n", cores, ncpu, period_us);
	fflush(stdout);
	sigwait(&set, &sig);
	return 0;
}
