#pragma once
// A plugin's part of sekishod (docs/architecture.md, "Plugins"): a Subsystem of the daemon
// made by the plugin's `make`, with the same hooks as the built-in ones (open, fill,
// before/after a policy, after an apply, start, tick, stop, status, bind_methods), called
// after the built-ins' in each hook. It reaches the daemon only through its PluginHost.
//
// Registered by the same line of SEKISHO_PLUGINS as its policy part: when
// plugins/<name>/CMakeLists.txt makes the library sekisho_plugin_<name>_daemon, which
// defines `extern const DaemonPart sekisho::plugins::<name>::daemon_part`, sekishod has
// it (the build writes daemon_registry.cpp). A plugin without one adds nothing to sekishod
// but its part of the ruleset.

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>

#include "daemon/common/child_process.hpp"
#include "daemon/net/nflog.hpp"
#include "daemon/nft/readback.hpp"
#include "daemon/sekishod/subsystem.hpp"
#include "policy/ir.hpp"

namespace sekisho::plugins {

// What sekishod lends one plugin. Calls marked "any thread" may come from a thread of the
// plugin's own; the rest only from the daemon's loop (the Subsystem's hooks, method
// handlers, its own timers and work given to post()).
class PluginHost {
 public:
  // Work, records and messages from other threads waiting for the loop at most, and the
  // bytes of records and messages among them; more are refused (false) and counted in
  // `status` (plugins.<name>.refused_posts).
  static constexpr std::size_t kMaxWaiting = 65536;
  static constexpr std::size_t kMaxWaitingBytes = 16 << 20;
  // The largest message publish() takes, and the largest details of a record: an alert,
  // not a data stream.
  static constexpr std::size_t kMaxPayload = 64 * 1024;

  virtual ~PluginHost() = default;

  virtual std::string_view plugin() const = 0;
  // The daemon's loop, for the plugin's own timers and descriptors.
  virtual boost::asio::io_context& io() = 0;
  // A directory for its state, STATE_DIR/plugins/<name> (made 0700 when first asked).
  virtual std::string state_dir() = 0;

  // Any thread: runs `work` on the loop, in the order given. An exception it throws is
  // logged, and the kernel is compared with the policy at the next tick.
  virtual bool post(std::function<void()> work) = 0;
  // Any thread: an audit record of kind "<plugin>.<what>" by the daemon, in the order
  // given: at once on the loop's thread, else when the loop gets to it (its time is then;
  // kept and written later while the log cannot be). Details over kMaxPayload bytes (as
  // JSON) are refused.
  virtual bool audit(std::string_view what, nlohmann::json details) = 0;
  // Any thread: a message to the cloud broker on the topic "sekisho/<plugin>/<subtopic>",
  // committed to the outbox like the devices' uplink, when the policy in force brokers to
  // a cloud (cloud.mqtt). Nothing is sent otherwise; the message is dropped then (and
  // counted: plugins.<name>.unpublished in `status`).
  virtual bool publish(std::string_view subtopic, std::string payload) = 0;

  // Loop: the packets the plugin's rules send to its NFLOG groups (Contribution::
  // log_group) from now on. The daemon binds the groups the ruleset in force gives the
  // plugin, again after each apply, and counts what the kernel could not deliver
  // (plugins.<name>.log.lost in `status`).
  using LogReceiver = std::function<void(const net::NflogPacket& packet)>;
  virtual void receive_log(LogReceiver receive) = 0;

  // Loop: runs `command` as a child process of sekishod for the plugin's data path, so that
  // its crash never takes the daemon down: started now, started again after a backoff
  // whenever it ends (1 s doubling to 60 s), stopped with the daemon (SIGTERM, SIGKILL
  // after 5 s), and killed if sekishod dies (daemon/sekishod/supervisor.hpp). Its starts and
  // ends are audited (plugin.child_start, plugin.child_exit) and in `status`
  // (plugins.<name>.children). `command.program` is absolute; a plugin's own programs
  // are installed in libexec_dir(). At most kMaxChildren per plugin (false beyond).
  //
  // The child runs as root with every capability unless `command.credentials` says less,
  // which a plugin should: a user of its own (sekisho's package makes none for plugins; the
  // plugin names the numeric uid and gid its package or the operator provides, or nobody,
  // 65534), no supplementary groups, and only the capabilities its data path needs (an
  // inspector: CAP_NET_ADMIN, for IP_TRANSPARENT sockets; CAP_NET_BIND_SERVICE to listen
  // below 1024). A drop that fails is a failed start (daemon/common/child_process.hpp).
  static constexpr std::size_t kMaxChildren = 4;
  virtual bool run_child(ChildCommand command) = 0;

  // The plugin's end of a child's channel (below), on the loop.
  class ChildChannel {
   public:
    virtual ~ChildChannel() = default;
    // One message to the child running now, without blocking: false when none runs (it is
    // being restarted), the message is empty or over kMaxChannelMessage, or the child has
    // not read what it was sent before and the socket is full.
    virtual bool send(std::string_view message) = 0;
  };
  static constexpr std::size_t kMaxChannelMessage = 64 * 1024;
  using ChannelReceiver = std::function<void(std::string_view message)>;
  // Loop: run_child() with a channel between the child and the plugin, made again at each
  // start: the child's end is its descriptor 3 (SEKISHO_CHANNEL_FD=3 in its environment), a
  // SOCK_SEQPACKET socket; a message is one datagram of 1 to kMaxChannelMessage bytes, in
  // a format of the plugin's choosing. `receive` gets each of the child's, on the loop, at
  // most 256 every 100 ms (the rest waits in the socket, and the child's sends block: a
  // flood slows the child, not sekishod). A larger message, or one with descriptors, is a
  // protocol error: logged, and the child killed and started again with the backoff. A
  // new child knows nothing the plugin sent the one before: it should ask (say, for its
  // configuration) when it starts. The channel lives as long as the host; nullptr beyond
  // kMaxChildren. Its figures are in `status` (plugins.<name>.children[].channel).
  virtual ChildChannel* run_child(ChildCommand command, ChannelReceiver receive) = 0;
  // Where a plugin's programs are: <sekishod's directory>/../libexec/sekisho, which is
  // /usr/libexec/sekisho for the installed /usr/sbin/sekishod.
  virtual std::string libexec_dir() const = 0;

  // Loop: the ruleset in force, read only (empty before the first policy is in force; in
  // the hooks around an apply, the one in force before it). Its part
  // (ir::PluginResources of `plugins` named after it) holds the handles of its sets in
  // the order its compile added them.
  virtual const ir::Ruleset& ruleset() const = 0;
  // Loop: what the kernel holds now in one of its own sets (a handle of its part of
  // ruleset()): each element's key, counter and time left, at most `limit` of them. For
  // the sets the packet path fills: per-source counts, a detector's hits, how full a set
  // is. EINVAL for a set that is not the plugin's. The whole set is read on the loop:
  // size the set, and call it every few seconds, not per request or packet.
  virtual nft::SetElements read_set(ir::SetId set, std::size_t limit) = 0;
};

struct DaemonPart {
  // Makes the plugin's subsystem, once, when sekishod starts (before open()). The host
  // outlives it.
  std::unique_ptr<daemon::Subsystem> (*make)(PluginHost& host) = nullptr;
};

// The daemon parts of this binary's plugins, in registry order: the build's
// daemon_registry.cpp, or a test binary's own (tests/plugins/).
struct RegisteredDaemonPart {
  std::string_view plugin;
  const DaemonPart* part;
};
std::span<const RegisteredDaemonPart> daemon_parts();

}  // namespace sekisho::plugins
