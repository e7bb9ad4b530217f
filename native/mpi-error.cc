#include "mpi-error.h"

#include <string>

namespace daskmpi {

int g_world_rank = -1;

const char* ErrorClassName(int error_class) {
  switch (error_class) {
    case MPI_SUCCESS: return "MPI_SUCCESS";
    case MPI_ERR_BUFFER: return "MPI_ERR_BUFFER";
    case MPI_ERR_COUNT: return "MPI_ERR_COUNT";
    case MPI_ERR_TYPE: return "MPI_ERR_TYPE";
    case MPI_ERR_TAG: return "MPI_ERR_TAG";
    case MPI_ERR_COMM: return "MPI_ERR_COMM";
    case MPI_ERR_RANK: return "MPI_ERR_RANK";
    case MPI_ERR_REQUEST: return "MPI_ERR_REQUEST";
    case MPI_ERR_ROOT: return "MPI_ERR_ROOT";
    case MPI_ERR_GROUP: return "MPI_ERR_GROUP";
    case MPI_ERR_OP: return "MPI_ERR_OP";
    case MPI_ERR_TOPOLOGY: return "MPI_ERR_TOPOLOGY";
    case MPI_ERR_DIMS: return "MPI_ERR_DIMS";
    case MPI_ERR_ARG: return "MPI_ERR_ARG";
    case MPI_ERR_UNKNOWN: return "MPI_ERR_UNKNOWN";
    case MPI_ERR_TRUNCATE: return "MPI_ERR_TRUNCATE";
    case MPI_ERR_OTHER: return "MPI_ERR_OTHER";
    case MPI_ERR_INTERN: return "MPI_ERR_INTERN";
    case MPI_ERR_IN_STATUS: return "MPI_ERR_IN_STATUS";
    case MPI_ERR_PENDING: return "MPI_ERR_PENDING";
    case MPI_ERR_NO_MEM: return "MPI_ERR_NO_MEM";
    case MPI_ERR_INFO: return "MPI_ERR_INFO";
    case MPI_ERR_SPAWN: return "MPI_ERR_SPAWN";
    case MPI_ERR_UNSUPPORTED_OPERATION: return "MPI_ERR_UNSUPPORTED_OPERATION";
    default: return "MPI_ERR_UNKNOWN_CLASS";
  }
}

void Check(Napi::Env env, int rc, const char* function) {
  if (rc == MPI_SUCCESS) return;
  int error_class = rc;
  // Both calls below may themselves fail on a broken MPI; then keep what we have.
  if (MPI_Error_class(rc, &error_class) != MPI_SUCCESS) error_class = rc;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  std::string mpi_string(text, static_cast<size_t>(len < 0 ? 0 : len));

  Napi::Error err = Napi::Error::New(
      env, std::string(function) + " failed on rank " + std::to_string(g_world_rank) + ": " + mpi_string);
  err.Set("mpiFunction", Napi::String::New(env, function));
  err.Set("mpiCode", Napi::Number::New(env, rc));
  err.Set("mpiClass", Napi::Number::New(env, error_class));
  err.Set("mpiClassName", Napi::String::New(env, ErrorClassName(error_class)));
  err.Set("mpiString", Napi::String::New(env, mpi_string));
  err.Set("rank", Napi::Number::New(env, g_world_rank));
  throw err;
}

}  // namespace daskmpi
