// The probe's part of sekishod: proves the daemon half of the seam end to end in the lab
// (tests/plugins/daemon_lab.sh). It counts the packets its rules log to its NFLOG group,
// answers its two control methods, and writes audit records and cloud messages from a
// thread of its own, as a plugin with its own data path would.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "daemon/control/method_table.hpp"
#include "daemon/sekishod/request_params.hpp"
#include "plugins/daemon_part.hpp"
#include "tests/plugins/probe_plugin.hpp"

namespace sekisho::plugins::probe {

namespace {

class ProbeDaemon final : public daemon::Subsystem {
 public:
  explicit ProbeDaemon(PluginHost& host) : host_(host) {
    host_.receive_log([this](const net::NflogPacket& packet) {
      ++packets_;
      last_prefix_ = packet.prefix;
      std::erase_if(watchers_,
                    [](const control::ControlServer::Later& watcher) { return !watcher.open(); });
      for (const control::ControlServer::Later& watcher : watchers_) {
        watcher.more({{"packet", packets_}, {"prefix", packet.prefix}});
      }
    });
  }
  ~ProbeDaemon() override { stop(); }

  std::string_view name() const override { return "probe"; }

  void start() override {
    worker_ = std::thread([this] { work(); });
    host_.audit("started", {{"state_dir", host_.state_dir()}});
  }

  void stop() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) {
      worker_.join();
    }
  }

  // The inspector the policy names runs as a supervised child from the first policy that
  // names one on (the test plugin does not follow later changes of it).
  void after_policy(const policy::Policy& policy, bool ok) override {
    const Section* section = policy.extensions.find<Section>("probe");
    if (!ok || child_started_ || !section || section->inspector.empty()) {
      return;
    }
    child_started_ = host_.run_child(
        ChildCommand{"/usr/bin/python3", {section->inspector, std::to_string(section->port)}, {}});
  }

  void tick() override { ++ticks_; }

  void status(nlohmann::json& out) override {
    out["packets"] = packets_;
    out["ticks_seen"] = ticks_ > 0;
    std::erase_if(watchers_,
                  [](const control::ControlServer::Later& watcher) { return !watcher.open(); });
    out["watchers"] = watchers_.size();
  }

  void bind_methods(control::MethodTable& table) override {
    table.bind(kStats, [this](const control::MethodTable::Call&) {
      std::lock_guard lock(mutex_);
      nlohmann::json out{
          {"packets", packets_}, {"last_prefix", last_prefix_}, {"notes_written", notes_written_}};
      // What the kernel holds in its set probe_seen now.
      if (std::optional<ir::SetId> seen = own_set("probe_seen")) {
        nft::SetElements elements = host_.read_set(*seen, 1000);
        out["seen"] = elements.elements.size();
        out["seen_error"] = elements.error ? elements.error.message() : "";
      }
      return out;
    });
    table.bind(kWatch, [this](const control::MethodTable::Call& call) {
      call.later.stream();
      watchers_.push_back(call.later);
      return std::optional<nlohmann::json>();
    });
    table.bind(kNote, [this](const control::MethodTable::Call& call) {
      std::string text = daemon::text_param(call.params(), "text", true);
      std::lock_guard lock(mutex_);
      notes_.push_back(std::move(text));
      wake_.notify_all();
      return nlohmann::json{{"queued", true}};
    });
  }

 private:
  // The handle of one of its own sets in the ruleset in force.
  std::optional<ir::SetId> own_set(std::string_view name) const {
    const ir::Ruleset& ruleset = host_.ruleset();
    for (const ir::PluginResources& resources : ruleset.plugins) {
      if (resources.plugin != "probe") {
        continue;
      }
      for (ir::SetId set : resources.sets) {
        if (ruleset.at(set).name == name) {
          return set;
        }
      }
    }
    return std::nullopt;
  }

  // The plugin's own thread: everything it hands the daemon goes through the host.
  void work() {
    std::unique_lock lock(mutex_);
    while (true) {
      wake_.wait(lock, [this] { return stopping_ || !notes_.empty(); });
      if (notes_.empty()) {
        return;
      }
      std::string text = std::move(notes_.front());
      notes_.pop_front();
      lock.unlock();
      const bool audited = host_.audit("note", {{"text", text}});
      host_.publish("notes", text);
      lock.lock();
      notes_written_ += audited ? 1 : 0;
    }
  }

  PluginHost& host_;
  std::thread worker_;
  std::mutex mutex_;  // what the worker and the loop share
  std::condition_variable wake_;
  std::deque<std::string> notes_;
  bool stopping_ = false;
  std::uint64_t notes_written_ = 0;
  // Loop thread.
  std::uint64_t packets_ = 0;
  std::string last_prefix_;
  std::uint64_t ticks_ = 0;
  std::vector<control::ControlServer::Later> watchers_;  // probe.watch streams
  bool child_started_ = false;
};

std::unique_ptr<daemon::Subsystem> make(PluginHost& host) {
  return std::make_unique<ProbeDaemon>(host);
}

}  // namespace

const DaemonPart daemon_part{make};

}  // namespace sekisho::plugins::probe
