# node-gyp build of the DRMAA binding, the alternative to native/drmaa/CMakeLists.txt; driven by
# `node scripts/build-addon.mjs --drmaa --gyp`, which passes --drmaa_include=<dir of drmaa.h>.
{
  "variables": { "drmaa_include%": "/usr/lib/gridengine-drmaa/include" },
  "targets": [
    {
      "target_name": "dask_drmaa",
      "sources": ["drmaa.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "<(drmaa_include)"],
      "libraries": ["-ldl"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra"]
    }
  ]
}
