// The plugin seam end to end, with the test plugin "probe" (probe_plugin.hpp) registered
// only in this binary: its keys, schema, checks, manual fragment and compiled part, and
// sekishoctl check / explain / compile on a policy that uses it, without the daemon.

#include <fstream>
#include <iterator>
#include <set>
#include <span>
#include <sstream>
#include <stdexcept>

#include <doctest/doctest.h>
#include <libmnl/libmnl.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "daemon/common/exit_codes.hpp"
#include "daemon/nft/batch.hpp"
#include "daemon/nft/image.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "plugins/docs.hpp"
#include "policy/compile.hpp"
#include "policy/compile_plugins.hpp"
#include "policy/compile_steering.hpp"
#include "policy/keys.hpp"
#include "policy/load.hpp"
#include "policy/render_nft.hpp"
#include "tests/ctl/run_command.hpp"
#include "tests/plugins/probe_plugin.hpp"
#include "tests/policy/schema_paths.hpp"

using namespace sekisho;

namespace {

// Line 13 holds the rule clause, line 14 the section, line 15 its zone (column 9).
const std::string kPolicy = R"(version: 1
zones:
  ot: { interfaces: [eth1, eth2], networks: [10.10.0.0/16] }
  it: { interfaces: [eth0], networks: [10.20.0.0/16] }
hosts:
  plc: { address: 10.10.0.5 }
  historian: { address: 10.20.0.9 }
rules:
  - name: historian polls the plc
    from: historian
    to: plc
    services: [tcp/502]
    probe: true
probe:
  zone: ot
  port: 5020
)";

std::string with(std::string text, const std::string& from, const std::string& to) {
  const std::size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  return text.replace(at, from.size(), to);
}

policy::LoadResult load(const std::string& text) {
  return policy::load_policy_text(text, "probe.yaml");
}

std::string diagnostics_text(const policy::Diagnostics& diagnostics) {
  std::string text;
  for (const policy::Diagnostic& diagnostic : diagnostics.sorted()) {
    text += policy::format_diagnostic(diagnostic) + "\n";
  }
  return text;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string write_temp(const std::string& text) {
  char name[] = "/tmp/sekisho-plugin-XXXXXX";
  int fd = ::mkstemp(name);
  REQUIRE(fd >= 0);
  ::close(fd);
  std::ofstream(name) << text;
  return name;
}

// The lines of `text` that contain `word`, in order.
std::string lines_with(const std::string& text, const std::string& word) {
  std::istringstream in(text);
  std::string line;
  std::string out;
  while (std::getline(in, line)) {
    if (line.find(word) != std::string::npos) {
      out += line + "\n";
    }
  }
  return out;
}

}  // namespace

TEST_CASE("this binary's registry holds the probe, and it passes the registry's checks") {
  REQUIRE(plugins::registered().size() == 1);
  CHECK(plugins::registered()[0] == &plugins::probe::plugin);
  CHECK(plugins::registry_problems(plugins::registered()).empty());

  // What the checks refuse: a core key, a name twice, a mapping outside the key.
  const plugins::PolicyPart rules_part{
      plugins::PolicyPart::Place::Section,    "rules", {{"wan", {"x"}}}, "{}", ".SS rules\n",
      plugins::probe::plugin.policy[0].parse, nullptr};
  const plugins::Plugin bad{"Bad-Name", std::span(&rules_part, 1), nullptr, {}};
  const plugins::Plugin* list[] = {&plugins::probe::plugin, &plugins::probe::plugin, &bad};
  const std::vector<std::string> problems = plugins::registry_problems(list);
  auto said = [&](std::string_view what) {
    return std::any_of(problems.begin(), problems.end(),
                       [&](const std::string& p) { return p.find(what) != std::string::npos; });
  };
  CHECK(said("'probe' is registered twice"));
  CHECK(said("key 'probe' is another plugin's"));
  CHECK(said("plugin 'Bad-Name': a name is"));
  CHECK(said("key 'rules' is the core's"));
  CHECK(said("mapping 'wan' is not under 'rules'"));
}

TEST_CASE("a plugin's keys are the parser's: its section, its clause, its mapping") {
  const auto& top = policy::keys_at("");
  CHECK(std::find(top.begin(), top.end(), "probe") != top.end());
  const auto& rule = policy::keys_at("rules[]");
  CHECK(std::find(rule.begin(), rule.end(), "probe") != rule.end());
  CHECK(policy::keys_at("probe") ==
        std::vector<std::string_view>{"zone", "port", "inspector", "misbehave"});
  // The core's own table stays as it was.
  const auto& core = policy::core_mapping_keys().front();
  CHECK(std::find(core.keys.begin(), core.keys.end(), "probe") == core.keys.end());

  policy::LoadResult typo = load(with(kPolicy, "  port: 5020", "  prot: 5020"));
  CHECK_FALSE(typo.policy);
  CHECK(diagnostics_text(typo.diagnostics).find("probe.yaml:16:3: error[unknown-key]") !=
        std::string::npos);
  CHECK(diagnostics_text(typo.diagnostics).find("did you mean 'port'") != std::string::npos);
}

TEST_CASE("a plugin's section and clause are parsed into typed values on Policy and Rule") {
  policy::LoadResult loaded = load(kPolicy);
  REQUIRE_MESSAGE(loaded.policy, diagnostics_text(loaded.diagnostics));
  const auto* section = loaded.policy->extensions.find<plugins::probe::Section>("probe");
  REQUIRE(section);
  CHECK(section->zone.name == "ot");
  CHECK(section->port == 5020);
  CHECK(section->pos.line == 15);
  // Typed: read as another type, it is not there.
  CHECK_FALSE(loaded.policy->extensions.find<plugins::probe::Clause>("probe"));
  const auto* clause = loaded.policy->rules.at(0).extensions.find<plugins::probe::Clause>("probe");
  REQUIRE(clause);
  CHECK(clause->on);
  CHECK(clause->pos.line == 13);
  // Copies of the policy share the value.
  const policy::Policy copy = *loaded.policy;
  CHECK(copy.extensions.find<plugins::probe::Section>("probe") == section);

  policy::LoadResult bad_value = load(with(kPolicy, "port: 5020", "port: lots"));
  CHECK_FALSE(bad_value.policy);
  CHECK(diagnostics_text(bad_value.diagnostics).find("probe.yaml:16:9: error[") !=
        std::string::npos);
}

TEST_CASE("a plugin's checks report at FILE:LINE:COL with their own codes") {
  policy::LoadResult unknown = load(with(kPolicy, "zone: ot", "zone: dmz"));
  CHECK_FALSE(unknown.policy);
  CHECK(diagnostics_text(unknown.diagnostics) ==
        "probe.yaml:15:9: error[probe-unknown-zone]: probe.zone: no zone 'dmz'\n"
        "  hint: name one of the zones under 'zones'\n");

  const std::size_t section = kPolicy.find("probe:\n  zone");
  policy::LoadResult alone = load(kPolicy.substr(0, section));
  CHECK_FALSE(alone.policy);
  CHECK(diagnostics_text(alone.diagnostics)
            .find("probe.yaml:13:12: error[probe-needs-section]: rule 'historian polls the plc' is "
                  "probed") != std::string::npos);
}

TEST_CASE("a plugin's part of the ruleset: a set the kernel fills, a log group, steering") {
  policy::LoadResult loaded = load(kPolicy);
  REQUIRE(loaded.policy);
  const ir::Ruleset ruleset = policy::compile(*loaded.policy);

  REQUIRE(ruleset.runtime.kernel_filled.size() == 2);
  const ir::Set& seen = ruleset.at(ruleset.runtime.kernel_filled.front());
  CHECK(seen.name == "probe_seen");
  CHECK(seen.fill == ir::SetFill::Kernel);
  CHECK(seen.elements.empty());
  REQUIRE(ruleset.plugins.size() == 1);
  const ir::PluginResources& probe = ruleset.plugins.front();
  CHECK(probe.plugin == "probe");
  CHECK(probe.log_groups == std::vector<std::uint16_t>{policy::kFirstPluginLogGroup});
  CHECK(probe.packet_mark_bits == 0x10000);
  REQUIRE(probe.steering.size() == 1);
  CHECK(ruleset.at(probe.steering[0].flows).name == "probe_flows");

  // The input chain jumps to the plugin's part after loopback, then accepts the steered
  // packets, before conntrack state.
  const ir::Chain& input = *ruleset.find_chain("input");
  REQUIRE(input.rules.size() > 3);
  CHECK(input.rules[1].statements.at(0).verdict.chain == "probe_input");
  CHECK(input.rules[2].matches.at(1).selectors.at(0) == ir::Selector::MetaMark);
  CHECK(input.rules[3].matches.at(0).selectors.at(0) == ir::Selector::CtState);

  const std::string text = ir::render_nft(ruleset, "policy.yaml");
  CHECK(lines_with(text, "probe") ==
        "\t# plugin probe: NFLOG group 16\n"
        "\t# plugin probe: packet mark bits 0x10000\n"
        "\t# plugin probe steers @probe_flows to tproxy port 5020, packets marked 0x10000 (chain "
        "steering; sekishod routes them to this host) (probe, line 15)\n"
        "\t# probe, line 15\n"
        "\tset probe_seen {\n"
        "\t# probe, line 15\n"
        "\tset probe_scans {\n"
        "\t# probe, line 15\n"
        "\tset probe_flows {\n"
        "\t\telements = { 10.10.0.5 . 502 }  # probe, line 15\n"
        "\t# probe, line 15\n"
        "\tset probe_interfaces {\n"
        "\t\telements = { \"eth1\",  # probe, line 15\n"
        "\t\t\t     \"eth2\" }  # probe, line 15\n"
        "\t\tjump probe_input\n"
        "\t\tmeta l4proto tcp meta nfproto ipv4 ip daddr . th dport @probe_flows socket "
        "transparent 1 accept\n"
        "\t# plugin probe\n"
        "\tchain probe_input {\n"
        "\t\tiifname @probe_interfaces counter log prefix \"probe: \" group 16\n"
        "\t\tiifname @probe_interfaces add @probe_seen { ip saddr }\n"
        "\t\tiifname @probe_interfaces update @probe_scans { ip saddr . ip daddr . meta l4proto "
        ". th dport timeout 1m counter }\n"
        "\t\tmeta l4proto tcp meta nfproto ipv4 ip daddr . th dport @probe_flows tproxy ip to "
        ":5020 meta mark set 0x00010000 accept\n"
        "\t\tmeta l4proto tcp meta nfproto ipv4 ip daddr . th dport @probe_flows counter drop\n");
  // The steering chain of the core: the inspectors' own connections, tproxy, then drop
  // (fail closed); the input chain accepts the mark, the output chain the inspector's
  // transparent connections of the steered flows.
  const std::size_t steering = text.find("\tchain steering {\n");
  REQUIRE(steering != std::string::npos);
  CHECK(text.substr(steering, text.find("\t}\n", steering) - steering) ==
        "\tchain steering {\n"
        "\t\ttype filter hook prerouting priority -150; policy accept;\n"
        "\t\tmeta l4proto tcp socket transparent 1 socket wildcard 0 meta mark set 0x00010000 "
        "accept\n"
        "\t\tmeta l4proto tcp meta nfproto ipv4 ip daddr . th dport @probe_flows tproxy ip to "
        ":5020 meta mark set 0x00010000 accept\n"
        "\t\tmeta l4proto tcp meta nfproto ipv4 ip daddr . th dport @probe_flows counter drop\n");
  CHECK(
      text.find(
          "\t\tjump probe_input\n\t\tmeta l4proto tcp meta mark 0x00010000 accept\n\t\tct state") !=
      std::string::npos);
  CHECK(text.find("\t\toifname \"lo\" accept\n\t\tmeta l4proto tcp meta nfproto ipv4 ip daddr . "
                  "th dport @probe_flows socket transparent 1 accept\n\t\tct state") !=
        std::string::npos);
  auto set_text = [&](const std::string& name) {
    const std::size_t set = text.find("\tset " + name + " {\n");
    return text.substr(set, text.find("\t}\n", set) - set);
  };
  CHECK(set_text("probe_seen") ==
        "\tset probe_seen {\n\t\ttype ipv4_addr\n\t\tsize 4096\n\t\tflags dynamic\n");
  // As `nft list` prints it: dynamic before timeout.
  CHECK(set_text("probe_scans") ==
        "\tset probe_scans {\n\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service\n"
        "\t\tsize 65536\n\t\tflags dynamic,timeout\n");

  // Without its section the plugin adds nothing but its (empty) record.
  policy::LoadResult without = load(kPolicy.substr(0, kPolicy.find("    probe: true")));
  REQUIRE(without.policy);
  const ir::Ruleset plain = policy::compile(*without.policy);
  CHECK(plain.runtime.kernel_filled.empty());
  CHECK(ir::render_nft(plain, "policy.yaml").find("probe") == std::string::npos);
}

TEST_CASE(
    "readback, drift restore and verify compare a set the kernel fills without its elements") {
  policy::LoadResult loaded = load(kPolicy);
  REQUIRE(loaded.policy);
  const ir::Ruleset sent = policy::compile(*loaded.policy);
  // The kernel as it is later: it has filled probe_seen, and someone added to probe_interfaces.
  ir::Ruleset kernel = sent;
  const ir::Origin none{};
  kernel.at(kernel.runtime.kernel_filled.front())
      .elements.push_back(
          ir::Element{{ir::single(ir::value_of_number(0x0a0a0005, 4))}, {}, none, {}, 0});
  const nft::TableImage expected = nft::image_of_batch(nft::build_replace_batch(sent, 1));
  const nft::TableImage seen = nft::image_of_batch(nft::build_replace_batch(kernel, 1));
  CHECK(nft::differences(expected, seen).empty());
  bool has_set = false;
  for (const std::string& line : seen.lines()) {
    CHECK(line.find("element probe_seen") == std::string::npos);
    has_set = has_set || line.rfind("set probe_seen ", 0) == 0;
  }
  CHECK(has_set);  // the set itself is compared

  ir::Set& flows = kernel.sets.at(kernel.find_set("probe_interfaces") - kernel.sets.data());
  flows.elements.push_back(ir::Element{{ir::single(ir::value_of_ifname("eth9"))}, {}, none, {}, 0});
  const nft::TableImage drifted = nft::image_of_batch(nft::build_replace_batch(kernel, 1));
  const std::vector<std::string> drift = nft::differences(expected, drifted);
  REQUIRE(drift.size() == 1);
  CHECK(drift[0].find("unexpected: element probe_interfaces") == 0);
}

TEST_CASE("a plugin cannot open what the policy closes, nor take the core's names or marks") {
  for (const char* how :
       {"accept", "name", "ct-mark", "jump", "interval", "steer-key", "steer-iif"}) {
    CAPTURE(how);
    policy::LoadResult loaded = load(kPolicy + "  misbehave: " + how + "\n");
    REQUIRE(loaded.policy);
    CHECK_THROWS_AS(policy::compile(*loaded.policy), std::invalid_argument);
  }
}

// Each way of misbehaving (the probe's `misbehave:`) is refused at compile with its reason.
static void check_refusals(std::span<const std::pair<const char*, const char*>> refused) {
  for (const auto& [how, why] : refused) {
    CAPTURE(how);
    policy::LoadResult loaded = load(kPolicy + "  misbehave: " + how + "\n");
    REQUIRE(loaded.policy);
    std::string error;
    try {
      policy::compile(*loaded.policy);
    } catch (const std::invalid_argument& refusal) {
      error = refusal.what();
    }
    CHECK(error.find(why) != std::string::npos);
  }
}

TEST_CASE("a plugin cannot steer or mark packets past the policy") {
  const std::pair<const char*, const char*> refused[] = {
      {"mark-set", "probe_input: the packet mark and tproxy are set by the core's steering only"},
      {"tproxy", "probe_input: the packet mark and tproxy are set by the core's steering only"},
      {"steer-kernel-set", "steering names a set whose elements the compiled policy does not fix"},
  };
  check_refusals(refused);
}

TEST_CASE("the packet path fills only the plugin's own sets the kernel fills, as they are made") {
  const std::pair<const char*, const char*> refused[] = {
      {"fill-static",
       "probe_input: updates set probe_interfaces, which is not a set of the plugin's own that "
       "the kernel fills"},
      {"fill-core", "which is not a set of the plugin's own that the kernel fills"},
      {"fill-key", "the key put into set probe_seen is not of the set's types"},
      {"fill-timeout", "a timeout in set probe_seen needs a set with timeouts"},
      {"fill-ms", "a timeout in set probe_scans needs a set with timeouts, in whole seconds"},
      {"fill-unbounded", "set probe_unbounded is filled from the packet path: it needs a size"},
      {"fill-log", "an element of set probe_seen keeps a counter or a limit only"},
  };
  check_refusals(refused);
}

namespace {

// The table as the kernel dumps it back: a set update without its set's id, with a
// timeout also where none was sent, without NFT_DYNSET_F_EXPR, and with the counters of
// its elements' statements counting.
nft::TableImage as_the_kernel_dumps(const nft::Batch& batch) {
  nft::TableImage image;
  int remaining = static_cast<int>(batch.bytes.size());
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(batch.bytes.data());
       mnl_nlmsg_ok(nlh, remaining); nlh = mnl_nlmsg_next(nlh, &remaining)) {
    if ((nlh->nlmsg_type & 0xff) != NFT_MSG_NEWRULE) {
      image.add_message(nlh);
      continue;
    }
    std::unique_ptr<nftnl_rule, decltype(&nftnl_rule_free)> rule(nftnl_rule_alloc(),
                                                                 nftnl_rule_free);
    REQUIRE(nftnl_rule_nlmsg_parse(nlh, rule.get()) == 0);
    nftnl_expr_iter* it = nftnl_expr_iter_create(rule.get());
    for (nftnl_expr* e = nftnl_expr_iter_next(it); e; e = nftnl_expr_iter_next(it)) {
      if (std::string(nftnl_expr_get_str(e, NFTNL_EXPR_NAME)) != "dynset") {
        continue;
      }
      nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_SET_ID, 4711);
      if (!nftnl_expr_is_set(e, NFTNL_EXPR_DYNSET_TIMEOUT)) {
        nftnl_expr_set_u64(e, NFTNL_EXPR_DYNSET_TIMEOUT, 0);
      }
      nftnl_expr_set_u32(e, NFTNL_EXPR_DYNSET_FLAGS, 0);
      nftnl_expr_expr_foreach(
          e,
          [](nftnl_expr* nested, void*) {
            if (std::string(nftnl_expr_get_str(nested, NFTNL_EXPR_NAME)) == "counter") {
              nftnl_expr_set_u64(nested, NFTNL_EXPR_CTR_PACKETS, 7);
              nftnl_expr_set_u64(nested, NFTNL_EXPR_CTR_BYTES, 420);
            }
            return 0;
          },
          nullptr);
    }
    nftnl_expr_iter_destroy(it);
    std::vector<char> buffer(64 * 1024);
    nlmsghdr* dumped = nftnl_nlmsg_build_hdr(buffer.data(), NFT_MSG_NEWRULE, NFPROTO_INET,
                                             NLM_F_MULTI, nlh->nlmsg_seq);
    nftnl_rule_nlmsg_build_payload(dumped, rule.get());
    image.add_message(dumped);
  }
  return image;
}

ir::Statement* scan_update(ir::Ruleset& ruleset) {
  for (ir::Chain& chain : ruleset.chains) {
    for (ir::Rule& rule : chain.rules) {
      for (ir::Statement& statement : rule.statements) {
        if (statement.kind == ir::Statement::Kind::SetUpdate) {
          return &statement;
        }
      }
    }
  }
  return nullptr;
}

}  // namespace

TEST_CASE("a set update from the packet path: the netlink batch, and readback compares it") {
  policy::LoadResult loaded = load(kPolicy);
  REQUIRE(loaded.policy);
  ir::Ruleset ruleset = policy::compile(*loaded.policy);
  const nft::TableImage sent = nft::image_of_batch(nft::build_replace_batch(ruleset, 1));
  // The key loaded as for a lookup (after its family), then the dynset expression: op 0 add,
  // 1 update; the element's timeout in ms; its counter.
  std::string rules;
  for (const std::string& line : sent.lines()) {
    if (line.find("dynset") != std::string::npos) {
      rules += line + "\n";
    }
  }
  CHECK(rules ==
        "rule probe_input 2: meta load iifname => reg 1 ; lookup sreg 1 flags 0 set "
        "probe_interfaces; "
        "meta load nfproto => reg 1 ; cmp eq reg 1 0x00000002 ; payload load 4b @ network header "
        "+ 12 => reg 1 ; dynset op 0 sreg 1 timeout 0 flags 0 set probe_seen { }\n"
        "rule probe_input 3: meta load iifname => reg 1 ; lookup sreg 1 flags 0 set "
        "probe_interfaces; "
        "meta load nfproto => reg 1 ; cmp eq reg 1 0x00000002 ; payload load 4b @ network header "
        "+ 12 => reg 1 ; payload load 4b @ network header + 16 => reg 9 ; meta load l4proto => "
        "reg 10 ; payload load 2b @ transport header + 2 => reg 11 ; dynset op 1 sreg 1 timeout "
        "60000 flags 0 set probe_scans { counter; }\n");
  CHECK(nft::differences(sent, as_the_kernel_dumps(nft::build_replace_batch(ruleset, 1))).empty());

  // Two statements per element go in NFTA_DYNSET_EXPRESSIONS, which the kernel does not
  // flag in its dump: the same rule still.
  ir::Statement* scan = scan_update(ruleset);
  REQUIRE(scan);
  ir::Statement limit;
  limit.kind = ir::Statement::Kind::Limit;
  limit.limit_rate = 10;
  limit.limit_burst = 20;
  scan->per_element.push_back(limit);
  CHECK(ir::render_nft(ruleset, "p")
            .find("timeout 1m counter limit rate 10/second burst 20 "
                  "packets }\n") != std::string::npos);
  const nft::Batch two = nft::build_replace_batch(ruleset, 1);
  const nft::TableImage sent_two = nft::image_of_batch(two);
  CHECK(nft::differences(sent_two, as_the_kernel_dumps(two)).empty());
  CHECK(nft::differences(sent, sent_two).size() == 2);  // the rule differs

  // What the rule does is compared: another timeout is drift.
  scan->set_timeout_ms = 120'000;
  const std::vector<std::string> drift =
      nft::differences(sent_two, as_the_kernel_dumps(nft::build_replace_batch(ruleset, 1)));
  REQUIRE(drift.size() == 2);
  CHECK(drift[0].find("timeout 60000") != std::string::npos);
  CHECK(drift[1].find("timeout 120000") != std::string::npos);
}

TEST_CASE("check, explain and compile work on a plugin's policy without the daemon") {
  const std::string file = write_temp(kPolicy);
  const std::string broken = write_temp(with(kPolicy, "zone: ot", "zone: dmz"));
  using ctl::testing::run_command;

  auto check = run_command(ctl::run_check, {"check", file}, {});
  CHECK(check.code == kExitOk);
  auto refused = run_command(ctl::run_check, {"check", broken}, {});
  CHECK(refused.code == kExitConfig);
  CHECK(refused.err.find(broken + ":15:9: error[probe-unknown-zone]") != std::string::npos);

  auto compiled = run_command(ctl::run_compile, {"compile", file}, {});
  CHECK(compiled.code == kExitOk);
  CHECK(compiled.out.find("\tset probe_seen {\n") != std::string::npos);
  CHECK(compiled.out.find("log prefix \"probe: \" group 16") != std::string::npos);

  const ctl::OptionSpec explain_options{{"from", "to", "proto", "port", "type", "at"}, {}};
  auto explained = run_command(
      ctl::run_explain,
      {"explain", file, "--from", "historian", "--to", "plc", "--proto", "tcp", "--port", "502"},
      explain_options);
  CHECK(explained.code == kExitOk);
  CHECK(explained.out.find("historian polls the plc") != std::string::npos);
  std::remove(file.c_str());
  std::remove(broken.c_str());
}

TEST_CASE("the schema and the manual page take the plugin's fragments") {
  const auto core =
      nlohmann::ordered_json::parse(read_file(SEKISHO_SOURCE_DIR "/configs/policy.schema.json"));
  const auto schema = plugins::merged_schema(core, plugins::registered());
  CHECK(schema["properties"]["probe"]["required"] == nlohmann::json::array({"zone"}));
  CHECK(schema["properties"]["rules"]["items"]["properties"]["probe"]["type"] == "boolean");
  // The merged schema names exactly the keys the parser (with the plugin) accepts.
  const nlohmann::json plain = nlohmann::json::parse(schema.dump());
  std::set<std::string> schema_paths;
  sekisho::testing::collect_schema_paths(plain, plain, "", schema_paths);
  const auto parser = policy::known_key_paths();
  CHECK(schema_paths == std::set<std::string>(parser.begin(), parser.end()));
  CHECK(schema_paths.contains("probe.zone"));
  CHECK(schema_paths.contains("rules[].probe"));
  // Without plugins the schema is the core's.
  CHECK(plugins::merged_schema(core, {}) == core);

  const std::string page = read_file(SEKISHO_SOURCE_DIR "/docs/man/sekisho-policy.5");
  const std::string merged = plugins::merged_manual(page, plugins::registered());
  const std::size_t fragment = merged.find(".SS probe\n");
  REQUIRE(fragment != std::string::npos);
  CHECK(fragment > merged.find(".SS audit\n"));
  CHECK(merged.find(".B rules[].probe\n") > fragment);
  CHECK(merged.find(".SH MATCHING\n") > merged.find(".B rules[].probe\n"));
  CHECK(merged.size() == page.size() + plugins::probe::plugin.policy[0].manual.size() +
                             plugins::probe::plugin.policy[1].manual.size());
  CHECK(plugins::merged_manual(page, {}) == page);
}

TEST_CASE("steering by IPv6 addresses, or by port alone for both families") {
  ir::Ruleset ruleset;
  for (const auto& [name, hook] :
       {std::pair{"input", ir::Hook::Input}, std::pair{"output", ir::Hook::Output}}) {
    ir::Chain chain;
    chain.name = name;
    chain.hook = hook;
    ruleset.chains.push_back(chain);
  }
  ir::Set v6;
  v6.name = "x_v6";
  v6.key = {ir::FieldType::Ipv6Addr, ir::FieldType::InetService};
  ir::Set ports;
  ports.name = "x_ports";
  ports.key = {ir::FieldType::InetService};
  const ir::SetId v6_id = ruleset.add_set(v6);
  const ir::SetId ports_id = ruleset.add_set(ports);
  ir::PluginResources x;
  x.plugin = "x";
  x.packet_mark_bits = 0x30000;
  x.steering.push_back(
      ir::Steering{v6_id, {ir::Selector::Ip6Daddr, ir::Selector::ThDport}, 0x10000, 5020, {}});
  x.steering.push_back(ir::Steering{ports_id, {ir::Selector::ThDport}, 0x20000, 5021, {}});
  for (const ir::Steering& steering : x.steering) {
    CHECK_NOTHROW(policy::check_steering_key(steering, ruleset.at(steering.flows)));
  }
  ruleset.plugins.push_back(x);
  std::set<std::string> names;
  policy::add_steering(ruleset, {{ir::Hook::Input, 0}, {ir::Hook::Output, 0}}, {}, names);
  const std::string text = ir::render_nft(ruleset, "policy.yaml");
  CHECK(lines_with(text, " to :") ==
        "\t\tmeta l4proto tcp meta nfproto ipv6 ip6 daddr . th dport @x_v6 tproxy ip6 to :5020 "
        "meta mark set 0x00010000 accept\n"
        "\t\tmeta l4proto tcp th dport @x_ports tproxy to :5021 meta mark set 0x00020000 accept\n");
  CHECK(lines_with(text, "meta mark 0x") ==
        "\t\tmeta l4proto tcp meta mark 0x00010000 accept\n\t\tmeta l4proto tcp meta mark "
        "0x00020000 accept\n");
  CHECK(names.contains("steering"));

  // A key that reads another type than the set's field, or both families, is refused.
  CHECK_THROWS_AS(policy::check_steering_key(
                      ir::Steering{v6_id, {ir::Selector::IpDaddr, ir::Selector::ThDport}, 1, 1, {}},
                      ruleset.at(v6_id)),
                  std::invalid_argument);
  ir::Set mixed;
  mixed.name = "x_mixed";
  mixed.key = {ir::FieldType::Ipv4Addr, ir::FieldType::Ipv6Addr};
  CHECK_THROWS_AS(
      policy::check_steering_key(
          ir::Steering{{}, {ir::Selector::IpSaddr, ir::Selector::Ip6Daddr}, 1, 1, {}}, mixed),
      std::invalid_argument);
}
