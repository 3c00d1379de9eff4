// The probe's part of sekishod: proves the daemon half of the seam end to end in the lab
// (tests/plugins/daemon_lab.sh). It counts the packets its rules log to its NFLOG group,
// answers its two control methods, and writes audit records and cloud messages from a
// thread of its own, as a plugin with its own data path would.

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <linux/capability.h>

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
  // names one on (the test plugin does not follow later changes of it): as the lab's user
  // without a role, with CAP_NET_ADMIN only (IP_TRANSPARENT), and a channel on which it
  // asks for its port and reports each connection it inspected.
  void after_policy(const policy::Policy& policy, bool ok) override {
    const Section* section = policy.extensions.find<Section>("probe");
    if (!ok || inspector_ || !section || section->inspector.empty()) {
      return;
    }
    port_ = section->port;
    ChildCommand command{"/usr/bin/python3", {section->inspector}, {}};
    command.credentials = ChildCredentials{kInspectorUser, kInspectorUser, {}, {CAP_NET_ADMIN}};
    inspector_ = host_.run_child(std::move(command),
                                 [this](std::string_view message) { from_inspector(message); });
  }

  void tick() override { ++ticks_; }

  void status(nlohmann::json& out) override {
    out["packets"] = packets_;
    out["inspected"] = inspected_;
    out["inspector_ready"] = inspector_ready_;
    out["inspector_refused"] = inspector_refused_;
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
  // The lab's user without a role (tests/lab): a uid no other process of the lab runs as.
  static constexpr uid_t kInspectorUser = 4105;

  // A message of its inspector, which may be anything: a JSON object {"ready": PID} (it
  // started: it is told its port) or {"inspected": {...}} (audited as probe.inspected);
  // anything else is counted and dropped.
  void from_inspector(std::string_view message) {
    const nlohmann::json parsed = nlohmann::json::parse(message, nullptr, false);
    if (parsed.is_object() && parsed.contains("ready") && parsed["ready"].is_number_integer()) {
      ++inspector_ready_;
      if (!inspector_->send(nlohmann::json{{"listen", port_}}.dump())) {
        ++inspector_refused_;
      }
      return;
    }
    if (parsed.is_object() && parsed.contains("inspected") && parsed["inspected"].is_object()) {
      const nlohmann::json& report = parsed["inspected"];
      auto text = [&](const char* key) {
        return report.contains(key) && report[key].is_string()
                   ? report[key].get<std::string>().substr(0, 64)
                   : std::string();
      };
      ++inspected_;
      host_.audit("inspected", {{"client", text("client")},
                                {"destination", text("destination")},
                                {"upstream", text("upstream")}});
      return;
    }
    ++inspector_refused_;
  }

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
  PluginHost::ChildChannel* inspector_ = nullptr;        // its channel, once started
  std::uint16_t port_ = 0;
  std::uint64_t inspected_ = 0;
  std::uint64_t inspector_ready_ = 0;    // starts of the inspector that asked for the port
  std::uint64_t inspector_refused_ = 0;  // messages not understood, answers not sent
};

std::unique_ptr<daemon::Subsystem> make(PluginHost& host) {
  return std::make_unique<ProbeDaemon>(host);
}

}  // namespace

const DaemonPart daemon_part{make};

}  // namespace sekisho::plugins::probe
