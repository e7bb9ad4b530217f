// One outstanding non-blocking collective (MPI_Ibcast or MPI_Ibarrier), exposed to JS as
// the class `Request`. Completion is only ever observed by polling MPI_Test on the JS thread
// (MPI_THREAD_FUNNELED is enough; no thread ever blocks inside MPI).
#pragma once

#include <mpi.h>
#include <napi.h>

#include <cstdint>
#include <memory>
#include <vector>

namespace daskmpi {

// Largest payload of one broadcast. Every MPI_Ibcast moves a fixed-size frame of
// kBcastHeaderBytes + kBcastMaxBytes on every rank (an 8-byte little-endian length, then the
// payload), because the receivers must post a buffer of the root's exact size in the same
// single collective. Broadcasting the length first would need a second collective that each
// rank starts at a different moment, which breaks MPI's rule that all ranks start their
// collectives in the same order as soon as another collective is outstanding.
constexpr size_t kBcastHeaderBytes = 8;
constexpr size_t kBcastMaxBytes = 1 << 20;

enum class Kind { kBcast, kBarrier };

// MPI-owned state of a request: MPI may write into `frame` until the request completes, so it
// must outlive a JS object that is collected early (see Request::~Request).
struct PendingOp {
  Kind kind;
  MPI_Request request = MPI_REQUEST_NULL;
  std::vector<uint8_t> frame;  // bcast only
  bool done = false;
};

class Request : public Napi::ObjectWrap<Request> {
 public:
  static Napi::Function Define(Napi::Env env);
  // Wraps an already-started operation into a new JS Request object.
  static Napi::Object Wrap(Napi::Env env, std::unique_ptr<PendingOp> op);

  explicit Request(const Napi::CallbackInfo& info);
  ~Request() override;

 private:
  // test(): undefined while pending; a Buffer once done (empty for a barrier). Repeatable.
  Napi::Value Test(const Napi::CallbackInfo& info);
  // waitFor(timeoutMs): blocks the JS thread, polling MPI_Test with short sleeps, until done
  // (true) or the deadline (false). For process 'exit' handlers, where no async work runs.
  Napi::Value WaitFor(const Napi::CallbackInfo& info);
  Napi::Value Done(const Napi::CallbackInfo& info);

  bool Poll(Napi::Env env);
  Napi::Value Result(Napi::Env env);

  std::unique_ptr<PendingOp> op_;
};

}  // namespace daskmpi
