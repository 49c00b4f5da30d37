/* expat_guest.c: expat (Debian's expat source package, scripts/fetch-guest-sources.sh), an XML
 * parser, as a guest.
 *
 *   xml_digest(bytes) -> string "elements E attributes A depth D text T fnv XXXXXXXX"
 *       parses a document with expat; E start tags, A attributes, D the deepest nesting, T bytes
 *       of character data and the FNV-1a (32-bit) hash of that data, in hex. A malformed
 *       document ends the call with a panic "xml: line L, column C: <expat's message>".
 * The same digest over the host's libexpat: tests/integration/real_guests_test.cc. */
#include <stdint.h>
#include <stdio.h>

#include "expat.h"
#include "hlguest.h"

struct digest {
  unsigned long elements, attributes, depth, deepest, text;
  uint32_t fnv;
};

static void XMLCALL start_element(void* data, const XML_Char* name, const XML_Char** atts) {
  (void)name;
  struct digest* d = data;
  ++d->elements;
  for (; atts[0] != NULL; atts += 2) ++d->attributes;
  if (++d->depth > d->deepest) d->deepest = d->depth;
}

static void XMLCALL end_element(void* data, const XML_Char* name) {
  (void)name;
  --((struct digest*)data)->depth;
}

static void XMLCALL character_data(void* data, const XML_Char* s, int len) {
  struct digest* d = data;
  d->text += (unsigned long)len;
  for (int i = 0; i < len; ++i) d->fnv = (d->fnv ^ (unsigned char)s[i]) * 16777619u;
}

static char g_result[128];
static char g_error[256];

static hl_value xml_digest(const hl_value* args, uint32_t argc) {
  (void)argc;
  struct digest d = {0, 0, 0, 0, 0, 2166136261u};
  XML_Parser parser = XML_ParserCreate(NULL);
  if (parser == NULL) hl_panic("xml: cannot create a parser");
  XML_SetUserData(parser, &d);
  XML_SetElementHandler(parser, start_element, end_element);
  XML_SetCharacterDataHandler(parser, character_data);
  if (XML_Parse(parser, hl_as_ptr(args[0]), (int)hl_len(args[0]), 1) == XML_STATUS_ERROR) {
    snprintf(g_error, sizeof g_error, "xml: line %lu, column %lu: %s",
             (unsigned long)XML_GetCurrentLineNumber(parser),
             (unsigned long)XML_GetCurrentColumnNumber(parser),
             XML_ErrorString(XML_GetErrorCode(parser)));
    XML_ParserFree(parser);
    hl_panic(g_error);
  }
  XML_ParserFree(parser);
  snprintf(g_result, sizeof g_result, "elements %lu attributes %lu depth %lu text %lu fnv %08lx",
           d.elements, d.attributes, d.deepest, d.text, (unsigned long)d.fnv);
  return hl_str(g_result);
}

void hl_main(void) {
  hl_register("xml_digest", xml_digest, "b");
}
