#include "vmm/hybrid_vcpu.h"

#include "base/check.h"

namespace hlrr::vmm {
namespace {

VcpuExit internal_error(std::string detail) {
  return VcpuExit{.kind = ExitKind::kInternalError, .detail = std::move(detail)};
}

}  // namespace

HybridVcpu::HybridVcpu(std::unique_ptr<Vcpu> hardware, SoftwareFactory make_software,
                       uint64_t memory_size)
    : hardware_(std::move(hardware)),
      make_software_(std::move(make_software)),
      memory_size_(memory_size) {}

VcpuExit HybridVcpu::run(const RunOptions& options) {
  last_exit_from_software_ = on_software_;
  if (const StopCause cause = stop_.take(); cause != StopCause::kNone) {
    return VcpuExit{.kind = ExitKind::kStopped, .stop_cause = cause};
  }
  if (on_software_) return run_on_software(options);
  return run_engine(*hardware_, options);
}

VcpuExit HybridVcpu::run_engine(Vcpu& engine, const RunOptions& options) {
  engine.begin_stop_generation();
  running_.store(&engine);
  // A request that came after the check in run() and before `running_` was set is passed on
  // here; one after that, by kick().
  if (const StopCause cause = stop_.pending(); cause != StopCause::kNone) {
    engine.request_stop(cause, engine.stop_generation());
  }
  VcpuExit exit = engine.run(options);
  running_.store(nullptr);
  if (exit.kind == ExitKind::kStopped) stop_.take();  // the request this run stopped for
  return exit;
}

void HybridVcpu::kick() {
  const StopCause cause = stop_.pending();
  if (Vcpu* engine = running_.load(); engine && cause != StopCause::kNone) {
    engine->request_stop(cause, engine->stop_generation());
  }
}

VcpuExit HybridVcpu::run_on_software(const RunOptions& options) {
  auto regs = hardware_->registers();
  if (!regs) return internal_error(regs.error().message);
  if (auto st = software_->set_registers(*regs); !st) return internal_error(st.error().message);
  VcpuExit exit = run_engine(*software_, options);
  auto after = software_->registers();
  if (!after) return internal_error(after.error().message);
  if (auto st = hardware_->set_registers(*after); !st) return internal_error(st.error().message);
  return exit;
}

void HybridVcpu::sync_from_software() {
  auto regs = software_->registers();
  HLRR_CHECK(regs.has_value());
  HLRR_CHECK(hardware_->set_registers(*regs).has_value());
}

void HybridVcpu::set_io_in_result(uint32_t value) {
  if (!last_exit_from_software_) return hardware_->set_io_in_result(value);
  // The software vCPU knows the `in`'s size; it holds the registers of the exit still.
  software_->set_io_in_result(value);
  sync_from_software();
}

void HybridVcpu::set_nondet_result(uint64_t value, uint64_t extra) {
  if (!last_exit_from_software_) return hardware_->set_nondet_result(value, extra);
  // Only the software vCPU stops for rdtsc & co.: it performs the instruction, RIP moves on.
  software_->set_nondet_result(value, extra);
  sync_from_software();
}

void HybridVcpu::set_fpu_static(bool is_static) {
  fpu_static_ = is_static;
  hardware_->set_fpu_static(is_static);
  if (software_) software_->set_fpu_static(is_static);
}

base::Status HybridVcpu::set_dirty_tracking(bool enabled) {
  if (auto st = hardware_->set_dirty_tracking(enabled); !st) return st;
  if (software_) {
    if (auto st = software_->set_dirty_tracking(enabled); !st) return st;
  }
  dirty_tracking_ = enabled;
  return {};
}

void HybridVcpu::code_modified(uint64_t gpa, uint64_t len) {
  hardware_->code_modified(gpa, len);
  if (software_) software_->code_modified(gpa, len);
}

base::Status HybridVcpu::set_debug_points(std::span<const DebugPoint> points) {
  if (auto st = check_debug_points(points, memory_size_); !st) return st;
  const bool software = !hardware_->supports_debug_points(points);
  if (software && !software_) {
    auto vcpu = make_software_();
    if (!vcpu) return base::Unexpected(std::move(vcpu).error());
    software_ = std::move(*vcpu);
    software_->set_fpu_static(fpu_static_);
    if (auto st = software_->set_dirty_tracking(dirty_tracking_); !st) return st;
  }
  if (software_) {
    if (auto st = software_->set_debug_points(software ? points : std::span<const DebugPoint>{});
        !st) {
      return st;
    }
  }
  // The hardware keeps none while the software runs the guest.
  if (auto st = hardware_->set_debug_points(software ? std::span<const DebugPoint>{} : points);
      !st) {
    return st;
  }
  on_software_ = software;
  return {};
}

}  // namespace hlrr::vmm
