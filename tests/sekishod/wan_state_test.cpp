// STATE_DIR/wan.json as sekishod and `sekishod --restore` read it: whatever cannot be read
// may hold a forced down, so it is never taken for "no override", and it stays unknown
// through sekishod's own writes until an operator sets or clears the override.

#include "daemon/sekishod/wan_state.hpp"

#include <filesystem>
#include <fstream>

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace sekisho::daemon;
namespace fs = std::filesystem;

namespace {

struct StateDir {
  fs::path path;
  StateDir() {
    char name[] = "/tmp/sekisho-wan-state-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~StateDir() { fs::remove_all(path); }
  void write(const std::string& text) const {
    std::ofstream(wan_state_path(path.string()), std::ios::binary) << text;
  }
  StoredWanState read() const { return read_wan_state(path.string()); }
};

constexpr const char* kDown =
    R"({"override": {"kind": "down", "since": "2027-01-13T03:00:00Z", "until": null,)"
    R"( "by": "alice", "reason": "storm"}, "snapshot": null})";

}  // namespace

TEST_CASE("no file: no override, no problem") {
  StateDir dir;
  const StoredWanState state = dir.read();
  CHECK_FALSE(state.override_);
  CHECK(state.override_unreadable.empty());
  CHECK(state.problems.empty());
  CHECK_FALSE(forced_down_stored(state));
}

TEST_CASE("a stored forced down is read as one") {
  StateDir dir;
  dir.write(kDown);
  const StoredWanState state = dir.read();
  REQUIRE(state.override_);
  CHECK(state.override_unreadable.empty());
  CHECK(forced_down_stored(state));
}

TEST_CASE("what cannot be read may be a forced down: never no override") {
  StateDir dir;
  const std::string path = wan_state_path(dir.path.string());
  struct Case {
    const char* text;
    const char* says;
  };
  const Case cases[] = {
      {"{\"override\": {\"kind\": \"down\", \"si", "parse error"},
      {"[]", "not a JSON object"},
      {"null", "not a JSON object"},
      {R"({"override": {"kind": "sideways"}})", "override: an override needs kind"},
      {R"({"override": null, "override_unreadable": 5})", "override_unreadable: not text"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    dir.write(c.text);
    const StoredWanState state = dir.read();
    CHECK_FALSE(state.override_);
    CHECK(state.override_unreadable.starts_with(path + ": "));
    CHECK(state.override_unreadable.find(c.says) != std::string::npos);
    CHECK(forced_down_stored(state));
  }
  // A file that cannot be opened (a directory in its place).
  fs::remove(path);
  fs::create_directory(path);
  const StoredWanState state = dir.read();
  CHECK_FALSE(state.override_unreadable.empty());
  REQUIRE(state.problems.size() == 1);
  CHECK(state.problems[0].find("the WAN stays closed until 'sekishoctl link auto' or 'link up'") !=
        std::string::npos);
  CHECK(forced_down_stored(state));
}

TEST_CASE("sekishod's own writes keep an unreadable override unknown") {
  StateDir dir;
  dir.write("garbage");
  const StoredWanState first = dir.read();
  REQUIRE_FALSE(first.override_unreadable.empty());
  // What sekishod writes while it does not know (its recording of the link, say).
  dir.write(wan_state_json(std::nullopt, first.override_unreadable, std::nullopt).dump());
  const StoredWanState again = dir.read();
  CHECK(again.override_unreadable == first.override_unreadable);
  CHECK(forced_down_stored(again));
  // Once an operator cleared it, nothing of it is written.
  dir.write(wan_state_json(std::nullopt, "", std::nullopt).dump());
  const StoredWanState cleared = dir.read();
  CHECK(cleared.override_unreadable.empty());
  CHECK_FALSE(forced_down_stored(cleared));
}
