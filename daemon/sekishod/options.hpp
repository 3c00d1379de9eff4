#pragma once
// sekishod's command line, as every part of the daemon reads it.

#include <string>

#include "daemon/cloud/local_broker.hpp"

namespace sekisho::daemon {

struct Options {
  std::string policy_path;
  std::string state_dir;
  std::string control_path;
  cloud::BrokerPaths broker;  // the local MQTT broker's files, socket and store
};

}  // namespace sekisho::daemon
