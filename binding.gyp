# node-gyp build of the same addon as native/CMakeLists.txt. Normally driven by
# `node scripts/build-addon.mjs --gyp [--out DIR]`, which runs node-gyp in DIR with a copy of this
# file and --dask_root=<package root>; a plain `node-gyp rebuild --nodedir=/usr` in the package
# root works too (dask_root then defaults to the directory of this file).
# The MPI comes from $MPICC (default mpicc), through scripts/mpi-flags.mjs.
{
  "variables": {
    "dask_root%": "<(module_root_dir)"
  },
  "targets": [
    {
      "target_name": "dask_mpi_ts",
      "sources": [
        "<(dask_root)/native/addon.cc",
        "<(dask_root)/native/request.cc",
        "<(dask_root)/native/mpi-error.cc"
      ],
      "include_dirs": [
        "<!(node \"<(dask_root)/scripts/mpi-flags.mjs\" --napi-include)",
        "<!@(node \"<(dask_root)/scripts/mpi-flags.mjs\" --include-dirs)"
      ],
      "libraries": ["<!@(node \"<(dask_root)/scripts/mpi-flags.mjs\" --ldflags)", "-ldl"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "OMPI_SKIP_MPICXX=1", "MPICH_SKIP_MPICXX=1"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "cflags_cc": ["-std=c++17", "-fvisibility=hidden", "-Wall", "-Wextra"]
    }
  ]
}
