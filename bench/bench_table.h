// A benchmark table: each row a median over many individually timed runs, optionally beside
// the "floor" it stands on (measured in the same run) and their ratio. Printed as one table, or
// as JSON for tools.
//
// Written by hand rather than on Google Benchmark: the figures hlrr reports are medians of
// per-run times and ratios to a floor measured in the same process, which Google Benchmark's
// per-repetition means do not give directly.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace hlrr::bench {

struct Sample {
  double median = 0;  // in `unit`
  double p90 = 0;
  size_t runs = 0;
};

// Times `fn` `runs` times (after `warmup` untimed runs); returns microseconds.
inline Sample time_runs(size_t runs, const std::function<void()>& fn, size_t warmup = 10) {
  for (size_t i = 0; i < warmup; ++i) fn();
  std::vector<double> us;
  us.reserve(runs);
  for (size_t i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  return {us[us.size() / 2], us[us.size() * 9 / 10], runs};
}

struct Row {
  std::string name;
  std::string unit;
  Sample value;
  std::string floor_name;  // empty: no floor
  Sample floor;
  std::string goal;  // e.g. "<= 2x floor", for people
  // The ratio to the floor when it is measured otherwise than as median / floor median (e.g.
  // the median of paired ratios); 0: median / floor median.
  double ratio = 0;
  double ratio_to_floor() const { return ratio != 0 ? ratio : value.median / floor.median; }
};

class Table {
 public:
  void add(Row row) { rows_.push_back(std::move(row)); }

  void print(bool json) const {
    if (json) {
      std::printf("[\n");
      for (size_t i = 0; i < rows_.size(); ++i) {
        const Row& r = rows_[i];
        std::printf(
            "  {\"name\": \"%s\", \"unit\": \"%s\", \"median\": %.3f, \"p90\": %.3f, \"runs\": %zu",
            r.name.c_str(), r.unit.c_str(), r.value.median, r.value.p90, r.value.runs);
        if (!r.floor_name.empty()) {
          std::printf(", \"floor\": \"%s\", \"floor_median\": %.3f, \"ratio\": %.3f",
                      r.floor_name.c_str(), r.floor.median, r.ratio_to_floor());
        }
        std::printf(", \"goal\": \"%s\"}%s\n", r.goal.c_str(), i + 1 < rows_.size() ? "," : "");
      }
      std::printf("]\n");
      return;
    }
    std::printf("%-40s %12s %12s  %-36s %12s %8s  %s\n", "benchmark", "median", "p90", "floor",
                "floor med", "ratio", "goal");
    for (const Row& r : rows_) {
      std::printf("%-40s %9.2f %-2s %9.2f %-2s  %-36s", r.name.c_str(), r.value.median,
                  r.unit.c_str(), r.value.p90, r.unit.c_str(), r.floor_name.c_str());
      if (r.floor_name.empty()) {
        std::printf(" %12s %8s", "", "");
      } else {
        std::printf(" %9.2f %-2s %7.2fx", r.floor.median, r.unit.c_str(), r.ratio_to_floor());
      }
      std::printf("  %s\n", r.goal.c_str());
    }
  }

 private:
  std::vector<Row> rows_;
};

}  // namespace hlrr::bench
