#pragma once
// The daemon's one table of control methods: each MethodInfo of methods() (its name and
// least role) bound to the handler that answers it. The server reads it for the role check
// and the dispatch; check() says whether every method has exactly one handler.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/control/methods.hpp"
#include "daemon/control/protocol.hpp"
#include "daemon/control/server.hpp"

namespace sekisho::control {

class MethodTable {
 public:
  // One allowed request, as its handler gets it.
  struct Call {
    const Request& request;
    const Caller& caller;
    // For an answer given later: the handler then returns nullopt.
    const ControlServer::Later& later;
    const nlohmann::json& params() const { return request.params; }
  };
  // The result now (or a thrown ControlError), or nullopt after handing `later` on.
  using Handler = std::function<std::optional<nlohmann::json>(const Call&)>;
  struct Entry {
    const MethodInfo* info;  // in methods()
    Handler handler;
  };

  // Throws std::logic_error when `method` is not one of methods() (by name, role and
  // summary) or already has a handler: both are mistakes in the code, not in a request.
  void bind(const MethodInfo& method, Handler handler);
  // The methods of methods() without a handler, one line each; empty when every method has
  // exactly one.
  std::vector<std::string> check() const;
  const Entry* find(std::string_view name) const;

 private:
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace sekisho::control
