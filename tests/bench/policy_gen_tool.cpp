// Writes the benchmark policy (policy_generator.hpp) to stdout, for the benchmarks that
// run real programs on it (sekishod, nft -f).
//   sekisho_policy_gen [--ot-hosts N] [--it-hosts N] [--pairs N]
// Defaults: the 10k-host / 50k-pair policy of the compile benchmark.

#include <iostream>

#include "policy_generator.hpp"

int main(int argc, char** argv) {
  std::cout << sekisho::testing::generate_policy(sekisho::testing::bench_shape(argc, argv));
  return 0;
}
