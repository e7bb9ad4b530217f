// Turning MPI return codes into JS errors. Every MPI call in the addon goes through Check():
// MPI_ERRORS_RETURN is set on MPI_COMM_WORLD at init, so MPI reports instead of aborting.
#pragma once

#include <mpi.h>
#include <napi.h>

namespace daskmpi {

// World rank once init() has run; -1 before (errors then report rank -1).
extern int g_world_rank;

// The symbolic name of an MPI error class ("MPI_ERR_ROOT"). The numeric values differ
// between Open MPI and MPICH, so the mapping must be done here, at compile time.
const char* ErrorClassName(int error_class);

// Throws a JS Error (C++ exception) carrying mpiFunction, mpiClass, mpiClassName, mpiString
// and rank; the TS loader turns it into MpiError. Does nothing when rc == MPI_SUCCESS.
void Check(Napi::Env env, int rc, const char* function);

}  // namespace daskmpi
