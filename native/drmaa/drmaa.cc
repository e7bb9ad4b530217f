// dask_drmaa: a thin Node-API binding of DRMAA 1.0 (the C API of Grid Engine, Slurm-DRMAA,
// PBS-DRMAA, ...). The library is opened at run time (dlopen: DRMAA_LIBRARY_PATH, else the
// usual places), so one build works with whichever implementation a site has; drmaa.h is
// needed only to compile. Every call that may talk to the resource manager runs on a worker
// thread and returns a promise, so the event loop never blocks on it. A failed call rejects
// with an Error carrying `drmaaCode` (the number), `codeName` (DRMAA_ERRNO_...) and
// `diagnosis` (the implementation's text).
#include <dlfcn.h>
#include <napi.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

extern "C" {
#include <drmaa.h>
}

namespace {

struct Api {
  void* handle = nullptr;
  decltype(&drmaa_init) init;
  decltype(&drmaa_exit) exit;
  decltype(&drmaa_allocate_job_template) allocate;
  decltype(&drmaa_delete_job_template) release;
  decltype(&drmaa_set_attribute) setAttribute;
  decltype(&drmaa_set_vector_attribute) setVector;
  decltype(&drmaa_run_job) runJob;
  decltype(&drmaa_run_bulk_jobs) runBulk;
  decltype(&drmaa_get_next_job_id) nextJobId;
  decltype(&drmaa_release_job_ids) releaseJobIds;
  decltype(&drmaa_control) control;
  decltype(&drmaa_job_ps) jobPs;
  decltype(&drmaa_wait) wait;
  decltype(&drmaa_wifexited) wifexited;
  decltype(&drmaa_wexitstatus) wexitstatus;
  decltype(&drmaa_wifsignaled) wifsignaled;
  decltype(&drmaa_wtermsig) wtermsig;
  decltype(&drmaa_wifaborted) wifaborted;
  decltype(&drmaa_get_DRM_system) drmSystem;
  decltype(&drmaa_get_DRMAA_implementation) implementation;
  decltype(&drmaa_get_contact) contact;
  decltype(&drmaa_version) version;
};
Api api;

const char* const kCodeNames[] = {
    "DRMAA_ERRNO_SUCCESS", "DRMAA_ERRNO_INTERNAL_ERROR", "DRMAA_ERRNO_DRM_COMMUNICATION_FAILURE",
    "DRMAA_ERRNO_AUTH_FAILURE", "DRMAA_ERRNO_INVALID_ARGUMENT", "DRMAA_ERRNO_NO_ACTIVE_SESSION",
    "DRMAA_ERRNO_NO_MEMORY", "DRMAA_ERRNO_INVALID_CONTACT_STRING", "DRMAA_ERRNO_DEFAULT_CONTACT_STRING_ERROR",
    "DRMAA_ERRNO_NO_DEFAULT_CONTACT_STRING_SELECTED", "DRMAA_ERRNO_DRMS_INIT_FAILED", "DRMAA_ERRNO_ALREADY_ACTIVE_SESSION",
    "DRMAA_ERRNO_DRMS_EXIT_ERROR", "DRMAA_ERRNO_INVALID_ATTRIBUTE_FORMAT", "DRMAA_ERRNO_INVALID_ATTRIBUTE_VALUE",
    "DRMAA_ERRNO_CONFLICTING_ATTRIBUTE_VALUES", "DRMAA_ERRNO_TRY_LATER", "DRMAA_ERRNO_DENIED_BY_DRM",
    "DRMAA_ERRNO_INVALID_JOB", "DRMAA_ERRNO_RESUME_INCONSISTENT_STATE", "DRMAA_ERRNO_SUSPEND_INCONSISTENT_STATE",
    "DRMAA_ERRNO_HOLD_INCONSISTENT_STATE", "DRMAA_ERRNO_RELEASE_INCONSISTENT_STATE", "DRMAA_ERRNO_EXIT_TIMEOUT",
    "DRMAA_ERRNO_NO_RUSAGE", "DRMAA_ERRNO_NO_MORE_ELEMENTS",
};

std::string CodeName(int code) {
  if (code >= 0 && code < static_cast<int>(sizeof kCodeNames / sizeof kCodeNames[0])) return kCodeNames[code];
  return "DRMAA_ERRNO_" + std::to_string(code);
}

Napi::Error DrmaaError(Napi::Env env, const std::string& call, int code, const std::string& diagnosis) {
  auto err = Napi::Error::New(env, call + " failed: " + CodeName(code) + (diagnosis.empty() ? "" : ": " + diagnosis));
  err.Set("drmaaCode", Napi::Number::New(env, code));
  err.Set("codeName", Napi::String::New(env, CodeName(code)));
  err.Set("diagnosis", Napi::String::New(env, diagnosis));
  return err;
}

void RequireLoaded(Napi::Env env) {
  if (!api.handle) throw Napi::Error::New(env, "the DRMAA library is not loaded: call load() first");
}

// One DRMAA call on a worker thread. `work` returns a DRMAA code and fills `diag`; on success,
// `result` turns what work stored (captured by reference) into a JS value.
class Call : public Napi::AsyncWorker {
 public:
  using Work = std::function<int(char* diag, size_t len)>;
  using Result = std::function<Napi::Value(Napi::Env)>;
  Call(Napi::Env env, std::string name, Work work, Result result)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), name_(std::move(name)), work_(std::move(work)), result_(std::move(result)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { code_ = work_(diag_, sizeof diag_); }
  void OnOK() override {
    Napi::HandleScope scope(Env());
    if (code_ != DRMAA_ERRNO_SUCCESS) {
      deferred_.Reject(DrmaaError(Env(), name_, code_, diag_).Value());
      return;
    }
    try {
      deferred_.Resolve(result_(Env()));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string name_;
  Work work_;
  Result result_;
  int code_ = 0;
  char diag_[DRMAA_ERROR_STRING_BUFFER] = {0};
};

Napi::Value Queue(Call* call) {
  auto promise = call->Promise();
  call->Queue();
  return promise;
}

// load(path): dlopen the DRMAA library; returns the path that was opened.
Napi::Value Load(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  std::string path = info[0].As<Napi::String>();
  if (api.handle) return Napi::String::New(env, path);
  void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) throw Napi::Error::New(env, std::string("cannot open the DRMAA library: ") + dlerror());
  Api a;
  a.handle = h;
  std::string missing;
  auto sym = [&](auto& slot, const char* name) {
    slot = reinterpret_cast<std::remove_reference_t<decltype(slot)>>(dlsym(h, name));
    if (!slot) missing += std::string(missing.empty() ? "" : ", ") + name;
  };
  sym(a.init, "drmaa_init");
  sym(a.exit, "drmaa_exit");
  sym(a.allocate, "drmaa_allocate_job_template");
  sym(a.release, "drmaa_delete_job_template");
  sym(a.setAttribute, "drmaa_set_attribute");
  sym(a.setVector, "drmaa_set_vector_attribute");
  sym(a.runJob, "drmaa_run_job");
  sym(a.runBulk, "drmaa_run_bulk_jobs");
  sym(a.nextJobId, "drmaa_get_next_job_id");
  sym(a.releaseJobIds, "drmaa_release_job_ids");
  sym(a.control, "drmaa_control");
  sym(a.jobPs, "drmaa_job_ps");
  sym(a.wait, "drmaa_wait");
  sym(a.wifexited, "drmaa_wifexited");
  sym(a.wexitstatus, "drmaa_wexitstatus");
  sym(a.wifsignaled, "drmaa_wifsignaled");
  sym(a.wtermsig, "drmaa_wtermsig");
  sym(a.wifaborted, "drmaa_wifaborted");
  sym(a.drmSystem, "drmaa_get_DRM_system");
  sym(a.implementation, "drmaa_get_DRMAA_implementation");
  sym(a.contact, "drmaa_get_contact");
  sym(a.version, "drmaa_version");
  if (!missing.empty()) {
    dlclose(h);
    throw Napi::Error::New(env, path + " is not a DRMAA 1.0 library (missing " + missing + ")");
  }
  api = a;
  return Napi::String::New(env, path);
}

// init(contact?) -> Promise<void>
Napi::Value Init(const Napi::CallbackInfo& info) {
  RequireLoaded(info.Env());
  std::string contact = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
  return Queue(new Call(info.Env(), "drmaa_init", [contact](char* d, size_t n) { return api.init(contact.empty() ? nullptr : contact.c_str(), d, n); },
                        [](Napi::Env env) { return env.Undefined(); }));
}

Napi::Value Exit(const Napi::CallbackInfo& info) {
  RequireLoaded(info.Env());
  return Queue(new Call(info.Env(), "drmaa_exit", [](char* d, size_t n) { return api.exit(d, n); }, [](Napi::Env env) { return env.Undefined(); }));
}

// A job template as plain strings, read on the JS thread, applied on the worker thread.
struct Template {
  std::map<std::string, std::string> scalars;
  std::map<std::string, std::vector<std::string>> vectors;

  static Template From(const Napi::Object& o) {
    Template t;
    auto str = [&](const char* js, const char* attr) {
      if (o.Has(js) && o.Get(js).IsString()) t.scalars[attr] = o.Get(js).As<Napi::String>();
    };
    str("remoteCommand", DRMAA_REMOTE_COMMAND);
    str("workingDirectory", DRMAA_WD);
    str("jobName", DRMAA_JOB_NAME);
    str("nativeSpecification", DRMAA_NATIVE_SPECIFICATION);
    str("outputPath", DRMAA_OUTPUT_PATH);
    str("errorPath", DRMAA_ERROR_PATH);
    str("inputPath", DRMAA_INPUT_PATH);
    if (o.Has("joinFiles") && o.Get("joinFiles").IsBoolean()) t.scalars[DRMAA_JOIN_FILES] = o.Get("joinFiles").As<Napi::Boolean>() ? "y" : "n";
    if (o.Has("args") && o.Get("args").IsArray()) {
      auto a = o.Get("args").As<Napi::Array>();
      for (uint32_t i = 0; i < a.Length(); i++) t.vectors[DRMAA_V_ARGV].push_back(a.Get(i).ToString());
    }
    if (o.Has("env") && o.Get("env").IsObject()) {
      auto e = o.Get("env").As<Napi::Object>();
      auto names = e.GetPropertyNames();
      for (uint32_t i = 0; i < names.Length(); i++) {
        std::string k = names.Get(i).ToString();
        t.vectors[DRMAA_V_ENV].push_back(k + "=" + e.Get(k).ToString().Utf8Value());
      }
    }
    return t;
  }

  // Allocate and fill a DRMAA template; the caller deletes it.
  int Build(drmaa_job_template_t** jt, char* d, size_t n) const {
    int rc = api.allocate(jt, d, n);
    if (rc != DRMAA_ERRNO_SUCCESS) return rc;
    for (const auto& [k, v] : scalars) {
      if ((rc = api.setAttribute(*jt, k.c_str(), v.c_str(), d, n)) != DRMAA_ERRNO_SUCCESS) return rc;
    }
    for (const auto& [k, vs] : vectors) {
      std::vector<const char*> ptrs;
      for (const auto& v : vs) ptrs.push_back(v.c_str());
      ptrs.push_back(nullptr);
      if ((rc = api.setVector(*jt, k.c_str(), ptrs.data(), d, n)) != DRMAA_ERRNO_SUCCESS) return rc;
    }
    return DRMAA_ERRNO_SUCCESS;
  }
};

// runJob(template) -> Promise<string>
Napi::Value RunJob(const Napi::CallbackInfo& info) {
  RequireLoaded(info.Env());
  auto t = Template::From(info[0].As<Napi::Object>());
  auto id = std::make_shared<std::string>();
  return Queue(new Call(
      info.Env(), "drmaa_run_job",
      [t, id](char* d, size_t n) {
        drmaa_job_template_t* jt = nullptr;
        int rc = t.Build(&jt, d, n);
        if (rc == DRMAA_ERRNO_SUCCESS) {
          char buf[DRMAA_JOBNAME_BUFFER] = {0};
          rc = api.runJob(buf, sizeof buf, jt, d, n);
          *id = buf;
        }
        if (jt) {
          char ignored[DRMAA_ERROR_STRING_BUFFER];
          api.release(jt, ignored, sizeof ignored);
        }
        return rc;
      },
      [id](Napi::Env env) { return Napi::String::New(env, *id); }));
}

// runBulkJobs(template, start, end, incr) -> Promise<string[]>
Napi::Value RunBulkJobs(const Napi::CallbackInfo& info) {
  RequireLoaded(info.Env());
  auto t = Template::From(info[0].As<Napi::Object>());
  int start = info[1].As<Napi::Number>(), end = info[2].As<Napi::Number>(), incr = info[3].As<Napi::Number>();
  auto ids = std::make_shared<std::vector<std::string>>();
  return Queue(new Call(
      info.Env(), "drmaa_run_bulk_jobs",
      [t, ids, start, end, incr](char* d, size_t n) {
        drmaa_job_template_t* jt = nullptr;
        int rc = t.Build(&jt, d, n);
        if (rc == DRMAA_ERRNO_SUCCESS) {
          drmaa_job_ids_t* list = nullptr;
          rc = api.runBulk(&list, jt, start, end, incr, d, n);
          if (rc == DRMAA_ERRNO_SUCCESS) {
            char buf[DRMAA_JOBNAME_BUFFER];
            while (api.nextJobId(list, buf, sizeof buf) == DRMAA_ERRNO_SUCCESS) ids->push_back(buf);
            api.releaseJobIds(list);
          }
        }
        if (jt) {
          char ignored[DRMAA_ERROR_STRING_BUFFER];
          api.release(jt, ignored, sizeof ignored);
        }
        return rc;
      },
      [ids](Napi::Env env) {
        auto a = Napi::Array::New(env, ids->size());
        for (size_t i = 0; i < ids->size(); i++) a.Set(i, (*ids)[i]);
        return a;
      }));
}

// jobPs(jobId) -> Promise<number> (DRMAA_PS_*)
Napi::Value JobPs(const Napi::CallbackInfo& info) {
  RequireLoaded(info.Env());
  std::string id = info[0].As<Napi::String>();
  auto ps = std::make_shared<int>(0);
  return Queue(new Call(info.Env(), "drmaa_job_ps", [id, ps](char* d, size_t n) { return api.jobPs(id.c_str(), ps.get(), d, n); },
                        [ps](Napi::Env env) { return Napi::Number::New(env, *ps); }));
}

// control(jobId, action) -> Promise<void> (DRMAA_CONTROL_*)
Napi::Value Control(const Napi::CallbackInfo& info) {
  RequireLoaded(info.Env());
  std::string id = info[0].As<Napi::String>();
  int action = info[1].As<Napi::Number>();
  return Queue(new Call(info.Env(), "drmaa_control", [id, action](char* d, size_t n) { return api.control(id.c_str(), action, d, n); },
                        [](Napi::Env env) { return env.Undefined(); }));
}

// controlSync(jobId, action): the same, on this thread, for process exit (nothing can be awaited
// there); errors are returned as the code name, not thrown, since there is no one to catch them.
Napi::Value ControlSync(const Napi::CallbackInfo& info) {
  RequireLoaded(info.Env());
  std::string id = info[0].As<Napi::String>();
  int action = info[1].As<Napi::Number>();
  char d[DRMAA_ERROR_STRING_BUFFER] = {0};
  int rc = api.control(id.c_str(), action, d, sizeof d);
  return rc == DRMAA_ERRNO_SUCCESS ? info.Env().Undefined() : Napi::String::New(info.Env(), CodeName(rc) + ": " + d).As<Napi::Value>();
}

// wait(jobId, timeoutSeconds) -> Promise<{ jobId, exited, exitStatus, signaled, termSignal, aborted }>
Napi::Value Wait(const Napi::CallbackInfo& info) {
  RequireLoaded(info.Env());
  std::string id = info[0].As<Napi::String>();
  long timeout = info[1].As<Napi::Number>().Int64Value();
  struct Out {
    std::string id;
    int exited = 0, status = 0, signaled = 0, aborted = 0;
    std::string signal;
  };
  auto out = std::make_shared<Out>();
  return Queue(new Call(
      info.Env(), "drmaa_wait",
      [id, timeout, out](char* d, size_t n) {
        char buf[DRMAA_JOBNAME_BUFFER] = {0};
        int stat = 0;
        drmaa_attr_values_t* rusage = nullptr;
        int rc = api.wait(id.c_str(), buf, sizeof buf, &stat, timeout, &rusage, d, n);
        if (rc != DRMAA_ERRNO_SUCCESS && rc != DRMAA_ERRNO_NO_RUSAGE) return rc;
        out->id = buf;
        api.wifaborted(&out->aborted, stat, d, n);
        if (!out->aborted) {
          api.wifexited(&out->exited, stat, d, n);
          if (out->exited) api.wexitstatus(&out->status, stat, d, n);
          api.wifsignaled(&out->signaled, stat, d, n);
          if (out->signaled) {
            char sig[DRMAA_SIGNAL_BUFFER] = {0};
            api.wtermsig(sig, sizeof sig, stat, d, n);
            out->signal = sig;
          }
        }
        return static_cast<int>(DRMAA_ERRNO_SUCCESS);
      },
      [out](Napi::Env env) {
        auto o = Napi::Object::New(env);
        o.Set("jobId", out->id);
        o.Set("exited", Napi::Boolean::New(env, out->exited));
        o.Set("exitStatus", Napi::Number::New(env, out->status));
        o.Set("signaled", Napi::Boolean::New(env, out->signaled));
        o.Set("termSignal", out->signal);
        o.Set("aborted", Napi::Boolean::New(env, out->aborted));
        return o;
      }));
}

// info() -> { drmSystem, implementation, contact, version } (local calls; after init)
Napi::Value Info(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  RequireLoaded(env);
  char d[DRMAA_ERROR_STRING_BUFFER] = {0}, sys[DRMAA_DRM_SYSTEM_BUFFER] = {0}, impl[DRMAA_DRMAA_IMPLEMENTATION_BUFFER] = {0}, contact[DRMAA_CONTACT_BUFFER] = {0};
  unsigned int major = 0, minor = 0;
  int rc;
  if ((rc = api.drmSystem(sys, sizeof sys, d, sizeof d)) != DRMAA_ERRNO_SUCCESS) throw DrmaaError(env, "drmaa_get_DRM_system", rc, d);
  if ((rc = api.implementation(impl, sizeof impl, d, sizeof d)) != DRMAA_ERRNO_SUCCESS) throw DrmaaError(env, "drmaa_get_DRMAA_implementation", rc, d);
  if ((rc = api.contact(contact, sizeof contact, d, sizeof d)) != DRMAA_ERRNO_SUCCESS) throw DrmaaError(env, "drmaa_get_contact", rc, d);
  if ((rc = api.version(&major, &minor, d, sizeof d)) != DRMAA_ERRNO_SUCCESS) throw DrmaaError(env, "drmaa_version", rc, d);
  auto o = Napi::Object::New(env);
  o.Set("drmSystem", std::string(sys));
  o.Set("implementation", std::string(impl));
  o.Set("contact", std::string(contact));
  o.Set("version", std::to_string(major) + "." + std::to_string(minor));
  return o;
}

Napi::Object Initialize(Napi::Env env, Napi::Object exports) {
  exports.Set("load", Napi::Function::New(env, Load));
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("exit", Napi::Function::New(env, Exit));
  exports.Set("runJob", Napi::Function::New(env, RunJob));
  exports.Set("runBulkJobs", Napi::Function::New(env, RunBulkJobs));
  exports.Set("jobPs", Napi::Function::New(env, JobPs));
  exports.Set("control", Napi::Function::New(env, Control));
  exports.Set("controlSync", Napi::Function::New(env, ControlSync));
  exports.Set("wait", Napi::Function::New(env, Wait));
  exports.Set("info", Napi::Function::New(env, Info));
  return exports;
}

}  // namespace

NODE_API_MODULE(dask_drmaa, Initialize)
