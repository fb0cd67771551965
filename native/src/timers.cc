// Native time per kind of work (nin::Timer), for nin bench --breakdown: wall time (a steady-clock read at each end
// of a kernel, tens of nanoseconds) and the process's CPU time (a system call, under a microsecond) against kernels
// of tens of microseconds and more, so both are always on. CPU time is what a kernel costs on a machine that other
// programs share: wall time there includes the time the scheduler gave away.
#include <time.h>

#include <atomic>
#include <chrono>

#include "nin_onednn.h"

namespace nin {
namespace {

std::atomic<int64_t> g_nanoseconds[kTimerCount];
std::atomic<int64_t> g_cpu_nanoseconds[kTimerCount];
std::atomic<int64_t> g_calls[kTimerCount];

int64_t now() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Every thread of the process: the kernels' OpenMP workers included.
int64_t cpu_now() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec;
}

}  // namespace

void add_time(Timer timer, int64_t nanoseconds, int64_t cpu_nanoseconds) {
  g_nanoseconds[static_cast<int>(timer)] += nanoseconds;
  g_cpu_nanoseconds[static_cast<int>(timer)] += cpu_nanoseconds;
  g_calls[static_cast<int>(timer)] += 1;
}

void read_timers(double* seconds, double* cpu_seconds, int64_t* calls) {
  for (int i = 0; i < kTimerCount; ++i) {
    seconds[i] = static_cast<double>(g_nanoseconds[i].load()) * 1e-9;
    cpu_seconds[i] = static_cast<double>(g_cpu_nanoseconds[i].load()) * 1e-9;
    calls[i] = g_calls[i].load();
  }
}

void reset_timers() {
  for (int i = 0; i < kTimerCount; ++i) {
    g_nanoseconds[i] = 0;
    g_cpu_nanoseconds[i] = 0;
    g_calls[i] = 0;
  }
}

ScopedTimer::ScopedTimer(Timer timer) : timer_(timer), start_(now()), cpu_start_(cpu_now()) {}
ScopedTimer::~ScopedTimer() { add_time(timer_, now() - start_, cpu_now() - cpu_start_); }

}  // namespace nin
