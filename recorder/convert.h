// The recorder's conversions into trace records: convert/ (the register table and the
// conversions derived from it), which replay and the debug targets share.
#pragma once

#include "convert/records.h"
#include "convert/registers.h"

namespace hlrr::recorder {

using convert::from_trace;
using convert::to_trace;
using convert::to_trace_exit;

}  // namespace hlrr::recorder
