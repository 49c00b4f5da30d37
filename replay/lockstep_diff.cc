#include "replay/lockstep_diff.h"

#include <algorithm>

#include "convert/registers.h"
#include "replay/timeline.h"
#include "trace_format/trace_diff.h"

namespace hlrr::replay {
namespace {

// Two timelines moved together, and what differs between them.
class Pair {
 public:
  Pair(ReplaySession& a, ReplaySession& b) : a_(a), b_(b) {}

  // Where one recording ends before `target`, both stop at that count: compared at equal counts.
  base::Status seek(uint64_t target) {
    if (auto st = checked(a_.seek(target), b_.seek(target)); !st) return st;
    if (a_.now() == b_.now()) return {};
    const uint64_t common = now();
    return checked(a_.seek(common), b_.seek(common));
  }
  base::Status step() { return checked(a_.step_forward(), b_.step_forward()); }
  uint64_t now() const { return std::min(a_.now(), b_.now()); }
  bool either_ended() { return a_.session().at_end() || b_.session().at_end(); }
  LockstepResult result() const { return {std::nullopt, a_.now(), b_.now()}; }

  // "" when the register files are equal, else the first register that differs.
  base::Expected<std::string> difference() {
    auto ra = a_.session().registers();
    if (!ra) return base::fail("a: " + ra.error().message);
    auto rb = b_.session().registers();
    if (!rb) return base::fail("b: " + rb.error().message);
    if (*ra == *rb) return std::string();
    const std::string d =
        trace::first_register_difference(convert::to_trace(*ra), convert::to_trace(*rb));
    return d.empty() ? std::string("register files differ") : d;
  }
  base::Expected<uint64_t> rip() {
    auto r = a_.session().registers();
    if (!r) return base::fail("a: " + r.error().message);
    return r->rip;
  }

 private:
  static base::Status checked(const TimelineStop& x, const TimelineStop& y) {
    if (x.kind == TimelineStop::Kind::kDivergence) return base::fail("a: replay diverged");
    if (y.kind == TimelineStop::Kind::kDivergence) return base::fail("b: replay diverged");
    return {};
  }
  Timeline a_, b_;
};

// Steps both one instruction from where they are equal; the parting if they differ after it.
base::Expected<std::optional<Parting>> step_and_compare(Pair& pair) {
  const uint64_t count = pair.now();
  auto rip = pair.rip();
  if (!rip) return base::fail(rip.error().message);
  if (auto st = pair.step(); !st) return base::fail(st.error().message);
  auto d = pair.difference();
  if (!d) return base::fail(d.error().message);
  if (d->empty()) return std::optional<Parting>();
  return std::optional<Parting>(Parting{count, *rip, *d});
}

// The registers are equal at `equal` and differ at `differ`: narrows down to one instruction.
base::Expected<Parting> bisect(Pair& pair, uint64_t equal, uint64_t differ) {
  while (differ - equal > 1) {
    const uint64_t mid = equal + (differ - equal) / 2;
    if (auto st = pair.seek(mid); !st) return base::fail(st.error().message);
    auto d = pair.difference();
    if (!d) return base::fail(d.error().message);
    (d->empty() ? equal : differ) = mid;
  }
  if (auto st = pair.seek(equal); !st) return base::fail(st.error().message);
  auto parting = step_and_compare(pair);
  if (!parting) return base::fail(parting.error().message);
  if (!*parting)
    return base::fail("the recordings differ at instruction " + std::to_string(differ) +
                      " but not after replaying to it again");
  return **parting;
}

}  // namespace

base::Expected<LockstepResult> find_parting(ReplaySession& a, ReplaySession& b, uint64_t from,
                                            LockstepOptions options) {
  Pair pair(a, b);
  if (auto st = pair.seek(from); !st) return base::fail(st.error().message);
  auto d = pair.difference();
  if (!d) return base::fail(d.error().message);
  if (!d->empty()) {  // they differ where they last agreed at an exit: the host's doing
    auto rip = pair.rip();
    if (!rip) return base::fail(rip.error().message);
    LockstepResult r = pair.result();
    r.parting = Parting{pair.now(), *rip, *d};
    return r;
  }
  for (uint64_t i = 0; i < options.exact_steps && !pair.either_ended(); ++i) {
    auto parting = step_and_compare(pair);
    if (!parting) return base::fail(parting.error().message);
    if (*parting) {
      LockstepResult r = pair.result();
      r.parting = **parting;
      return r;
    }
  }
  uint64_t window = std::max<uint64_t>(options.exact_steps, 1);
  while (!pair.either_ended()) {
    const uint64_t start = pair.now();
    if (auto st = pair.seek(start + window); !st) return base::fail(st.error().message);
    auto diff = pair.difference();
    if (!diff) return base::fail(diff.error().message);
    if (!diff->empty()) {
      auto parting = bisect(pair, start, pair.now());
      if (!parting) return base::fail(parting.error().message);
      LockstepResult r = pair.result();
      r.parting = *parting;
      return r;
    }
    window = std::min(window * 2, options.max_window);
  }
  return pair.result();
}

}  // namespace hlrr::replay
