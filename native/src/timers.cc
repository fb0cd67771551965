// Native time per kind of work (nin::Timer), for nin bench --breakdown: a steady-clock read at each end of a
// kernel costs tens of nanoseconds against kernels of tens of microseconds and more, so it is always on.
#include <atomic>
#include <chrono>

#include "nin_onednn.h"

namespace nin {
namespace {

std::atomic<int64_t> g_nanoseconds[kTimerCount];
std::atomic<int64_t> g_calls[kTimerCount];

int64_t now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void add_time(Timer timer, int64_t nanoseconds) {
  g_nanoseconds[static_cast<int>(timer)] += nanoseconds;
  g_calls[static_cast<int>(timer)] += 1;
}

void read_timers(double* seconds, int64_t* calls) {
  for (int i = 0; i < kTimerCount; ++i) {
    seconds[i] = static_cast<double>(g_nanoseconds[i].load()) * 1e-9;
    calls[i] = g_calls[i].load();
  }
}

void reset_timers() {
  for (int i = 0; i < kTimerCount; ++i) {
    g_nanoseconds[i] = 0;
    g_calls[i] = 0;
  }
}

ScopedTimer::ScopedTimer(Timer timer) : timer_(timer), start_(now()) {}
ScopedTimer::~ScopedTimer() { add_time(timer_, now() - start_); }

}  // namespace nin
