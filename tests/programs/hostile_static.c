/* hostile_static.c: class 9 of issue 25: an ordinary client, nothing hostile in it but how it is built.
 *
 * hostile.sh builds it with gcc -static and with musl-gcc -static: such a program has no dynamic loader, so
 * LD_PRELOAD never loads the library into it (a documented limit of LD_PRELOAD alone); under torwrap the
 * supervisor is what routes it.
 *
 *   hostile_static NAME PORT    getaddrinfo(NAME) (its libc's own resolver), connect to the first address, GET /
 */
#include <netdb.h>

#include "hostile.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: hostile_static NAME PORT\n");
		return 2;
	}
	hostile_start(argc, argv);
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res = NULL;
	int rc = getaddrinfo(argv[1], argv[2], &hints, &res);
	if (rc != 0) {
		printf("getaddrinfo(%s): %s\n", argv[1], gai_strerror(rc));
		return 1;
	}
	char text[INET_ADDRSTRLEN] = "?";
	inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, text, sizeof(text));
	printf("getaddrinfo(%s): %s\n", argv[1], text);
	int fd = (int)step_libc("socket", socket(AF_INET, SOCK_STREAM, 0));
	if (fd >= 0 && step_libc("connect", connect(fd, res->ai_addr, res->ai_addrlen)) == 0)
		hostile_http(fd);
	return 0;
}
