#pragma once
// One registered plugin in sekishod (plugins/daemon_part.hpp): the PluginHost it is lent
// and the Subsystem it made. The Service calls the subsystem's hooks after the built-ins'
// (each one guarded: a plugin's exception is logged, never the end of the daemon), and
// after each apply binds the NFLOG groups the ruleset in force gives the plugin.

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "daemon/nft/socket.hpp"
#include "daemon/sekishod/enforcement.hpp"
#include "daemon/sekishod/host.hpp"
#include "daemon/sekishod/log_reader.hpp"
#include "daemon/sekishod/subsystem.hpp"
#include "daemon/sekishod/supervisor.hpp"
#include "plugins/daemon_part.hpp"

namespace sekisho::daemon {

class HostedPlugin final : public plugins::PluginHost {
 public:
  // Commits a message to the cloud outbox: false when the policy in force brokers to no
  // cloud. Loop thread.
  using Publish = std::function<bool(const std::string& topic, std::string payload)>;

  // Makes the plugin's subsystem (part.make).
  HostedPlugin(Host& host, const Enforcement& enforcement, std::string_view name,
               const plugins::DaemonPart& part, Publish publish);

  Subsystem& subsystem() { return *subsystem_; }
  const Subsystem& subsystem() const { return *subsystem_; }
  // Stops its children (after the subsystem's stop, at SIGTERM), recording their ends.
  void stop_children();
  // Binds the log groups of the plugin's part of the ruleset in force: after each change
  // of the policy in force, and every second for a group the kernel refused.
  void follow_ruleset();
  // The host's figures and the subsystem's own keys: `status` under plugins.<name>.
  nlohmann::json status_json();
  // Runs what the plugin's threads handed over and is still waiting (at SIGTERM, after
  // the plugin stopped, so that its last records are written before daemon.stop).
  void drain();

  // PluginHost.
  std::string_view plugin() const override { return name_; }
  boost::asio::io_context& io() override { return host_.io(); }
  std::string state_dir() override;
  bool post(std::function<void()> work) override;
  bool audit(std::string_view what, nlohmann::json details) override;
  bool publish(std::string_view subtopic, std::string payload) override;
  void receive_log(LogReceiver receive) override;
  bool run_child(ChildCommand command) override;
  ChildChannel* run_child(ChildCommand command, ChannelReceiver receive) override;
  std::string libexec_dir() const override;
  const ir::Ruleset& ruleset() const override;
  nft::SetElements read_set(ir::SetId set, std::size_t limit) override;

 private:
  // A child's channel as the plugin sees it.
  class Channel final : public ChildChannel {
   public:
    explicit Channel(Supervisor& supervisor) : supervisor_(supervisor) {}
    bool send(std::string_view message) override { return supervisor_.send(message); }

   private:
    Supervisor& supervisor_;
  };

  // A new child's Supervisor, not started; nullptr beyond kMaxChildren.
  Supervisor* add_child(ChildCommand command);

  Host& host_;
  const Enforcement& enforcement_;
  const std::string name_;
  Publish publish_;
  LogReader log_;
  nft::Socket nft_;  // for read_set, opened at the first
  std::vector<std::unique_ptr<Supervisor>> children_;
  std::vector<std::unique_ptr<Channel>> channels_;
  // Handed over from any thread and not yet run, in order; refused over kMaxWaiting of
  // them or kMaxWaitingBytes of records and messages.
  bool hand_over(std::function<void()> work, std::size_t bytes);
  std::mutex waiting_mutex_;
  std::deque<std::function<void()>> waiting_;
  std::size_t waiting_bytes_ = 0;
  bool drain_posted_ = false;
  std::atomic<std::uint64_t> refused_posts_{0};
  std::uint64_t unpublished_ = 0;  // loop thread
  // Last: destroyed first, while what it was lent is still there.
  std::unique_ptr<Subsystem> subsystem_;
};

}  // namespace sekisho::daemon
