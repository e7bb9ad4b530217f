// dask-mpi-ts native addon: a thin layer over the MPI C API. Every function runs on the JS
// thread; collectives are non-blocking (MPI_Ibcast, MPI_Ibarrier) and polled from JS, so
// MPI_THREAD_FUNNELED suffices and the event loop never waits inside MPI. The TS surface is
// declared in src/mpi/addon.ts, which validates arguments before they reach this file.
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <mpi.h>
#include <napi.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "mpi-error.h"
#include "request.h"

namespace daskmpi {
namespace {

// Duplicate of MPI_COMM_WORLD for signals (see Init); lives until MPI_Finalize.
MPI_Comm g_signal_comm = MPI_COMM_NULL;

bool IsInitialized(Napi::Env env) {
  int flag = 0;
  Check(env, MPI_Initialized(&flag), "MPI_Initialized");
  return flag != 0;
}

bool IsFinalized(Napi::Env env) {
  int flag = 0;
  Check(env, MPI_Finalized(&flag), "MPI_Finalized");
  return flag != 0;
}

void RequireActive(Napi::Env env, const char* what) {
  if (!IsInitialized(env) || IsFinalized(env)) {
    throw Napi::Error::New(env, std::string(what) + " needs an initialized, not yet finalized MPI");
  }
}

// Make libmpi's symbols global, for MPI builds whose plugins (dlopen'ed components) expect to
// find them; Node loads addons RTLD_LOCAL. RTLD_NOLOAD: only promote what is loaded already.
void PromoteLibmpi() {
  Dl_info dl{};
  if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &dl) && dl.dli_fname) {
    dlopen(dl.dli_fname, RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);  // keeps a ref; never closed
  }
}

std::string LibraryVersion(Napi::Env env) {
  char text[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
  int len = 0;
  Check(env, MPI_Get_library_version(text, &len), "MPI_Get_library_version");
  std::string s(text, static_cast<size_t>(len < 0 ? 0 : len));
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

// init(requestedThreadLevel) -> { alreadyInitialized, threadLevel, rank, size, localRank,
// localSize, processorName }. Collective (MPI_Init_thread, MPI_Comm_split_type).
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int requested = info[0].As<Napi::Number>().Int32Value();
  if (IsFinalized(env)) throw Napi::Error::New(env, "MPI was already finalized in this process and cannot be initialized again");

  bool already = IsInitialized(env);
  int provided = MPI_THREAD_SINGLE;
  if (already) {
    Check(env, MPI_Query_thread(&provided), "MPI_Query_thread");
  } else {
    PromoteLibmpi();
    // MPI_ERRORS_ARE_FATAL is still in force here: a failing MPI_Init_thread aborts inside MPI.
    Check(env, MPI_Init_thread(nullptr, nullptr, requested, &provided), "MPI_Init_thread");
  }
  Check(env, MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");

  int rank = 0, size = 0;
  Check(env, MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
  g_world_rank = rank;
  Check(env, MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");

  // A private duplicate of the world for long-lived signals (e.g. "the client rank ended"):
  // collectives on it never interleave with the program's own collectives on the world.
  if (g_signal_comm == MPI_COMM_NULL) Check(env, MPI_Comm_dup(MPI_COMM_WORLD, &g_signal_comm), "MPI_Comm_dup");

  // The node-local communicator inherits MPI_ERRORS_RETURN from MPI_COMM_WORLD.
  MPI_Comm node = MPI_COMM_NULL;
  Check(env, MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
  int local_rank = 0, local_size = 0;
  Check(env, MPI_Comm_rank(node, &local_rank), "MPI_Comm_rank (node)");
  Check(env, MPI_Comm_size(node, &local_size), "MPI_Comm_size (node)");
  Check(env, MPI_Comm_free(&node), "MPI_Comm_free");

  char name[MPI_MAX_PROCESSOR_NAME] = {0};
  int name_len = 0;
  Check(env, MPI_Get_processor_name(name, &name_len), "MPI_Get_processor_name");

  Napi::Object out = Napi::Object::New(env);
  out.Set("alreadyInitialized", Napi::Boolean::New(env, already));
  out.Set("threadLevel", Napi::Number::New(env, provided));
  out.Set("rank", Napi::Number::New(env, rank));
  out.Set("size", Napi::Number::New(env, size));
  out.Set("localRank", Napi::Number::New(env, local_rank));
  out.Set("localSize", Napi::Number::New(env, local_size));
  out.Set("processorName", Napi::String::New(env, name, static_cast<size_t>(name_len)));
  return out;
}

Napi::Value LibraryVersionJs(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), LibraryVersion(info.Env()));
}

Napi::Value Initialized(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), IsInitialized(info.Env())); }

Napi::Value Finalized(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), IsFinalized(info.Env())); }

// ibcast(data: Buffer | null, root, maxBytes, channel) -> Request. `data` is read on the root
// only; its length must be <= maxBytes, and every rank must pass the same maxBytes (the frame
// size) and channel (0: MPI_COMM_WORLD, 1: the private signal communicator). Checked in TS,
// re-checked here.
Napi::Value Ibcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireActive(env, "bcast");
  int root = info[1].As<Napi::Number>().Int32Value();
  double max_arg = info[2].As<Napi::Number>().DoubleValue();
  if (!(max_arg >= 0 && max_arg <= static_cast<double>(kBcastMaxBytes))) {
    throw Napi::RangeError::New(env, "bcast frame size must be 0.." + std::to_string(kBcastMaxBytes) + " bytes");
  }
  size_t max_bytes = static_cast<size_t>(max_arg);
  MPI_Comm comm = info[3].As<Napi::Number>().Int32Value() == 1 ? g_signal_comm : MPI_COMM_WORLD;
  auto op = std::make_unique<PendingOp>();
  op->kind = Kind::kBcast;
  op->frame.assign(kBcastHeaderBytes + max_bytes, 0);
  if (root == g_world_rank) {
    if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "bcast data must be a Buffer on the root rank");
    auto data = info[0].As<Napi::Buffer<uint8_t>>();
    size_t len = data.Length();
    if (len > max_bytes) {
      throw Napi::RangeError::New(env, "bcast data must be at most " + std::to_string(max_bytes) + " bytes, got " + std::to_string(len));
    }
    for (size_t i = 0; i < kBcastHeaderBytes; i++) op->frame[i] = static_cast<uint8_t>(static_cast<uint64_t>(len) >> (8 * i));
    if (len) std::memcpy(op->frame.data() + kBcastHeaderBytes, data.Data(), len);
  }
  Check(env, MPI_Ibcast(op->frame.data(), static_cast<int>(op->frame.size()), MPI_BYTE, root, comm, &op->request), "MPI_Ibcast");
  return Request::Wrap(env, std::move(op));
}

Napi::Value Ibarrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireActive(env, "barrier");
  auto op = std::make_unique<PendingOp>();
  op->kind = Kind::kBarrier;
  Check(env, MPI_Ibarrier(MPI_COMM_WORLD, &op->request), "MPI_Ibarrier");
  return Request::Wrap(env, std::move(op));
}

// abort(code): MPI_Abort on MPI_COMM_WORLD; the launcher ends every rank with `code`.
Napi::Value Abort(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int code = info[0].As<Napi::Number>().Int32Value();
  RequireActive(env, "abort");
  Check(env, MPI_Abort(MPI_COMM_WORLD, code), "MPI_Abort");
  throw Napi::Error::New(env, "MPI_Abort returned without ending the process");
}

// markInheritedFdsCloexec() -> count: sets FD_CLOEXEC on every open descriptor above 2, so
// that processes this rank starts (the nanny's worker) do not hold the launcher's sockets and
// pipes (hydra's PMI_FD, Open MPI's): a launcher waits for every holder before it returns.
// Descriptors handed to a child on purpose (its stdio, its IPC channel) are dup2'ed into place
// by libuv, which clears the flag on the child's copy. Needs no MPI.
Napi::Value MarkInheritedFdsCloexec(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) throw Napi::Error::New(env, std::string("cannot list /proc/self/fd: ") + std::strerror(errno));
  int own = dirfd(dir);
  int marked = 0;
  while (dirent* e = readdir(dir)) {
    char* end = nullptr;
    long fd = std::strtol(e->d_name, &end, 10);
    if (*end != '\0' || end == e->d_name || fd <= 2 || fd == own) continue;
    int flags = fcntl(static_cast<int>(fd), F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC) && fcntl(static_cast<int>(fd), F_SETFD, flags | FD_CLOEXEC) == 0) marked++;
  }
  closedir(dir);
  return Napi::Number::New(env, marked);
}

// openMpiYield([on]) -> boolean | null: whether Open MPI's progress loop yields the CPU when
// it finds nothing to do (sched_yield in every MPI_Test), set to `on` when given. null: not
// Open MPI (no opal_progress_set_yield_when_idle in libmpi or its libraries). Open MPI reads
// mpi_yield_when_idle once, at MPI_Init (on when oversubscribed); this changes it afterwards.
Napi::Value OpenMpiYield(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  using SetYield = bool (*)(bool);
  static SetYield set = nullptr;
  static bool looked = false;
  if (!looked) {
    looked = true;
    Dl_info dl{};
    if (dladdr(reinterpret_cast<void*>(&MPI_Init_thread), &dl) && dl.dli_fname) {
      // a handle's lookup covers libmpi and the libraries it needs (libopen-pal)
      if (void* h = dlopen(dl.dli_fname, RTLD_NOW | RTLD_NOLOAD)) set = reinterpret_cast<SetYield>(dlsym(h, "opal_progress_set_yield_when_idle"));
    }
  }
  if (!set) return env.Null();
  if (info.Length() < 1 || !info[0].IsBoolean()) {
    // the setter returns the old value: set it back at once to read it
    bool now = set(false);
    set(now);
    return Napi::Boolean::New(env, now);
  }
  set(info[0].As<Napi::Boolean>().Value());
  return Napi::Boolean::New(env, info[0].As<Napi::Boolean>().Value());
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (IsInitialized(env) && !IsFinalized(env)) Check(env, MPI_Finalize(), "MPI_Finalize");
  return env.Undefined();
}

Napi::Object ModuleInit(Napi::Env env, Napi::Object exports) {
  Napi::Object levels = Napi::Object::New(env);
  levels.Set("single", Napi::Number::New(env, MPI_THREAD_SINGLE));
  levels.Set("funneled", Napi::Number::New(env, MPI_THREAD_FUNNELED));
  levels.Set("serialized", Napi::Number::New(env, MPI_THREAD_SERIALIZED));
  levels.Set("multiple", Napi::Number::New(env, MPI_THREAD_MULTIPLE));
  exports.Set("threadLevels", levels);
  exports.Set("bcastMaxBytes", Napi::Number::New(env, static_cast<double>(kBcastMaxBytes)));
  exports.Set("init", Napi::Function::New(env, Init, "init"));
  exports.Set("libraryVersion", Napi::Function::New(env, LibraryVersionJs, "libraryVersion"));
  exports.Set("initialized", Napi::Function::New(env, Initialized, "initialized"));
  exports.Set("finalized", Napi::Function::New(env, Finalized, "finalized"));
  exports.Set("ibcast", Napi::Function::New(env, Ibcast, "ibcast"));
  exports.Set("ibarrier", Napi::Function::New(env, Ibarrier, "ibarrier"));
  exports.Set("abort", Napi::Function::New(env, Abort, "abort"));
  exports.Set("finalize", Napi::Function::New(env, Finalize, "finalize"));
  exports.Set("openMpiYield", Napi::Function::New(env, OpenMpiYield, "openMpiYield"));
  exports.Set("markInheritedFdsCloexec", Napi::Function::New(env, MarkInheritedFdsCloexec, "markInheritedFdsCloexec"));
  exports.Set("Request", Request::Define(env));
  return exports;
}

}  // namespace
}  // namespace daskmpi

// NODE_API_MODULE pastes its second argument into an identifier: no qualified names.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return daskmpi::ModuleInit(env, exports); }
NODE_API_MODULE(dask_mpi_ts, InitModule)
