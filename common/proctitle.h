/*
 * proctitle.h: process titles, as ps(1) and /proc/PID/cmdline show them
 * ("portico: master", "portico: worker 3", "portico: checker").
 *
 * glibc has no setproctitle(): as nginx does, the title is written over
 * the memory of argv, extended over the environment strings that follow
 * it, after the environment has been copied elsewhere.
 */
#ifndef PORTICO_PROCTITLE_H
#define PORTICO_PROCTITLE_H

/*
 * Take over argv's memory: call once from main() when nothing will read
 * argv's strings any more (getopt's optarg points into them) and before
 * anything keeps a pointer into the environment.  Keeps a copy of the
 * command line for proctitle_args().
 */
void		 proctitle_init(int argc, char **argv);
/* Set the title (cut to the room there is).  A no-op before init. */
void		 proctitle_set(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));
/* The command line as it was, words joined by spaces ("" before init). */
const char	*proctitle_args(void);

#endif /* PORTICO_PROCTITLE_H */
