/* format.c: hl_vsnprintf, hl_snprintf and hl_printf. */
#include "hl_internal.h"

struct sink {
  char* buf;
  uint64_t size;
  uint64_t len; /* what the full output would need, excluding the NUL */
};

static void put(struct sink* s, char c) {
  if (s->len + 1 < s->size) s->buf[s->len] = c;
  ++s->len;
}

static void put_padded(struct sink* s, const char* text, uint64_t n, int width, int left,
                       char pad) {
  uint64_t fill = width > 0 && (uint64_t)width > n ? (uint64_t)width - n : 0;
  if (!left) {
    /* Zero padding goes after a sign: "-0042". */
    if (pad == '0' && n > 0 && text[0] == '-') {
      put(s, '-');
      ++text;
      --n;
    }
    while (fill--) put(s, pad);
  }
  for (uint64_t i = 0; i < n; ++i) put(s, text[i]);
  if (left) {
    while (fill--) put(s, ' ');
  }
}

/* Digits of v in `base`, written backwards from `end`; returns the first digit. */
static char* format_unsigned(char* end, uint64_t v, unsigned base, int upper) {
  const char* digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  char* p = end;
  do {
    *--p = digits[v % base];
    v /= base;
  } while (v != 0);
  return p;
}

int hl_vsnprintf(char* buf, uint64_t size, const char* fmt, va_list ap) {
  struct sink s = {.buf = buf, .size = size, .len = 0};
  for (const char* f = fmt; *f != '\0'; ++f) {
    if (*f != '%') {
      put(&s, *f);
      continue;
    }
    ++f;
    int left = 0;
    char pad = ' ';
    for (;; ++f) {
      if (*f == '-') left = 1;
      else if (*f == '0') pad = '0';
      else break;
    }
    int width = 0;
    while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
    int longs = 0;
    for (;; ++f) {
      if (*f == 'l') ++longs;
      else if (*f == 'z') longs = 2;
      else break;
    }
    if (left) pad = ' ';

    char digits[24];
    char* end = digits + sizeof digits;
    switch (*f) {
      case 'd':
      case 'i': {
        const int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
        const uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        char* p = format_unsigned(end, mag, 10, 0);
        if (v < 0) *--p = '-';
        put_padded(&s, p, (uint64_t)(end - p), width, left, pad);
        break;
      }
      case 'u':
      case 'x':
      case 'X': {
        const uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
        char* p = format_unsigned(end, v, *f == 'u' ? 10 : 16, *f == 'X');
        put_padded(&s, p, (uint64_t)(end - p), width, left, pad);
        break;
      }
      case 'p': {
        char* p = format_unsigned(end, (uint64_t)(uintptr_t)va_arg(ap, void*), 16, 0);
        *--p = 'x';
        *--p = '0';
        put_padded(&s, p, (uint64_t)(end - p), width, left, ' ');
        break;
      }
      case 'c': {
        const char c = (char)va_arg(ap, int);
        put_padded(&s, &c, 1, width, left, ' ');
        break;
      }
      case 's': {
        const char* str = va_arg(ap, const char*);
        if (str == NULL) str = "(null)";
        put_padded(&s, str, hl_strlen(str), width, left, ' ');
        break;
      }
      case '%':
        put(&s, '%');
        break;
      case '\0': /* a lone '%' at the end */
        --f;
        break;
      default: /* unknown conversion: print it as it was written */
        put(&s, '%');
        put(&s, *f);
        break;
    }
  }
  if (size > 0) buf[s.len < size ? s.len : size - 1] = '\0';
  return s.len > 0x7fffffff ? 0x7fffffff : (int)s.len;
}

int hl_snprintf(char* buf, uint64_t size, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const int n = hl_vsnprintf(buf, size, fmt, ap);
  va_end(ap);
  return n;
}

int64_t hl_printf(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  hl_vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return hl_print(buf);
}
