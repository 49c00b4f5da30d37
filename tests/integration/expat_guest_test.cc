// expat (Debian's expat source package, guest/real/expat_guest.c), an XML parser, as a guest:
// its digests equal the host's libexpat, a malformed document is a clean error at the same
// line and column, a recording replays, and gdb on the replay stops inside the parser.
#include <expat.h>
#include <gtest/gtest.h>

#include <regex>

#include "tests/integration/live_debug.h"
#include "tests/integration/real_guests.h"
#include "tests/replay/replay_test_util.h"

namespace hlrr::testing {
namespace {

// expat_guest.c's digest, computed with the host's libexpat: the same three handlers.
struct Digest {
  unsigned long elements = 0, attributes = 0, depth = 0, deepest = 0, text = 0;
  uint32_t fnv = 2166136261u;
};

void XMLCALL start_element(void* data, const XML_Char*, const XML_Char** atts) {
  auto* d = static_cast<Digest*>(data);
  ++d->elements;
  for (; atts[0] != nullptr; atts += 2) ++d->attributes;
  d->deepest = std::max(d->deepest, ++d->depth);
}
void XMLCALL end_element(void* data, const XML_Char*) {
  --static_cast<Digest*>(data)->depth;
}
void XMLCALL character_data(void* data, const XML_Char* s, int len) {
  auto* d = static_cast<Digest*>(data);
  d->text += static_cast<unsigned long>(len);
  for (int i = 0; i < len; ++i) d->fnv = (d->fnv ^ static_cast<unsigned char>(s[i])) * 16777619u;
}

std::string native_digest(const std::string& doc) {
  Digest d;
  XML_Parser parser = XML_ParserCreate(nullptr);
  XML_SetUserData(parser, &d);
  XML_SetElementHandler(parser, start_element, end_element);
  XML_SetCharacterDataHandler(parser, character_data);
  char text[256];
  if (XML_Parse(parser, doc.data(), static_cast<int>(doc.size()), 1) == XML_STATUS_ERROR) {
    std::snprintf(text, sizeof text, "xml: line %lu, column %lu: %s",
                  static_cast<unsigned long>(XML_GetCurrentLineNumber(parser)),
                  static_cast<unsigned long>(XML_GetCurrentColumnNumber(parser)),
                  XML_ErrorString(XML_GetErrorCode(parser)));
  } else {
    std::snprintf(text, sizeof text, "elements %lu attributes %lu depth %lu text %lu fnv %08lx",
                  d.elements, d.attributes, d.deepest, d.text, static_cast<unsigned long>(d.fnv));
  }
  XML_ParserFree(parser);
  return text;
}

std::vector<uint8_t> bytes(const std::string& s) {
  return {s.begin(), s.end()};
}

// A library catalogue of `n` books: attributes, entities, CDATA, UTF-8 and namespaces.
std::string catalogue(int n) {
  std::string doc =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE library>\n"
      "<library xmlns:d=\"urn:dc\">\n";
  for (int i = 0; i < n; ++i) {
    doc += "  <book id=\"b" + std::to_string(i) + "\" year=\"" + std::to_string(1950 + i % 70) +
           "\"><d:title>Title &amp; n\xc2\xb0" + std::to_string(i) +
           "</d:title><note><![CDATA[<raw> & ]]>" + std::string(static_cast<size_t>(i % 13), 'x') +
           "</note></book>\n";
  }
  return doc + "</library>\n";
}

std::string nested(int depth) {
  std::string doc;
  for (int i = 0; i < depth; ++i) doc += "<n d=\"" + std::to_string(i) + "\">";
  doc += "deep";
  for (int i = 0; i < depth; ++i) doc += "</n>";
  return doc;
}

TEST(ExpatGuest, DigestsEqualTheHostsLibexpat) {
  std::string out;
  auto s = real_sandbox("expat", &out);
  ASSERT_TRUE(s);
  for (const std::string& doc :
       {std::string("<a/>"), std::string("<a x='1' y=\"2\">t&lt;&#x263A;</a>"), catalogue(150),
        nested(500)}) {
    const std::string want = native_digest(doc);
    ASSERT_EQ(want.rfind("elements ", 0), 0u) << want;
    EXPECT_EQ(std::get<std::string>(call_ok(*s, "xml_digest", {bytes(doc)})), want)
        << doc.substr(0, 80);
  }
  // Values checked by hand, not only against the host: 150 books, 3 elements and 2 attributes
  // each, plus <library>; depth library > book > title.
  EXPECT_EQ(std::get<std::string>(call_ok(*s, "xml_digest", {bytes(catalogue(150))}))
                .rfind("elements 451 attributes 301 depth 3 text ", 0),
            0u);
}

TEST(ExpatGuest, AMalformedDocumentIsACleanErrorAtTheHostsPosition) {
  std::string out;
  auto s = real_sandbox("expat", &out);
  ASSERT_TRUE(s);
  for (const std::string& doc :
       {std::string("<a>\n  <b></a>"), std::string("<a>&undefined;</a>"),
        std::string("<a x='1' x='2'/>"), std::string("<a>"), catalogue(20) + "<extra/>"}) {
    auto r = s->call("xml_digest", std::vector<vmm::Value>{bytes(doc)});
    ASSERT_FALSE(r.has_value()) << doc;
    const std::string want = native_digest(doc);
    ASSERT_EQ(want.rfind("xml: line ", 0), 0u) << want;
    EXPECT_NE(r.error().to_string().find(want), std::string::npos)
        << r.error().to_string() << "\nwant: " << want;
  }
  EXPECT_EQ(native_digest("<a>\n  <b></a>"), "xml: line 2, column 7: mismatched tag");
  // The guest is still usable afterwards.
  EXPECT_EQ(std::get<std::string>(call_ok(*s, "xml_digest", {bytes("<a><b/></a>")})),
            "elements 2 attributes 0 depth 2 text 0 fnv 811c9dc5");  // FNV-1a of nothing
}

// hlrun --record + hlreplay --check: expat's hash salt comes from getrandom(), a host call,
// so the replay parses with the same salt.
TEST(ExpatGuest, ARecordingReplaysDeterministically) {
  TempDir dir;
  const std::string trace = dir.path("expat.cap");
  std::string hex;
  for (unsigned char c : catalogue(50)) {
    char h[3];
    std::snprintf(h, sizeof h, "%02x", c);
    hex += h;
  }
  record("expat", {"xml_digest", "b:" + hex}, trace);
  auto check = run_process({tool_path("hlreplay"), trace, "--check"}, std::chrono::minutes(3));
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_CONTAINS(check.out, "deterministic: ");
}

// gdb on a replay, inside expat: the third start tag's handler, a backtrace through the
// parser's own functions, and the parser's state (its tag level) and the tag's attributes.
TEST(ExpatGuestGdb, BreaksInsideTheParserOnAReplay) {
  if (!have_tool("gdb")) GTEST_SKIP() << "gdb is not installed";
  TempDir dir;
  const std::string trace = dir.path("expat.cap");
  // <library><shelf id="a"><book year="1999">Dune</book></shelf></library>
  record("expat",
         {"xml_digest",
          "b:3c6c6962726172793e3c7368656c662069643d2261223e3c626f6f6b20796561723d2231393939223e44"
          "756e653c2f626f6f6b3e3c2f7368656c663e3c2f6c6962726172793e"},
         trace);
  ReplayServer server(trace);
  ASSERT_NE(server.port(), 0);
  const std::string out =
      gdb_session("expat", server.port(),
                  {"break start_element if ((struct digest*)data)->elements == 2", "continue", "bt",
                   "printf \"NAME %s ATTR %s=%s\\n\", name, atts[0], atts[1]",
                   "frame function doContent", "printf \"TAGLEVEL %d\\n\", parser->m_tagLevel"});
  EXPECT_CONTAINS(out, "Breakpoint 1, start_element (");
  for (const char* frame : {"doContent", "contentProcessor", "XML_ParseBuffer", "XML_Parse"}) {
    EXPECT_TRUE(std::regex_search(
        out, std::regex(std::string("#[0-9]+ .* in ") + frame + " \\(.*xmlparse\\.c:[0-9]+")))
        << frame << "\n"
        << out;
  }
  EXPECT_TRUE(std::regex_search(out, std::regex("#[0-9]+ .* in xml_digest \\("))) << out;
  EXPECT_CONTAINS(out, "NAME book ATTR year=1999\n");
  EXPECT_CONTAINS(out, "TAGLEVEL 3\n");
}

}  // namespace
}  // namespace hlrr::testing
