// sekishod's control methods: the daemon and its subsystems bind a handler to every
// method of control::methods(), each exactly once (a second bind throws while the daemon
// is built), before any socket or file is opened.
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <doctest/doctest.h>

#include "daemon/sekishod/service.hpp"

TEST_CASE("every control method has exactly one handler in sekishod") {
  boost::asio::io_context io;
  sekisho::daemon::Options options;
  options.policy_path = "/nonexistent/policy.yaml";  // nothing is read: start() is not called
  options.state_dir = "/nonexistent/state";
  options.control_path = "/nonexistent/control.sock";
  std::vector<std::string> problems;
  REQUIRE_NOTHROW([&] {
    sekisho::daemon::Service service(io, options);
    problems = service.method_problems();
  }());
  CHECK(problems.empty());
  for (const std::string& problem : problems) {
    MESSAGE(problem);
  }
}
