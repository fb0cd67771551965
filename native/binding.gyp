{
  "variables": {"sanitize%": 0},
  "targets": [
    {
      "target_name": "nin_onednn",
      "sources": [
        "src/addon.cc",
        "src/conv.cc",
        "src/layouts.cc",
        "src/pool.cc",
        "src/elementwise.cc",
        "src/timers.cc",
        "src/watchdog.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-O2"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-O2", "-std=gnu++17"],
      "cflags_cc": ["-O3", "-std=c++17", "-fopenmp", "-fexceptions", "-fno-trapping-math", "-fno-math-errno", "-ffp-contract=off"],
      "ldflags": ["-fopenmp"],
      "libraries": ["-ldnnl", "-fopenmp"],
      "conditions": [
        ["sanitize==1", {
          "cflags_cc!": ["-O3"],
          "cflags_cc": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ]
    }
  ]
}
