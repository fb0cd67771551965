// The stop-signal watchdog of nin's CLI (src/signals.ts). A JS signal handler runs only when the JS thread
// turns its event loop, and one synchronous training step can hold that thread for minutes (TF.js's pure-JS
// kernels: a batch of 128 at 67px takes ~20 min). This file gives the process a thread of its own with its own
// libuv loop and its own watchers for SIGINT, SIGTERM and SIGHUP. libuv's signal handler wakes every loop that
// watches a signal, so this thread hears each signal at once, whatever JS is doing, while JS still hears it too
// and stops cleanly at its next stop point (after the batch, with last/ saved).
//
// At the first signal the thread prints the command's acknowledgement ("SIGINT: finishing this batch, ...") and
// starts a deadline; at the deadline, or at a second signal, it prints the command's "kept" line (what a stop
// now keeps, which JS updates after every save) and ends the process with 128 + the signal's number, as the
// shell reports a process a signal ended. JS ends the process itself before that whenever it can.
//
// It never calls into V8: it only reads two strings under a mutex, writes to fd 2 (at the end, to a copy of it, with
// fd 2 itself pointed at /dev/null so that no other thread writes after its last line) and calls _exit. It is
// created once and never freed, so nothing it uses is destroyed while the process exits around it.
#include "watchdog.h"

#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace nin {
namespace {

constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};
constexpr size_t kMaxText = 4096;          // one line; anything longer is a bug on the JS side
constexpr double kMaxGraceSeconds = 3600;  // a stop that waits longer than this is no stop

struct Watchdog {
  std::mutex mutex;
  std::string acknowledge;  // after "SIGINT: " at the first signal; empty: print nothing
  std::string kept;         // after "nin: stopped at once ...; " when this thread ends nin; empty: end silently
  uint64_t grace_ms = 0;
  int first_signal = 0;  // touched by the watchdog thread only
  uv_loop_t loop;
  uv_signal_t watchers[3];
  uv_timer_t deadline;
};

Watchdog* g_watchdog = nullptr;  // created by the first watchdog() call, never freed
std::mutex g_start;

const char* signal_name(int signum) {
  switch (signum) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
  }
}

// The whole text to `fd` (stderr by default), retried after EINTR and short writes; a closed one is not an error.
void write_stderr(const std::string& text, int fd = 2) {
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    const ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

[[noreturn]] void end(int signum, const std::string& why) {
  std::string kept;
  {
    std::lock_guard<std::mutex> lock(g_watchdog->mutex);
    kept = g_watchdog->kept;
  }
  // This line is nin's last: other threads (a step's heartbeat, which prints every second) may write to stderr
  // until _exit has stopped them, so stderr becomes /dev/null for them first and the line goes to a copy of it.
  const int own = dup(2);
  const int null_fd = open("/dev/null", O_WRONLY);
  if (own >= 0 && null_fd >= 0) dup2(null_fd, 2);
  if (!kept.empty()) write_stderr("nin: stopped at once " + why + "; " + kept + "\n", own >= 0 ? own : 2);
  _exit(128 + signum);
}

void on_deadline(uv_timer_t*) {
  const int signum = g_watchdog->first_signal;
  uint64_t grace_ms;
  {
    std::lock_guard<std::mutex> lock(g_watchdog->mutex);
    grace_ms = g_watchdog->grace_ms;
  }
  end(signum, std::to_string((grace_ms + 500) / 1000) + " s after " + signal_name(signum));
}

void on_signal(uv_signal_t*, int signum) {
  Watchdog* w = g_watchdog;
  if (w->first_signal != 0) end(signum, std::string("by a second ") + signal_name(signum));
  w->first_signal = signum;
  std::string acknowledge;
  uint64_t grace_ms;
  {
    std::lock_guard<std::mutex> lock(w->mutex);
    acknowledge = w->acknowledge;
    grace_ms = w->grace_ms;
  }
  if (!acknowledge.empty()) {
    // Below a progress line that a terminal shows without its newline.
    const char* again = signum == SIGINT ? "Ctrl-C again stops at once" : "a second signal stops at once";
    write_stderr(std::string(isatty(2) ? "\n" : "") + signal_name(signum) + ": " + acknowledge + " (" + again + ")\n");
  }
  uv_timer_start(&w->deadline, on_deadline, grace_ms, 0);
}

// Sets up the loop and its watchers on this thread, then hands the loop to a thread of its own. Returns a
// libuv error name, or null.
const char* start(Watchdog* w) {
  int rc = uv_loop_init(&w->loop);
  if (rc != 0) return uv_err_name(rc);
  rc = uv_timer_init(&w->loop, &w->deadline);
  if (rc != 0) return uv_err_name(rc);
  for (size_t i = 0; i < 3; ++i) {
    rc = uv_signal_init(&w->loop, &w->watchers[i]);
    if (rc == 0) rc = uv_signal_start(&w->watchers[i], on_signal, kSignals[i]);
    if (rc != 0) {
      // The watchers already started would keep libuv's handler installed for a loop that never runs.
      for (size_t j = 0; j < i; ++j) uv_signal_stop(&w->watchers[j]);
      return uv_err_name(rc);
    }
  }
  std::thread([w] { uv_run(&w->loop, UV_RUN_DEFAULT); }).detach();
  return nullptr;
}

std::string text_argument(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string("watchdog: ") + name + " must be a string");
  std::string text = info[i].As<Napi::String>().Utf8Value();
  if (text.size() > kMaxText || text.find('\n') != std::string::npos || text.find('\0') != std::string::npos) {
    throw Napi::RangeError::New(info.Env(), std::string("watchdog: ") + name + " must be one line of at most " +
                                                std::to_string(kMaxText) + " bytes");
  }
  return text;
}

// watchdog(graceSeconds, acknowledge, kept): starts the watchdog (once per process) or updates its texts and
// grace. Throws when libuv cannot watch the signals; JS then stops without it (see src/signals.ts).
Napi::Value WatchdogFunction(const Napi::CallbackInfo& info) {
  if (info.Length() != 3) throw Napi::TypeError::New(info.Env(), "watchdog: expected 3 arguments");
  if (!info[0].IsNumber()) throw Napi::TypeError::New(info.Env(), "watchdog: graceSeconds must be a number");
  const double grace = info[0].As<Napi::Number>().DoubleValue();
  if (!(grace >= 0.1 && grace <= kMaxGraceSeconds)) {
    throw Napi::RangeError::New(info.Env(), "watchdog: graceSeconds must be from 0.1 to 3600");
  }
  std::string acknowledge = text_argument(info, 1, "acknowledge");
  std::string kept = text_argument(info, 2, "kept");
  std::lock_guard<std::mutex> started(g_start);
  Watchdog* w = g_watchdog;
  const bool fresh = w == nullptr;
  if (fresh) w = new Watchdog();
  {
    std::lock_guard<std::mutex> lock(w->mutex);
    w->grace_ms = static_cast<uint64_t>(grace * 1000);
    w->acknowledge = std::move(acknowledge);
    w->kept = std::move(kept);
  }
  if (fresh) {
    g_watchdog = w;  // before the thread can deliver a signal
    if (const char* error = start(w)) {
      g_watchdog = nullptr;  // w stays allocated (its loop still holds it); JS goes on without a watchdog
      throw Napi::Error::New(info.Env(), std::string("watchdog: cannot watch signals (") + error + ")");
    }
  }
  return info.Env().Undefined();
}

}  // namespace

void register_watchdog(Napi::Env env, Napi::Object exports) {
  exports.Set("watchdog", Napi::Function::New(env, WatchdogFunction));
}

}  // namespace nin
