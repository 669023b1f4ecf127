// A SIGBUS during the copy jumps back to guarded_copy, which reports the failure. The
// handler acts only for the thread inside a guarded copy and hands every other SIGBUS to
// the disposition it replaced.
#include "sink/guarded_copy.h"

#include <atomic>
#include <csetjmp>
#include <csignal>
#include <cstring>
#include <mutex>

namespace mcptap::sink {
namespace {

thread_local sigjmp_buf* copy_in_progress = nullptr;
struct sigaction previous_action {};

void on_sigbus(int signal_number, siginfo_t* info, void* context) {
  if (sigjmp_buf* jump = copy_in_progress) {
    copy_in_progress = nullptr;
    siglongjmp(*jump, 1);
  }
  if (previous_action.sa_flags & SA_SIGINFO) {
    if (previous_action.sa_sigaction) previous_action.sa_sigaction(signal_number, info, context);
    return;
  }
  if (previous_action.sa_handler == SIG_IGN) return;
  if (previous_action.sa_handler != SIG_DFL) {
    previous_action.sa_handler(signal_number);
    return;
  }
  // The default: die of the signal, as without this handler.
  std::signal(SIGBUS, SIG_DFL);
  std::raise(SIGBUS);
}

void install_handler_once() {
  static std::once_flag installed;
  std::call_once(installed, [] {
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGBUS, &action, &previous_action);
  });
}

}  // namespace

bool guarded_copy(void* dst, const void* src, size_t n) {
  install_handler_once();
  sigjmp_buf jump;
  // No signal mask to save: the handler runs with SIGBUS unblocked (SA_NODEFER).
  if (sigsetjmp(jump, 0) != 0) return false;
  copy_in_progress = &jump;
  // The fences keep the compiler from moving the copy out from between the two stores.
  std::atomic_signal_fence(std::memory_order_seq_cst);
  std::memcpy(dst, src, n);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  copy_in_progress = nullptr;
  return true;
}

}  // namespace mcptap::sink
