// Builds a large state directory the way sekishod writes one, for the test of long viewer
// calls (tests/lab/long_calls.sh), without running the daemon for weeks:
//
//   sekisho_make_big_state DIR RECORDS SESSIONS FLOWS
//
// writes into DIR (which must exist), where sekishod's --state-dir keeps them:
//   audit.db, audit-key.pem  RECORDS audit records through AuditLog::append, one a second
//                            ending now, the kinds and details of an ordinary plant, with
//                            a checkpoint signed by the key every 100 records at the time
//                            of its last record: the chain and every checkpoint verify
//   sessions.db              SESSIONS closed jump sessions through sessions::Store, each
//                            with FLOWS recorded connections
// Every append waits for its fsync (synchronous=FULL, as the daemon writes): build it on a
// tmpfs and copy it.

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include "daemon/audit/audit_log.hpp"
#include "daemon/audit/signer.hpp"
#include "daemon/common/clock.hpp"
#include "daemon/sessions/store.hpp"

using namespace sekisho;

namespace {

std::error_code append_record(audit::AuditLog& log, long long i, const std::string& time) {
  static const audit::Actor daemon{0, "sekishod", "daemon"};
  static const audit::Actor nobody{65534, "nobody", "none"};
  static const audit::Actor operator_actor{4102, "lab-operator", "operator"};
  switch (i % 4) {
    case 0:
      return log.append(time, nobody, "control.refused",
                        {{"method", "policy.apply"}, {"pid", 1000 + i % 30000}});
    case 1:
      return log.append(time, daemon, "drift.restore",
                        {{"what", "table inet sekisho changed by process " +
                                      std::to_string(i % 32768) + " (nft)"},
                         {"restore", i},
                         {"restored", true}});
    case 2:
      return log.append(time, operator_actor, "link.up",
                        {{"for_seconds", 600}, {"reason", "firmware " + std::to_string(i)}});
    default:
      return log.append(time, daemon, "schedule.open",
                        {{"schedule", "hours"}, {"sets", 2}, {"elements", i % 100}});
  }
}

int make_audit_log(const std::string& dir, long long count, std::chrono::sys_seconds now) {
  audit::Signer signer;
  audit::AuditLog log;
  if (signer.load_or_create(dir + "/audit-key.pem") || log.open(dir + "/audit.db")) {
    std::cerr << "cannot make the audit log or its key in " << dir << '\n';
    return 1;
  }
  for (long long i = 1; i <= count; ++i) {
    const std::string time = utc_text(now - std::chrono::seconds(count - i));
    std::error_code error = append_record(log, i, time);
    if (!error && i % 100 == 0) {
      error = log.add_checkpoint(signer, time, true);
    }
    if (error) {
      std::cerr << "audit record " << i << ": " << error.message() << '\n';
      return 1;
    }
  }
  return 0;
}

int make_sessions(const std::string& dir, std::uint32_t count, std::uint32_t flows,
                  std::chrono::sys_seconds now) {
  sessions::Store store;
  if (store.open(dir + "/sessions.db")) {
    std::cerr << "cannot make the session store in " << dir << '\n';
    return 1;
  }
  const std::int64_t now_ms = now.time_since_epoch().count() * 1000;
  for (std::uint32_t number = 1; number <= count; ++number) {
    sessions::Session session;
    session.number = number;
    session.grant.peer = "vendor-a";
    session.grant.target = "hmi-1-opcua";
    session.grant.host = "hmi-1";
    session.opened_by = {4102, "lab-operator", "operator"};
    session.opened_ms = now_ms - std::int64_t{count - number + 1} * 3600000;
    session.deadline_ms = session.opened_ms + 1800000;
    session.reason = "maintenance " + std::to_string(number);
    session.state = sessions::State::Expired;
    session.ended_ms = session.deadline_ms;
    session.closed_by = {0, "sekishod", "daemon"};
    session.close_reason = "expired";
    session.totals.flows = flows;
    if (store.save(session)) {
      std::cerr << "cannot save session " << number << '\n';
      return 1;
    }
    for (std::uint32_t id = 1; id <= flows; ++id) {
      sessions::FlowRecord flow;
      flow.conntrack_id = number * 100000 + id;
      flow.started_ms = session.opened_ms + id;
      flow.ended_ms = flow.started_ms + 1000;
      flow.protocol = 6;
      flow.source = "198.19.78.2";
      flow.source_port = static_cast<std::uint16_t>(10000 + id % 50000);
      flow.destination = "192.0.2.31";
      flow.destination_port = 4840;
      flow.packets_to_target = 10;
      flow.bytes_to_target = 1000 + id;
      flow.packets_from_target = 8;
      flow.bytes_from_target = 2000 + id;
      if (store.save_flow(number, flow)) {
        std::cerr << "cannot save flow " << id << " of session " << number << '\n';
        return 1;
      }
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: sekisho_make_big_state DIR RECORDS SESSIONS FLOWS\n";
    return 2;
  }
  const std::string dir = argv[1];
  const auto now =
      std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now());
  if (int code = make_audit_log(dir, std::atoll(argv[2]), now)) {
    return code;
  }
  if (int code = make_sessions(dir, static_cast<std::uint32_t>(std::atoll(argv[3])),
                               static_cast<std::uint32_t>(std::atoll(argv[4])), now)) {
    return code;
  }
  std::cout << argv[2] << " audit records, " << argv[3] << " sessions of " << argv[4]
            << " flows in " << dir << '\n';
  return 0;
}
