#pragma once
// The daemon's one table of control methods: each method it knows (its name and least
// role: the core's methods() and the plugins', plugins/methods.hpp) bound to the handler
// that answers it. The server reads it for the role check and the dispatch; check() says
// whether every method has exactly one handler.

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
    const MethodInfo* info;  // one of known()
    Handler handler;
  };

  // The core's methods().
  MethodTable();
  explicit MethodTable(std::vector<const MethodInfo*> known);

  // Throws std::logic_error when `method` is not one of known() (by name, role and
  // summary) or already has a handler: both are mistakes in the code, not in a request.
  void bind(const MethodInfo& method, Handler handler);
  // The methods of known() without a handler, one line each; empty when every method has
  // exactly one.
  std::vector<std::string> check() const;
  const Entry* find(std::string_view name) const;
  const std::vector<const MethodInfo*>& known() const { return known_; }

 private:
  std::vector<const MethodInfo*> known_;
  std::map<std::string, Entry, std::less<>> entries_;
};

}  // namespace sekisho::control
