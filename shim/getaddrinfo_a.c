/* getaddrinfo_a.c: getaddrinfo_a(). glibc's version runs getaddrinfo() in its own threads through an internal
 * symbol our hook never sees; here each request is resolved through our getaddrinfo() (which never waits on
 * the network for a name it routes through Tor) and the completion is then signalled as the caller asked.
 *
 * glibc only: musl has no getaddrinfo_a (its variant of the library is built without this file's hook).
 */
#include <features.h> /* defines __GLIBC__, which the test below needs */
#ifdef __GLIBC__
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "shim.h"

struct notify_arg {
	void (*fn)(union sigval);
	union sigval value;
};

static void *notify_thread(void *p)
{
	struct notify_arg a = *(struct notify_arg *)p;
	free(p);
	a.fn(a.value);
	return NULL;
}

static int notify(const struct sigevent *sev)
{
	if (sev == NULL || sev->sigev_notify == SIGEV_NONE)
		return 0;
	if (sev->sigev_notify == SIGEV_SIGNAL)
		return sigqueue(getpid(), sev->sigev_signo, sev->sigev_value);
	if (sev->sigev_notify == SIGEV_THREAD && sev->sigev_notify_function) {
		struct notify_arg *a = malloc(sizeof(*a));
		if (a == NULL)
			return -1;
		a->fn = sev->sigev_notify_function;
		a->value = sev->sigev_value;
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		pthread_t t;
		int rc = pthread_create(&t, sev->sigev_notify_attributes ? sev->sigev_notify_attributes : &attr,
					notify_thread, a);
		pthread_attr_destroy(&attr);
		if (rc != 0) {
			free(a);
			return -1;
		}
	}
	return 0;
}

TW_EXPORT int getaddrinfo_a(int mode, struct gaicb *list[], int nitems, struct sigevent *sevp)
{
	if (mode != GAI_WAIT && mode != GAI_NOWAIT)
		return EAI_SYSTEM;
	for (int i = 0; i < nitems; i++) {
		struct gaicb *r = list[i];
		if (r == NULL)
			continue;
		r->ar_result = NULL;
		/* __return is what gai_error() reports. */
		r->__return = shim_hook_getaddrinfo(r->ar_name, r->ar_service, r->ar_request, &r->ar_result);
	}
	if (mode == GAI_NOWAIT && notify(sevp) != 0)
		return EAI_SYSTEM;
	return 0;
}

#endif /* __GLIBC__ */
