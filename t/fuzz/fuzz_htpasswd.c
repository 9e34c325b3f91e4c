/*
 * fuzz_htpasswd.c: libFuzzer target for the htpasswd parser
 * (common/htpasswd.c).
 *
 * Besides the sanitizers, it checks what htpasswd_parse() promises: a
 * reason exactly on failure, a line within the file; on success at least
 * one user, names sorted and unique, each found by htpasswd_find() with
 * its hash, no name holding ':' or a control byte, every hash of a
 * scheme taken (one of the prefixes below, no ':').
 *
 *	clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -Ibuild/check \
 *	    -o fuzz_htpasswd t/fuzz/fuzz_htpasswd.c common/htpasswd.c -lcrypt
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/htpasswd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(e)	do { if (!(e)) abort(); } while (0)

static int
scheme_ok(const char *hash)
{
	static const char *const prefixes[] = { "$2a$", "$2b$", "$2y$", "$5$",
	    "$6$", "$y$", "$gy$", "$7$" };
	size_t	 i;

	for (i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(hash, prefixes[i], strlen(prefixes[i])) == 0)
			return 1;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct htpasswd	 h;
	const char	*why = NULL;
	char		*text;
	size_t		 i, j, lines = 1;
	int		 line, rc;

	if ((text = malloc(size + 1)) == NULL)
		return 0;
	memcpy(text, data, size);
	for (i = 0; i < size; i++)
		if (data[i] == '\n')
			lines++;
	rc = htpasswd_parse(text, size, &h, &line, &why);
	CHECK(rc == 0 || rc == -1);
	CHECK((rc == -1) == (why != NULL));
	CHECK(line >= 0 && (size_t)line <= lines);
	if (rc == 0) {
		CHECK(h.nusers > 0);
		for (i = 0; i < h.nusers; i++) {
			const struct htpasswd_user *u = &h.users[i];

			CHECK(u->name_len > 0 && strlen(u->name) == u->name_len);
			for (j = 0; j < u->name_len; j++)
				CHECK(u->name[j] != ':' &&
				    (unsigned char)u->name[j] >= 0x20);
			CHECK(strchr(u->hash, ':') == NULL && scheme_ok(u->hash));
			CHECK(htpasswd_find(&h, u->name, u->name_len) == u->hash);
			if (i > 0) {
				size_t m = u->name_len < u[-1].name_len ?
				    u->name_len : u[-1].name_len;
				int c = memcmp(u[-1].name, u->name, m);

				CHECK(c < 0 || (c == 0 &&
				    u[-1].name_len < u->name_len));
			}
		}
	}
	htpasswd_clear(&h);
	free(text);
	return 0;
}
