/*
 * proxyproto.h: the PROXY protocol header (versions 1 and 2, HAProxy's
 * proxy-protocol.txt) a load balancer sends before the connection's own
 * bytes, parsed strictly (common/proxyproto.c).
 */
#ifndef PORTICO_PROXYPROTO_H
#define PORTICO_PROXYPROTO_H

#include <sys/types.h>
#include <sys/socket.h>

#include <stddef.h>

/* The longest version 1 header, CRLF included (the specification's). */
#define PP_V1_MAX	107
/* The fixed part of a version 2 header: signature, command, family, length. */
#define PP_V2_HEAD	16
/* The longest version 2 header taken: addresses and up to 512 bytes of TLVs. */
#define PP_V2_MAX	(PP_V2_HEAD + 36 + 512)
/* Bytes to look at to be sure of a whole header. */
#define PP_MAX		PP_V2_MAX

/*
 * The version 2 TLVs portico keeps (for the access log): ALPN (0x01),
 * AUTHORITY (0x02), UNIQUE_ID (0x05), and of SSL (0x20) its VERSION
 * (0x21) and CIPHER (0x23) sub-TLVs.  Each points into the header's
 * bytes; NULL when absent.
 */
enum pp_tlv_kind {
	PP_TLV_ALPN, PP_TLV_AUTHORITY, PP_TLV_UNIQUE_ID, PP_TLV_SSL_VERSION,
	PP_TLV_SSL_CIPHER, PP_TLV_N
};

struct pp_tlvs {
	const unsigned char	*v[PP_TLV_N];
	size_t			 len[PP_TLV_N];
	int			 ssl;		/* an SSL TLV came */
	unsigned		 ssl_client;	/* ... its client bits */
};

struct pp_header {
	int			 version;	/* 1 or 2 */
	int			 local;		/* LOCAL, UNKNOWN or UNSPEC: keep the peer */
	struct sockaddr_storage	 src;		/* the client (when !local) */
	struct sockaddr_storage	 dst;		/* the address it connected to */
	size_t			 len;		/* bytes of the header */
	struct pp_tlvs		 tlvs;		/* version 2 PROXY: its TLVs */
};

/*
 * Parse the TLVs p[0..n) of a version 2 header into *t, strictly: every
 * length within its container, the SSL TLV's sub-TLVs within it, ALPN
 * and AUTHORITY 1..255 bytes, UNIQUE_ID 128 at most, none of the kept
 * ones twice.  Returns 0, or -1 with *why set.
 */
int	 pp_tlvs_parse(const unsigned char *p, size_t n, struct pp_tlvs *t,
	    const char **why);

/*
 * Parse the header at the start of buf[0..n).  Returns the header's
 * length (> 0) with *h filled, 0 when the bytes so far are the start of
 * a valid header but not all of it, or -1 when they cannot be one, with
 * *why saying why (a static string).
 */
ssize_t	 pp_parse(const unsigned char *buf, size_t n, struct pp_header *h,
	    const char **why);

/*
 * Write a header saying the connection comes from src and was made to
 * dst (both AF_INET or both AF_INET6) into buf[0..cap): version 1 text or
 * version 2 binary with the PROXY command.  With src NULL, the header
 * carries no address: version 1 "PROXY UNKNOWN", version 2 LOCAL (a
 * health check's).  Returns its length, or -1 when the families differ
 * or are not IP, or cap is too small (PP_V1_MAX and PP_V2_HEAD + 36
 * always do).
 */
ssize_t	 pp_build_v1(char *buf, size_t cap, const struct sockaddr *src,
	    const struct sockaddr *dst);
ssize_t	 pp_build_v2(unsigned char *buf, size_t cap,
	    const struct sockaddr *src, const struct sockaddr *dst);

#endif
