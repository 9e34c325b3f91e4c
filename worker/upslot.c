/*
 * upslot.c: servers from DNS, as a worker sees them (master/resolver.c
 * writes the slots).
 */
#include "config.h"

#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/shm.h"
#include "common/strbuf.h"
#include "worker/event.h"
#include "worker/metrics.h"
#include "worker/proxy.h"
#include "worker/proxy_int.h"
#include "worker/upslot.h"
#include "worker/worker.h"

/* The shared entry of a DNS slot, or NULL for a fixed server. */
static struct shm_server *
slot_of(const struct conf_server *cs)
{
	if (cs->dns == CONF_DNS_NONE || cs->shm_idx < 0)
		return NULL;
	return &worker.shm->srv[cs->shm_idx];
}

int
upslot_sync(struct server_rt *s)
{
	struct shm_server	*sh;
	struct conf_addr	*a = &s->conf->addr;
	uint32_t		 gen, len;

	if ((sh = slot_of(s->conf)) == NULL)
		return 0;
	if (shm_dns_gen(&sh->dns) != s->gen ||
	    a->len == 0) {
		memset(&a->ss, 0, sizeof(a->ss));
		gen = shm_dns_read(&sh->dns, &a->ss, &len, a->text);
		a->len = len;
		if (len == 0)
			a->ss.ss_family = AF_UNSPEC;
		if (gen != s->gen) {
			/* Drain: requests under way finish, nothing new reuses. */
			while (s->idle != NULL)
				upconn_close(s->idle);
			s->gen = gen;
		}
	}
	if (a->len == 0) {
		errno = EHOSTUNREACH;
		return -1;
	}
	return 0;
}

int
upslot_stale(const struct upconn *u)
{
	const struct shm_server	*sh;

	if (u->srv == NULL || (sh = slot_of(u->srv->conf)) == NULL)
		return 0;
	return shm_dns_gen(&sh->dns) != u->gen;
}

const char *
upslot_addr(const struct conf_server *cs, const struct shm_server *ss,
    char *buf)
{
	struct sockaddr_storage	 sa;
	uint32_t		 len;

	if (cs->dns == CONF_DNS_NONE)
		return cs->addr.text;
	(void)shm_dns_read(&ss->dns, &sa, &len, buf);
	return len == 0 ? NULL : buf;
}

/* A shared text for JSON and labels: printable, no quotes. */
static void
clean_text(const char *in, size_t inlen, char *out, size_t outlen)
{
	size_t	 i;

	for (i = 0; i + 1 < outlen && i < inlen && in[i] != '\0'; i++)
		out[i] = (in[i] >= 0x20 && in[i] < 0x7f && in[i] != '"' &&
		    in[i] != '\\') ? in[i] : '?';
	out[i] = '\0';
}

/* Is cs the first slot of a resolve or srv line (the one reported)? */
static int
line_head(const struct conf_server *cs)
{
	return cs->dns != CONF_DNS_NONE && cs->dns_slot == 0 && cs->shm_idx >= 0;
}

/* How many slots of the line starting at cu->servers[first] have an address. */
static int
line_count(const struct conf_upstream *cu, size_t first,
    const struct shm_header *shm)
{
	const struct conf_server	*cs;
	size_t				 i;
	int				 n = 0;

	for (i = first; i < cu->nservers; i++) {
		cs = &cu->servers[i];
		if (cs->dns == CONF_DNS_NONE || (i > first && cs->dns_slot == 0))
			break;
		if (cs->shm_idx >= 0 &&
		    shm_read32(&shm->srv[cs->shm_idx].dns.len) != 0)
			n++;
	}
	return n;
}

void
upslot_json(struct strbuf *b, const struct conf_upstream *cu,
    const struct shm_header *shm)
{
	const struct conf_server	*cs;
	const struct shm_server		*ss;
	char				 result[64];
	size_t				 i;
	int				 any = 0;

	for (i = 0; i < cu->nservers; i++) {
		cs = &cu->servers[i];
		if (!line_head(cs))
			continue;
		ss = &shm->srv[cs->shm_idx];
		clean_text(ss->dns.result, sizeof(ss->dns.result), result,
		    sizeof(result));
		strbuf_fmt(b, "%s{\"name\":\"%s\",\"type\":\"%s\",\"port\":%d,"
		    "\"max_addresses\":%d,\"addresses\":%d,\"resolved_at\":%lld,"
		    "\"result\":\"%s\"}", any ? "," : ",\"dns\":[", cs->dns_name,
		    cs->dns == CONF_DNS_SRV ? "srv" : "resolve", cs->dns_port,
		    cs->dns_slots, line_count(cu, i, shm),
		    (long long)shm_read64(&ss->dns.when),
		    result);
		any = 1;
	}
	if (any)
		strbuf_fmt(b, "]");
}

void
upslot_prom(struct strbuf *b, const struct conf *cf,
    const struct shm_header *shm)
{
	static const struct {
		const char	*name, *type, *help;
	} fam[] = {
		{ "portico_upstream_dns_addresses", "gauge", "Servers a "
		    "resolve or srv line has from its last DNS answer." },
		{ "portico_upstream_dns_resolved_timestamp_seconds", "gauge",
		    "Unix time of the last DNS answer or failure for the name." },
		{ "portico_upstream_dns_ok", "gauge", "1 when the last query "
		    "for the name was answered, 0 when it failed (the last "
		    "good servers are kept)." },
	};
	const struct conf_upstream	*cu;
	const struct conf_server	*cs;
	const struct shm_server		*ss;
	size_t				 f, u, i;
	long long			 v;
	int				 any = 0;

	for (u = 0; u < cf->nupstreams && !any; u++)
		for (i = 0; i < cf->upstreams[u].nservers; i++)
			any |= cf->upstreams[u].servers[i].dns != CONF_DNS_NONE;
	if (!any)
		return;
	for (f = 0; f < sizeof(fam) / sizeof(fam[0]); f++) {
		metrics_prom_family(b, fam[f].name, fam[f].type, fam[f].help);
		for (u = 0; u < cf->nupstreams; u++) {
			cu = &cf->upstreams[u];
			for (i = 0; i < cu->nservers; i++) {
				cs = &cu->servers[i];
				if (!line_head(cs))
					continue;
				ss = &shm->srv[cs->shm_idx];
				if (f == 0)
					v = line_count(cu, i, shm);
				else if (f == 1)
					v = (long long)shm_read64(&ss->dns.when);
				else
					v = strncmp(ss->dns.result, "failed", 6) != 0;
				strbuf_fmt(b, "%s{upstream=\"%s\",name=\"%s\"} %lld\n",
				    fam[f].name, cu->name, cs->dns_name, v);
			}
		}
	}
}
