// The control server on a real Unix socket in a temporary directory, with its loop run by
// the test between the clients' steps: connection caps and the admins' reserve, the idle
// limit, roles looked up at each request, replies given later, streams, and accept() pausing
// while the process has no descriptor left.

#include "daemon/control/server.hpp"

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/control/method_table.hpp"

using namespace sekisho::control;
using namespace std::chrono_literals;

namespace {

// A client's end of a connection; closed when it goes.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~Fd() { reset(); }
  int get() const { return fd_; }

 private:
  void reset() {
    if (fd_ >= 0) {
      ::close(fd_);
    }
    fd_ = -1;
  }
  int fd_;
};

struct Harness {
  boost::asio::io_context io;
  std::filesystem::path dir;
  std::string path;
  Role role = Role::Viewer;  // what the group database says now, for every uid
  int lookups = 0;
  std::vector<ConnectionCap> refused_connections;
  std::vector<ControlServer::Later> later;  // audit.verify is answered later
  MethodTable table;
  std::unique_ptr<ControlServer> server;

  explicit Harness(ServerLimits limits) {
    char pattern[] = "/tmp/sekisho-server-test-XXXXXX";
    REQUIRE(::mkdtemp(pattern) != nullptr);
    dir = pattern;
    path = (dir / "control.sock").string();
    // Every method answers with its name; audit.verify answers later.
    for (const MethodInfo& method : methods()) {
      table.bind(method, [this](const MethodTable::Call& call) -> std::optional<nlohmann::json> {
        if (call.request.method == "audit.verify") {
          later.push_back(call.later);
          return std::nullopt;
        }
        return nlohmann::json{{"method", call.request.method}};
      });
    }
    server = std::make_unique<ControlServer>(
        io, path, table, [](const Caller&, const std::string&) {},
        [this](const Caller&, ConnectionCap cap) { refused_connections.push_back(cap); },
        [this](uid_t uid) {
          ++lookups;
          return Identity{"user" + std::to_string(uid), role};
        },
        limits);
    REQUIRE_FALSE(server->start());
  }
  ~Harness() {
    server.reset();
    std::filesystem::remove_all(dir);
  }

  void run(std::chrono::milliseconds time) { io.run_for(time); }

  Fd connect() {
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    run(20ms);  // accepted
    return fd;
  }

  // The next line the daemon sent on `fd`, running the loop meanwhile; "" when none
  // came within `limit`, "EOF" when the connection closed first.
  std::string line(int fd, std::chrono::milliseconds limit = 2000ms) {
    std::string data;
    for (auto waited = 0ms; waited < limit; waited += 10ms) {
      char byte;
      while (::recv(fd, &byte, 1, MSG_DONTWAIT) == 1) {
        if (byte == '\n') {
          return data;
        }
        data += byte;
      }
      if (::recv(fd, &byte, 1, MSG_DONTWAIT | MSG_PEEK) == 0) {
        return "EOF";
      }
      run(10ms);
    }
    return "";
  }

  // Whether the daemon closed `fd` (replies before the end are skipped), within `limit`.
  bool closed(int fd, std::chrono::milliseconds limit) {
    for (auto waited = 0ms;; waited += 10ms) {
      char buffer[4096];
      ssize_t n;
      while ((n = ::recv(fd, buffer, sizeof buffer, MSG_DONTWAIT)) > 0) {
      }
      if (n == 0 || errno == ECONNRESET) {
        return true;
      }
      if (waited >= limit) {
        return false;
      }
      run(10ms);
    }
  }
};

void send_text(int fd, const std::string& text) {
  REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
}

std::string error_code_in(const std::string& line) {
  nlohmann::json reply = nlohmann::json::parse(line, nullptr, false);
  return reply.is_object() && reply.contains("error") ? reply["error"].value("code", "") : "";
}

ServerLimits small_caps() {
  ServerLimits limits;
  limits.caps.per_uid = 2;
  limits.caps.without_role = 2;
  limits.caps.all = 3;
  limits.caps.reserved_for_operators = 1;
  limits.caps.reserved_for_admins = 1;
  return limits;
}

double cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

}  // namespace

TEST_CASE("a uid over its cap is answered too_many_connections and closed; others go on") {
  Harness harness(small_caps());
  Fd first = harness.connect();
  Fd second = harness.connect();
  Fd third = harness.connect();
  const std::string refused = harness.line(third.get());
  CHECK(error_code_in(refused) == "too_many_connections");
  CHECK(refused.find("the most one user may") != std::string::npos);
  CHECK(harness.closed(third.get(), 1000ms));
  REQUIRE(harness.refused_connections.size() == 1);
  CHECK(harness.refused_connections[0] == ConnectionCap::PerUid);
  // The connections within the cap are served as before.
  send_text(first.get(), "{\"id\":1,\"method\":\"status\"}\n");
  CHECK(harness.line(first.get()).find("\"ok\":true") != std::string::npos);
  // A closed connection frees its slot.
  second = Fd();
  harness.run(50ms);
  Fd again = harness.connect();
  send_text(again.get(), "{\"id\":2,\"method\":\"status\"}\n");
  CHECK(harness.line(again.get()).find("\"ok\":true") != std::string::npos);
}

TEST_CASE("a flood of refused connections looks the uid up once a second, not once each") {
  Harness harness(small_caps());
  std::vector<Fd> held;
  held.push_back(harness.connect());
  held.push_back(harness.connect());
  const int before = harness.lookups;
  for (int i = 0; i < 50; ++i) {
    Fd refused = harness.connect();
    CHECK(error_code_in(harness.line(refused.get())) == "too_many_connections");
  }
  CHECK(harness.refused_connections.size() == 50);
  CHECK(harness.lookups - before <= 2);
}

TEST_CASE("when every slot is taken, operators and admins get in, each into their reserve") {
  ServerLimits limits = small_caps();
  limits.caps.per_uid = 100;
  limits.identity_fresh_for = 0ms;  // the role changes between two connections here
  Harness harness(limits);
  std::vector<Fd> held;
  for (int i = 0; i < 3; ++i) {
    held.push_back(harness.connect());
  }
  Fd viewer = harness.connect();
  CHECK(error_code_in(harness.line(viewer.get())) == "too_many_connections");
  CHECK(harness.refused_connections.back() == ConnectionCap::All);
  harness.role = Role::Operator;
  Fd operator_ = harness.connect();
  send_text(operator_.get(), "{\"id\":1,\"method\":\"status\"}\n");
  CHECK(harness.line(operator_.get()).find("\"ok\":true") != std::string::npos);
  Fd second_operator = harness.connect();  // the operators' reserve holds one
  CHECK(error_code_in(harness.line(second_operator.get())) == "too_many_connections");
  harness.role = Role::Admin;
  Fd admin = harness.connect();
  send_text(admin.get(), "{\"id\":1,\"method\":\"status\"}\n");
  CHECK(harness.line(admin.get()).find("\"ok\":true") != std::string::npos);
  Fd second_admin = harness.connect();  // the admins' reserve holds one
  CHECK(error_code_in(harness.line(second_admin.get())) == "too_many_connections");
  CHECK(harness.refused_connections.size() == 3);
}

TEST_CASE("callers without a role share their few slots, whatever their uid's own count") {
  Harness harness(small_caps());
  harness.role = Role::None;
  Fd first = harness.connect();
  Fd second = harness.connect();
  Fd third = harness.connect();
  const std::string refused = harness.line(third.get());
  CHECK(error_code_in(refused) == "too_many_connections");
  CHECK(refused.find("callers without a role hold 2 connections") != std::string::npos);
  REQUIRE(harness.refused_connections.size() == 1);
  CHECK(harness.refused_connections[0] == ConnectionCap::WithoutRole);
  // Those let in are told they may do nothing (and counted as refused requests).
  send_text(first.get(), "{\"id\":1,\"method\":\"status\"}\n");
  CHECK(error_code_in(harness.line(first.get())) == "forbidden");
}

TEST_CASE("only a complete request resets the idle limit, not empty lines or a trickle") {
  ServerLimits limits;
  limits.idle = 300ms;
  Harness harness(limits);
  Fd newlines = harness.connect();
  Fd trickle = harness.connect();
  Fd requests = harness.connect();
  const auto start = std::chrono::steady_clock::now();
  bool newlines_closed = false;
  bool trickle_closed = false;
  const std::string request = "{\"id\":1,\"method\":\"status\"}\n";
  for (int step = 0; step < 9; ++step) {  // 900 ms: three idle limits
    if (!newlines_closed) {
      ::send(newlines.get(), "\n", 1, MSG_NOSIGNAL);
    }
    if (!trickle_closed) {
      ::send(trickle.get(), &request[static_cast<std::size_t>(step)], 1, MSG_NOSIGNAL);
    }
    send_text(requests.get(), request);
    CHECK(harness.line(requests.get()).find("\"ok\":true") != std::string::npos);
    harness.run(100ms);
    newlines_closed = newlines_closed || harness.closed(newlines.get(), 0ms);
    trickle_closed = trickle_closed || harness.closed(trickle.get(), 0ms);
  }
  const auto took = std::chrono::steady_clock::now() - start;
  CHECK(took >= 900ms);
  CHECK(newlines_closed);
  CHECK(trickle_closed);
  CHECK_FALSE(harness.closed(requests.get(), 0ms));
}

TEST_CASE("the role is looked up at each request, not once per connection") {
  Harness harness(ServerLimits{});
  Fd client = harness.connect();
  send_text(client.get(), "{\"id\":1,\"method\":\"status\"}\n");
  CHECK(harness.line(client.get()).find("\"ok\":true") != std::string::npos);
  harness.role = Role::None;  // taken out of the group meanwhile
  send_text(client.get(), "{\"id\":2,\"method\":\"status\"}\n");
  const std::string refused = harness.line(client.get());
  CHECK(error_code_in(refused) == "forbidden");
  CHECK(refused.find("has none") != std::string::npos);
}

TEST_CASE("a reply given later comes first; the connection's next request waits for it") {
  Harness harness(ServerLimits{});
  Fd client = harness.connect();
  send_text(client.get(),
            "{\"id\":1,\"method\":\"audit.verify\"}\n{\"id\":2,\"method\":\"status\"}\n");
  CHECK(harness.line(client.get(), 300ms).empty());
  REQUIRE(harness.later.size() == 1);
  harness.later[0].ok({{"verified", true}});
  const std::string first = harness.line(client.get());
  CHECK(first.find("\"id\":1") != std::string::npos);
  CHECK(first.find("\"verified\":true") != std::string::npos);
  CHECK(harness.line(client.get()).find("\"id\":2") != std::string::npos);
  // A second answer to the same request is dropped.
  harness.later[0].ok({{"verified", false}});
  CHECK(harness.line(client.get(), 200ms).empty());
  // An error thrown by the work is the request's error reply.
  send_text(client.get(), "{\"id\":3,\"method\":\"audit.verify\"}\n");
  harness.run(50ms);
  REQUIRE(harness.later.size() == 2);
  harness.later[1].fail(std::make_exception_ptr(ControlError(ErrorCode::Conflict, "busy")));
  CHECK(error_code_in(harness.line(client.get())) == "conflict");
}

TEST_CASE("a stream: items as they come past the idle limit, until the client goes") {
  ServerLimits limits;
  limits.idle = 200ms;
  Harness harness(limits);
  Fd client = harness.connect();
  send_text(client.get(), "{\"id\":7,\"method\":\"audit.verify\"}\n");
  harness.run(50ms);
  REQUIRE(harness.later.size() == 1);
  const ControlServer::Later stream = harness.later[0];
  stream.more({{"n", 1}});
  const nlohmann::json first = nlohmann::json::parse(harness.line(client.get()));
  CHECK(first == nlohmann::json{{"id", 7}, {"ok", true}, {"result", {{"n", 1}}}, {"more", true}});
  harness.run(500ms);  // more than twice the idle limit
  CHECK(stream.open());
  stream.more({{"n", 2}});
  CHECK(harness.line(client.get()).find("\"n\":2") != std::string::npos);
  client = Fd();  // the client goes
  harness.run(50ms);
  CHECK_FALSE(stream.open());
  stream.more({{"n", 3}});  // dropped
  harness.run(20ms);
}

TEST_CASE("a stream notices its client leave before the first item") {
  Harness harness(ServerLimits{});
  Fd client = harness.connect();
  send_text(client.get(), "{\"id\":1,\"method\":\"audit.verify\"}\n");
  harness.run(50ms);
  REQUIRE(harness.later.size() == 1);
  harness.later[0].stream();
  harness.run(50ms);
  CHECK(harness.later[0].open());
  client = Fd();
  harness.run(50ms);
  CHECK_FALSE(harness.later[0].open());
}

TEST_CASE("a stream ends when its caller loses the role") {
  ServerLimits limits;
  limits.identity_fresh_for = 20ms;
  Harness harness(limits);
  Fd client = harness.connect();
  send_text(client.get(), "{\"id\":1,\"method\":\"audit.verify\"}\n");
  harness.run(50ms);
  REQUIRE(harness.later.size() == 1);
  harness.later[0].more({{"n", 1}});
  CHECK(harness.line(client.get()).find("\"n\":1") != std::string::npos);
  harness.role = Role::None;  // taken out of the group meanwhile
  harness.run(50ms);
  harness.later[0].more({{"n", 2}});
  CHECK(harness.line(client.get()) == "EOF");
  CHECK_FALSE(harness.later[0].open());
}

TEST_CASE("a stream's last reply ends it and closes the connection; a slow reader is cut off") {
  ServerLimits limits;
  limits.max_unread_replies = 64 * 1024;
  Harness harness(limits);
  Fd ended = harness.connect();
  send_text(ended.get(), "{\"id\":1,\"method\":\"audit.verify\"}\n");
  harness.run(50ms);
  REQUIRE(harness.later.size() == 1);
  harness.later[0].more({{"n", 1}});
  harness.later[0].ok({{"end", true}});
  CHECK(harness.line(ended.get()).find("\"more\":true") != std::string::npos);
  const std::string last = harness.line(ended.get());
  CHECK(last.find("\"end\":true") != std::string::npos);
  CHECK(last.find("more") == std::string::npos);
  CHECK(harness.line(ended.get()) == "EOF");

  Fd slow = harness.connect();
  send_text(slow.get(), "{\"id\":2,\"method\":\"audit.verify\"}\n");
  harness.run(50ms);
  REQUIRE(harness.later.size() == 2);
  const std::string padding(1024, 'x');
  for (int i = 0; i < 2000 && harness.later[1].open(); ++i) {  // up to 2 MiB, never read
    harness.later[1].more({{"padding", padding}});
    harness.run(1ms);
  }
  CHECK_FALSE(harness.later[1].open());
  CHECK(harness.closed(slow.get(), 500ms));
}

TEST_CASE("without a descriptor to spare, accept() pauses instead of spinning") {
  ServerLimits limits;
  limits.accept_pause = 100ms;
  Harness harness(limits);
  harness.run(20ms);
  // A client connected (queued, not accepted) while the process has no descriptor left.
  Fd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", harness.path.c_str());
  rlimit saved{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved) == 0);
  const int lowest_free = ::dup(0);
  ::close(lowest_free);
  rlimit none_left = saved;
  none_left.rlim_cur = static_cast<rlim_t>(lowest_free);
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &none_left) == 0);
  REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  const double cpu_before = cpu_seconds();
  harness.run(500ms);
  const double spent = cpu_seconds() - cpu_before;
  REQUIRE(::setrlimit(RLIMIT_NOFILE, &saved) == 0);
  MESSAGE("CPU time while accept() fails with EMFILE for 500 ms: " << spent * 1000 << " ms");
  CHECK(spent < 0.1);
  // With descriptors again, the waiting client is accepted and served.
  send_text(client.get(), "{\"id\":1,\"method\":\"status\"}\n");
  CHECK(harness.line(client.get()).find("\"ok\":true") != std::string::npos);
}
