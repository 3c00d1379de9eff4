// WireGuard keys and key files (daemon/vpn) and `sekishoctl vpn genkey` and `peer-config`.

#include <filesystem>
#include <fstream>
#include <sstream>

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/common/exit_codes.hpp"
#include "daemon/sekishoctl/commands.hpp"
#include "daemon/vpn/key_file.hpp"
#include "daemon/vpn/keys.hpp"
#include "tests/ctl/run_command.hpp"

namespace fs = std::filesystem;
using sekisho::ctl::testing::run_command;
using namespace sekisho::vpn;

namespace {

Key key_from_hex(const std::string& hex) {
  Key key{};
  for (std::size_t i = 0; i < key.size(); ++i) {
    key[i] = static_cast<unsigned char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  }
  return key;
}

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("sekisho-genkey-" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

TEST_CASE("X25519 public key: RFC 7748 section 6.1 test vector (Alice)") {
  const Key alice =
      key_from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  const auto public_key = public_key_of(alice);
  REQUIRE(public_key);
  CHECK(*public_key ==
        key_from_hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
}

TEST_CASE("base64 keys: 44 characters, canonical only") {
  const Key key = key_from_hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  const std::string text = key_to_base64(key);
  CHECK(text == "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
  CHECK(key_from_base64(text) == key);
  CHECK_FALSE(key_from_base64(text.substr(0, 43)));
  CHECK_FALSE(key_from_base64(text + "="));
  CHECK_FALSE(key_from_base64("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmp="));  // not canonical
  CHECK_FALSE(key_from_base64("hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066Spjqqb*mo="));
}

TEST_CASE("generated private keys are clamped and differ") {
  const auto first = generate_private_key();
  const auto second = generate_private_key();
  REQUIRE(first);
  REQUIRE(second);
  CHECK(*first != *second);
  CHECK(((*first)[0] & 7) == 0);
  CHECK(((*first)[31] & 128) == 0);
  CHECK(((*first)[31] & 64) == 64);
}

TEST_CASE("vpn genkey writes a 0600 key file and prints its public key") {
  TempDir dir;
  const fs::path file = dir.path / "wg0.key";
  const auto run = run_command(sekisho::ctl::run_vpn, {"vpn", "genkey", "--out", file},
                               sekisho::ctl::testing::options_of("vpn"));
  REQUIRE(run.code == sekisho::kExitOk);
  struct stat st {};
  REQUIRE(::stat(file.c_str(), &st) == 0);
  CHECK((st.st_mode & 07777) == 0600);
  const std::string text = read_all(file);
  REQUIRE(text.size() == 45);
  CHECK(text.back() == '\n');
  const auto private_key = key_from_base64(text.substr(0, 44));
  REQUIRE(private_key);
  const auto public_key = public_key_of(*private_key);
  REQUIRE(public_key);
  CHECK(run.out == key_to_base64(*public_key) + "\n");
  CHECK(run.err.empty());
}

TEST_CASE("vpn genkey never overwrites a key file, and needs --out") {
  TempDir dir;
  const fs::path file = dir.path / "wg0.key";
  { std::ofstream(file) << "the key every peer trusts\n"; }
  const auto run = run_command(sekisho::ctl::run_vpn, {"vpn", "genkey", "--out", file},
                               sekisho::ctl::testing::options_of("vpn"));
  CHECK(run.code == sekisho::kExitInvalid);
  CHECK(run.err.find("never overwritten") != std::string::npos);
  CHECK(read_all(file) == "the key every peer trusts\n");

  const auto no_out = run_command(sekisho::ctl::run_vpn, {"vpn", "genkey"},
                                  sekisho::ctl::testing::options_of("vpn"));
  CHECK(no_out.code == sekisho::kExitUsage);
  CHECK(no_out.out.empty());
  const auto unknown = run_command(sekisho::ctl::run_vpn, {"vpn", "rotate"},
                                   sekisho::ctl::testing::options_of("vpn"));
  CHECK(unknown.code == sekisho::kExitUsage);
}

TEST_CASE("a private key file must be a root-owned regular file nobody else may read") {
  struct stat st {};
  st.st_mode = S_IFREG | 0600;
  st.st_uid = 0;
  CHECK(sekisho::vpn::key_file_problem(st).empty());
  st.st_mode = S_IFREG | 0400;
  CHECK(sekisho::vpn::key_file_problem(st).empty());
  st.st_mode = S_IFREG | 0644;
  CHECK(sekisho::vpn::key_file_problem(st).find("mode 0644") != std::string::npos);
  st.st_mode = S_IFREG | 0640;
  CHECK(sekisho::vpn::key_file_problem(st).find("chmod 600") != std::string::npos);
  st.st_mode = S_IFREG | 0600;
  st.st_uid = 1000;
  CHECK(sekisho::vpn::key_file_problem(st).find("not root") != std::string::npos);
  st.st_uid = 0;
  st.st_mode = S_IFDIR | 0700;
  CHECK(sekisho::vpn::key_file_problem(st) == "not a regular file");
}

TEST_CASE("vpn peer-config: the wg-quick file a vendor needs, and nothing secret") {
  if (::geteuid() != 0) {
    MESSAGE("skipped: the gateway's key file must be owned by root (run as root)");
    return;
  }
  const sekisho::ctl::OptionSpec options = sekisho::ctl::testing::options_of("vpn");
  TempDir dir;
  const fs::path key_file = dir.path / "wg0.key";
  const auto made = run_command(sekisho::ctl::run_vpn, {"vpn", "genkey", "--out", key_file},
                                sekisho::ctl::testing::options_of("vpn"));
  REQUIRE(made.code == sekisho::kExitOk);
  std::string policy = read_all(fs::path(SEKISHO_SOURCE_DIR) / "configs/factory-line.yaml");
  const std::string named = "/etc/sekisho/keys/wg0.key";
  REQUIRE(policy.find(named) != std::string::npos);
  policy.replace(policy.find(named), named.size(), key_file.string());
  const fs::path policy_file = dir.path / "policy.yaml";
  { std::ofstream(policy_file) << policy; }

  const auto run = run_command(sekisho::ctl::run_vpn,
                               {"vpn", "peer-config", "vendor-a", "--endpoint",
                                "198.51.100.1:51820", "--policy", policy_file},
                               options);
  REQUIRE_MESSAGE(run.code == sekisho::kExitOk, run.err);
  CHECK(run.out.find("PrivateKey = <VENDOR PRIVATE KEY>\n") != std::string::npos);
  CHECK(run.out.find("Address = 172.30.0.2/32\n") != std::string::npos);
  CHECK(run.out.find("PublicKey = " + made.out) != std::string::npos);
  CHECK(run.out.find("Endpoint = 198.51.100.1:51820\n") != std::string::npos);
  // factory-line pairs vendor-a with hmi-1 (192.168.10.31) and plc-1 (192.168.10.21).
  CHECK(run.out.find("AllowedIPs = 192.168.10.31/32, 192.168.10.21/32\n") != std::string::npos);
  const std::string private_text = read_all(key_file).substr(0, 44);
  CHECK(run.out.find(private_text) == std::string::npos);

  const auto unknown = run_command(sekisho::ctl::run_vpn,
                                   {"vpn", "peer-config", "vendor-z", "--endpoint",
                                    "198.51.100.1:51820", "--policy", policy_file},
                                   options);
  CHECK(unknown.code == sekisho::kExitInvalid);
  const auto bad_endpoint = run_command(sekisho::ctl::run_vpn,
                                        {"vpn", "peer-config", "vendor-a", "--endpoint",
                                         "2001:db8::1:51820", "--policy", policy_file},
                                        options);
  CHECK(bad_endpoint.code == sekisho::kExitUsage);

  fs::permissions(key_file, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                                fs::perms::others_read);
  const auto readable = run_command(sekisho::ctl::run_vpn,
                                    {"vpn", "peer-config", "vendor-a", "--endpoint",
                                     "198.51.100.1:51820", "--policy", policy_file},
                                    options);
  CHECK(readable.code == sekisho::kExitConfig);
  CHECK(readable.err.find("mode 0644") != std::string::npos);
  CHECK(readable.out.empty());
}
