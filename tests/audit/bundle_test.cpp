// Exported audit bundles: written, read back and verified; every kind of tampering, a
// corrupt or truncated file and hostile archives are refused, never crash.

#include "daemon/audit/bundle.hpp"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "daemon/audit/signer.hpp"
#include "daemon/common/sha256.hpp"
#include "tests/audit/bundle_fixture.hpp"

using namespace sekisho::audit;

namespace {

constexpr int kRecords = 300;
constexpr const char* kCheckpointTime = "2026-11-25T10:00:00Z";
constexpr const char* kSince = "2026-11-01T00:00:00Z";
constexpr std::int64_t kCheckpointEpoch = 1795600800;  // date -d 2026-11-25T10:00:00Z +%s

// A log of kRecords records and a device key in a fresh directory, removed afterwards.
struct Fixture {
  std::filesystem::path dir;
  AuditLog log;
  Signer signer;
  std::string public_pem;
  Fixture() {
    char name[] = "/tmp/sekisho-bundle-XXXXXX";
    dir = ::mkdtemp(name);
    REQUIRE_FALSE(log.open((dir / "audit.db").string()));
    REQUIRE(testing::fill_log(log, kRecords));
    REQUIRE_FALSE(signer.load_or_create((dir / "key.pem").string()));
    public_pem = signer.public_pem();
  }
  ~Fixture() { std::filesystem::remove_all(dir); }

  // The export of the records from `since` on, signed now, as the daemon makes it.
  Bundle bundle(std::int64_t since = 1) {
    std::vector<Record> records = log.records(since, "", 1000000);
    std::int64_t anchor_seq = since - 1;
    std::string anchor_hash = kGenesis;
    if (!records.empty()) {
      anchor_hash = records.front().previous;
    } else if (since > 1) {
      const std::vector<Record> before = log.records(since - 1, "", 1);
      REQUIRE(before.size() == 1);
      anchor_hash = before.front().hash;
    }
    BundleResult made = make_bundle(anchor_seq, anchor_hash, records, kSince, kCheckpointTime, true,
                                    std::nullopt, signer);
    REQUIRE_MESSAGE(made.bundle, made.error);
    return *made.bundle;
  }

  std::string path(const std::string& name) const { return (dir / name).string(); }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::string gunzip(const std::string& bytes) {
  z_stream stream{};
  REQUIRE(inflateInit2(&stream, 15 + 16) == Z_OK);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  std::string out;
  char buffer[65536];
  int result = Z_OK;
  while (result == Z_OK) {
    stream.next_out = reinterpret_cast<Bytef*>(buffer);
    stream.avail_out = sizeof buffer;
    result = inflate(&stream, Z_NO_FLUSH);
    out.append(buffer, sizeof buffer - stream.avail_out);
  }
  inflateEnd(&stream);
  REQUIRE(result == Z_STREAM_END);
  return out;
}

std::string gzip(const std::string& bytes) {
  z_stream stream{};
  REQUIRE(deflateInit2(&stream, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  stream.avail_in = static_cast<uInt>(bytes.size());
  std::string out(deflateBound(&stream, bytes.size()), '\0');
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&stream, Z_FINISH) == Z_STREAM_END);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  return out;
}

// The ustar header at `offset` of `tar`, changed by `edit`, with its checksum made right
// again: what a hostile archive looks like, not a corrupt one.
std::string edit_header(std::string tar, std::size_t offset,
                        const std::function<void(char*)>& edit) {
  char* header = tar.data() + offset;
  edit(header);
  std::memset(header + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) {
    sum += static_cast<unsigned char>(header[i]);
  }
  std::snprintf(header + 148, 8, "%06o", sum);
  header[155] = ' ';
  return tar;
}

void set_field(char* field, std::size_t width, const std::string& text) {
  std::memset(field, 0, width);
  std::memcpy(field, text.data(), std::min(width, text.size()));
}

// Offsets of the members' headers in an archive made by encode_bundle.
std::vector<std::size_t> header_offsets(const std::string& tar) {
  std::vector<std::size_t> offsets;
  for (std::size_t offset = 0; offset + 512 <= tar.size() && tar[offset] != '\0';) {
    offsets.push_back(offset);
    const std::size_t size = std::stoull(std::string(tar.data() + offset + 124, 11), nullptr, 8);
    offset += 512 + (size + 511) / 512 * 512;
  }
  return offsets;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  return lines;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) {
    text += line + "\n";
  }
  return text;
}

}  // namespace

TEST_CASE("a bundle is written, read back and verified") {
  Fixture fixture;
  const Bundle bundle = fixture.bundle();
  const std::string path = fixture.path("export.tar.gz");
  REQUIRE_FALSE(write_bundle(path, bundle));

  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  CHECK((info.st_mode & 0777) == 0644);
  CHECK_FALSE(std::filesystem::exists(path + ".new"));

  const BundleResult read = read_bundle(path);
  REQUIRE_MESSAGE(read.bundle, read.error);
  CHECK(read.bundle->anchor_json == bundle.anchor_json);
  CHECK(read.bundle->records_jsonl == bundle.records_jsonl);
  CHECK(read.bundle->checkpoint_json == bundle.checkpoint_json);
  CHECK(read.bundle->signature == bundle.signature);

  const VerifyResult result = verify_bundle(*read.bundle, fixture.public_pem);
  INFO(result.reason);
  CHECK(result.ok);
  CHECK(result.records == kRecords);
  CHECK_FALSE(result.first_bad);

  // The format, spelled out.
  const std::vector<Record> records = fixture.log.records(1, "", 1000000);
  CHECK(bundle.anchor_json == std::string(R"({"hash":")") + kGenesis + R"(","seq":0})");
  const std::vector<std::string> lines = lines_of(bundle.records_jsonl);
  REQUIRE(lines.size() == records.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    CHECK(lines[i] == canonical_json(records[i]));
  }
  CHECK(bundle.records_jsonl.back() == '\n');
  CHECK(bundle.checkpoint_json ==
        std::string(R"({"anchor_hash":")") + kGenesis +
            R"(","anchor_seq":0,"clock_synchronised":true,"format":"sekisho-export/2","hash":")" +
            records.back().hash +
            R"(","log_first_bad":null,"seq":300,"since":"2026-11-01T00:00:00Z","time":")" +
            kCheckpointTime + R"("})");
  CHECK(bundle.signature.size() == 64);
  CHECK(verify_signature(fixture.public_pem, bundle.checkpoint_json,
                         sekisho::to_hex(bundle.signature.data(), bundle.signature.size())));
  // The whole log's chain still verifies (it has no checkpoints), and is the bundle's.
  CHECK(fixture.log.verify().ok);
}

TEST_CASE("the archive: four ustar members in order, 0644, root, mtime the checkpoint time") {
  Fixture fixture;
  const std::string bytes = encode_bundle(fixture.bundle());
  CHECK(encode_bundle(fixture.bundle()) == bytes);  // deterministic
  REQUIRE(bytes.size() > 10);
  CHECK(static_cast<unsigned char>(bytes[0]) == 0x1f);
  CHECK(static_cast<unsigned char>(bytes[1]) == 0x8b);
  std::uint32_t gzip_mtime = 0;
  std::memcpy(&gzip_mtime, bytes.data() + 4, 4);  // little-endian, like the machine
  CHECK(gzip_mtime == kCheckpointEpoch);

  const std::string tar = gunzip(bytes);
  CHECK(tar.size() % 512 == 0);
  const std::vector<std::size_t> offsets = header_offsets(tar);
  REQUIRE(offsets.size() == 4);
  const char* names[] = {"anchor.json", "records.jsonl", "checkpoint.json", "checkpoint.sig"};
  for (std::size_t i = 0; i < 4; ++i) {
    const char* header = tar.data() + offsets[i];
    CAPTURE(names[i]);
    CHECK(std::string(header) == names[i]);
    CHECK(std::string(header + 100) == "0000644");
    CHECK(std::string(header + 108) == "0000000");
    CHECK(std::string(header + 116) == "0000000");
    CHECK(std::stoll(std::string(header + 136, 11), nullptr, 8) == kCheckpointEpoch);
    CHECK(header[156] == '0');
    CHECK(std::string(header + 257) == "ustar");  // magic "ustar\0", version "00"
    CHECK(std::string(header + 263, 2) == "00");
    CHECK(std::string(header + 265) == "root");
    CHECK(std::string(header + 297) == "root");
  }
  // The end: two zero blocks right after the last member's data.
  const std::size_t sig_end = offsets[3] + 512 + 512;
  CHECK(tar.size() == sig_end + 1024);
  CHECK(tar.find_first_not_of('\0', sig_end) == std::string::npos);
}

TEST_CASE("an export from the middle is anchored on the record before it") {
  Fixture fixture;
  const Bundle bundle = fixture.bundle(101);
  const std::vector<Record> before = fixture.log.records(100, "", 1);
  REQUIRE(before.size() == 1);
  CHECK(bundle.anchor_json == R"({"hash":")" + before[0].hash + R"(","seq":100})");
  const VerifyResult result = verify_bundle(bundle, fixture.public_pem);
  INFO(result.reason);
  CHECK(result.ok);
  CHECK(result.records == kRecords - 100);
  CHECK(parse_anchor(bundle.anchor_json)->seq == 100);
}

TEST_CASE("an empty export verifies only when the anchor is the checkpoint") {
  Fixture fixture;
  const Bundle empty = fixture.bundle(kRecords + 1);
  CHECK(empty.records_jsonl.empty());
  VerifyResult result = verify_bundle(empty, fixture.public_pem);
  INFO(result.reason);
  CHECK(result.ok);
  CHECK(result.records == 0);
  const BundleResult read = decode_bundle(encode_bundle(empty));
  REQUIRE_MESSAGE(read.bundle, read.error);
  CHECK(verify_bundle(*read.bundle, fixture.public_pem).ok);

  // The newest records dropped, the checkpoint left as it was.
  Bundle cut = fixture.bundle(kRecords - 1);
  cut.records_jsonl.clear();
  result = verify_bundle(cut, fixture.public_pem);
  CHECK_FALSE(result.ok);
  CHECK(result.first_bad == kRecords - 1);
}

TEST_CASE("a flipped byte anywhere in the file never verifies") {
  Fixture fixture;
  const std::string bytes = encode_bundle(fixture.bundle());
  REQUIRE(bytes.size() > 1000);
  std::vector<std::size_t> positions;
  for (std::size_t i = 0; i < 10; ++i) {
    positions.push_back(i);  // the gzip header
  }
  for (std::size_t i = 0; i < 96; ++i) {
    positions.push_back(10 + i * (bytes.size() - 11) / 95);  // spread to the last byte
  }
  for (std::size_t i = bytes.size() - 8; i < bytes.size(); ++i) {
    positions.push_back(i);  // CRC-32 and length
  }
  int checked = 0;
  for (const std::size_t position : positions) {
    // The gzip header's MTIME, XFL and OS (bytes 4..9) are covered by no checksum (gzip's
    // FHCRC would cover them, but gzip before 1.11 refuses it): they change nothing that is
    // read, see the next test.
    if (position >= 4 && position <= 9) {
      continue;
    }
    std::string flipped = bytes;
    flipped[position] = static_cast<char>(~flipped[position]);
    const BundleResult read = decode_bundle(flipped);
    CAPTURE(position);
    if (read.bundle) {
      const VerifyResult result = verify_bundle(*read.bundle, fixture.public_pem);
      CHECK_FALSE(result.ok);
    } else {
      CHECK_FALSE(read.error.empty());
    }
    ++checked;
  }
  CHECK(checked >= 100);
}

TEST_CASE("the gzip header's time and OS are metadata: the bundle read is the same") {
  Fixture fixture;
  const Bundle bundle = fixture.bundle();
  const std::string bytes = encode_bundle(bundle);
  for (std::size_t position = 4; position <= 9; ++position) {
    std::string flipped = bytes;
    flipped[position] = static_cast<char>(~flipped[position]);
    const BundleResult read = decode_bundle(flipped);
    REQUIRE_MESSAGE(read.bundle, read.error);
    CHECK(read.bundle->records_jsonl == bundle.records_jsonl);
    CHECK(read.bundle->checkpoint_json == bundle.checkpoint_json);
  }
}

TEST_CASE("every edit of the records is found; first_bad names the record where it can") {
  Fixture fixture;
  const Bundle original = fixture.bundle(101);
  const std::vector<std::string> lines = lines_of(original.records_jsonl);
  REQUIRE(lines.size() == kRecords - 100);
  const std::vector<Record> records = fixture.log.records(101, "", 1000000);

  struct Case {
    const char* what;
    std::function<void(std::vector<std::string>&, Bundle&)> edit;
    std::optional<std::int64_t> first_bad;
  };
  auto edited_record = [&](std::size_t index) {
    Record record = records[index];
    record.details["n"] = 424242;
    return canonical_json(record);
  };
  const Case cases[] = {
      {"an edited detail, still canonical", [&](auto& l, auto&) { l[50] = edited_record(50); },
       std::nullopt},
      {"an edited user name",
       [&](auto& l, auto&) {
         Record record = records[7];
         record.actor.user = "mallory";
         l[7] = canonical_json(record);
       },
       std::nullopt},
      {"whitespace added", [](auto& l, auto&) { l[20].insert(1, " "); }, 121},
      {"keys out of order",
       [&](auto& l, auto&) {
         nlohmann::ordered_json reordered;
         const nlohmann::json value = nlohmann::json::parse(l[30]);
         reordered["seq"] = value["seq"];
         for (const auto& [key, item] : value.items()) {
           reordered[key] = item;
         }
         l[30] = reordered.dump();
       },
       131},
      {"a line that is not JSON", [](auto& l, auto&) { l[40] = "{not json"; }, 141},
      {"an empty line", [](auto& l, auto&) { l.insert(l.begin() + 40, ""); }, 141},
      {"a line without seq", [](auto& l, auto&) { l[40] = R"({"kind":"x"})"; }, 141},
      {"a seq that is a string", [](auto& l, auto&) { l[40] = R"({"seq":"141"})"; }, 141},
      {"a float in the details",
       [&](auto& l, auto&) {
         nlohmann::json value = nlohmann::json::parse(l[45]);
         value["details"]["n"] = 1.5;
         l[45] = value.dump();
       },
       146},
      {"an extra field",
       [&](auto& l, auto&) {
         nlohmann::json value = nlohmann::json::parse(l[46]);
         value["hash"] = "00";
         l[46] = value.dump();
       },
       147},
      {"a removed line", [](auto& l, auto&) { l.erase(l.begin() + 60); }, 161},
      {"the first line removed", [](auto& l, auto&) { l.erase(l.begin()); }, 101},
      {"the last line removed", [](auto& l, auto&) { l.pop_back(); }, kRecords},
      {"a swapped pair", [](auto& l, auto&) { std::swap(l[70], l[71]); }, 171},
      {"a duplicated line", [](auto& l, auto&) { l.insert(l.begin() + 80, l[80]); }, 181},
      {"a line appended after the checkpoint",
       [&](auto& l, auto&) {
         Record next = records.back();
         next.seq += 1;
         l.push_back(canonical_json(next));
       },
       kRecords + 1},
      {"garbage appended", [](auto& l, auto&) { l.push_back("garbage"); }, kRecords + 1},
      {"deeply nested details",
       [](auto& l, auto&) { l[90] = std::string(100000, '[') + std::string(100000, ']'); }, 191},
      {"a changed anchor hash",
       [](auto&, Bundle& b) {
         Anchor anchor = *parse_anchor(b.anchor_json);
         anchor.hash[0] = anchor.hash[0] == 'a' ? 'b' : 'a';
         b.anchor_json = anchor_json(anchor.seq, anchor.hash);
       },
       std::nullopt},
      {"a changed anchor seq",
       [](auto&, Bundle& b) {
         Anchor anchor = *parse_anchor(b.anchor_json);
         b.anchor_json = anchor_json(anchor.seq + 1, anchor.hash);
       },
       101},
      {"an anchor that is not canonical", [](auto&, Bundle& b) { b.anchor_json += "\n"; },
       std::nullopt},
      {"a checkpoint that is not canonical",
       [](auto&, Bundle& b) { b.checkpoint_json.insert(1, " "); }, std::nullopt},
      {"a seal with another time (the signature is over the time too)",
       [](auto&, Bundle& b) {
         ExportSeal seal = *parse_export(b.checkpoint_json);
         seal.last.time = "2027-01-01T00:00:00Z";
         b.checkpoint_json = export_json(seal);
       },
       std::nullopt},
      {"a seal with its clock flag changed",
       [](auto&, Bundle& b) {
         ExportSeal seal = *parse_export(b.checkpoint_json);
         seal.last.clock_synchronised = false;
         b.checkpoint_json = export_json(seal);
       },
       std::nullopt},
      {"a seal with an earlier since",
       [](auto&, Bundle& b) {
         ExportSeal seal = *parse_export(b.checkpoint_json);
         seal.since = "2020-01-01T00:00:00Z";
         b.checkpoint_json = export_json(seal);
       },
       std::nullopt},
      // Records dropped from the front, anchor.json moved to the first one kept: the chain
      // from there still reaches the signed hash, but the seal signs the old anchor.
      {"the first records dropped and the anchor moved after them",
       [&](auto& l, Bundle& b) {
         l.erase(l.begin(), l.begin() + 5);
         b.anchor_json = anchor_json(records[4].seq, records[4].hash);
       },
       std::nullopt},
      {"the seal's anchor moved too (the signature is over it)",
       [&](auto& l, Bundle& b) {
         l.erase(l.begin(), l.begin() + 5);
         b.anchor_json = anchor_json(records[4].seq, records[4].hash);
         ExportSeal seal = *parse_export(b.checkpoint_json);
         seal.anchor = {records[4].seq, records[4].hash};
         b.checkpoint_json = export_json(seal);
       },
       std::nullopt},
      {"a truncated signature", [](auto&, Bundle& b) { b.signature.pop_back(); }, std::nullopt},
      {"a flipped signature bit", [](auto&, Bundle& b) { b.signature[10] ^= 1; }, std::nullopt},
      {"no newline after the last line", [](auto&, Bundle& b) { b.records_jsonl.pop_back(); },
       kRecords},
  };
  for (const Case& c : cases) {
    std::vector<std::string> edited_lines = lines;
    Bundle bundle = original;
    c.edit(edited_lines, bundle);
    if (bundle.records_jsonl == original.records_jsonl) {
      bundle.records_jsonl = joined(edited_lines);
    }
    // Through the file format too: what is written is what is read.
    const BundleResult read = decode_bundle(encode_bundle(bundle));
    REQUIRE_MESSAGE(read.bundle, read.error);
    const VerifyResult result = verify_bundle(*read.bundle, fixture.public_pem);
    INFO(c.what << ": " << result.reason);
    CHECK_FALSE(result.ok);
    CHECK_FALSE(result.reason.empty());
    CHECK(result.first_bad == c.first_bad);
  }
}

TEST_CASE("a rewritten chain with a checkpoint signed by another key does not verify") {
  Fixture fixture;
  Bundle bundle = fixture.bundle();
  std::vector<std::string> lines = lines_of(bundle.records_jsonl);
  nlohmann::json value = nlohmann::json::parse(lines[10]);
  value["details"]["n"] = 77;
  lines[10] = value.dump();
  bundle.records_jsonl = joined(lines);
  // The attacker recomputes the chain and signs it with a key of their own.
  std::string hash = kGenesis;
  for (const std::string& line : lines) {
    hash = record_hash(hash, line);
  }
  Signer mallory;
  REQUIRE_FALSE(mallory.load_or_create(fixture.path("mallory.pem")));
  ExportSeal seal = *parse_export(bundle.checkpoint_json);
  seal.last.hash = hash;
  bundle.checkpoint_json = export_json(seal);
  bundle.signature = *sekisho::from_hex(mallory.sign_hex(bundle.checkpoint_json));

  CHECK(verify_bundle(bundle, mallory.public_pem()).ok);  // the chain itself holds
  const VerifyResult result = verify_bundle(bundle, fixture.public_pem);
  CHECK_FALSE(result.ok);
  CHECK(result.reason.find("signature") != std::string::npos);
}

TEST_CASE("a bundle of the first form, its anchor not signed, is refused") {
  Fixture fixture;
  // As the first form was: checkpoint.json a plain log checkpoint, signed by the device's
  // key (as the log's checkpoints are, so anyone with the log has such signatures). Records
  // dropped from its front could not be told.
  Bundle bundle = fixture.bundle(101);
  const ExportSeal seal = *parse_export(bundle.checkpoint_json);
  bundle.checkpoint_json = checkpoint_json(seal.last.seq, seal.last.hash, seal.last.time, true);
  bundle.signature = *sekisho::from_hex(fixture.signer.sign_hex(bundle.checkpoint_json));
  const VerifyResult result = verify_bundle(bundle, fixture.public_pem);
  CHECK_FALSE(result.ok);
  CHECK(result.reason.find("a bundle of the first form") != std::string::npos);
}

TEST_CASE("a bundle the device sealed with its log broken does not verify, and says why") {
  Fixture fixture;
  const std::vector<Record> records = fixture.log.records(1, "", 1000000);
  const BundleResult made = make_bundle(0, kGenesis, records, kSince, kCheckpointTime, true,
                                        std::int64_t{42}, fixture.signer);
  REQUIRE(made.bundle);
  const VerifyResult result = verify_bundle(*made.bundle, fixture.public_pem);
  CHECK_FALSE(result.ok);
  CHECK(result.reason.find("found its log broken at record 42") != std::string::npos);
  CHECK(result.records == kRecords);
}

TEST_CASE("a wrong public key, or none") {
  Fixture fixture;
  const Bundle bundle = fixture.bundle();
  Signer other;
  REQUIRE_FALSE(other.load_or_create(fixture.path("other.pem")));
  VerifyResult result = verify_bundle(bundle, other.public_pem());
  CHECK_FALSE(result.ok);
  CHECK(result.reason == "the seal's signature does not verify with this public key");
  CHECK_FALSE(result.first_bad);
  for (const std::string& not_a_key :
       {std::string(),
        std::string("-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n"),
        read_file(fixture.path("key.pem"))}) {
    result = verify_bundle(bundle, not_a_key);
    CHECK_FALSE(result.ok);
    CHECK(result.reason.find("not an Ed25519 public key") != std::string::npos);
  }
}

TEST_CASE("a truncated file is refused at every length") {
  Fixture fixture;
  const std::string bytes = encode_bundle(fixture.bundle());
  for (std::size_t i = 0; i < 64; ++i) {
    const std::size_t length = i * bytes.size() / 64;
    const BundleResult read = decode_bundle(std::string_view(bytes).substr(0, length));
    CAPTURE(length);
    CHECK_FALSE(read.bundle);
    CHECK_FALSE(read.error.empty());
    CHECK_FALSE(read.io_error);
  }
  CHECK(decode_bundle(std::string_view(bytes).substr(0, bytes.size() - 1)).error ==
        "truncated: the gzip stream ends early");
  CHECK(decode_bundle("").error == "not a gzip file");
  CHECK(decode_bundle("anchor.json").error == "not a gzip file");
}

TEST_CASE("what is wrong with the container is named") {
  Fixture fixture;
  const std::string bytes = encode_bundle(fixture.bundle());
  const std::string tar = gunzip(bytes);
  const std::vector<std::size_t> offsets = header_offsets(tar);
  REQUIRE(offsets.size() == 4);

  std::string crc = bytes;
  crc[crc.size() - 6] ^= 1;
  CHECK(decode_bundle(crc).error == "corrupt: CRC error");
  std::string length = bytes;
  length[length.size() - 2] ^= 1;
  CHECK(decode_bundle(length).error == "corrupt: length error");
  CHECK(decode_bundle(bytes + "x").error == "trailing data after the gzip stream");
  CHECK(decode_bundle(bytes + bytes).error == "trailing data after the gzip stream");
  // The archive as GNU tar pads it (to 10 KiB) reads fine; data after the end does not.
  CHECK(decode_bundle(gzip(tar + std::string(10240, '\0'))).bundle);
  CHECK(decode_bundle(gzip(tar + "x")).error == "unexpected data after the end of the archive");
  CHECK(decode_bundle(gzip(tar.substr(0, tar.size() - 512))).error ==
        "truncated: the archive ends early");
  CHECK(decode_bundle(gzip(tar.substr(0, offsets[2]) + std::string(1024, '\0'))).error ==
        "missing checkpoint.json");
  CHECK(decode_bundle(gzip(tar.substr(0, offsets[1]) + tar.substr(offsets[2]))).error ==
        "missing records.jsonl (before checkpoint.json)");
  CHECK(decode_bundle(gzip(tar.substr(0, offsets[2]) + tar.substr(offsets[1]))).error ==
        "duplicate member records.jsonl");
  CHECK(decode_bundle(gzip(std::string(1024, '\0'))).error == "missing anchor.json");

  std::string bad_sum = tar;
  bad_sum[offsets[1] + 140] ^= 1;  // in the mtime field
  CHECK(decode_bundle(gzip(bad_sum)).error == "corrupt: a tar header's checksum does not match");
}

TEST_CASE("hostile tar headers are refused without crashing") {
  Fixture fixture;
  const std::string tar = gunzip(encode_bundle(fixture.bundle()));
  const std::vector<std::size_t> offsets = header_offsets(tar);
  REQUIRE(offsets.size() == 4);
  struct Case {
    const char* what;
    std::size_t member;
    std::function<void(char*)> edit;
    const char* error;
  };
  const Case cases[] = {
      {"a huge size", 1, [](char* h) { set_field(h + 124, 12, "77777777777"); },
       "records.jsonl is too large (8589934591 bytes, at most 2147483648)"},
      {"a small member's huge size", 0, [](char* h) { set_field(h + 124, 12, "00000010001"); },
       "anchor.json is too large (4097 bytes, at most 4096)"},
      {"a base-256 size", 1,
       [](char* h) {
         std::memset(h + 124, 0, 12);
         h[124] = static_cast<char>(0x80);
         h[135] = 1;
       },
       "corrupt: the size of records.jsonl is not an octal number"},
      {"a size that is not a number", 1, [](char* h) { set_field(h + 124, 12, "12x"); },
       "corrupt: the size of records.jsonl is not an octal number"},
      {"a name going up", 0, [](char* h) { set_field(h, 100, "../x"); },
       "member name '../x' is not allowed"},
      {"an absolute name", 0, [](char* h) { set_field(h, 100, "/etc/passwd"); },
       "member name '/etc/passwd' is not allowed"},
      {"a name in a directory", 0, [](char* h) { set_field(h, 100, "a/anchor.json"); },
       "member name 'a/anchor.json' is not allowed"},
      {"a ustar prefix", 0, [](char* h) { set_field(h + 345, 155, ".."); },
       "member name '../anchor.json' is not allowed"},
      {"a terminal escape in a name", 0, [](char* h) { set_field(h, 100, "\x1b[2Jx"); },
       "unexpected member '\\x1b[2Jx'"},
      {"an empty name", 0, [](char* h) { set_field(h, 100, ""); }, "member name '' is not allowed"},
      {"a symlink", 0,
       [](char* h) {
         h[156] = '2';
         set_field(h + 157, 100, "/etc/shadow");
       },
       "member 'anchor.json' is not a regular file"},
      {"a directory", 2, [](char* h) { h[156] = '5'; },
       "member 'checkpoint.json' is not a regular file"},
      {"a pax header", 0, [](char* h) { h[156] = 'x'; },
       "member 'anchor.json' is not a regular file"},
      {"an unexpected member", 3, [](char* h) { set_field(h, 100, "evil.sh"); },
       "unexpected member 'evil.sh'"},
      {"not ustar", 0, [](char* h) { set_field(h + 257, 8, "posix"); }, "not a ustar archive"},
  };
  for (const Case& c : cases) {
    const std::string hostile = edit_header(tar, offsets[c.member], c.edit);
    const BundleResult read = decode_bundle(gzip(hostile));
    INFO(c.what);
    CHECK_FALSE(read.bundle);
    CHECK(read.error == c.error);
  }
  // A fifth member after the four.
  const std::string fifth = tar.substr(0, tar.size() - 1024) +
                            edit_header(tar.substr(offsets[0], offsets[1] - offsets[0]), 0,
                                        [](char* h) { set_field(h, 100, "extra"); }) +
                            std::string(1024, '\0');
  CHECK(decode_bundle(gzip(fifth)).error == "unexpected member 'extra'");
}

TEST_CASE("read_bundle tells an unreadable file from a bad bundle") {
  Fixture fixture;
  BundleResult read = read_bundle(fixture.path("missing.tar.gz"));
  CHECK_FALSE(read.bundle);
  CHECK(read.io_error == std::errc::no_such_file_or_directory);
  read = read_bundle(fixture.dir.string());
  CHECK(read.io_error);
  write_file(fixture.path("text"), "hello\n");
  read = read_bundle(fixture.path("text"));
  CHECK_FALSE(read.io_error);
  CHECK(read.error == "not a gzip file");
}

TEST_CASE("make_bundle refuses what could never verify") {
  Fixture fixture;
  std::vector<Record> records = fixture.log.records(1, "", 10);
  auto made = [&fixture](std::int64_t anchor_seq, const std::vector<Record>& these) {
    return make_bundle(anchor_seq, kGenesis, these, kSince, kCheckpointTime, true, std::nullopt,
                       fixture.signer);
  };
  CHECK(made(0, records).bundle);
  CHECK(made(1, records).error ==
        "record 1 does not follow record 1: an export holds consecutive records");
  records.erase(records.begin() + 4);
  CHECK_FALSE(made(0, records).bundle);
  records = fixture.log.records(1, "", 10);
  records[3].details["ratio"] = 0.5;
  CHECK_FALSE(made(0, records).bundle);
  Signer none;  // no key: nothing can be sealed
  CHECK(make_bundle(0, kGenesis, fixture.log.records(1, "", 10), kSince, kCheckpointTime, true,
                    std::nullopt, none)
            .error == "the export could not be signed");
}

TEST_CASE("write_bundle replaces a file whole and reports a directory it cannot write") {
  Fixture fixture;
  const std::string path = fixture.path("export.tar.gz");
  write_file(path, "old");
  REQUIRE_FALSE(write_bundle(path, fixture.bundle()));
  CHECK(read_bundle(path).bundle);
  CHECK(write_bundle(fixture.path("no/such/dir/x.tar.gz"), fixture.bundle()) ==
        std::errc::no_such_file_or_directory);
  // A link planted where the temporary file goes is replaced, not written through.
  const std::string target = fixture.path("target");
  write_file(target, "untouched");
  std::filesystem::create_symlink(target, path + ".new");
  REQUIRE_FALSE(write_bundle(path, fixture.bundle()));
  CHECK(read_file(target) == "untouched");
  CHECK(read_bundle(path).bundle);
  CHECK_FALSE(std::filesystem::exists(path + ".new"));
}

TEST_CASE("from_hex is strict") {
  CHECK(sekisho::from_hex("") == std::string());
  CHECK(sekisho::from_hex("00ff7Fa0") == std::string("\x00\xff\x7f\xa0", 4));
  CHECK_FALSE(sekisho::from_hex("0"));
  CHECK_FALSE(sekisho::from_hex("0g"));
  CHECK_FALSE(sekisho::from_hex(" 0"));
  CHECK_FALSE(sekisho::from_hex("+1"));
  CHECK_FALSE(sekisho::from_hex("0x"));
  const std::string bytes = "\x01\x23\xfe";
  CHECK(sekisho::from_hex(sekisho::to_hex(bytes.data(), bytes.size())) == bytes);
}

TEST_CASE("parse_anchor and parse_checkpoint take the canonical form only") {
  const std::string zeros = kGenesis;
  CHECK(parse_anchor(R"({"hash":")" + zeros + R"(","seq":0})"));
  CHECK_FALSE(parse_anchor(R"({"seq":0,"hash":")" + zeros + R"("})"));
  CHECK_FALSE(parse_anchor(R"({"hash":")" + zeros + R"(","seq":-1})"));
  CHECK_FALSE(parse_anchor(R"({"hash":")" + zeros + R"(","seq":1.0})"));
  CHECK_FALSE(parse_anchor(R"({"hash":"00","seq":0})"));
  CHECK_FALSE(parse_anchor(R"({"hash":")" + std::string(64, 'A') + R"(","seq":0})"));
  CHECK_FALSE(parse_anchor(R"({"hash":")" + zeros + R"(","seq":0,"x":1})"));
  CHECK_FALSE(parse_anchor(R"({"hash":")" + zeros + R"(","seq":99999999999999999999})"));
  CHECK_FALSE(parse_anchor(R"({"hash":")" + zeros + R"(","seq":9223372036854775807})"));
  CHECK(parse_anchor(R"({"hash":")" + zeros + R"(","seq":4611686018427387904})"));
  CHECK_FALSE(parse_anchor("[]"));
  const std::string checkpoint = checkpoint_json(5, zeros, kCheckpointTime, false);
  const auto parsed = parse_checkpoint(checkpoint);
  REQUIRE(parsed);
  CHECK(parsed->seq == 5);
  CHECK(parsed->time == kCheckpointTime);
  CHECK_FALSE(parsed->clock_synchronised);
  CHECK_FALSE(parse_checkpoint(checkpoint + "\n"));
  CHECK_FALSE(parse_checkpoint(std::string(1000, '{')));
  // The form that signs the checkpoint interval.
  const auto every = parse_checkpoint(checkpoint_json(5, zeros, kCheckpointTime, true, 600));
  REQUIRE(every);
  CHECK(every->checkpoint_every == 600);
  CHECK(checkpoint_json(5, zeros, kCheckpointTime, true, 600) ==
        R"({"checkpoint_every":600,"clock_synchronised":true,"hash":")" + zeros +
            R"(","seq":5,"time":"2026-11-25T10:00:00Z"})");
  CHECK_FALSE(parse_checkpoint(checkpoint_json(5, zeros, kCheckpointTime, true, 0)));
  // An export's seal.
  const ExportSeal seal{
      {4, zeros}, "2026-11-01T00:00:00Z", {5, zeros, kCheckpointTime, true, {}}, {}};
  const auto sealed = parse_export(export_json(seal));
  REQUIRE(sealed);
  CHECK(export_json(*sealed) == export_json(seal));
  CHECK_FALSE(parse_export(checkpoint));
  CHECK_FALSE(parse_export(export_json(seal) + " "));
  ExportSeal bad = seal;
  bad.since = "yesterday";
  CHECK_FALSE(parse_export(export_json(bad)));
}
