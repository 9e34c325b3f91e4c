/*
 * acceptenc.h: the Accept-Encoding request field (RFC 9110 12.5.3), as
 * response compression (worker/compress.c) reads it: the weight the
 * client gives each coding portico can make, and the pick among them.
 */
#ifndef PORTICO_ACCEPTENC_H
#define PORTICO_ACCEPTENC_H

#include <stddef.h>

/* The codings portico makes (bits, for the ones a route allows). */
#define CODING_IDENTITY	0
#define CODING_GZIP	1
#define CODING_BR	2

/*
 * Weights in thousandths (q=0.5 is 500), -1 when the field did not name
 * the coding.  Start with acceptenc_init; acceptenc_parse may be called
 * for each Accept-Encoding field line of a request (they make one list).
 */
struct acceptenc {
	int	 gzip;		/* gzip or x-gzip */
	int	 br;
	int	 star;		/* "*": any coding not named */
	int	 seen;		/* a field was given */
};

void	 acceptenc_init(struct acceptenc *ae);
void	 acceptenc_parse(struct acceptenc *ae, const char *v, size_t len);
/*
 * The coding to answer with among those allowed (CODING_* bits 1 << c):
 * the one of highest weight above 0; br before gzip when both weigh the
 * same; CODING_IDENTITY when none is acceptable (portico never answers
 * 406: an unencoded answer is always possible to send).
 */
int	 acceptenc_pick(const struct acceptenc *ae, unsigned allowed);

#endif /* PORTICO_ACCEPTENC_H */
