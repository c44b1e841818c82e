/* hostile_vmap.c: class 4 of issue 25: the shared virtual address map, forged.
 *
 * torwrap remembers which allowed name each address came from, in the map the whole process tree shares (a
 * memfd; resolver/vaddr.c), so that connect() applies that name's rules to the address. The map is in the
 * program's reach: under torwrap its descriptor is named by TORWRAP_VMAP_FD; under LD_PRELOAD alone the
 * library's own map is a memfd called "torwrap-vmap" in /proc/self/fd. This program writes a "direct" learned
 * entry into it (vaddr_remember_direct: an external address as the allowed name tron-wallet-manager), then
 * connects to that address with libc's connect(): under LD_PRELOAD the library's hook decides, and in the static
 * build (hostile.sh builds one; the library never loads there) only the supervisor does.
 *
 *   hostile_vmap HOST PORT NAME    forge HOST as the address NAME resolved to, then connect to HOST:PORT
 *
 * It is linked with the project's own resolver/vaddr.o (see the Makefile), so it writes the map exactly as
 * torwrap does, whatever its layout becomes.
 */
#include <dirent.h>
#include <limits.h>

#include "hostile.h"
#include "../../resolver/resolver.h"

/* The map's descriptor: TORWRAP_VMAP_FD, else a memfd named torwrap-vmap among our descriptors; -1 if none. */
static int find_map(void)
{
	const char *env = getenv(VADDR_FD_ENV);
	if (env && *env) {
		printf("map: %s=%s\n", VADDR_FD_ENV, env);
		return atoi(env);
	}
	/* The library makes its map on first use: touch it (a UDP socket connected to loopback sends nothing). */
	struct sockaddr_in lo;
	hostile_addr("127.0.0.1", "9", &lo);
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	if (s >= 0) {
		(void)!connect(s, (struct sockaddr *)&lo, sizeof(lo));
		close(s);
	}
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;
	while (d && (e = readdir(d)) != NULL) {
		char path[PATH_MAX], target[PATH_MAX];
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t n = readlink(path, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, "/memfd:torwrap-vmap", 19) == 0) {
			found = atoi(e->d_name);
			printf("map: descriptor %d (%s)\n", found, target);
			break;
		}
	}
	if (d)
		closedir(d);
	if (found < 0)
		printf("map: none here\n");
	return found;
}

/* TORWRAP_VIRTUAL_NET (or torwrap's default, 127.192.0.0/10) as the map's network and mask. */
static void virtual_net(uint32_t *net, uint32_t *mask)
{
	const char *v = getenv("TORWRAP_VIRTUAL_NET");
	char a[32] = "127.192.0.0";
	int bits = 10;
	if (v && sscanf(v, "%31[0-9.]/%d", a, &bits) != 2)
		bits = 10;
	inet_pton(AF_INET, a, net);
	*mask = htonl(bits <= 0 ? 0 : 0xffffffffu << (32 - bits));
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: hostile_vmap HOST PORT NAME\n");
		return 2;
	}
	hostile_start(argc, argv);
	struct sockaddr_in to;
	hostile_addr(argv[1], argv[2], &to);

	int fd = find_map();
	if (fd >= 0) {
		char text[16];
		snprintf(text, sizeof(text), "%d", fd);
		setenv(VADDR_FD_ENV, text, 1);
		uint32_t net, mask;
		virtual_net(&net, &mask);
		step_raw("attach to the map", vaddr_attach(net, mask));
		uint8_t addr[16] = { 0 };
		memcpy(addr, &to.sin_addr, 4);
		char what[TW_NAME_MAX + 64];
		snprintf(what, sizeof(what), "forge: %s learned as %s", argv[1], argv[3]);
		step_raw(what, vaddr_remember_direct(AF_INET, addr, argv[3]));
		char name[TW_NAME_MAX];
		if (vaddr_direct_name(AF_INET, addr, name) == 0)
			printf("the map now says: %s is %s\n", argv[1], name);
	}

	int s = (int)step_libc("socket", socket(AF_INET, SOCK_STREAM, 0));
	char what[64];
	snprintf(what, sizeof(what), "connect(%s:%s)", argv[1], argv[2]);
	if (s >= 0 && step_libc(what, connect(s, (struct sockaddr *)&to, sizeof(to))) == 0)
		hostile_http(s);
	return 0;
}
