#include "vmm/host_functions.h"

namespace hlrr::vmm {

void HostFunctionTable::add(std::string name, HostFunctionSignature signature,
                            HostFunction function) {
  functions_[std::move(name)] = Entry{std::move(signature), std::move(function)};
}

base::Expected<Value> HostFunctionTable::call(const std::string& name,
                                              std::span<const Value> args) const {
  auto it = functions_.find(name);
  if (it == functions_.end()) return base::fail("no host function named '" + name + "'");
  const HostFunctionSignature& sig = it->second.signature;
  if (args.size() != sig.params.size()) {
    return base::fail("host function '" + name + "' takes " + std::to_string(sig.params.size()) +
                      " arguments, the guest passed " + std::to_string(args.size()));
  }
  for (size_t i = 0; i < args.size(); ++i) {
    if (type_of(args[i]) != sig.params[i]) {
      return base::fail("host function '" + name + "' argument " + std::to_string(i) + " is " +
                        to_string(sig.params[i]) + ", the guest passed " +
                        to_string(type_of(args[i])));
    }
  }
  auto result = it->second.function(args);
  if (!result) return base::fail("host function '" + name + "' failed: " + result.error().message);
  if (type_of(*result) != sig.result) {
    return base::fail("host function '" + name + "' returned " + to_string(type_of(*result)) +
                      " instead of " + to_string(sig.result));
  }
  return result;
}

}  // namespace hlrr::vmm
