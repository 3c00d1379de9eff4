#include "daemon/sekishod/hosted_plugin.hpp"

#include <algorithm>
#include <filesystem>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <sys/stat.h>

#include "daemon/common/log.hpp"

namespace sekisho::daemon {

namespace {

// The part of an audit kind or topic a plugin names: plain words, so that it can neither
// pass for another's kind nor climb out of its topic.
bool is_plain(std::string_view text, bool slashes) {
  return !text.empty() && text.size() <= 64 && text.front() != '.' && text.front() != '/' &&
         text.back() != '.' && text.back() != '/' &&
         std::all_of(text.begin(), text.end(), [&](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                  (slashes && c == '/');
         });
}

}  // namespace

HostedPlugin::HostedPlugin(Host& host, const Enforcement& enforcement, std::string_view name,
                           const plugins::DaemonPart& part, Publish publish)
    : host_(host),
      enforcement_(enforcement),
      name_(name),
      publish_(std::move(publish)),
      log_(host.io(), "plugin " + std::string(name)) {
  if (!part.make) {
    throw std::logic_error("plugin " + name_ + ": its daemon part has no make()");
  }
  subsystem_ = part.make(*this);
  if (!subsystem_ || subsystem_->name() != name_) {
    throw std::logic_error("plugin " + name_ + ": make() must give a subsystem of that name");
  }
}

void HostedPlugin::follow_ruleset() {
  if (!enforcement_.has_current()) {
    return;
  }
  const auto& plugins = enforcement_.current().ruleset.plugins;
  auto mine =
      std::find_if(plugins.begin(), plugins.end(),
                   [&](const ir::PluginResources& resources) { return resources.plugin == name_; });
  log_.bind(mine == plugins.end() ? std::vector<std::uint16_t>{} : mine->log_groups);
}

Supervisor* HostedPlugin::add_child(ChildCommand command) {
  if (children_.size() >= kMaxChildren) {
    log_error("plugin " + name_ + ": a child process beyond " + std::to_string(kMaxChildren) +
              " is refused: " + command.program);
    return nullptr;
  }
  children_.push_back(std::make_unique<Supervisor>(
      host_.io(), name_, std::move(command), [this](std::string_view kind, nlohmann::json details) {
        host_.auditor().record(Auditor::daemon_actor(), std::string(kind), details);
      }));
  return children_.back().get();
}

bool HostedPlugin::run_child(ChildCommand command) {
  command.channel = false;
  Supervisor* child = add_child(std::move(command));
  if (child) {
    child->start();
  }
  return child != nullptr;
}

plugins::PluginHost::ChildChannel* HostedPlugin::run_child(ChildCommand command,
                                                           ChannelReceiver receive) {
  static_assert(kMaxChannelMessage == daemon::kMaxChannelMessage);
  command.channel = true;
  Supervisor* child = add_child(std::move(command));
  if (!child) {
    return nullptr;
  }
  child->on_message([this, receive = std::move(receive)](std::string_view message) {
    host_.guarded(name_.c_str(), [&] { receive(message); });
  });
  channels_.push_back(std::make_unique<Channel>(*child));
  child->start();
  return channels_.back().get();
}

void HostedPlugin::stop_children() {
  for (auto& child : children_) {
    child->stop();
  }
}

std::string HostedPlugin::libexec_dir() const {
  std::error_code error;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? "/usr/libexec/sekisho"
               : (self.parent_path().parent_path() / "libexec" / "sekisho").string();
}

void HostedPlugin::receive_log(LogReceiver receive) {
  // A receiver's exception is the plugin's mistake, never the end of the daemon.
  log_.set_receiver([this, receive = std::move(receive)](const net::NflogPacket& packet) {
    host_.guarded(name_.c_str(), [&] { receive(packet); });
  });
}

const ir::Ruleset& HostedPlugin::ruleset() const {
  static const ir::Ruleset kNone;
  return enforcement_.has_current() ? enforcement_.current().ruleset : kNone;
}

nft::SetElements HostedPlugin::read_set(ir::SetId set, std::size_t limit) {
  const ir::Ruleset& in_force = ruleset();
  auto mine =
      std::find_if(in_force.plugins.begin(), in_force.plugins.end(),
                   [&](const ir::PluginResources& resources) { return resources.plugin == name_; });
  if (mine == in_force.plugins.end() ||
      std::find(mine->sets.begin(), mine->sets.end(), set) == mine->sets.end()) {
    nft::SetElements refused;
    refused.error = std::make_error_code(std::errc::invalid_argument);
    return refused;
  }
  if (nft_.netlink().fd() < 0) {
    if (std::error_code error = nft_.open()) {
      nft::SetElements failed;
      failed.error = error;
      return failed;
    }
  }
  return nft::read_set_elements(nft_, in_force.table, in_force.at(set).name, limit);
}

nlohmann::json HostedPlugin::status_json() {
  nlohmann::json children = nlohmann::json::array();
  for (const auto& child : children_) {
    children.push_back(child->status());
  }
  nlohmann::json out = {{"log", log_.status_json()},
                        {"children", std::move(children)},
                        {"refused_posts", refused_posts_.load()},
                        {"unpublished", unpublished_}};
  subsystem_->status(out);
  return out;
}

std::string HostedPlugin::state_dir() {
  const std::string plugins = host_.options().state_dir + "/plugins";
  const std::string mine = plugins + "/" + name_;
  ::mkdir(plugins.c_str(), 0700);
  ::mkdir(mine.c_str(), 0700);
  return mine;
}

bool HostedPlugin::hand_over(std::function<void()> work, std::size_t bytes) {
  std::lock_guard lock(waiting_mutex_);
  if (waiting_.size() >= kMaxWaiting || waiting_bytes_ + bytes > kMaxWaitingBytes) {
    refused_posts_.fetch_add(1);
    return false;
  }
  waiting_.push_back(std::move(work));
  waiting_bytes_ += bytes;
  if (!drain_posted_) {
    drain_posted_ = true;
    boost::asio::post(host_.io(), [this] { drain(); });
  }
  return true;
}

void HostedPlugin::drain() {
  std::deque<std::function<void()>> ready;
  {
    std::lock_guard lock(waiting_mutex_);
    ready.swap(waiting_);
    waiting_bytes_ = 0;
    drain_posted_ = false;
  }
  for (const std::function<void()>& work : ready) {
    host_.guarded(name_.c_str(), work);
  }
}

bool HostedPlugin::post(std::function<void()> work) {
  return hand_over(std::move(work), 0);
}

bool HostedPlugin::audit(std::string_view what, nlohmann::json details) {
  if (!is_plain(what, false)) {
    log_error("plugin " + name_ + ": an audit record of kind '" + std::string(what) +
              "' is refused (lower-case words, digits, '_' and '.')");
    return false;
  }
  const std::size_t bytes = details.dump().size();
  if (bytes > kMaxPayload) {
    log_error("plugin " + name_ + ": an audit record of " + std::to_string(bytes) +
              " bytes of details is refused (at most " + std::to_string(kMaxPayload) + ")");
    return false;
  }
  std::string kind = name_ + "." + std::string(what);
  if (host_.io().get_executor().running_in_this_thread()) {
    host_.auditor().record(Auditor::daemon_actor(), kind, details);
    return true;
  }
  return hand_over(
      [this, kind = std::move(kind), details = std::move(details)] {
        host_.auditor().record(Auditor::daemon_actor(), kind, details);
      },
      bytes);
}

bool HostedPlugin::publish(std::string_view subtopic, std::string payload) {
  if (payload.size() > kMaxPayload) {
    log_error("plugin " + name_ + ": a message of " + std::to_string(payload.size()) +
              " bytes is refused (at most " + std::to_string(kMaxPayload) + ")");
    return false;
  }
  if (!is_plain(subtopic, true) || subtopic.find("//") != std::string_view::npos) {
    log_error("plugin " + name_ + ": a message on the topic '" + std::string(subtopic) +
              "' is refused (lower-case words, digits, '_', '.' and '/')");
    return false;
  }
  const std::size_t bytes = payload.size();
  return hand_over(
      [this, topic = "sekisho/" + name_ + "/" + std::string(subtopic),
       payload = std::move(payload)]() mutable {
        if (!publish_ || !publish_(topic, std::move(payload))) {
          ++unpublished_;
        }
      },
      bytes);
}

}  // namespace sekisho::daemon
