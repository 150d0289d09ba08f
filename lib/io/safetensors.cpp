// Safetensors reading and writing. Layout: u64 little-endian header length N, N bytes of JSON
// ({"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}), then the raw data.
#include "zephyr/io/safetensors.h"

#include "zephyr/io/atomic_file.h"
#include "regular_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>

namespace zephyr::io {
namespace {

// Array buffers are copied to and from the file as they are, so the host must match the
// format's byte order.
static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

using Json = nlohmann::json;
using FilePtr = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

[[noreturn]] void fail(const std::string& path, const std::string& reason) {
  throw Error(fmt::format("[safetensors] {}: {}", path, reason));
}

std::string os_error() { return std::strerror(errno); }

const char* format_name(DType dtype) {
  switch (dtype) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::bool_: return "BOOL";
    case DType::bf16: return "BF16";
    case DType::f16: return "F16";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
    case DType::i8: return "I8";
  }
  return "?";
}

std::optional<DType> parse_dtype(const std::string& s) {
  for (DType d : all_dtypes())
    if (s == format_name(d)) return d;
  return std::nullopt;
}

// "F32, F64, ...": what the format names zephyr reads, for errors.
std::string readable_dtypes() {
  std::string out;
  for (DType d : all_dtypes()) out += (out.empty() ? "" : ", ") + std::string(format_name(d));
  return out;
}

// One validated header entry; offsets are relative to the start of the data section.
struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

struct Header {
  std::vector<Entry> entries;  // in data-offset order
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // file offset of the data section
};

// A JSON integer >= 0 that fits int64, or nullopt (negative, fractional, not a number, huge).
std::optional<int64_t> non_negative(const Json& v) {
  if (v.is_number_unsigned() && v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX))
    return static_cast<int64_t>(v.get<uint64_t>());
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
  return std::nullopt;
}

const Json& field(const std::string& path, const std::string& name, const Json& entry, const char* key) {
  auto it = entry.find(key);
  if (it == entry.end()) fail(path, fmt::format("tensor '{}': missing field \"{}\"", name, key));
  return *it;
}

Entry parse_entry(const std::string& path, const std::string& name, const Json& j, uint64_t data_start,
                  uint64_t data_size) {
  if (!j.is_object()) fail(path, fmt::format("tensor '{}': entry is not an object but {}", name, j.dump()));
  Entry e{name, DType::f32, {}, 0, 0};

  const Json& dtype = field(path, name, j, "dtype");
  if (!dtype.is_string()) fail(path, fmt::format("tensor '{}': dtype {} is not a string", name, dtype.dump()));
  auto parsed = parse_dtype(dtype.get<std::string>());
  if (!parsed)
    fail(path, fmt::format("tensor '{}': unsupported dtype {} (zephyr reads {})", name, dtype.dump(), readable_dtypes()));
  e.dtype = *parsed;

  const Json& shape = field(path, name, j, "shape");
  if (!shape.is_array()) fail(path, fmt::format("tensor '{}': shape {} is not an array", name, shape.dump()));
  for (const Json& d : shape) {
    auto extent = non_negative(d);
    if (!extent)
      fail(path, fmt::format("tensor '{}': shape {} has dimension {}, not a non-negative integer", name, shape.dump(),
                             d.dump()));
    e.shape.push_back(*extent);
  }

  const Json& offsets = field(path, name, j, "data_offsets");
  std::optional<int64_t> begin, end;
  if (offsets.is_array() && offsets.size() == 2) {
    begin = non_negative(offsets[0]);
    end = non_negative(offsets[1]);
  }
  if (!begin || !end)
    fail(path, fmt::format("tensor '{}': data_offsets {} is not two non-negative integers", name, offsets.dump()));
  e.begin = static_cast<uint64_t>(*begin);
  e.end = static_cast<uint64_t>(*end);
  if (e.end < e.begin)
    fail(path, fmt::format("tensor '{}': data_offsets [{}, {}] end before begin", name, e.begin, e.end));
  if (e.end > data_size)
    fail(path, fmt::format("tensor '{}': data_offsets [{}, {}] end at file offset {} is beyond the end of the "
                           "data section ({} bytes from offset {})",
                           name, e.begin, e.end, data_start + e.end, data_size, data_start));

  // Every extent is now bounded by the file size only through the byte count, so the product
  // is computed with overflow checks before it is compared.
  uint64_t bytes = itemsize(e.dtype);
  bool overflow = false;
  for (int64_t d : e.shape) overflow |= __builtin_mul_overflow(bytes, static_cast<uint64_t>(d), &bytes);
  if (overflow || bytes != e.end - e.begin)
    fail(path, fmt::format("tensor '{}': {} needs {} bytes but data_offsets [{}, {}] hold {} (file offset {})", name,
                           describe(e.dtype, e.shape), overflow ? "more than 2^64" : std::to_string(bytes), e.begin,
                           e.end, e.end - e.begin, data_start + e.begin));
  // A zero extent makes the byte count 0 however large the others are: their product must still
  // fit, or every later size computation would overflow.
  try {
    (void)numel(e.shape);
  } catch (const Error& error) {
    fail(path, fmt::format("tensor '{}': {}", name, error.what()));
  }
  return e;
}

// "[json.exception.parse_error.101] parse error at line 1, column 9: syntax error ..." -> "syntax error ...".
std::string json_reason(const std::string& what) {
  size_t column = what.find("column ");
  size_t colon = what.find(": ", column == std::string::npos ? 0 : column);
  return colon == std::string::npos ? what : what.substr(colon + 2);
}

FilePtr open_for_reading(const std::string& path, uint64_t& size) {
  std::string error;
  int fd = open_regular_file(path, size, error);
  if (fd < 0) fail(path, error);
  FilePtr f(::fdopen(fd, "rb"), &std::fclose);
  if (!f) {
    ::close(fd);
    fail(path, "cannot open: " + os_error());
  }
  return f;
}

void read_exactly(const std::string& path, std::FILE* f, void* out, uint64_t n, uint64_t offset,
                  const std::string& what) {
  if (n == 0) return;
  if (std::fseek(f, static_cast<long>(offset), SEEK_SET) != 0 || std::fread(out, 1, n, f) != n)
    fail(path, fmt::format("cannot read {} ({} bytes at offset {}): {}", what, n, offset,
                           std::ferror(f) ? os_error() : "the file is shorter than when it was opened"));
}

Header read_header(const std::string& path, std::FILE* f, uint64_t size) {
  if (size < 8) fail(path, fmt::format("file has {} bytes, too short for the 8-byte header length", size));
  uint64_t n = 0;
  read_exactly(path, f, &n, 8, 0, "the header length");
  if (n > size - 8) fail(path, fmt::format("header length {} at offset 0 exceeds the file size {}", n, size));
  std::string text(n, '\0');
  read_exactly(path, f, text.data(), n, 8, "the header");

  // nlohmann keeps the last of repeated keys; the spec forbids them, so they are caught while parsing.
  std::set<std::string> names;
  std::string duplicate;
  Json j;
  try {
    j = Json::parse(text, [&](int depth, Json::parse_event_t event, Json& value) {
      if (depth == 1 && event == Json::parse_event_t::key && !names.insert(value.get<std::string>()).second &&
          duplicate.empty())
        duplicate = value.get<std::string>();
      return true;
    });
  } catch (const Json::parse_error& e) {
    fail(path, fmt::format("header is not valid JSON (at offset {}): {}", 8 + std::max<size_t>(e.byte, 1) - 1,
                           json_reason(e.what())));
  } catch (const Json::exception& e) {  // a number out of range (1e400), say
    fail(path, fmt::format("header at offset 8 cannot be read: {}", json_reason(e.what())));
  }
  if (!j.is_object()) fail(path, fmt::format("header at offset 8 is not a JSON object but {}", j.type_name()));
  if (!duplicate.empty()) fail(path, fmt::format("duplicate tensor name '{}' in the header", duplicate));

  Header h;
  h.data_start = 8 + n;
  uint64_t data_size = size - h.data_start;
  for (const auto& [name, value] : j.items()) {
    if (name != "__metadata__") {
      h.entries.push_back(parse_entry(path, name, value, h.data_start, data_size));
      continue;
    }
    if (!value.is_object()) fail(path, fmt::format("__metadata__ is not an object but {}", value.dump()));
    for (const auto& [k, v] : value.items()) {
      if (!v.is_string()) fail(path, fmt::format("__metadata__ value of '{}' is not a string but {}", k, v.dump()));
      h.metadata[k] = v.get<std::string>();
    }
  }

  // The spec requires the data section to be covered exactly: no holes, no overlaps, nothing after.
  std::sort(h.entries.begin(), h.entries.end(), [](const Entry& a, const Entry& b) {
    return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
  });
  uint64_t cursor = 0;
  const Entry* previous = nullptr;
  for (const Entry& e : h.entries) {
    if (e.begin > cursor)
      fail(path, fmt::format("gap in the data section: bytes [{}, {}) at file offset {} before tensor '{}' "
                             "belong to no tensor",
                             cursor, e.begin, h.data_start + cursor, e.name));
    if (e.begin < cursor)
      fail(path,
           fmt::format("tensor '{}' (data_offsets [{}, {}]) overlaps tensor '{}' (data_offsets [{}, {}]) "
                       "at file offset {}",
                       e.name, e.begin, e.end, previous->name, previous->begin, previous->end, h.data_start + e.begin));
    cursor = e.end;
    previous = &e;
  }
  if (cursor != data_size)
    fail(path, fmt::format("{} bytes at file offset {} after the last tensor belong to no tensor", data_size - cursor,
                           h.data_start + cursor));
  return h;
}

Array read_tensor(const std::string& path, std::FILE* f, const Header& h, const Entry& e) {
  Array a(e.shape, e.dtype);
  read_exactly(path, f, a.raw(), e.end - e.begin, h.data_start + e.begin, "tensor '" + e.name + "'");
  // Any byte but 0 or 1 in a bool is undefined behaviour once read, so it is rejected here.
  if (e.dtype == DType::bool_) {
    const auto* bytes = static_cast<const unsigned char*>(a.raw());
    for (uint64_t i = 0; i < e.end - e.begin; ++i)
      if (bytes[i] > 1)
        fail(path, fmt::format("tensor '{}': byte 0x{:02x} at file offset {} is not a BOOL (0 or 1)", e.name, bytes[i],
                               h.data_start + e.begin + i));
  }
  return a;
}

// The JSON header, padded with spaces so that the data section starts 8-byte aligned.
std::string make_header(const std::string& path, const NamedArrays& tensors,
                        const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json root = nlohmann::ordered_json::object();
  if (!metadata.empty()) root["__metadata__"] = metadata;
  std::map<std::string, size_t> seen;
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const auto& [name, array] = tensors[i];
    if (name.empty()) fail(path, fmt::format("cannot save: tensor {} has an empty name", i));
    if (name == "__metadata__") fail(path, "cannot save: \"__metadata__\" is reserved and not a tensor name");
    if (auto [it, fresh] = seen.emplace(name, i); !fresh)
      fail(path, fmt::format("cannot save: duplicate tensor name '{}' (tensors {} and {})", name, it->second, i));
    if (!array.defined()) fail(path, fmt::format("cannot save: tensor '{}' is an undefined Array", name));
    uint64_t end = offset + array.nbytes();
    root[name] = {{"dtype", format_name(array.dtype())}, {"shape", array.shape()}, {"data_offsets", {offset, end}}};
    offset = end;
  }
  std::string text;
  try {
    text = root.dump();
  } catch (const nlohmann::ordered_json::type_error& e) {
    fail(path, fmt::format("cannot save: a tensor name or metadata string is not valid UTF-8 ({})", e.what()));
  }
  text.resize((text.size() + 7) / 8 * 8, ' ');
  return text;
}

}  // namespace

void save_safetensors(const std::string& path, const NamedArrays& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::string header = make_header(path, tensors, metadata);  // validates before touching disk
  AtomicFile file(path);
  uint64_t n = header.size();
  file.write(&n, 8);
  file.write(header);
  for (const auto& [name, array] : tensors) file.write(array.raw(), static_cast<size_t>(array.nbytes()));
  file.commit();
}

NamedArrays load_safetensors(const std::string& path) {
  uint64_t size = 0;
  FilePtr f = open_for_reading(path, size);
  Header h = read_header(path, f.get(), size);
  NamedArrays out;
  for (const Entry& e : h.entries) out.emplace_back(e.name, read_tensor(path, f.get(), h, e));
  return out;
}

std::map<std::string, std::string> load_safetensors_metadata(const std::string& path) {
  uint64_t size = 0;
  FilePtr f = open_for_reading(path, size);
  return read_header(path, f.get(), size).metadata;
}

void save(const std::string& path, const ParamTree& tree, const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, tree.leaves(), metadata);
}

ParamTree load(const std::string& path, const ParamTree& like, const LoadOptions& options) {
  uint64_t size = 0;
  FilePtr f = open_for_reading(path, size);
  Header h = read_header(path, f.get(), size);
  // Names, dtypes and shapes are compared on the header alone, so a mismatch reads no data.
  std::map<std::string, const Entry*> in_file;  // by the tree's name: the file's without the prefix
  for (const Entry& e : h.entries)
    if (e.name.starts_with(options.prefix)) in_file[e.name.substr(options.prefix.size())] = &e;
  std::set<std::string> wanted;
  std::vector<std::string> problems;
  std::vector<const Entry*> found;  // per leaf of `like`: its entry, or null (not strict: keep like's)
  for (const auto& [name, array] : like) {
    wanted.insert(name);
    std::string expected = describe(array.dtype(), array.shape());
    auto it = in_file.find(name);
    if (it == in_file.end()) {
      if (options.strict) problems.push_back(fmt::format("{}{}: missing (expected {})", options.prefix, name, expected));
      found.push_back(nullptr);
      continue;
    }
    const Entry& e = *it->second;
    bool dtype_differs = e.dtype != array.dtype(), shape_differs = e.shape != array.shape();
    if (dtype_differs || shape_differs)
      problems.push_back(fmt::format("{}: wrong {}: expected {}, file has {}", e.name,
                                     dtype_differs && shape_differs ? "dtype and shape"
                                     : dtype_differs                ? "dtype"
                                                                    : "shape",
                                     expected, describe(e.dtype, e.shape)));
    found.push_back(&e);
  }
  if (options.strict)
    for (const auto& [name, e] : in_file)
      if (!wanted.count(name))
        problems.push_back(fmt::format("{}: unexpected (file has {})", e->name, describe(e->dtype, e->shape)));
  const bool none_found = !like.empty() && std::all_of(found.begin(), found.end(), [](const Entry* e) { return !e; });
  if (none_found) {
    // Most likely a wrong prefix or another model's file: show what is there.
    std::vector<std::string> holds;
    for (const Entry& e : h.entries) {
      if (holds.size() == 8) {
        holds.push_back(fmt::format("... ({} more)", h.entries.size() - 8));
        break;
      }
      holds.push_back(fmt::format("{} {}", e.name, describe(e.dtype, e.shape)));
    }
    problems.push_back(fmt::format("none of the {} parameters is in the file{}; it holds {} tensors:\n    {}",
                                   like.size(),
                                   options.prefix.empty() ? "" : fmt::format(" under the prefix '{}'", options.prefix),
                                   h.entries.size(), fmt::join(holds, "\n    ")));
  }
  if (!problems.empty())
    fail(path, fmt::format("checkpoint does not match the parameters ({} mismatches):\n  {}", problems.size(),
                           fmt::join(problems, "\n  ")));

  std::vector<ParamTree::Leaf> leaves;
  for (size_t i = 0; i < found.size(); ++i) {
    const auto& [name, array] = like.leaves()[i];
    leaves.emplace_back(name, found[i] ? read_tensor(path, f.get(), h, *found[i]) : array.clone());
  }
  return ParamTree(std::move(leaves));
}

}  // namespace zephyr::io
