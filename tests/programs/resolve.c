/* resolve.c: exercises one resolver entry point and prints what it answered, one address per line.
 *   resolve gai NAME | gai-null NAME | gai4 NAME | gai6 NAME | gai-canon NAME
 *   resolve ghbn NAME | ghbn-r NAME | ghbn2-6 NAME | ghbn2-r6 NAME
 *   resolve gni ADDR | ghba ADDR | ghba-r ADDR
 * Exit status 0 when the call succeeded, 2 otherwise (with the error on stderr).
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static void print_sa(const struct sockaddr *sa)
{
	char buf[INET6_ADDRSTRLEN];
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf, sizeof(buf));
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf, sizeof(buf));
	printf("%s\n", buf);
}

static int gai(const char *name, const struct addrinfo *hints)
{
	struct addrinfo *res;
	int rc = getaddrinfo(name, "80", hints, &res);
	if (rc != 0) {
		fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(rc));
		return 2;
	}
	if (hints && (hints->ai_flags & AI_CANONNAME))
		printf("canon %s\n", res->ai_canonname ? res->ai_canonname : "(null)");
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
		if (ai->ai_socktype == SOCK_STREAM || ai->ai_socktype == 0)
			print_sa(ai->ai_addr);
	freeaddrinfo(res);
	return 0;
}

static int print_hostent(const struct hostent *h, const char *what)
{
	if (h == NULL) {
		fprintf(stderr, "%s: %s\n", what, hstrerror(h_errno));
		return 2;
	}
	printf("name %s\n", h->h_name);
	for (char **a = h->h_addr_list; *a; a++) {
		char buf[INET6_ADDRSTRLEN];
		printf("%s\n", inet_ntop(h->h_addrtype, *a, buf, sizeof(buf)));
	}
	return 0;
}

static int parse_sa(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	if (inet_pton(AF_INET, text, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		*len = sizeof(*sin);
		return AF_INET;
	}
	if (inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		*len = sizeof(*sin6);
		return AF_INET6;
	}
	return -1;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: resolve MODE NAME\n");
		return 1;
	}
	const char *mode = argv[1], *name = argv[2];
	struct addrinfo hints;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (strcmp(mode, "gai-null") == 0)
		return gai(name, NULL);
	if (strcmp(mode, "gai") == 0)
		return gai(name, &hints);
	if (strcmp(mode, "gai4") == 0) {
		hints.ai_family = AF_INET;
		return gai(name, &hints);
	}
	if (strcmp(mode, "gai6") == 0) {
		hints.ai_family = AF_INET6;
		return gai(name, &hints);
	}
	if (strcmp(mode, "gai-canon") == 0) {
		hints.ai_flags = AI_CANONNAME;
		return gai(name, &hints);
	}
	if (strcmp(mode, "ghbn") == 0)
		return print_hostent(gethostbyname(name), "gethostbyname");
	if (strcmp(mode, "ghbn2-6") == 0)
		return print_hostent(gethostbyname2(name, AF_INET6), "gethostbyname2");
	if (strcmp(mode, "ghbn-r") == 0 || strcmp(mode, "ghbn2-r6") == 0) {
		struct hostent he, *res = NULL;
		char buf[1024];
		int herr = 0, rc;
		if (strcmp(mode, "ghbn-r") == 0)
			rc = gethostbyname_r(name, &he, buf, sizeof(buf), &res, &herr);
		else
			rc = gethostbyname2_r(name, AF_INET6, &he, buf, sizeof(buf), &res, &herr);
		if (rc != 0 || res == NULL) {
			fprintf(stderr, "gethostbyname_r: rc %d, %s\n", rc, hstrerror(herr));
			return 2;
		}
		return print_hostent(res, "gethostbyname_r");
	}
	struct sockaddr_storage ss;
	socklen_t len;
	int af = parse_sa(name, &ss, &len);
	if (af < 0) {
		fprintf(stderr, "not an address: %s\n", name);
		return 1;
	}
	if (strcmp(mode, "gni") == 0) {
		char host[NI_MAXHOST];
		int rc = getnameinfo((struct sockaddr *)&ss, len, host, sizeof(host), NULL, 0, NI_NAMEREQD);
		if (rc != 0) {
			fprintf(stderr, "getnameinfo: %s\n", gai_strerror(rc));
			return 2;
		}
		printf("name %s\n", host);
		return 0;
	}
	const void *bytes = af == AF_INET ? (void *)&((struct sockaddr_in *)&ss)->sin_addr
					  : (void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
	socklen_t blen = af == AF_INET ? 4 : 16;
	if (strcmp(mode, "ghba") == 0)
		return print_hostent(gethostbyaddr(bytes, blen, af), "gethostbyaddr");
	if (strcmp(mode, "ghba-r") == 0) {
		struct hostent he, *res = NULL;
		char buf[1024];
		int herr = 0;
		gethostbyaddr_r(bytes, blen, af, &he, buf, sizeof(buf), &res, &herr);
		return print_hostent(res, "gethostbyaddr_r");
	}
	fprintf(stderr, "unknown mode %s\n", mode);
	return 1;
}
