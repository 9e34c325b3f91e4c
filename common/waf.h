/*
 * waf.h: the rules of the web application firewall (libmodsecurity 3),
 * compiled once per configuration in the master, at load and at each
 * reload, before any worker forks: the workers inherit the compiled
 * rules copy-on-write and never parse a rule file.  The per-request
 * side (the ModSecurity transaction) is worker/waf.c.
 */
#ifndef PORTICO_WAF_H
#define PORTICO_WAF_H

struct conf;

/*
 * Compile conf's waf_rules files (none: nothing to do) into conf->waf,
 * after portico's defaults (SecRuleEngine On, SecRequestBodyAccess On:
 * the route's waf key decides whether an intervention blocks).  Returns
 * 0, or -1 with *errors set to "file:line: waf_rules FILE:LINE: what
 * ModSecurity says\n" (malloc'd; the caller frees it).
 */
int	 waf_conf_load(struct conf *conf, char **errors);
/* Free conf->waf (conf_free calls it). */
void	 waf_conf_free(struct conf *conf);
/* The process's ModSecurity engine (a ModSecurity *), NULL before a load. */
void	*waf_engine(void);

#endif /* PORTICO_WAF_H */
