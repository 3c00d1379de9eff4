#include "daemon/audit/bundle.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <new>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "daemon/audit/signer.hpp"
#include "daemon/common/clock.hpp"
#include "daemon/common/files.hpp"
#include "daemon/common/json_depth.hpp"
#include "daemon/common/sha256.hpp"

namespace sekisho::audit {

namespace {

constexpr std::size_t kBlock = 512;
constexpr std::size_t kSignatureBytes = 64;
// GNU tar pads an archive to its record size (10 KiB by default) with zero blocks; more than
// this after the end-of-archive marker is not padding.
constexpr std::size_t kMaxTrailingZeros = 1 << 20;
constexpr std::array<const char*, 4> kMembers = {"anchor.json", "records.jsonl", "checkpoint.json",
                                                 "checkpoint.sig"};

bool is_lower_hex(std::string_view text, std::size_t length) {
  return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A hostile name or zlib message on the terminal: non-printable bytes as \xNN.
std::string printable(std::string_view text) {
  std::string out;
  for (unsigned char c : text.substr(0, 200)) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char escaped[5];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
      out += escaped;
    }
  }
  return text.size() > 200 ? out + "..." : out;
}

// A sequence number: an integer from 0 to 2^62, so that counting on from it cannot
// overflow.
std::optional<std::int64_t> sequence_number(const nlohmann::json& value) {
  constexpr std::int64_t kMax = std::int64_t{1} << 62;
  if (value.is_number_unsigned()) {
    const auto number = value.get<std::uint64_t>();
    if (number <= static_cast<std::uint64_t>(kMax)) {
      return static_cast<std::int64_t>(number);
    }
  } else if (value.is_number_integer() && value.get<std::int64_t>() >= 0 &&
             value.get<std::int64_t>() <= kMax) {
    return value.get<std::int64_t>();
  }
  return std::nullopt;
}

// "record 7" or "records 7..9".
std::string span(std::int64_t first, std::int64_t last) {
  return first == last ? "record " + std::to_string(first)
                       : "records " + std::to_string(first) + ".." + std::to_string(last);
}

std::string missing(std::int64_t first, std::int64_t last) {
  return span(first, last) + (first == last ? " is missing" : " are missing");
}

std::optional<nlohmann::json> parse_json(std::string_view text) {
  return parse_json_nesting_at_most(text, kMaxAuditNesting);
}

// ---- ustar ----------------------------------------------------------------------------

// `value` as width-1 octal digits and a NUL.
void put_octal(char* field, std::size_t width, std::uint64_t value) {
  for (std::size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
  field[width - 1] = '\0';
}

unsigned checksum_of(const unsigned char* header) {
  unsigned sum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : header[i];
  }
  return sum;
}

// Old tars summed signed chars; a reader accepts either sum.
int signed_checksum_of(const unsigned char* header) {
  int sum = 0;
  for (std::size_t i = 0; i < kBlock; ++i) {
    sum += (i >= 148 && i < 156) ? ' ' : static_cast<signed char>(header[i]);
  }
  return sum;
}

std::string tar_header(const char* name, std::uint64_t size, std::int64_t mtime) {
  std::string block(kBlock, '\0');
  char* h = block.data();
  std::memcpy(h, name, std::strlen(name));  // every name is shorter than the field (100)
  put_octal(h + 100, 8, 0644);
  put_octal(h + 108, 8, 0);  // uid
  put_octal(h + 116, 8, 0);  // gid
  put_octal(h + 124, 12, size);
  put_octal(h + 136, 12,
            static_cast<std::uint64_t>(std::clamp<std::int64_t>(mtime, 0, 077777777777)));
  h[156] = '0';  // a regular file
  std::memcpy(h + 257, "ustar", 6);
  std::memcpy(h + 263, "00", 2);
  std::memcpy(h + 265, "root", 4);  // uname
  std::memcpy(h + 297, "root", 4);  // gname
  put_octal(h + 329, 8, 0);         // devmajor
  put_octal(h + 337, 8, 0);         // devminor
  std::snprintf(h + 148, 8, "%06o", checksum_of(reinterpret_cast<const unsigned char*>(h)));
  h[155] = ' ';
  return block;
}

// A numeric header field: octal digits, maybe after spaces, ended by NUL or space.
std::optional<std::uint64_t> get_octal(const unsigned char* field, std::size_t width) {
  std::size_t i = 0;
  while (i < width && field[i] == ' ') {
    ++i;
  }
  std::uint64_t value = 0;
  std::size_t digits = 0;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i, ++digits) {
    if (value >> 60) {
      return std::nullopt;
    }
    value = value * 8 + (field[i] - '0');
  }
  if (digits == 0) {
    return std::nullopt;
  }
  for (; i < width; ++i) {
    if (field[i] != ' ' && field[i] != '\0') {
      return std::nullopt;
    }
  }
  return value;
}

std::string field_text(const unsigned char* field, std::size_t width) {
  const auto* begin = reinterpret_cast<const char*>(field);
  return std::string(begin, std::find(begin, begin + width, '\0'));
}

// ---- gzip -----------------------------------------------------------------------------

// Deflates into `out` as a gzip stream whose header carries `mtime`.
class GzipEncoder {
 public:
  GzipEncoder(std::string& out, std::int64_t mtime) : out_(out) {
    ok_ = deflateInit2(&stream_, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    header_.time = static_cast<uLong>(std::clamp<std::int64_t>(mtime, 0, 0xffffffff));
    header_.os = 3;  // Unix
    ok_ = ok_ && deflateSetHeader(&stream_, &header_) == Z_OK;
  }
  ~GzipEncoder() { deflateEnd(&stream_); }
  GzipEncoder(const GzipEncoder&) = delete;
  GzipEncoder& operator=(const GzipEncoder&) = delete;

  void write(std::string_view data) {
    while (ok_ && !data.empty()) {
      const std::size_t piece = std::min<std::size_t>(data.size(), 1 << 20);
      run(data.substr(0, piece), Z_NO_FLUSH);
      data.remove_prefix(piece);
    }
  }
  bool finish() {
    run({}, Z_FINISH);
    return ok_;
  }

 private:
  void run(std::string_view data, int flush) {
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream_.avail_in = static_cast<uInt>(data.size());
    unsigned char buffer[1 << 16];
    while (ok_) {
      stream_.next_out = buffer;
      stream_.avail_out = sizeof buffer;
      const int result = deflate(&stream_, flush);
      if (result != Z_OK && result != Z_STREAM_END && result != Z_BUF_ERROR) {
        ok_ = false;
      }
      out_.append(reinterpret_cast<const char*>(buffer), sizeof buffer - stream_.avail_out);
      if (flush == Z_FINISH ? result == Z_STREAM_END
                            : stream_.avail_in == 0 && stream_.avail_out != 0) {
        return;
      }
    }
  }

  std::string& out_;
  z_stream stream_{};
  gz_header header_{};
  bool ok_ = false;
};

// Where compressed bytes come from: a file or memory.
class Input {
 public:
  virtual ~Input() = default;
  // Up to `size` bytes; 0 at the end; -1 on a read error (errno).
  virtual long read(unsigned char* buffer, std::size_t size) = 0;
};

class MemoryInput : public Input {
 public:
  explicit MemoryInput(std::string_view data) : data_(data) {}
  long read(unsigned char* buffer, std::size_t size) override {
    const std::size_t n = std::min(size, data_.size());
    std::memcpy(buffer, data_.data(), n);
    data_.remove_prefix(n);
    return static_cast<long>(n);
  }

 private:
  std::string_view data_;
};

class FileInput : public Input {
 public:
  explicit FileInput(int fd) : fd_(fd) {}
  long read(unsigned char* buffer, std::size_t size) override {
    ssize_t n;
    do {
      n = ::read(fd_, buffer, size);
    } while (n < 0 && errno == EINTR);
    return static_cast<long>(n);
  }

 private:
  int fd_;
};

// The failures of a read, with the first one kept.
struct ReadError {
  std::string message;
  std::error_code io;
  bool failed() const { return !message.empty() || io; }
};

// Inflates one gzip stream from `input`, checking its CRC and length at the end.
class GzipDecoder {
 public:
  GzipDecoder(Input& input, ReadError& error) : input_(input), error_(error) {
    if (inflateInit2(&stream_, 15 + 16) != Z_OK) {
      error_.message = "out of memory";
      return;
    }
    initialised_ = true;
    if (!refill()) {
      return;
    }
    if (stream_.avail_in < 2 || buffer_[0] != 0x1f || buffer_[1] != 0x8b) {
      if (!error_.failed()) {
        error_.message = "not a gzip file";
      }
    }
  }
  ~GzipDecoder() {
    if (initialised_) {
      inflateEnd(&stream_);
    }
  }
  GzipDecoder(const GzipDecoder&) = delete;
  GzipDecoder& operator=(const GzipDecoder&) = delete;

  // Exactly `size` bytes of the decompressed stream, else false and an error.
  bool read(unsigned char* out, std::size_t size) {
    std::size_t produced = 0;
    while (!error_.failed() && produced < size) {
      if (ended_) {
        error_.message = "truncated: the archive ends early";
        return false;
      }
      if (stream_.avail_in == 0 && !input_ended_ && !refill()) {
        return false;
      }
      stream_.next_out = out + produced;
      stream_.avail_out = static_cast<uInt>(std::min<std::size_t>(size - produced, 1 << 30));
      const uInt before = stream_.avail_out;
      const int result = inflate(&stream_, Z_NO_FLUSH);
      produced += before - stream_.avail_out;
      if (result == Z_STREAM_END) {
        ended_ = true;
      } else if (result == Z_BUF_ERROR || (result == Z_OK && before == stream_.avail_out &&
                                           stream_.avail_in == 0 && input_ended_)) {
        // No progress: the input has run out (else zlib would have made some).
        if (stream_.avail_in == 0 && input_ended_) {
          error_.message = "truncated: the gzip stream ends early";
        } else if (stream_.avail_in > 0) {
          error_.message = corrupt_message();
        }
      } else if (result == Z_MEM_ERROR) {
        error_.message = "out of memory";
      } else if (result != Z_OK) {
        error_.message = corrupt_message();
      }
    }
    return !error_.failed();
  }

  // After the archive: nothing but zero padding to the end of the stream (whose CRC and
  // length are then checked), and nothing after the stream.
  bool finish() {
    std::size_t padding = 0;
    unsigned char block[kBlock];
    while (!error_.failed() && !ended_) {
      if (stream_.avail_in == 0 && !input_ended_ && !refill()) {
        return false;
      }
      stream_.next_out = block;
      stream_.avail_out = sizeof block;
      const int result = inflate(&stream_, Z_NO_FLUSH);
      const std::size_t produced = sizeof block - stream_.avail_out;
      if (std::any_of(block, block + produced, [](unsigned char c) { return c != 0; })) {
        error_.message = "unexpected data after the end of the archive";
      } else if ((padding += produced) > kMaxTrailingZeros) {
        error_.message = "more than 1 MiB of padding after the end of the archive";
      } else if (result == Z_STREAM_END) {
        ended_ = true;
      } else if (result == Z_MEM_ERROR) {
        error_.message = "out of memory";
      } else if (result != Z_OK && result != Z_BUF_ERROR) {
        error_.message = corrupt_message();
      } else if (stream_.avail_in == 0 && input_ended_ && produced == 0) {
        error_.message = "truncated: the gzip stream ends early";
      }
    }
    if (!error_.failed() &&
        (stream_.avail_in > 0 || (!input_ended_ && refill() && stream_.avail_in > 0))) {
      error_.message = "trailing data after the gzip stream";
    }
    return !error_.failed();
  }

 private:
  // More compressed bytes; false (and an error) on a read error.
  bool refill() {
    const long n = input_.read(buffer_, sizeof buffer_);
    if (n < 0) {
      error_.io = std::error_code(errno ? errno : EIO, std::generic_category());
      return false;
    }
    if (n == 0) {
      input_ended_ = true;
    }
    stream_.next_in = buffer_;
    stream_.avail_in = static_cast<uInt>(n);
    return true;
  }

  std::string corrupt_message() const {
    const std::string what = stream_.msg ? stream_.msg : "invalid compressed data";
    if (what == "incorrect data check") {
      return "corrupt: CRC error";
    }
    if (what == "incorrect length check") {
      return "corrupt: length error";
    }
    return "corrupt: " + printable(what);
  }

  Input& input_;
  ReadError& error_;
  z_stream stream_{};
  bool initialised_ = false;
  unsigned char buffer_[1 << 16];
  bool input_ended_ = false;
  bool ended_ = false;
};

// Where records.jsonl goes when it is not kept: given anchor.json (read before it) and
// each piece as it comes.
using RecordsSink = std::function<void(const std::string& anchor_json, std::string_view piece)>;

BundleResult decode(Input& input, const RecordsSink* sink = nullptr) {
  BundleResult out;
  ReadError error;
  try {
    GzipDecoder gzip(input, error);
    Bundle bundle;
    std::string* contents[] = {&bundle.anchor_json, &bundle.records_jsonl, &bundle.checkpoint_json,
                               &bundle.signature};
    std::size_t next = 0;  // the member expected next
    unsigned char header[kBlock];
    while (!error.failed()) {
      if (!gzip.read(header, kBlock)) {
        break;
      }
      if (std::all_of(header, header + kBlock, [](unsigned char c) { return c == 0; })) {
        // The end-of-archive marker: two zero blocks.
        if (gzip.read(header, kBlock) &&
            std::any_of(header, header + kBlock, [](unsigned char c) { return c != 0; })) {
          error.message = "corrupt: a lone zero block inside the archive";
        }
        if (!error.failed() && next < kMembers.size()) {
          error.message = std::string("missing ") + kMembers[next];
        }
        if (!error.failed()) {
          gzip.finish();
        }
        break;
      }
      const auto stored_sum = get_octal(header + 148, 8);
      if (!stored_sum || (*stored_sum != checksum_of(header) &&
                          static_cast<std::int64_t>(*stored_sum) != signed_checksum_of(header))) {
        error.message = "corrupt: a tar header's checksum does not match";
        break;
      }
      // magic and version: POSIX "ustar\0" "00", GNU tar's "ustar " " \0".
      const bool posix =
          std::memcmp(header + 257, "ustar", 6) == 0 && std::memcmp(header + 263, "00", 2) == 0;
      const bool gnu =
          std::memcmp(header + 257, "ustar ", 6) == 0 && std::memcmp(header + 263, " ", 2) == 0;
      if (!posix && !gnu) {
        error.message = "not a ustar archive";
        break;
      }
      std::string name = field_text(header, 100);
      if (posix && header[345] != '\0') {
        name = field_text(header + 345, 155) + "/" + name;
      }
      const auto found = std::find_if(kMembers.begin(), kMembers.end(),
                                      [&](const char* member) { return name == member; });
      const auto index = static_cast<std::size_t>(found - kMembers.begin());
      if (name.find('/') != std::string::npos || name.find("..") != std::string::npos ||
          name.empty()) {
        error.message = "member name '" + printable(name) + "' is not allowed";
      } else if (header[156] != '0' && header[156] != '\0') {
        error.message = "member '" + printable(name) + "' is not a regular file";
      } else if (found == kMembers.end()) {
        error.message = "unexpected member '" + printable(name) + "'";
      } else if (index < next) {
        error.message = "duplicate member " + name;
      } else if (index > next) {
        error.message = std::string("missing ") + kMembers[next] + " (before " + name + ")";
      }
      if (error.failed()) {
        break;
      }
      const auto size = get_octal(header + 124, 12);
      const std::uint64_t limit = index == 1 ? kMaxRecordsBytes : kMaxSmallMemberBytes;
      if (!size) {
        error.message = "corrupt: the size of " + name + " is not an octal number";
        break;
      }
      if (*size > limit) {
        error.message = name + " is too large (" + std::to_string(*size) + " bytes, at most " +
                        std::to_string(limit) + ")";
        break;
      }
      // Read piece by piece: the header's size is not trusted to allocate.
      std::string& data = *contents[index];
      unsigned char piece[1 << 16];
      for (std::uint64_t left = *size; left > 0 && !error.failed();) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, sizeof piece));
        if (gzip.read(piece, n)) {
          if (sink && index == 1) {
            (*sink)(bundle.anchor_json, std::string_view(reinterpret_cast<const char*>(piece), n));
          } else {
            data.append(reinterpret_cast<const char*>(piece), n);
          }
          left -= n;
        }
      }
      const std::size_t padding = (kBlock - *size % kBlock) % kBlock;
      if (!error.failed() && padding > 0) {
        gzip.read(piece, padding);
      }
      ++next;
    }
    if (!error.failed()) {
      out.bundle = std::move(bundle);
    }
  } catch (const std::bad_alloc&) {
    error.message = "out of memory";
  } catch (const std::exception& failure) {
    error.message = std::string("cannot read the bundle: ") + failure.what();
  }
  out.error = error.io ? error.io.message() : error.message;
  out.io_error = error.io;
  if (out.error.empty() && !out.bundle) {
    out.error = "unreadable bundle";  // not reached: every failure above says why
  }
  return out;
}

std::error_code errno_code() {
  return std::error_code(errno ? errno : EIO, std::generic_category());
}

}  // namespace

std::string anchor_json(std::int64_t seq, const std::string& hash) {
  return nlohmann::json{{"seq", seq}, {"hash", hash}}.dump();
}

std::optional<Anchor> parse_anchor(std::string_view text) {
  const auto value = parse_json(text);
  if (!value || !value->is_object() || value->size() != 2 || !value->contains("hash") ||
      !value->contains("seq") || !(*value)["hash"].is_string()) {
    return std::nullopt;
  }
  const auto seq = sequence_number((*value)["seq"]);
  Anchor anchor{seq.value_or(0), (*value)["hash"].get<std::string>()};
  if (!seq || !is_lower_hex(anchor.hash, 64) || anchor_json(anchor.seq, anchor.hash) != text) {
    return std::nullopt;
  }
  return anchor;
}

std::optional<Checkpoint> parse_checkpoint(std::string_view text) {
  const auto value = parse_json(text);
  if (!value || !value->is_object() || !value->contains("hash") || !value->contains("seq") ||
      !value->contains("time") || !value->contains("clock_synchronised") ||
      !(*value)["hash"].is_string() || !(*value)["time"].is_string() ||
      !(*value)["clock_synchronised"].is_boolean()) {
    return std::nullopt;
  }
  const bool with_every = value->contains("checkpoint_every");
  if (value->size() != (with_every ? 5u : 4u)) {
    return std::nullopt;
  }
  const auto seq = sequence_number((*value)["seq"]);
  Checkpoint checkpoint{seq.value_or(0), (*value)["hash"].get<std::string>(),
                        (*value)["time"].get<std::string>(),
                        (*value)["clock_synchronised"].get<bool>(), std::nullopt};
  if (with_every) {
    const auto every = sequence_number((*value)["checkpoint_every"]);
    if (!every || *every < 1) {
      return std::nullopt;
    }
    checkpoint.checkpoint_every = *every;
  }
  if (!seq || !is_lower_hex(checkpoint.hash, 64) ||
      checkpoint_json(checkpoint.seq, checkpoint.hash, checkpoint.time,
                      checkpoint.clock_synchronised, checkpoint.checkpoint_every) != text) {
    return std::nullopt;
  }
  return checkpoint;
}

std::string export_json(const ExportSeal& seal) {
  return nlohmann::json{{"anchor_hash", seal.anchor.hash},
                        {"anchor_seq", seal.anchor.seq},
                        {"clock_synchronised", seal.last.clock_synchronised},
                        {"format", kExportFormat},
                        {"hash", seal.last.hash},
                        {"log_first_bad", seal.log_first_bad ? nlohmann::json(*seal.log_first_bad)
                                                             : nlohmann::json()},
                        {"seq", seal.last.seq},
                        {"since", seal.since},
                        {"time", seal.last.time}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<ExportSeal> parse_export(std::string_view text) {
  const auto value = parse_json(text);
  if (!value || !value->is_object() || value->size() != 9) {
    return std::nullopt;
  }
  const nlohmann::json& v = *value;
  for (const char* field : {"anchor_hash", "format", "hash", "since", "time"}) {
    if (!v.contains(field) || !v[field].is_string()) {
      return std::nullopt;
    }
  }
  if (v["format"] != kExportFormat || !v.contains("clock_synchronised") ||
      !v["clock_synchronised"].is_boolean() || !v.contains("log_first_bad") ||
      !v.contains("anchor_seq") || !v.contains("seq")) {
    return std::nullopt;
  }
  const auto anchor_seq = sequence_number(v["anchor_seq"]);
  const auto seq = sequence_number(v["seq"]);
  const auto first_bad = v["log_first_bad"].is_null() ? std::optional<std::int64_t>()
                                                      : sequence_number(v["log_first_bad"]);
  if (!anchor_seq || !seq || (!v["log_first_bad"].is_null() && !first_bad)) {
    return std::nullopt;
  }
  ExportSeal seal{{*anchor_seq, v["anchor_hash"].get<std::string>()},
                  v["since"].get<std::string>(),
                  {*seq, v["hash"].get<std::string>(), v["time"].get<std::string>(),
                   v["clock_synchronised"].get<bool>(), std::nullopt},
                  first_bad};
  if (!is_lower_hex(seal.anchor.hash, 64) || !is_lower_hex(seal.last.hash, 64) ||
      !parse_utc_text(seal.since) || !parse_utc_text(seal.last.time) || export_json(seal) != text) {
    return std::nullopt;
  }
  return seal;
}

BundleResult make_bundle(std::int64_t anchor_seq, const std::string& anchor_hash,
                         const std::vector<Record>& records, const std::string& since,
                         const std::string& time, bool clock_synchronised,
                         std::optional<std::int64_t> log_first_bad, const Signer& signer) {
  BundleResult out;
  Bundle bundle;
  bundle.anchor_json = anchor_json(anchor_seq, anchor_hash);
  std::int64_t seq = anchor_seq;
  std::string hash = anchor_hash;
  for (const Record& record : records) {
    if (record.seq != seq + 1) {
      out.error = "record " + std::to_string(record.seq) + " does not follow record " +
                  std::to_string(seq) + ": an export holds consecutive records";
      return out;
    }
    try {
      bundle.records_jsonl += canonical_json(record);
    } catch (const std::exception& error) {
      out.error = "record " + std::to_string(record.seq) + ": " + error.what();
      return out;
    }
    bundle.records_jsonl += '\n';
    seq = record.seq;
    hash = record.hash;
  }
  if (bundle.records_jsonl.size() > kMaxRecordsBytes) {
    out.error = "the records take more than 2 GiB: export a shorter period";
    return out;
  }
  bundle.checkpoint_json = export_json(
      {{anchor_seq, anchor_hash}, since, {seq, hash, time, clock_synchronised, {}}, log_first_bad});
  const std::optional<std::string> signature = from_hex(signer.sign_hex(bundle.checkpoint_json));
  if (!signature || signature->size() != kSignatureBytes) {
    out.error = "the export could not be signed";
    return out;
  }
  bundle.signature = *signature;
  out.bundle = std::move(bundle);
  return out;
}

std::string encode_bundle(const Bundle& bundle) {
  std::int64_t mtime = 0;
  if (const auto seal = parse_export(bundle.checkpoint_json)) {
    if (auto time = parse_utc_text(seal->last.time)) {
      mtime = time->time_since_epoch().count();
    }
  }
  const std::string* contents[] = {&bundle.anchor_json, &bundle.records_jsonl,
                                   &bundle.checkpoint_json, &bundle.signature};
  std::string out;
  GzipEncoder gzip(out, mtime);
  for (std::size_t i = 0; i < kMembers.size(); ++i) {
    gzip.write(tar_header(kMembers[i], contents[i]->size(), mtime));
    gzip.write(*contents[i]);
    gzip.write(std::string((kBlock - contents[i]->size() % kBlock) % kBlock, '\0'));
  }
  gzip.write(std::string(2 * kBlock, '\0'));
  return gzip.finish() ? out : std::string();
}

std::error_code write_bundle(const std::string& path, const Bundle& bundle) {
  if (bundle.records_jsonl.size() > kMaxRecordsBytes ||
      bundle.anchor_json.size() > kMaxSmallMemberBytes ||
      bundle.checkpoint_json.size() > kMaxSmallMemberBytes ||
      bundle.signature.size() > kMaxSmallMemberBytes) {
    return std::make_error_code(std::errc::file_too_large);
  }
  std::string bytes;
  try {
    bytes = encode_bundle(bundle);
  } catch (const std::bad_alloc&) {
  }
  if (bytes.empty()) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
  // PATH.new, fsynced, renamed over PATH (daemon/common/files.hpp): a link planted at
  // PATH.new is removed, not followed.
  return write_file_atomically(path, bytes, 0644);
}

BundleResult read_bundle(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const std::error_code error = errno_code();
    return {std::nullopt, error.message(), error};
  }
  struct stat status {};
  if (::fstat(fd, &status) == 0 && !S_ISREG(status.st_mode)) {
    ::close(fd);
    const std::error_code error = std::make_error_code(
        S_ISDIR(status.st_mode) ? std::errc::is_a_directory : std::errc::invalid_argument);
    return {std::nullopt, S_ISDIR(status.st_mode) ? error.message() : "not a regular file", error};
  }
  FileInput input(fd);
  BundleResult out = decode(input);
  ::close(fd);
  return out;
}

struct BundleFileWriter::State {
  explicit State(std::int64_t time) : mtime(time), gzip(out, time) {}
  std::int64_t mtime;
  std::string out;  // compressed bytes not written yet
  GzipEncoder gzip;
};

BundleFileWriter::BundleFileWriter() = default;

BundleFileWriter::~BundleFileWriter() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  if (!temporary_.empty()) {
    ::unlink(temporary_.c_str());
  }
}

std::error_code BundleFileWriter::open(const std::string& path, std::int64_t mtime) {
  path_ = path;
  const std::string temporary = path + ".new";
  // A fresh file, never one planted there.
  if (::unlink(temporary.c_str()) < 0 && errno != ENOENT) {
    return errno_code();
  }
  fd_ = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    return errno_code();
  }
  temporary_ = temporary;
  if (::fchmod(fd_, 0644) < 0) {
    return errno_code();
  }
  state_ = std::make_unique<State>(mtime);
  return {};
}

std::error_code BundleFileWriter::drain(bool all) {
  constexpr std::size_t kChunk = 1 << 20;
  std::string& out = state_->out;
  if (!all && out.size() < kChunk) {
    return {};
  }
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::write(fd_, out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return errno_code();
    }
    done += static_cast<std::size_t>(n);
  }
  bytes_ += done;
  out.clear();
  return {};
}

std::error_code BundleFileWriter::member(const char* name, std::string_view content) {
  if (!state_ || content.size() > kMaxSmallMemberBytes) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  state_->gzip.write(tar_header(name, content.size(), state_->mtime));
  state_->gzip.write(content);
  state_->gzip.write(std::string((kBlock - content.size() % kBlock) % kBlock, '\0'));
  return drain(false);
}

std::error_code BundleFileWriter::anchor(std::string_view anchor_json) {
  return member(kMembers[0], anchor_json);
}

std::error_code BundleFileWriter::begin_records(std::uint64_t size) {
  if (!state_ || size > kMaxRecordsBytes) {
    return std::make_error_code(std::errc::file_too_large);
  }
  records_left_ = records_size_ = size;
  state_->gzip.write(tar_header(kMembers[1], size, state_->mtime));
  return drain(false);
}

std::error_code BundleFileWriter::records(std::string_view lines) {
  if (!state_ || lines.size() > records_left_) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  records_left_ -= lines.size();
  state_->gzip.write(lines);
  return drain(false);
}

std::error_code BundleFileWriter::seal(std::string_view export_json, std::string_view signature) {
  if (!state_ || records_left_ != 0) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  state_->gzip.write(std::string((kBlock - records_size_ % kBlock) % kBlock, '\0'));
  for (std::error_code error : {member(kMembers[2], export_json), member(kMembers[3], signature)}) {
    if (error) {
      return error;
    }
  }
  state_->gzip.write(std::string(2 * kBlock, '\0'));
  if (!state_->gzip.finish()) {
    return std::make_error_code(std::errc::not_enough_memory);
  }
  if (std::error_code error = drain(true)) {
    return error;
  }
  if (::fsync(fd_) < 0) {
    return errno_code();
  }
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) < 0) {
    return errno_code();
  }
  if (::rename(temporary_.c_str(), path_.c_str()) < 0) {
    return errno_code();
  }
  temporary_.clear();
  sync_directory_of(path_);
  return {};
}

BundleResult decode_bundle(std::string_view gzip_bytes) {
  MemoryInput input(gzip_bytes);
  return decode(input);
}

namespace {

// The checks an auditor makes, in the order the members come: the anchor first, then the
// records line by line (the chain walk), then the seal and its signature.
class BundleCheck {
 public:
  explicit BundleCheck(const std::string& public_pem) : public_pem_(public_pem) {}

  // anchor.json; false (and the reason) when it is not one.
  bool front(std::string_view anchor_text) {
    if (!is_public_key(public_pem_)) {
      return fail(std::nullopt, "the public key is not an Ed25519 public key (PEM)");
    }
    anchor_ = parse_anchor(anchor_text);
    if (!anchor_) {
      return fail(std::nullopt,
                  "anchor.json is not {\"hash\":\"<64 hex digits>\",\"seq\":N} in canonical form");
    }
    if (anchor_->seq == 0 && anchor_->hash != kGenesis) {
      return fail(std::nullopt, "anchor.json: seq 0 comes with the genesis hash (64 zeros)");
    }
    hash_ = anchor_->hash;
    expected_ = anchor_->seq + 1;
    return true;
  }

  // A piece of records.jsonl, split into lines here.
  void records(std::string_view piece) {
    while (!failed() && !piece.empty()) {
      const std::size_t newline = piece.find('\n');
      const std::string_view part = piece.substr(0, newline);
      if (pending_.size() + part.size() > kMaxRecordLineBytes) {
        ++out_.records;
        fail(expected_, "record " + std::to_string(expected_) + ": line " +
                            std::to_string(out_.records) + " of records.jsonl is longer than " +
                            std::to_string(kMaxRecordLineBytes >> 20) + " MiB");
        return;
      }
      if (newline == std::string_view::npos) {
        pending_.append(part);
        return;
      }
      if (pending_.empty()) {
        line(part, true);
      } else {
        pending_.append(part);
        line(pending_, true);
        pending_.clear();
      }
      piece.remove_prefix(newline + 1);
    }
  }

  // checkpoint.json and checkpoint.sig; the result.
  VerifyResult end(std::string_view seal_text, std::string_view signature) {
    if (!failed() && !pending_.empty()) {
      line(pending_, false);  // a last line without its newline: refused there
    }
    if (failed()) {
      return out_;
    }
    const std::optional<ExportSeal> seal = parse_export(seal_text);
    if (!seal) {
      if (parse_checkpoint(seal_text)) {
        return refuse(std::nullopt,
                      "checkpoint.json is a plain log checkpoint: a bundle of the first form, "
                      "whose anchor and start are not signed (records dropped from its front could "
                      "not be told); export again for a bundle of form " +
                          std::string(kExportFormat));
      }
      return refuse(std::nullopt,
                    "checkpoint.json is not an export seal in canonical form "
                    "({\"anchor_hash\":…,\"anchor_seq\":…,\"clock_synchronised\":…,\"format\":\"" +
                        std::string(kExportFormat) +
                        "\",\"hash\":…,\"log_first_bad\":…,\"seq\":…,\"since\":…,\"time\":…}, "
                        "keys sorted, no whitespace, no newline)");
    }
    if (seal->anchor.seq != anchor_->seq || seal->anchor.hash != anchor_->hash) {
      return refuse(std::nullopt, "anchor.json (seq " + std::to_string(anchor_->seq) +
                                      ") is not the anchor the seal signs (seq " +
                                      std::to_string(seal->anchor.seq) +
                                      "): records were added or removed at the front");
    }
    if (seal->last.seq < anchor_->seq) {
      return refuse(std::nullopt, "the seal's last record (seq " + std::to_string(seal->last.seq) +
                                      ") is older than the anchor (seq " +
                                      std::to_string(anchor_->seq) + ")");
    }
    const std::int64_t last = expected_ - 1;
    if (last < seal->last.seq) {
      return refuse(last + 1, missing(last + 1, seal->last.seq) +
                                  ": the bundle ends before the last record its seal signs (seq " +
                                  std::to_string(seal->last.seq) + ", removed)");
    }
    if (last > seal->last.seq) {
      const std::int64_t added = seal->last.seq + 1;
      return refuse(added, span(added, last) + (last == added ? " comes" : " come") +
                               " after the last record the seal signs (seq " +
                               std::to_string(seal->last.seq) + ", added)");
    }
    if (hash_ != seal->last.hash) {
      return refuse(std::nullopt,
                    "the chain does not reach the signed hash: records were edited, added or "
                    "removed");
    }
    if (signature.size() != kSignatureBytes) {
      return refuse(std::nullopt, "checkpoint.sig is " + std::to_string(signature.size()) +
                                      " bytes, not a 64-byte Ed25519 signature");
    }
    if (!verify_signature(public_pem_, seal_text, to_hex(signature.data(), signature.size()))) {
      return refuse(std::nullopt, "the seal's signature does not verify with this public key");
    }
    seal_ = seal;
    if (seal->log_first_bad) {
      return refuse(std::nullopt,
                    "the records are as the device exported them, but the device's own check "
                    "found its log broken at record " +
                        std::to_string(*seal->log_first_bad) +
                        " when it did ('sekishoctl audit verify' on the device says why)");
    }
    return out_;
  }

  bool failed() const { return !out_.ok; }
  const VerifyResult& result() const { return out_; }
  const std::optional<ExportSeal>& seal() const { return seal_; }

 private:
  VerifyResult refuse(std::optional<std::int64_t> first_bad, std::string reason) {
    fail(first_bad, std::move(reason));
    return out_;
  }

  bool fail(std::optional<std::int64_t> first_bad, std::string reason) {
    if (out_.ok) {
      out_.ok = false;
      out_.first_bad = first_bad;
      out_.reason = std::move(reason);
    }
    return false;
  }

  // One line of records.jsonl, without its newline.
  void line(std::string_view text, bool terminated) {
    ++out_.records;
    auto here = [this] { return "record " + std::to_string(expected_) + ": "; };
    const auto value = parse_json(text);
    const nlohmann::json* seq_field =
        value && value->is_object() && value->contains("seq") ? &(*value)["seq"] : nullptr;
    const std::optional<std::int64_t> seq = seq_field ? sequence_number(*seq_field) : std::nullopt;
    if (!seq) {
      fail(expected_, here() + "line " + std::to_string(out_.records) + " of records.jsonl " +
                          (value ? "has no sequence number" : "is not JSON"));
      return;
    }
    if (*seq > expected_) {
      fail(expected_, missing(expected_, *seq - 1) + " where record " + std::to_string(*seq) +
                          " is (removed or out of order)");
      return;
    }
    if (*seq < expected_) {
      fail(*seq, "record " + std::to_string(*seq) + " comes again after record " +
                     std::to_string(expected_ - 1) + " (repeated or out of order)");
      return;
    }
    if (!terminated) {
      fail(expected_, here() + "the last line of records.jsonl does not end in a newline");
      return;
    }
    // The line must be what canonical_json gives for the record it holds, or its hash
    // would not be the one the device computed.
    std::string why;
    const nlohmann::json& v = *value;
    if (v.size() != 5 || !v.contains("time") || !v["time"].is_string() || !v.contains("kind") ||
        !v["kind"].is_string() || !v.contains("details") || !v.contains("actor") ||
        !v["actor"].is_object() || v["actor"].size() != 3 || !v["actor"].contains("uid") ||
        !v["actor"]["uid"].is_number_integer() || !v["actor"].contains("user") ||
        !v["actor"]["user"].is_string() || !v["actor"].contains("role") ||
        !v["actor"]["role"].is_string() ||
        (v["actor"]["uid"].is_number_unsigned() &&
         v["actor"]["uid"].get<std::uint64_t>() >
             static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))) {
      why = "not an audit record (seq, time, actor {uid, user, role}, kind, details)";
    } else {
      Record record;
      record.seq = *seq;
      record.time = v["time"].get<std::string>();
      record.actor = {v["actor"]["uid"].get<std::int64_t>(), v["actor"]["user"].get<std::string>(),
                      v["actor"]["role"].get<std::string>()};
      record.kind = v["kind"].get<std::string>();
      record.details = v["details"];
      try {
        if (canonical_json(record) != text) {
          why = "not in canonical form (keys sorted, no whitespace)";
        }
      } catch (const std::exception& error) {
        why = error.what();
      }
    }
    if (!why.empty()) {
      fail(expected_, here() + why);
      return;
    }
    hash_ = sha256_hex(hash_ + std::string(text));
    ++expected_;
  }

  std::string public_pem_;
  VerifyResult out_;
  std::optional<Anchor> anchor_;
  std::optional<ExportSeal> seal_;
  std::string hash_;
  std::int64_t expected_ = 1;
  std::string pending_;  // a line not ended yet
};

}  // namespace

VerifyResult verify_bundle(const Bundle& bundle, const std::string& public_pem) {
  BundleCheck check(public_pem);
  if (!check.front(bundle.anchor_json)) {
    return check.result();
  }
  check.records(bundle.records_jsonl);
  return check.end(bundle.checkpoint_json, bundle.signature);
}

VerifyResult verify_bundle_file(const std::string& path, const std::string& public_pem,
                                std::optional<ExportSeal>* seal) {
  BundleCheck check(public_pem);
  bool started = false;
  const RecordsSink sink = [&](const std::string& anchor_text, std::string_view piece) {
    if (!started) {
      started = true;
      check.front(anchor_text);
    }
    if (!check.failed()) {
      check.records(piece);
    }
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    VerifyResult out;
    out.ok = false;
    out.reason = "cannot read " + path + ": " + errno_code().message();
    return out;
  }
  FileInput input(fd);
  const BundleResult read = decode(input, &sink);
  ::close(fd);
  if (!read.bundle) {
    VerifyResult out;
    out.ok = false;
    out.reason = read.error;
    return out;
  }
  if (!started && !check.front(read.bundle->anchor_json)) {
    return check.result();  // records.jsonl is empty
  }
  VerifyResult out = check.end(read.bundle->checkpoint_json, read.bundle->signature);
  if (seal) {
    *seal = check.seal();  // set once the chain and the signature held
  }
  return out;
}

}  // namespace sekisho::audit
