// The x86-64 target description (target.xml) served by qXfer:features:read, generated from the
// register table in rsp/registers.h so the XML and the `g` layout cannot disagree.
#pragma once

#include <string>

namespace hlrr::rsp {

// `<target>` with architecture i386:x86-64 (no osabi) and the features org.gnu.gdb.i386.core,
// org.gnu.gdb.i386.sse and org.gnu.gdb.i386.segments, with gdb's own types (eflags and mxcsr
// flags, the vec128 union) so gdb shows flags and vectors as it does natively.
const std::string& target_xml();

}  // namespace hlrr::rsp
