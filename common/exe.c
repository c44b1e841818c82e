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
#include <sys/auxv.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <link.h>

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
	tw_libc()->close(fd);
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

/* ---------------------------------------------------------------------------- programs that bypass libc */

#define NT_GO_BUILDID 4

/* True when the notes in BUF (LEN bytes, a PT_NOTE segment's contents) hold Go's build ID (name "Go", which
 * the Go linker pads to 4 bytes; type 4). The Go linker writes it into every binary it links, and Go makes its
 * own system calls whether the binary links libc or not. */
static bool notes_name_go(const unsigned char *buf, size_t len)
{
	size_t off = 0;
	while (off + 12 <= len) {
		uint32_t namesz, descsz, type;
		memcpy(&namesz, buf + off, 4);
		memcpy(&descsz, buf + off + 4, 4);
		memcpy(&type, buf + off + 8, 4);
		off += 12;
		size_t name_end = off + ((namesz + 3u) & ~3u);
		if (namesz > len || name_end > len)
			return false;
		if ((namesz == 3 || namesz == 4) && type == NT_GO_BUILDID && memcmp(buf + off, "Go", 3) == 0)
			return true;
		size_t desc_end = name_end + ((descsz + 3u) & ~3u);
		if (descsz > len || desc_end > len)
			return false;
		off = desc_end;
	}
	return false;
}

bool tw_self_bypasses_libc(char *what, size_t whatlen)
{
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)getauxval(AT_PHDR);
	size_t n = getauxval(AT_PHNUM);
	if (ph == NULL || n == 0)
		return false;
	uintptr_t bias = 0;
	bool have_bias = false;
	for (size_t i = 0; i < n; i++)
		if (ph[i].p_type == PT_PHDR) {
			bias = (uintptr_t)ph - ph[i].p_vaddr;
			have_bias = true;
		}
	if (!have_bias)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ph[i].p_type != PT_NOTE)
			continue;
		/* Only a note inside a loaded segment's file bytes is mapped, and so readable. */
		bool mapped = false;
		for (size_t j = 0; j < n && !mapped; j++)
			mapped = ph[j].p_type == PT_LOAD && ph[i].p_vaddr >= ph[j].p_vaddr &&
				 ph[i].p_vaddr + ph[i].p_filesz <= ph[j].p_vaddr + ph[j].p_filesz;
		if (mapped && notes_name_go((const unsigned char *)(bias + ph[i].p_vaddr), ph[i].p_filesz)) {
			snprintf(what, whatlen, "Go");
			return true;
		}
	}
	return false;
}

/* The program headers of the 64-bit ELF file open on FD, into PH (at most MAX). Returns their count, 0 for
 * anything else. */
static unsigned read_phdrs(int fd, Elf64_Phdr *ph, unsigned max)
{
	Elf64_Ehdr e;
	if (pread(fd, &e, sizeof(e), 0) != (ssize_t)sizeof(e) || memcmp(e.e_ident, ELFMAG, SELFMAG) != 0 ||
	    e.e_ident[EI_CLASS] != ELFCLASS64 || e.e_phentsize != sizeof(Elf64_Phdr))
		return 0;
	unsigned n = e.e_phnum < max ? e.e_phnum : max;
	ssize_t want = (ssize_t)(n * sizeof(Elf64_Phdr));
	return pread(fd, ph, (size_t)want, (off_t)e.e_phoff) == want ? n : 0;
}

/* The contents of the next segment of TYPE (from PH[*NEXT] on) in the file open on FD, into BUF: its length,
 * or 0 when there is none. Segments longer than MAX bytes are skipped. */
static size_t read_segment(int fd, const Elf64_Phdr *ph, unsigned n, uint32_t type, void *buf, size_t max,
			   size_t *next)
{
	for (unsigned i = *next; i < n; i++) {
		*next = i + 1;
		if (ph[i].p_type != type || ph[i].p_filesz == 0 || ph[i].p_filesz > max)
			continue;
		if (pread(fd, buf, ph[i].p_filesz, (off_t)ph[i].p_offset) == (ssize_t)ph[i].p_filesz)
			return ph[i].p_filesz;
	}
	return 0;
}

bool tw_exe_bypasses_libc(const char *path, char *what, size_t whatlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	Elf64_Phdr ph[64];
	unsigned n = read_phdrs(fd, ph, 64);
	unsigned char buf[65536];
	bool found = false;
	size_t len, next = 0;
	while (!found && (len = read_segment(fd, ph, n, PT_NOTE, buf, sizeof(buf), &next)) > 0)
		found = notes_name_go(buf, len);
	tw_libc()->close(fd);
	if (found)
		snprintf(what, whatlen, "Go");
	return found;
}

bool tw_lib_is_glibc(const char *path)
{
	/* A library built against glibc names glibc's symbol versions ("GLIBC_2.2.5"); one built for musl never
	 * does. Read in pieces, a boundary overlap kept. */
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	static const char tag[] = "GLIBC_2.";
	char buf[65536 + sizeof(tag)];
	size_t keep = 0;
	bool found = false;
	ssize_t n;
	while (!found && (n = tw_libc()->read(fd, buf + keep, sizeof(buf) - keep)) > 0) {
		size_t len = keep + (size_t)n;
		/* A version name: the tag and a digit ("GLIBC_2.2.5"). This code's own copy of the tag, in any
		 * build, has none after it. */
		for (const char *p = buf; !found && (p = memmem(p, len - (size_t)(p - buf), tag, sizeof(tag) - 1));
		     p++)
			found = (size_t)(p - buf) + sizeof(tag) - 1 < len && p[sizeof(tag) - 1] >= '0' &&
				p[sizeof(tag) - 1] <= '9';
		keep = len < sizeof(tag) ? len : sizeof(tag);
		memmove(buf, buf + len - keep, keep);
	}
	tw_libc()->close(fd);
	return found;
}

bool tw_exe_is_musl(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	Elf64_Phdr ph[64];
	unsigned n = read_phdrs(fd, ph, 64);
	char interp[256];
	size_t next = 0, len = read_segment(fd, ph, n, PT_INTERP, interp, sizeof(interp) - 1, &next);
	tw_libc()->close(fd);
	interp[len] = '\0';
	return strstr(interp, "ld-musl") != NULL;
}
