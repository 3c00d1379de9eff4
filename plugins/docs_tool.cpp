// sekisho_plugin_docs: writes the policy's JSON Schema and sekisho-policy(5) with the
// registered plugins' parts (docs.hpp), for the tests to read and the package to install.
//
// usage: sekisho_plugin_docs CORE_SCHEMA CORE_PAGE OUT_SCHEMA OUT_PAGE

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "plugins/docs.hpp"

namespace {

bool read(const char* path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  text.assign(std::istreambuf_iterator<char>(in), {});
  return static_cast<bool>(in) || in.eof();
}

bool write(const char* path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  return static_cast<bool>(out.flush());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: sekisho_plugin_docs CORE_SCHEMA CORE_PAGE OUT_SCHEMA OUT_PAGE\n";
    return 2;
  }
  using sekisho::plugins::registered;
  const auto problems = sekisho::plugins::registry_problems(registered());
  for (const std::string& problem : problems) {
    std::cerr << "sekisho_plugin_docs: " << problem << '\n';
  }
  std::string schema_text;
  std::string page;
  if (!problems.empty() || !read(argv[1], schema_text) || !read(argv[2], page)) {
    std::cerr << (problems.empty() ? "sekisho_plugin_docs: cannot read the core documents\n" : "");
    return 1;
  }
  try {
    const auto schema =
        sekisho::plugins::merged_schema(nlohmann::ordered_json::parse(schema_text), registered());
    if (!write(argv[3], schema.dump(2) + "\n") ||
        !write(argv[4], sekisho::plugins::merged_manual(page, registered()))) {
      std::cerr << "sekisho_plugin_docs: cannot write the documents\n";
      return 1;
    }
  } catch (const nlohmann::json::exception& error) {
    std::cerr << "sekisho_plugin_docs: " << error.what() << '\n';
    return 1;
  }
  return 0;
}
