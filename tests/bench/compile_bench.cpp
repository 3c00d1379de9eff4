// Benchmark: parse + check + compile + render of a large generated policy.
//
//   sekisho_compile_bench [--ot-hosts N] [--it-hosts N] [--pairs N] [--rounds N]
//
// Prints wall time per phase (best of --rounds), peak memory, and the ratios this project
// tracks: time and memory against their targets (compile under 1 s, under 200 MB for
// 10k hosts and 50k allowed pairs), and how the cost scales against a policy a tenth the
// size measured in the same run (machines are shared and noisy: compare ratios).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <sys/resource.h>

#include "policy/compile.hpp"
#include "policy/load.hpp"
#include "policy/render_nft.hpp"
#include "policy_generator.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Figures {
  double load_ms = 1e18;
  double compile_ms = 1e18;
  double render_ms = 1e18;
  std::size_t elements = 0;
  std::size_t rules = 0;
  std::size_t text_bytes = 0;
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

long peak_rss_kib() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

Figures measure(const sekisho::testing::GeneratedPolicyShape& shape, int rounds) {
  const std::string text = sekisho::testing::generate_policy(shape);
  Figures best;
  for (int round = 0; round < rounds; ++round) {
    auto start = Clock::now();
    auto loaded = sekisho::policy::load_policy_text(text, "bench.yaml");
    double load_ms = ms_since(start);
    if (!loaded.policy) {
      std::fprintf(stderr, "the generated policy is invalid\n");
      std::exit(1);
    }
    start = Clock::now();
    sekisho::ir::Ruleset ruleset = sekisho::policy::compile(*loaded.policy);
    double compile_ms = ms_since(start);
    start = Clock::now();
    std::string nft = sekisho::ir::render_nft(ruleset, "bench.yaml");
    double render_ms = ms_since(start);
    best.load_ms = std::min(best.load_ms, load_ms);
    best.compile_ms = std::min(best.compile_ms, compile_ms);
    best.render_ms = std::min(best.render_ms, render_ms);
    best.elements = ruleset.element_count();
    best.rules = ruleset.rule_count();
    best.text_bytes = nft.size();
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const sekisho::testing::GeneratedPolicyShape shape = sekisho::testing::bench_shape(argc, argv);
  const int rounds = sekisho::testing::int_option(argc, argv, "--rounds", 3);

  sekisho::testing::GeneratedPolicyShape tenth = shape;
  tenth.ot_hosts = std::max(10, shape.ot_hosts / 10);
  tenth.it_hosts = std::max(2, shape.it_hosts / 10);
  tenth.rules = std::max(10, shape.rules / 10);
  tenth.group_rule_pairs = std::max(1, shape.group_rule_pairs / 10);

  const long rss_before = peak_rss_kib();
  Figures small = measure(tenth, rounds);
  Figures large = measure(shape, rounds);
  const long rss_peak = peak_rss_kib();

  const double total_ms = large.load_ms + large.compile_ms;
  std::printf("policy: %d OT hosts, %d IT hosts, %d rules, ~%d allowed pairs in one rule\n",
              shape.ot_hosts, shape.it_hosts, shape.rules + 5, shape.group_rule_pairs);
  std::printf("ruleset: %zu kernel rules, %zu set elements, %zu bytes of nft text\n", large.rules,
              large.elements, large.text_bytes);
  std::printf("load+check %.1f ms, compile %.1f ms, render %.1f ms (best of %d)\n", large.load_ms,
              large.compile_ms, large.render_ms, rounds);
  std::printf("peak memory %.1f MiB (before: %.1f MiB)\n", rss_peak / 1024.0, rss_before / 1024.0);
  std::printf("ratio load+compile / 1 s target: %.3f\n", total_ms / 1000.0);
  std::printf("ratio peak memory / 200 MB target: %.3f\n", rss_peak * 1024.0 / 200e6);
  std::printf(
      "scaling vs a tenth the size: elements x%.1f, load+compile time x%.1f, rules %zu vs %zu\n",
      static_cast<double>(large.elements) / static_cast<double>(small.elements),
      total_ms / (small.load_ms + small.compile_ms), large.rules, small.rules);
  // The kernel rule count must not grow with the policy.
  return large.rules == small.rules ? 0 : 1;
}
