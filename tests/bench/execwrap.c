/* execwrap.c: the floor for any wrapper command: a static binary that does nothing but exec its arguments.
 * `torwrap CMD` is compared with `execwrap CMD` to see what torwrap's own checks and setup cost on top of the
 * second exec every wrapper pays. Linked statically, like torwrap.
 */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: execwrap PROGRAM [ARGS...]\n");
		return 2;
	}
	execvp(argv[1], argv + 1);
	perror(argv[1]);
	return 127;
}
