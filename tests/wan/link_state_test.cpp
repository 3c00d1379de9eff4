// The WAN link's decision without a clock or a kernel: the precedence of a forced down, a
// jump session's hold, an up override and the wan.up schedule, and the stored override.
#include "daemon/wan/link_state.hpp"

#include <date/date.h>
#include <doctest/doctest.h>

using namespace sekisho::wan;
using namespace std::chrono;

namespace {

const sys_seconds kNoon = date::sys_days{date::year{2027} / 1 / 13} + hours{3};

Override make(OverrideKind kind, std::optional<sys_seconds> until) {
  return Override{kind, kNoon, until, "alice", "firmware download"};
}

LinkInputs inputs(bool schedule_open, std::optional<Override> override_ = std::nullopt,
                  std::vector<std::uint32_t> sessions = {}) {
  LinkInputs out;
  out.schedule = "hours";
  out.schedule_open = schedule_open;
  out.override_ = std::move(override_);
  out.holding_sessions = std::move(sessions);
  out.now = kNoon;
  out.clock_synchronised = true;
  return out;
}

}  // namespace

TEST_CASE("the schedule decides when nothing else does") {
  CHECK(decide_link(inputs(true)) ==
        LinkDecision{true, LinkCause::Schedule, "schedule hours is open"});
  CHECK(decide_link(inputs(false)) ==
        LinkDecision{false, LinkCause::Schedule, "schedule hours is closed"});
  LinkInputs none = inputs(false);
  none.schedule.clear();
  CHECK(decide_link(none).up);
  CHECK(decide_link(none).cause == LinkCause::NoSchedule);
}

TEST_CASE("precedence: forced down > session hold > up override > schedule") {
  const Override up = make(OverrideKind::Up, kNoon + hours{2});
  const Override down = make(OverrideKind::Down, std::nullopt);
  struct Row {
    bool schedule_open;
    std::optional<Override> override_;
    std::vector<std::uint32_t> sessions;
    bool up;
    LinkCause cause;
  };
  const Row rows[] = {
      {false, up, {}, true, LinkCause::UpOverride},
      {true, up, {}, true, LinkCause::UpOverride},
      {false, std::nullopt, {3}, true, LinkCause::SessionHold},
      {false, up, {3}, true, LinkCause::SessionHold},
      {false, down, {3}, false, LinkCause::ForcedDown},
      {true, down, {}, false, LinkCause::ForcedDown},
      {true, down, {3, 4}, false, LinkCause::ForcedDown},
      {true, std::nullopt, {}, true, LinkCause::Schedule},
  };
  for (const Row& row : rows) {
    const LinkDecision decision =
        decide_link(inputs(row.schedule_open, row.override_, row.sessions));
    CAPTURE(decision.why);
    CHECK(decision.up == row.up);
    CHECK(decision.cause == row.cause);
  }
}

TEST_CASE("the reason says who and until when") {
  CHECK(decide_link(inputs(false, make(OverrideKind::Up, kNoon + hours{2}))).why ==
        "kept up by alice until 2027-01-13T05:00:00Z: firmware download");
  CHECK(decide_link(inputs(true, make(OverrideKind::Down, std::nullopt))).why ==
        "forced down by alice: firmware download");
  CHECK(decide_link(inputs(false, std::nullopt, {7})).why == "jump session 7 holds it up");
  CHECK(decide_link(inputs(false, std::nullopt, {7, 9})).why == "jump sessions 7, 9 hold it up");
}

TEST_CASE("an override expires at its deadline, not a second before") {
  const Override up = make(OverrideKind::Up, kNoon + minutes{10});
  CHECK_FALSE(up.expired(kNoon + minutes{10} - seconds{1}, true));
  CHECK(up.expired(kNoon + minutes{10}, true));
  const Override down = make(OverrideKind::Down, kNoon + minutes{10});
  CHECK_FALSE(down.expired(kNoon + minutes{10} - seconds{1}, true));
  CHECK(down.expired(kNoon + minutes{10}, true));
  CHECK_FALSE(make(OverrideKind::Down, std::nullopt).expired(kNoon + days{3650}, true));
}

TEST_CASE("a forced down's deadline counts only by a synchronised clock") {
  // At early boot the clock may be years ahead: the deadline looks passed, and is not.
  const Override down = make(OverrideKind::Down, kNoon + minutes{10});
  CHECK_FALSE(down.expired(kNoon + days{3650}, false));
  LinkInputs late = inputs(true, down);
  late.now = kNoon + days{3650};
  late.clock_synchronised = false;
  const LinkDecision held = decide_link(late);
  CHECK_FALSE(held.up);
  CHECK(held.cause == LinkCause::ForcedDown);
  CHECK(held.why ==
        "forced down by alice until 2027-01-13T03:10:00Z: firmware download (its deadline has "
        "passed by a clock that is not synchronised: it holds until the clock is, or until "
        "'sekishoctl link auto')");
  // Synchronised, the same instant ends it: the schedule decides again.
  late.clock_synchronised = true;
  CHECK(decide_link(late) == LinkDecision{true, LinkCause::Schedule, "schedule hours is open"});
  // Before the deadline nothing is said about the clock.
  LinkInputs early = inputs(true, down);
  early.clock_synchronised = false;
  CHECK(decide_link(early).why ==
        "forced down by alice until 2027-01-13T03:10:00Z: firmware download");
  // An up override ends at its deadline by any clock: ending early only closes the link.
  LinkInputs up = inputs(false, make(OverrideKind::Up, kNoon + minutes{10}));
  up.now = kNoon + hours{1};
  up.clock_synchronised = false;
  CHECK(decide_link(up) == LinkDecision{false, LinkCause::Schedule, "schedule hours is closed"});
}

TEST_CASE("a stored override that cannot be read keeps the link down, above everything") {
  for (const std::optional<Override>& override_ :
       {std::optional<Override>(),
        std::optional<Override>(make(OverrideKind::Up, kNoon + hours{1}))}) {
    LinkInputs unreadable = inputs(true, override_, {7});
    unreadable.override_unreadable = "/var/lib/sekisho/wan.json: not a JSON object";
    const LinkDecision decision = decide_link(unreadable);
    CHECK_FALSE(decision.up);
    CHECK(decision.cause == LinkCause::ForcedDown);
    CHECK(decision.why ==
          "the stored link override cannot be read (/var/lib/sekisho/wan.json: not a JSON "
          "object): down until 'sekishoctl link auto' or 'link up'");
  }
}

TEST_CASE("the stored override round-trips and refuses anything else") {
  for (const Override& original :
       {make(OverrideKind::Up, kNoon + hours{1}), make(OverrideKind::Down, std::nullopt),
        make(OverrideKind::Down, kNoon + minutes{5})}) {
    std::string error;
    const auto back = override_from_json(to_json(original), error);
    REQUIRE_MESSAGE(back, error);
    CHECK(back->kind == original.kind);
    CHECK(back->since == original.since);
    CHECK(back->until == original.until);
    CHECK(back->by == original.by);
    CHECK(back->reason == original.reason);
  }
  const nlohmann::json good = to_json(make(OverrideKind::Up, kNoon + hours{1}));
  struct Bad {
    const char* key;
    nlohmann::json value;
    const char* says;
  };
  const Bad bad[] = {
      {"kind", "sideways", "kind (up or down)"},
      {"since", "2027-01-13 03:00:00", "since '2027-01-13 03:00:00'"},
      {"since", "2027-02-30T03:00:00Z", "since"},
      {"until", nullptr, "an up override needs a deadline"},
      {"until", 42, "until must be a UTC time or null"},
      {"until", "2027-01-13T25:00:00Z", "until '2027-01-13T25:00:00Z'"},
      {"by", 5, "needs kind (up or down), since, by and reason"},
  };
  for (const Bad& case_ : bad) {
    nlohmann::json json = good;
    json[case_.key] = case_.value;
    std::string error;
    CAPTURE(case_.key);
    CHECK_FALSE(override_from_json(json, error));
    CHECK(error.find(case_.says) != std::string::npos);
  }
  std::string error;
  CHECK_FALSE(override_from_json(nlohmann::json::array(), error));
}
