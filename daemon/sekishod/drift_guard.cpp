#include "daemon/sekishod/drift_guard.hpp"

#include <cerrno>

#include <malloc.h>

#include "daemon/common/log.hpp"
#include "daemon/nft/batch.hpp"
#include "daemon/nft/image.hpp"
#include "daemon/nft/readback.hpp"
#include "daemon/sekishod/method_binding.hpp"
#include "daemon/sekishod/notify.hpp"

namespace sekisho::daemon {

namespace {

using namespace std::chrono_literals;

constexpr auto kGenerationPoll = 1s;

}  // namespace

DriftGuard::DriftGuard(Host& host, Enforcer& enforcer, std::vector<const Subsystem*> owners)
    : host_(host), enforcer_(enforcer), owners_(std::move(owners)), generation_timer_(host.io()) {}

bool DriftGuard::watch() {
  const int fd = enforcer_.watch_events();
  if (fd < 0) {
    log_error("cannot watch nftables events: " +
              std::error_code(errno, std::generic_category()).message());
    return false;
  }
  events_ = std::make_unique<boost::asio::posix::stream_descriptor>(host_.io(), fd);
  return true;
}

void DriftGuard::start() {
  wait_for_events();
  host_.every(generation_timer_, kGenerationPoll, "generation check",
              [this] { check_generation(); });
}

void DriftGuard::foreign_change_replaced(const std::string& what) {
  ++restores_;
  log_warning("drift: " + what + "; the apply that follows replaces it (restore #" +
              std::to_string(restores_) + ")");
}

bool DriftGuard::restore(const std::string& why) {
  ++restores_;
  log_warning("drift: " + why + "; restoring the compiled ruleset (restore #" +
              std::to_string(restores_) + ")");
  // The clock may have moved a schedule since the last apply: restore what is due now.
  const bool restored = enforcer_.full_apply("restored");
  // Recorded when it takes, and when it first fails: a kernel that keeps refusing is
  // tried every second, but not recorded every second.
  nlohmann::json details = {{"what", why}, {"restore", restores_}, {"restored", restored}};
  if (restored) {
    if (std::optional<Retries::Episode> episode = retries_.took("restore")) {
      details["failed_attempts"] = static_cast<std::int64_t>(episode->failures);
    }
    host_.auditor().record(Auditor::daemon_actor(), "drift.restore", details);
  } else if (retries_.failed("restore", Retries::Clock::now())) {
    details["error"] = enforcer_.last_kernel_error();
    host_.auditor().record(Auditor::daemon_actor(), "drift.restore", details);
  }
  // systemctl status shows the state: a failing restore must not look like enforcement.
  if (restored) {
    notify_status("enforcing " + host_.options().policy_path +
                  "; restores: " + std::to_string(restores_));
  } else {
    notify_status("RESTORE FAILED (retrying every second): table inet sekisho may not hold " +
                  host_.options().policy_path);
  }
  return restored;
}

void DriftGuard::handle_events() {
  Enforcer::EventNews news = enforcer_.read_events();
  if (!news.foreign.empty()) {
    restore(news.foreign);  // once, however many commits it took
  } else if (news.lost) {
    log_warning("nftables events were lost; reading the table back");
    compare_and_restore();
  }
}

void DriftGuard::check_generation() {
  // Events already waiting explain most generation changes, and name the process.
  Enforcer::EventNews news = enforcer_.read_events();
  if (!news.foreign.empty()) {
    restore(news.foreign);
    return;
  }
  bool moved = false;
  if (std::error_code error = enforcer_.generation_moved(moved)) {
    log_warning("cannot read the nftables generation: " + error.message());
    return;
  }
  if (moved || news.lost || enforcer_.check_pending()) {
    // Someone committed and its events were not seen (lost, or while we did not listen).
    compare_and_restore();
  }
}

void DriftGuard::compare_and_restore() {
  bool compared = false;
  if (std::optional<std::string> drift = read_back_and_compare(compared)) {
    restore(*drift + " (found by reading the table back)");
  } else if (compared) {
    enforcer_.compared();
  }
  malloc_trim(0);  // the two images of a large table are gone again
}

std::optional<std::string> DriftGuard::read_back_and_compare(bool& compared) {
  const ir::Ruleset& applied = enforcer_.current().ruleset;
  nft::Readback kernel = nft::read_table(enforcer_.nft_socket(), applied.table);
  if (kernel.error) {
    log_warning("cannot read table inet sekisho back: " + kernel.error.message());
    enforcer_.check_later();  // the generation is not vouched for: try again next tick
    return std::nullopt;
  }
  enforcer_.read_back_at(kernel.genid);
  compared = true;
  if (!kernel.image.has_table()) {
    return "table inet sekisho is gone";
  }
  nft::TableImage expected = nft::image_of_batch(nft::build_replace_batch(applied, 1));
  // Elements that time out in the kernel on their own (the sessions') are compared on
  // their own terms.
  for (const Subsystem* owner : owners_) {
    if (std::optional<std::string> drift = owner->compare_owned(expected, kernel.image)) {
      return drift;
    }
  }
  std::vector<std::string> differences = nft::differences(expected, kernel.image, 3);
  if (differences.empty()) {
    return std::nullopt;
  }
  std::string summary;
  for (const std::string& line : differences) {
    summary += (summary.empty() ? "" : "; ") + line;
  }
  return "table inet sekisho differs from the policy: " + summary;
}

void DriftGuard::wait_for_events() {
  events_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                      [this](const boost::system::error_code& error) {
                        if (error) {
                          return;
                        }
                        host_.guarded("nftables events", [this] { handle_events(); });
                        wait_for_events();
                      });
}

nlohmann::json DriftGuard::verify_json() {
  const ir::Ruleset& applied = enforcer_.current().ruleset;
  nft::Readback kernel = nft::read_table(enforcer_.nft_socket(), applied.table);
  if (kernel.error) {
    throw std::runtime_error("cannot read nftables: " + kernel.error.message());
  }
  nlohmann::json out = {{"table", "inet " + applied.table},
                        {"policy", host_.options().policy_path},
                        {"generation", kernel.genid},
                        {"exists", kernel.image.has_table()}};
  if (!kernel.image.has_table()) {
    out["matches"] = false;
    out["differences"] = nlohmann::json::array();
    return out;
  }
  const nft::TableImage expected = nft::image_of_batch(nft::build_replace_batch(applied, 1));
  std::vector<std::string> differences = nft::differences(expected, kernel.image);
  out["matches"] = differences.empty();
  out["objects"] = expected.lines().size();
  out["differences"] = differences;
  return out;
}

void DriftGuard::bind_methods(control::MethodTable& table) {
  table.bind(control::kVerify, [this](const control::MethodTable::Call&) { return verify_json(); });
}

}  // namespace sekisho::daemon
