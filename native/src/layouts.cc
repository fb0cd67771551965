// The layout table: every memory layout a tensor may live in between native kernels (oneDNN's blocked layouts,
// bfloat16 ones, TF.js's own), named by a small integer, with its plain twin (the same values as TF.js keeps them)
// and the reorders between any two layouts of one tensor.
#include "layouts.h"

#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace nin {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

struct Layout {
  memory::desc desc;
  LayoutRole role;
  int plain;  // this layout's plain twin (itself when it is plain)
  int f32;    // the same arrangement in float32: layouts with equal f32 hold their elements in the same order
  int block;  // see LayoutInfo::block
};

// A deque keeps references stable as it grows; ids are index + 1 (0 names no layout). The table only grows: it
// holds one entry per layout a kernel of some shape has used, a few dozen for a model.
std::deque<Layout> g_layouts;
std::mutex g_mutex;
// A reorder primitive between two layouts, and whether oneDNN built it from its reference code: for some pairs of
// blocked bf16 weight layouts oneDNN 2.6 has no other (a 96x96 1x1 filter took 0.7 ms, 76 ns an element, where the
// same filter from float32 takes a few microseconds), so the backend picks another source for those (backend.ts).
struct CachedReorder {
  dnnl::reorder primitive;
  bool reference;
};
std::map<std::pair<int, int>, CachedReorder> g_reorders;

// The reorder from one layout to another, created on first use. The caller holds g_mutex.
const CachedReorder& cached_reorder(int from, int to) {
  auto it = g_reorders.find({from, to});
  if (it == g_reorders.end()) {
    dnnl::reorder::primitive_desc pd(cpu_engine(), g_layouts[from - 1].desc, cpu_engine(), g_layouts[to - 1].desc);
    // oneDNN names its generic, unvectorised implementations "simple:any" and "ref:any"; its fast ones jit:*.
    const std::string impl = pd.impl_info_str();
    const bool reference = impl.rfind("simple:any", 0) == 0 || impl.rfind("ref:", 0) == 0;
    it = g_reorders.emplace(std::make_pair(from, to), CachedReorder{dnnl::reorder(pd), reference}).first;
  }
  return it->second;
}

memory::desc with_type(const memory::desc& desc, dt type) {
  dnnl_memory_desc_t data = desc.data;
  data.data_type = static_cast<dnnl_data_type_t>(type);
  return memory::desc(data);
}

memory::desc plain_desc(const memory::dims& dims, LayoutRole role) {
  switch (role) {
    case LayoutRole::kActivation: return memory::desc(dims, dt::f32, tag::nhwc);
    case LayoutRole::kWeights: return memory::desc(dims, dt::f32, tag::hwio);
    case LayoutRole::kVector: break;
  }
  return memory::desc(dims, dt::f32, tag::x);
}

// The formats the pooling and elementwise loops walk (see LayoutInfo::block), in the order tried.
constexpr tag kBlockTags[] = {tag::acdb, tag::aBcd16b, tag::aBcd8b, tag::abcd};

int channel_block(const memory::desc& desc, tag* found = nullptr) {
  const memory::dims dims = desc.dims();
  if (dims.size() != 4) return 0;
  for (tag t : kBlockTags) {
    if (memory::desc(dims, desc.data_type(), t) != desc) continue;
    if (found != nullptr) *found = t;
    if (t == tag::acdb) return static_cast<int>(dims[1]);
    return t == tag::aBcd16b ? 16 : t == tag::aBcd8b ? 8 : 1;
  }
  return 0;
}

// Registers under the lock; returns the id.
int find_or_add(const memory::desc& desc, LayoutRole role) {
  for (size_t i = 0; i < g_layouts.size(); ++i) {
    if (g_layouts[i].role == role && g_layouts[i].desc == desc) return static_cast<int>(i) + 1;
  }
  g_layouts.push_back(Layout{desc, role, 0, 0, channel_block(desc)});
  const int id = static_cast<int>(g_layouts.size());
  const memory::desc plain = plain_desc(desc.dims(), role);
  const memory::desc f32 = with_type(desc, dt::f32);
  // Filled after the push: the twin may be this very layout, or need registering itself (which cannot recurse
  // further: a plain float32 layout is its own twin).
  const int plain_id = plain == desc ? id : find_or_add(plain, role);
  const int f32_id = f32 == desc ? id : find_or_add(f32, role);
  g_layouts[id - 1].plain = plain_id;
  g_layouts[id - 1].f32 = f32_id;
  return id;
}

}  // namespace

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  static dnnl::stream stream(cpu_engine());
  return stream;
}

int layout_id(const memory::desc& desc, LayoutRole role) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return find_or_add(desc, role);
}

bool valid_layout(int id) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return id >= 1 && static_cast<size_t>(id) <= g_layouts.size();
}

const memory::desc& layout_desc(int id) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_layouts[id - 1].desc;
}

bool layout_info(int id, LayoutInfo* info) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (id < 1 || static_cast<size_t>(id) > g_layouts.size()) return false;
  const Layout& layout = g_layouts[id - 1];
  info->bytes = static_cast<int64_t>(layout.desc.get_size());
  info->bf16 = layout.desc.data_type() == dt::bf16;
  info->role = layout.role;
  info->plain = layout.plain;
  info->f32 = layout.f32;
  info->block = layout.block;
  const memory::dims dims = layout.desc.dims();
  info->dims.assign(dims.begin(), dims.end());
  return true;
}

int plain_layout(LayoutRole role, const std::vector<int64_t>& dims) {
  return layout_id(plain_desc(memory::dims(dims.begin(), dims.end()), role), role);
}

int layout_like(int id, const std::vector<int64_t>& dims, bool bf16) {
  memory::desc desc;
  LayoutRole role;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (id < 1 || static_cast<size_t>(id) > g_layouts.size()) return 0;
    desc = g_layouts[id - 1].desc;
    role = g_layouts[id - 1].role;
  }
  tag format = tag::undef;
  if (channel_block(desc, &format) == 0 || dims.size() != 4) return 0;
  return layout_id(memory::desc(memory::dims(dims.begin(), dims.end()), bf16 ? dt::bf16 : dt::f32, format), role);
}

void reorder(int from, const void* src, int to, void* dst) {
  dnnl::reorder primitive;
  memory::desc from_desc;
  memory::desc to_desc;
  Timer timer;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    from_desc = g_layouts[from - 1].desc;
    to_desc = g_layouts[to - 1].desc;
    timer = g_layouts[to - 1].role == LayoutRole::kWeights ? Timer::kReorderWeights : Timer::kReorderActivations;
    primitive = cached_reorder(from, to).primitive;
  }
  ScopedTimer time(timer);
  memory source(from_desc, cpu_engine(), const_cast<void*>(src));
  memory target(to_desc, cpu_engine(), dst);
  primitive.execute(cpu_stream(), source, target);
  cpu_stream().wait();
}

bool reorder_is_reference(int from, int to) {
  std::lock_guard<std::mutex> lock(g_mutex);
  return cached_reorder(from, to).reference;
}

void clear_reorders() {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_reorders.clear();
}

}  // namespace nin
