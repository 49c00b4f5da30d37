// Helpers for the recorder tests: temporary trace paths and reading a whole trace back.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "trace_format/trace_reader.h"

namespace hlrr::testing {

// A trace path in a fresh temporary directory, removed with the object.
class TempTrace {
 public:
  TempTrace() {
    char dir[] = "/tmp/hlrr-recorder-XXXXXX";
    dir_ = mkdtemp(dir);
  }
  ~TempTrace() { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name = "trace.cap") const { return dir_ + "/" + name; }

 private:
  std::string dir_;
};

struct TraceContents {
  std::vector<trace::Record> records;
  std::vector<trace::Exit> exits;
  std::vector<trace::CallStart> calls;
  std::vector<trace::CallEnd> ends;
  std::vector<trace::NondetResult> nondet;
  std::vector<trace::MemoryDelta> deltas;
  trace::Setup setup;
  trace::End end;
  bool truncated = false;
};

inline TraceContents read_trace(const std::string& path) {
  TraceContents t;
  auto reader = trace::TraceReader::open(path);
  if (!reader) {
    ADD_FAILURE() << path << ": " << reader.error().message;
    return t;
  }
  t.truncated = (*reader)->truncated();
  auto st = (*reader)->for_each_record([&](const trace::Record& r) {
    t.records.push_back(r);
    if (auto* e = std::get_if<trace::Exit>(&r)) t.exits.push_back(*e);
    if (auto* c = std::get_if<trace::CallStart>(&r)) t.calls.push_back(*c);
    if (auto* c = std::get_if<trace::CallEnd>(&r)) t.ends.push_back(*c);
    if (auto* n = std::get_if<trace::NondetResult>(&r)) t.nondet.push_back(*n);
    if (auto* d = std::get_if<trace::MemoryDelta>(&r)) t.deltas.push_back(*d);
    if (auto* s = std::get_if<trace::Setup>(&r)) t.setup = *s;
    if (auto* e = std::get_if<trace::End>(&r)) t.end = *e;
    return true;
  });
  EXPECT_TRUE(st) << st.error().message;
  return t;
}

}  // namespace hlrr::testing
