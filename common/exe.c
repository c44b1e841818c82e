/* exe.c: can the library follow this program? Shared by the torwrap wrapper and the library's exec hooks.
 *
 * A program without PT_INTERP is statically linked: it never loads libtorwrap.so and its system calls would
 * leak past Tor. A setuid/setgid or setcap program runs with LD_PRELOAD dropped by the loader. "#!" scripts
 * are judged by their interpreter.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "tw.h"

enum exe_kind { EXE_DYNAMIC, EXE_STATIC, EXE_SCRIPT, EXE_OTHER };

static enum exe_kind inspect(const char *path, char *interp, size_t interplen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return EXE_OTHER;
	unsigned char hdr[sizeof(Elf64_Ehdr)];
	ssize_t n = pread(fd, hdr, sizeof(hdr), 0);
	enum exe_kind kind = EXE_OTHER;
	if (n >= 2 && hdr[0] == '#' && hdr[1] == '!') {
		char line[256];
		ssize_t m = pread(fd, line, sizeof(line) - 1, 2);
		if (m > 0) {
			line[m] = '\0';
			char *s = line + strspn(line, " \t");
			s[strcspn(s, " \t\n")] = '\0';
			snprintf(interp, interplen, "%s", s);
			kind = EXE_SCRIPT;
		}
	} else if (n >= (ssize_t)sizeof(Elf32_Ehdr) && memcmp(hdr, ELFMAG, SELFMAG) == 0) {
		kind = EXE_STATIC;
		uint64_t phoff;
		unsigned phnum, phentsize;
		if (hdr[EI_CLASS] == ELFCLASS64) {
			const Elf64_Ehdr *e = (const Elf64_Ehdr *)(const void *)hdr;
			phoff = e->e_phoff, phnum = e->e_phnum, phentsize = e->e_phentsize;
		} else {
			const Elf32_Ehdr *e = (const Elf32_Ehdr *)(const void *)hdr;
			phoff = e->e_phoff, phnum = e->e_phnum, phentsize = e->e_phentsize;
		}
		for (unsigned i = 0; i < phnum && i < 4096; i++) {
			uint32_t type;
			if (pread(fd, &type, sizeof(type), (off_t)(phoff + (uint64_t)i * phentsize)) != sizeof(type))
				break;
			if (type == PT_INTERP) {
				kind = EXE_DYNAMIC;
				break;
			}
		}
	}
	close(fd);
	return kind;
}

int tw_exe_check(const char *path_in, char *why, size_t whylen)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s", path_in) >= (int)sizeof(path))
		return TW_EXE_OK; /* exec itself will fail with ENAMETOOLONG */
	for (int depth = 0; depth < 4; depth++) {
		struct stat st;
		if (stat(path, &st) != 0)
			return TW_EXE_OK; /* let exec report ENOENT & co itself */
		if (st.st_mode & (S_ISUID | S_ISGID)) {
			snprintf(why, whylen, "%s is setuid/setgid: the loader ignores LD_PRELOAD for it", path);
			return TW_EXE_SETID;
		}
		if (getxattr(path, "security.capability", NULL, 0) > 0) {
			snprintf(why, whylen, "%s has file capabilities (setcap): the loader ignores LD_PRELOAD for it",
				 path);
			return TW_EXE_SETCAP;
		}
		char interp[256];
		switch (inspect(path, interp, sizeof(interp))) {
		case EXE_STATIC:
			snprintf(why, whylen, "%s is statically linked: libtorwrap.so cannot see its connections", path);
			return TW_EXE_STATIC;
		case EXE_SCRIPT:
			if (interp[0] != '/')
				return TW_EXE_OK; /* "#!/usr/bin/env x": x is exec'd, and judged, when env runs */
			memcpy(path, interp, sizeof(interp));
			break;
		default:
			return TW_EXE_OK;
		}
	}
	return TW_EXE_OK;
}
