#include "daemon/audit/bundle.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <new>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "daemon/audit/signer.hpp"
#include "daemon/common/clock.hpp"
#include "daemon/common/files.hpp"
#include "daemon/common/sha256.hpp"

namespace sekisho::audit {

namespace {

constexpr std::size_t kBlock = 512;
constexpr std::size_t kSignatureBytes = 64;
// GNU tar pads an archive to its record size (10 KiB by default) with zero blocks; more than
// this after the end-of-archive marker is not padding.
constexpr std::size_t kMaxTrailingZeros = 1 << 20;
// Record details are shallow; a deeper line is refused before it is parsed, so that no
// recursive step (dump, compare) can run out of stack on a hostile line.
constexpr int kMaxNesting = 64;

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

// Whether `text`'s arrays and objects nest at most `limit` deep (strings skipped).
bool shallow(std::string_view text, int limit) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > limit) {
        return false;
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
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
  if (!shallow(text, kMaxNesting)) {
    return std::nullopt;
  }
  nlohmann::json value = nlohmann::json::parse(text.begin(), text.end(), nullptr, false);
  if (value.is_discarded()) {
    return std::nullopt;
  }
  return value;
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

BundleResult decode(Input& input) {
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
          data.append(reinterpret_cast<const char*>(piece), n);
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
  if (!value || !value->is_object() || value->size() != 4 || !value->contains("hash") ||
      !value->contains("seq") || !value->contains("time") ||
      !value->contains("clock_synchronised") || !(*value)["hash"].is_string() ||
      !(*value)["time"].is_string() || !(*value)["clock_synchronised"].is_boolean()) {
    return std::nullopt;
  }
  const auto seq = sequence_number((*value)["seq"]);
  Checkpoint checkpoint{seq.value_or(0), (*value)["hash"].get<std::string>(),
                        (*value)["time"].get<std::string>(),
                        (*value)["clock_synchronised"].get<bool>()};
  if (!seq || !is_lower_hex(checkpoint.hash, 64) ||
      checkpoint_json(checkpoint.seq, checkpoint.hash, checkpoint.time,
                      checkpoint.clock_synchronised) != text) {
    return std::nullopt;
  }
  return checkpoint;
}

BundleResult make_bundle(std::int64_t anchor_seq, const std::string& anchor_hash,
                         const std::vector<Record>& records, const std::string& checkpoint_time,
                         bool clock_synchronised, const std::string& signature_hex) {
  BundleResult out;
  const std::optional<std::string> signature = from_hex(signature_hex);
  if (!signature || signature->size() != kSignatureBytes) {
    out.error = "the checkpoint signature is not 128 hex digits";
    return out;
  }
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
  bundle.checkpoint_json = checkpoint_json(seq, hash, checkpoint_time, clock_synchronised);
  bundle.signature = *signature;
  out.bundle = std::move(bundle);
  return out;
}

BundleResult make_bundle(std::int64_t anchor_seq, const std::string& anchor_hash,
                         const std::vector<Record>& records, const std::string& checkpoint_time,
                         bool clock_synchronised, const Signer& signer) {
  const std::int64_t seq = records.empty() ? anchor_seq : records.back().seq;
  const std::string& hash = records.empty() ? anchor_hash : records.back().hash;
  const std::string signature =
      signer.sign_hex(checkpoint_json(seq, hash, checkpoint_time, clock_synchronised));
  if (signature.empty()) {
    return {std::nullopt, "the checkpoint could not be signed", {}};
  }
  return make_bundle(anchor_seq, anchor_hash, records, checkpoint_time, clock_synchronised,
                     signature);
}

std::string encode_bundle(const Bundle& bundle) {
  std::int64_t mtime = 0;
  if (const auto checkpoint = parse_checkpoint(bundle.checkpoint_json)) {
    if (auto time = parse_utc_text(checkpoint->time)) {
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

BundleResult decode_bundle(std::string_view gzip_bytes) {
  MemoryInput input(gzip_bytes);
  return decode(input);
}

VerifyResult verify_bundle(const Bundle& bundle, const std::string& public_pem) {
  VerifyResult out;
  auto fail = [&out](std::optional<std::int64_t> first_bad, std::string reason) {
    out.ok = false;
    out.first_bad = first_bad;
    out.reason = std::move(reason);
    return out;
  };
  if (!is_public_key(public_pem)) {
    return fail(std::nullopt, "the public key is not an Ed25519 public key (PEM)");
  }
  const std::optional<Anchor> anchor = parse_anchor(bundle.anchor_json);
  if (!anchor) {
    return fail(std::nullopt,
                "anchor.json is not {\"hash\":\"<64 hex digits>\",\"seq\":N} in canonical form");
  }
  if (anchor->seq == 0 && anchor->hash != kGenesis) {
    return fail(std::nullopt, "anchor.json: seq 0 comes with the genesis hash (64 zeros)");
  }
  const std::optional<Checkpoint> checkpoint = parse_checkpoint(bundle.checkpoint_json);
  if (!checkpoint) {
    return fail(std::nullopt,
                "checkpoint.json is not canonical: {\"clock_synchronised\":…,\"hash\":…,"
                "\"seq\":…,\"time\":…}, keys sorted, no whitespace, no newline");
  }
  if (checkpoint->seq < anchor->seq) {
    return fail(std::nullopt, "the checkpoint (seq " + std::to_string(checkpoint->seq) +
                                  ") is older than the anchor (seq " + std::to_string(anchor->seq) +
                                  ")");
  }

  // The chain walk.
  const std::string& text = bundle.records_jsonl;
  std::string hash = anchor->hash;
  std::int64_t expected = anchor->seq + 1;
  for (std::size_t position = 0; position < text.size();) {
    const std::size_t newline = text.find('\n', position);
    const bool terminated = newline != std::string::npos;
    const std::string_view line = std::string_view(text).substr(
        position, terminated ? newline - position : std::string::npos);
    position = terminated ? newline + 1 : text.size();
    ++out.records;
    auto here = [expected] { return "record " + std::to_string(expected) + ": "; };
    const auto value = parse_json(line);
    const nlohmann::json* seq_field =
        value && value->is_object() && value->contains("seq") ? &(*value)["seq"] : nullptr;
    const std::optional<std::int64_t> seq = seq_field ? sequence_number(*seq_field) : std::nullopt;
    if (!seq) {
      return fail(expected, here() + "line " + std::to_string(out.records) + " of records.jsonl " +
                                (value ? "has no sequence number" : "is not JSON"));
    }
    if (*seq > expected) {
      return fail(expected, missing(expected, *seq - 1) + " where record " + std::to_string(*seq) +
                                " is (removed or out of order)");
    }
    if (*seq < expected) {
      return fail(*seq, "record " + std::to_string(*seq) + " comes again after record " +
                            std::to_string(expected - 1) + " (repeated or out of order)");
    }
    if (!terminated) {
      return fail(expected, here() + "the last line of records.jsonl does not end in a newline");
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
        if (canonical_json(record) != line) {
          why = "not in canonical form (keys sorted, no whitespace)";
        }
      } catch (const std::exception& error) {
        why = error.what();
      }
    }
    if (!why.empty()) {
      return fail(expected, here() + why);
    }
    hash = sha256_hex(hash + std::string(line));
    ++expected;
  }

  const std::int64_t last = expected - 1;
  if (last < checkpoint->seq) {
    return fail(last + 1, missing(last + 1, checkpoint->seq) +
                              ": the bundle ends before its signed checkpoint at seq " +
                              std::to_string(checkpoint->seq) + " (removed)");
  }
  if (last > checkpoint->seq) {
    const std::int64_t added = checkpoint->seq + 1;
    return fail(added, span(added, last) + (last == added ? " comes" : " come") +
                           " after the signed checkpoint at seq " +
                           std::to_string(checkpoint->seq) + " (added)");
  }
  if (hash != checkpoint->hash) {
    return fail(std::nullopt,
                "the chain does not reach the signed checkpoint: records were edited, added or "
                "removed");
  }
  if (bundle.signature.size() != kSignatureBytes) {
    return fail(std::nullopt, "checkpoint.sig is " + std::to_string(bundle.signature.size()) +
                                  " bytes, not a 64-byte Ed25519 signature");
  }
  if (!verify_signature(public_pem, bundle.checkpoint_json,
                        to_hex(bundle.signature.data(), bundle.signature.size()))) {
    return fail(std::nullopt, "the checkpoint's signature does not verify with this public key");
  }
  return out;
}

}  // namespace sekisho::audit
