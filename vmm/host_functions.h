// HostFunctionTable: the functions a guest may call on its host, by name, with declared
// parameter and result types. The exit loop checks a guest's call against the declaration
// before the function runs, so a host function only ever sees well-typed arguments.
#pragma once

#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "base/expected.h"
#include "vmm/value.h"

namespace hlrr::vmm {

// A host function returns its result, or an error that ends the guest call (kBadHostCall).
using HostFunction = std::function<base::Expected<Value>(std::span<const Value> args)>;

struct HostFunctionSignature {
  std::vector<ValueType> params;
  ValueType result = ValueType::kVoid;
};

class HostFunctionTable {
 public:
  // Adds or replaces `name`.
  void add(std::string name, HostFunctionSignature signature, HostFunction function);
  bool contains(const std::string& name) const { return functions_.count(name) != 0; }

  // Checks the arguments against the declaration, runs the function and checks its result
  // type. Errors are one line naming the function.
  base::Expected<Value> call(const std::string& name, std::span<const Value> args) const;

 private:
  struct Entry {
    HostFunctionSignature signature;
    HostFunction function;
  };
  std::map<std::string, Entry, std::less<>> functions_;
};

}  // namespace hlrr::vmm
