/* libc.c: the real libc functions behind the ones the shim overrides.
 *
 * Looked up once with dlsym(RTLD_NEXT), so from inside libtorwrap.so they are the next definitions after ours
 * (libc's). Everything in torwrap that needs a socket call or a libc resolver goes through this table; calling
 * the public names instead would land in our own hooks.
 *
 * The statically linked wrapper (cli/) has no dynamic symbol table, so dlsym finds nothing there; it has no hooks
 * either, so the public names are libc's own. It provides the ones it needs in tw_libc_direct, which this file
 * declares weak: absent from the library, present in the wrapper.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include "tw.h"

static struct tw_libc real;

extern const struct tw_libc tw_libc_direct __attribute__((weak, visibility("hidden")));
static pthread_once_t real_once = PTHREAD_ONCE_INIT;

/* Stubs for the (theoretical) case where libc lacks a symbol: fail, never call through NULL. */
static int stub_int(void)
{
	errno = ENOSYS;
	return -1;
}

static void stub_void(void)
{
}

static void *stub_ptr(void)
{
	errno = ENOSYS;
	return NULL;
}

/* From tw_libc_direct when the binary provides it (NULL fields are left to the stubs), else from dlsym. */
#define LOOKUP(field, fallback)                                                                                \
	do {                                                                                                   \
		void *sym = &tw_libc_direct != NULL ? *(void *const *)(&tw_libc_direct.field)                 \
						    : dlsym(RTLD_NEXT, #field);                                \
		if (sym == NULL)                                                                               \
			sym = (void *)(fallback);                                                              \
		*(void **)(&real.field) = sym;                                                                 \
	} while (0)

static void real_resolve(void)
{
	LOOKUP(socket, stub_int);
	LOOKUP(connect, stub_int);
	LOOKUP(close, stub_int);
	LOOKUP(sendto, stub_int);
	LOOKUP(sendmsg, stub_int);
	LOOKUP(recvfrom, stub_int);
	LOOKUP(recvmsg, stub_int);
	LOOKUP(recvmmsg, stub_int);
	LOOKUP(__recvfrom_chk, stub_int);
	LOOKUP(read, stub_int);
	LOOKUP(readv, stub_int);
	LOOKUP(recv, stub_int);
	LOOKUP(__read_chk, stub_int);
	LOOKUP(__recv_chk, stub_int);
	LOOKUP(getsockopt, stub_int);
	LOOKUP(setsockopt, stub_int);
	LOOKUP(writev, stub_int);
	LOOKUP(write, stub_int);
	LOOKUP(send, stub_int);
	LOOKUP(sendmmsg, stub_int);
	LOOKUP(getpeername, stub_int);
	LOOKUP(close_range, stub_int);
	LOOKUP(closefrom, stub_void);
	LOOKUP(syscall, stub_int);
	LOOKUP(execve, stub_int);
	LOOKUP(execveat, stub_int);
	LOOKUP(fexecve, stub_int);
	LOOKUP(getaddrinfo, stub_int);
	LOOKUP(freeaddrinfo, stub_void);
	LOOKUP(getnameinfo, stub_int);
	LOOKUP(gethostbyname, stub_ptr);
	LOOKUP(gethostbyname2, stub_ptr);
	LOOKUP(gethostbyname_r, stub_int);
	LOOKUP(gethostbyname2_r, stub_int);
	LOOKUP(pwritev2, stub_int);
	LOOKUP(sendfile, stub_int);
	LOOKUP(splice, stub_int);
	LOOKUP(aio_write, stub_int);
	LOOKUP(gethostbyaddr, stub_ptr);
	LOOKUP(gethostbyaddr_r, stub_int);
}

const struct tw_libc *tw_libc(void)
{
	pthread_once(&real_once, real_resolve);
	return &real;
}
