// The stop-signal watchdog (watchdog.cc): adds watchdog() to the addon's exports.
#pragma once

#include <napi.h>

namespace nin {

void register_watchdog(Napi::Env env, Napi::Object exports);

}  // namespace nin
