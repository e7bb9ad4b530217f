#include "request.h"

#include <chrono>
#include <thread>

#include "mpi-error.h"

namespace daskmpi {

namespace {

Napi::FunctionReference* g_constructor = nullptr;
// Operations whose JS object was collected before MPI finished with them. MPI forbids
// freeing or cancelling a collective request, and may still write into the frame, so the
// memory is parked here for the life of the process instead of being freed under MPI.
std::vector<std::unique_ptr<PendingOp>>* g_orphans = nullptr;
// Handed from Wrap() to the constructor; both run on the JS thread, so no lock is needed.
std::unique_ptr<PendingOp> g_next_op;

}  // namespace

Napi::Function Request::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "Request",
                                    {
                                        InstanceMethod<&Request::Test>("test"),
                                        InstanceMethod<&Request::WaitFor>("waitFor"),
                                        InstanceAccessor<&Request::Done>("done"),
                                    });
  g_constructor = new Napi::FunctionReference(Napi::Persistent(ctor));
  g_orphans = new std::vector<std::unique_ptr<PendingOp>>();
  return ctor;
}

Napi::Object Request::Wrap(Napi::Env env, std::unique_ptr<PendingOp> op) {
  g_next_op = std::move(op);
  Napi::Object obj = g_constructor->New({});
  if (g_next_op) throw Napi::Error::New(env, "Request construction failed");
  return obj;
}

Request::Request(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Request>(info) {
  if (!g_next_op) throw Napi::TypeError::New(info.Env(), "Request cannot be constructed from JS");
  op_ = std::move(g_next_op);
}

Request::~Request() {
  // Runs in a GC finalizer: no JS here, and no MPI call that could fail loudly.
  if (op_ && !op_->done && g_orphans) g_orphans->push_back(std::move(op_));
}

bool Request::Poll(Napi::Env env) {
  if (op_->done) return true;
  int flag = 0;
  Check(env, MPI_Test(&op_->request, &flag, MPI_STATUS_IGNORE), op_->kind == Kind::kBcast ? "MPI_Test (bcast)" : "MPI_Test (barrier)");
  if (flag) op_->done = true;
  return op_->done;
}

Napi::Value Request::Result(Napi::Env env) {
  if (op_->kind == Kind::kBarrier) return Napi::Buffer<uint8_t>::New(env, 0);
  const uint8_t* f = op_->frame.data();
  uint64_t len = 0;
  for (size_t i = 0; i < kBcastHeaderBytes; i++) len |= static_cast<uint64_t>(f[i]) << (8 * i);
  if (len > op_->frame.size() - kBcastHeaderBytes) {
    throw Napi::RangeError::New(env, "broadcast frame carries a length of " + std::to_string(len) +
                                         " bytes, more than its frame of " + std::to_string(op_->frame.size() - kBcastHeaderBytes));
  }
  return Napi::Buffer<uint8_t>::Copy(env, f + kBcastHeaderBytes, static_cast<size_t>(len));
}

Napi::Value Request::Test(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // A few MPI_Test calls per poll: multi-round collective algorithms advance one step per
  // call, and the JS side polls only every 1-10 ms.
  for (int i = 0; i < 8; i++) {
    if (Poll(env)) return Result(env);
  }
  return env.Undefined();
}

Napi::Value Request::WaitFor(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  double timeout_ms = info[0].As<Napi::Number>().DoubleValue();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(static_cast<int64_t>(timeout_ms * 1000));
  auto sleep = std::chrono::microseconds(20);
  while (!Poll(env)) {
    if (std::chrono::steady_clock::now() >= deadline) return Napi::Boolean::New(env, false);
    std::this_thread::sleep_for(sleep);
    if (sleep < std::chrono::microseconds(1000)) sleep *= 2;
  }
  return Napi::Boolean::New(env, true);
}

Napi::Value Request::Done(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), op_->done); }

}  // namespace daskmpi
