// The memory layouts tensors live in between native kernels, inside the addon: oneDNN's memory descriptors,
// registered once and named by small integers that JS keeps beside each tensor's buffer (see nin_onednn.h).
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include "nin_onednn.h"

namespace nin {

dnnl::engine& cpu_engine();
dnnl::stream& cpu_stream();

// The id of `desc` for a tensor of this role, registering it on first sight. The role decides the layout's plain
// twin: the same values as TF.js keeps them, float32 in nhwc (activations), hwio (weights) or x (vectors).
int layout_id(const dnnl::memory::desc& desc, LayoutRole role);
// The descriptor of a registered layout; the caller has checked the id (valid_layout).
const dnnl::memory::desc& layout_desc(int id);
bool valid_layout(int id);

}  // namespace nin
