/* expat_config.h for expat as a guest: what expat's configure finds on x86-64 Linux with musl,
 * written by hand because a guest build runs no configure script. Debian builds expat with the
 * same features (XML_DTD, XML_NS, 1024 context bytes); its hash salt comes from getrandom(),
 * which a guest's runtime serves through the host (recorded, so replays parse identically). */
#ifndef EXPAT_CONFIG_H
#define EXPAT_CONFIG_H 1

#define BYTEORDER 1234
#define HAVE_GETRANDOM 1
#define HAVE_FCNTL_H 1
#define HAVE_INTTYPES_H 1
#define HAVE_MEMORY_H 1
#define HAVE_STDINT_H 1
#define HAVE_STDLIB_H 1
#define HAVE_STRINGS_H 1
#define HAVE_STRING_H 1
#define HAVE_SYS_STAT_H 1
#define HAVE_SYS_TYPES_H 1
#define HAVE_UNISTD_H 1
#define STDC_HEADERS 1
#define PACKAGE "expat"
#define PACKAGE_NAME "expat"
#define PACKAGE_VERSION "2.5.0"
#define XML_CONTEXT_BYTES 1024
#define XML_DTD 1
#define XML_NS 1

#endif /* EXPAT_CONFIG_H */
